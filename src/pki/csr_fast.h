#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "ossl/ptr.h"
#include "pki/certificate.h"
#include "pki/issuer.h"

namespace clustertls::pki {

// What the fast CSR parser takes from a PKCS#10 request (RFC 2986 4.1) whose signature it has
// verified: the subject's common name and its C, ST, L, O, OU and DC, the requested SANs and the
// SubjectPublicKeyInfo, kept as the undecoded algorithm + bit string.
struct FastCsr {
  std::string common_name;               // the subject's last commonName, "" if none
  SubjectAttributes subject_attributes;  // as Csr::subject_attributes reads them
  SubjectAltNames sans;                  // from the extensionRequest attribute, as written
  ossl::Ptr<X509_PUBKEY> spki;           // algorithm + key bits, never decoded into an EVP_PKEY
};

// Parses a DER CSR with an ASN.1 template of PKCS#10 that keeps the public key undecoded,
// builds the key from its point (a copy of the curve's parameters, made once with
// EVP_PKEY_fromdata, with the point set; OpenSSL checks it is on the curve) and verifies the
// signature over the original DER of the CertificationRequestInfo. Handles ECDSA CSRs on named
// P-256/P-384 keys (SHA-256/384/512): any other key or signature algorithm fails with kUnsupported
// ("not on the fast path"), for the caller to fall back to Csr::Parse. Fails with kParse (not a
// CSR, trailing bytes, bad encoding, point not on the curve) or kBadSignature ("CSR signature does
// not verify").
core::Result<FastCsr> ParseCsrFast(std::string_view der);

// Issues a certificate from a DER CSR and returns it as DER: the same pipeline and the same
// checks as Issuer::IssueFromCsr (signature always verified, weak keys refused, names
// re-validated, nothing but the CN, C, ST, L, O, OU and SANs taken from the CSR), without paying
// for OpenSSL's
// eager key decode. CSRs the fast parser does not take (other key types, or any failure) go
// through Csr::Parse + Issuer::IssueFromCsr, so errors are those of the slow path.
core::Result<std::string> IssueFromCsrDer(const Issuer& issuer, std::string_view csr_der,
                                          const IssueRequest& request, core::TimePoint now,
                                          core::Rng& rng);
// The same, also filling `facts` (if not null) with what went into the certificate.
core::Result<std::string> IssueFromCsrDer(const Issuer& issuer, std::string_view csr_der,
                                          const IssueRequest& request, core::TimePoint now,
                                          core::Rng& rng, IssuedFacts* facts);

}  // namespace clustertls::pki
