#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"

namespace clustertls::pki {

// Issuance profiles (what the certificate is for). Each fixes BasicConstraints (critical),
// KeyUsage (critical, right for the key type), EKU, SKI, AKI and SAN. kAuditSigner is the
// control plane's audit-head signer: keyUsage digitalSignature only and the one private
// extendedKeyUsage kAuditSigningEkuOid, so that the key serves no other purpose (no TLS, no
// OCSP).
enum class Profile { kRootCa, kIntermediateCa, kServer, kClient, kPeer, kOcspSigner, kAuditSigner };

// The KeyPurposeId (RFC 5280 4.2.1.12) of Profile::kAuditSigner: "signs the head of a
// clustertls audit log". A UUID OID (ITU-T X.667, arc 2.25), of
// urn:uuid:3e531f12-9c9c-421e-a62c-fb92047f0e7b, so that no registration is needed. GnuTLS
// cannot decode arcs over 64 bits; only clustertls reads these certificates, with OpenSSL.
inline constexpr std::string_view kAuditSigningEkuOid =
    "2.25.82843726607196379473299414575308803707";

// "root-ca", "intermediate-ca", "server", "client", "peer", "ocsp-signer", "audit-signer".
// kInvalidArgument.
core::Result<Profile> ParseProfile(std::string_view name);
const char* ProfileName(Profile profile);

// notBefore is set this far before "now", to tolerate clock skew between machines.
inline constexpr std::chrono::seconds kBackdate = std::chrono::minutes(5);

// RFC 5280 4.2.1.10 name constraints for an intermediate CA.
struct NameConstraints {
  std::vector<std::string> permitted_dns{};
  std::vector<std::string> excluded_dns{};
  std::vector<std::string> permitted_ip{};  // CIDR, e.g. "10.0.0.0/8"
  std::vector<std::string> excluded_ip{};
  bool empty() const {
    return permitted_dns.empty() && excluded_dns.empty() && permitted_ip.empty() &&
           excluded_ip.empty();
  }
};

// Names a certificate may carry at most (the CN included): public CAs cap them at about 100.
inline constexpr std::size_t kMaxSubjectAltNames = 100;

// Called with a leaf's canonical names (the CN included, as it will be encoded) before anything
// is signed; a failure refuses the issuance and is returned as is. The caller's policy on names
// (authority::CheckRequestedNames) reaches both the fast and the slow CSR path through it.
using NameCheckFn = std::function<core::Result<void>(const SubjectAltNames&)>;

// What to issue. Only these fields reach the certificate: nothing else is copied from a CSR.
struct IssueRequest {
  Profile profile = Profile::kServer;
  std::string common_name{};
  // C, ST, L, O, OU (CanonicalSubjectAttributes), one RDN each, in this order, before the CN.
  SubjectAttributes subject_extra{};
  SubjectAltNames sans{};  // canonicalised by the issuer; the CN is always added
  // Leaves only: common names put into the subjectAltName as otherName entries (type-id
  // id-at-commonName 2.5.4.3, value a UTF8String), as elasticsearch-certutil does for an
  // instances.yml `cn`; Elasticsearch's transport trust restrictions match them. Non-standard:
  // TLS clients ignore them. Each checked by CheckOtherNameCommonName; they count towards
  // kMaxSubjectAltNames.
  std::vector<std::string> other_name_cns{};
  std::chrono::seconds validity = std::chrono::days(365);
  std::optional<int> path_len{};         // CA profiles only
  NameConstraints name_constraints{};    // intermediate-ca only
  std::vector<std::string> crl_urls{};   // CRL distribution points
  std::vector<std::string> ocsp_urls{};  // authorityInfoAccess OCSP
  NameCheckFn check_names{};             // leaves only; empty: no check
};

// The request IssueFromCsr issues: `request` with the CSR's CN (when `request.common_name` is
// empty), the CSR's C, ST, L, O, OU and DC in the CSR's order (when `request.subject_extra` is
// empty) and the CSR's SANs added after the request's. Names and attributes are validated by
// the issuer.
IssueRequest MergeCsrRequest(const IssueRequest& request, std::string_view csr_common_name,
                             const SubjectAttributes& csr_subject_attributes,
                             const SubjectAltNames& csr_sans);

namespace internal {
struct IssuerState;  // what Issuer::Create precomputes once (issuer.cc)
}  // namespace internal

// What the issuer wrote into a certificate it has just signed: the values a certificate parser
// would read back from it (Certificate::serial_hex, common_name, sans, not_before, not_after).
struct IssuedFacts {
  std::string serial_hex{};   // upper-case hex, as SerialHex
  std::string common_name{};  // the subject's CN
  SubjectAltNames sans{};     // canonical, as encoded
  core::TimePoint not_before{};
  core::TimePoint not_after{};
};

// A CA that signs: its certificate, key and the chain above it (intermediates then root, not
// including its own certificate). Built once, then const; Issue is thread-safe.
class Issuer {
 public:
  // Checks that `ca_cert` is a CA (BasicConstraints CA:TRUE; kNotCa), may sign certificates
  // (keyCertSign if KeyUsage is present; kNotCa) and that `ca_key` matches it (kKeyMismatch).
  // Reads the nameConstraints of `ca_cert` and `chain` once (kParse if one is malformed).
  static core::Result<Issuer> Create(Certificate ca_cert, PrivateKey ca_key,
                                     std::vector<Certificate> chain = {});

  // Issues a certificate for `subject_key` under `request`, valid from now - kBackdate to
  // now + validity. Serial: 128+ random bits from `rng`, positive. Refuses (kExpired) a
  // validity that would outlive the issuer, saying how long the issuer still lives; refuses an
  // issuer that has expired or is not yet valid at `now` (kExpired). Names: kInvalidName, also
  // for a name outside the name constraints of the issuer or a CA above it
  // (ChainNameConstraints::Check, read once by Create).
  core::Result<Certificate> Issue(const IssueRequest& request, const PublicKey& subject_key,
                                  core::TimePoint now, core::Rng& rng) const;

  // Issues from a CSR: its subject CN, C, ST, L, O, OU and its SANs only, re-validated, merged
  // with `request`'s (MergeCsrRequest). Other subject attributes (emailAddress, serialNumber,
  // DC, ...), the CSR's other extensions and its requested attributes are dropped.
  core::Result<Certificate> IssueFromCsr(const Csr& csr, const IssueRequest& request,
                                         core::TimePoint now, core::Rng& rng) const;

  // The issuance pipeline behind Issue and IssueFromCsr, minus the final parse: issues for the
  // SubjectPublicKeyInfo `subject_spki` (its algorithm and key bits are copied, never decoded;
  // the caller has checked the key with CheckKeyAcceptable) and returns the certificate's DER.
  // Same checks and errors as Issue.
  core::Result<std::string> IssueDer(const IssueRequest& request, const X509_PUBKEY* subject_spki,
                                     core::TimePoint now, core::Rng& rng) const;
  // The same, also telling what went into the certificate (`facts` may be null), so that a
  // caller recording the issuance need not parse the DER again.
  core::Result<std::string> IssueDer(const IssueRequest& request, const X509_PUBKEY* subject_spki,
                                     core::TimePoint now, core::Rng& rng, IssuedFacts* facts) const;

  const Certificate& certificate() const { return cert_; }
  const PrivateKey& key() const { return key_; }
  // Chain above the issuer's own certificate.
  const std::vector<Certificate>& chain() const { return chain_; }

 private:
  Issuer(Certificate cert, PrivateKey key, std::vector<Certificate> chain,
         std::shared_ptr<const internal::IssuerState> state)
      : cert_(std::move(cert)),
        key_(std::move(key)),
        chain_(std::move(chain)),
        state_(std::move(state)) {}
  Certificate cert_;
  PrivateKey key_;
  std::vector<Certificate> chain_;
  std::shared_ptr<const internal::IssuerState> state_;
};

// Issues a self-signed certificate for `key` (a root CA with Profile::kRootCa, or a self-signed
// leaf as Redis' generator makes them).
core::Result<Certificate> SelfSign(const PrivateKey& key, const IssueRequest& request,
                                   core::TimePoint now, core::Rng& rng);

}  // namespace clustertls::pki
