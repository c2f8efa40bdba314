#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ossl/ptr.h"
#include "pki/key.h"

namespace clustertls::pki {

// Subject alternative names, each list in canonical text form (see names.h):
// DNS names lower-case A-labels; IPs as inet_ntop prints them; URIs; e-mail addresses.
struct SubjectAltNames {
  std::vector<std::string> dns{};
  std::vector<std::string> ips{};
  std::vector<std::string> uris{};
  std::vector<std::string> emails{};

  bool empty() const { return dns.empty() && ips.empty() && uris.empty() && emails.empty(); }
  bool operator==(const SubjectAltNames&) const = default;
};

// Subject attributes besides the CN, in subject order (first = most significant), e.g.
// {"C", "US"}, {"O", "Example"}, {"OU", "ops"}; CanonicalSubjectAttributes (names.h) says which.
using SubjectAttributes = std::vector<std::pair<std::string, std::string>>;

// SHA-256 fingerprint of DER bytes in both forms users paste: "AB:CD:..." and "abcd...".
struct Fingerprint {
  std::string colon;  // upper-case, colon-separated (openssl x509 -fingerprint -sha256)
  std::string hex;    // lower-case plain hex (Elastic's ca_trusted_fingerprint)
};
Fingerprint Sha256Fingerprint(std::string_view der);

// An X.509 certificate: an immutable value sharing the underlying X509 (cheap to copy).
class Certificate {
 public:
  // Takes ownership of `x509` (must not be null).
  static Certificate Adopt(ossl::Ptr<X509> x509);
  // Parses one DER certificate; trailing bytes are refused. Fails with kParse.
  static core::Result<Certificate> FromDer(std::string_view der);
  // Parses the first certificate of a PEM text. Fails with kParse ("no PEM certificate found").
  static core::Result<Certificate> FromPem(std::string_view pem);
  // Parses every certificate of a PEM bundle, or one DER certificate. Fails with kParse if the
  // data holds none or a PEM block is corrupt.
  static core::Result<std::vector<Certificate>> ParseAll(std::string_view data);

  std::string ToDer() const;
  std::string ToPem() const;

  // RFC 2253-style one-line distinguished names.
  std::string subject() const;
  std::string issuer() const;
  // The subject's last commonName, or "" if there is none.
  std::string common_name() const;
  // Serial as upper-case hex, as `openssl x509 -serial` prints it (no "0x", even length).
  std::string serial_hex() const;
  core::TimePoint not_before() const;
  core::TimePoint not_after() const;
  SubjectAltNames sans() const;
  bool is_ca() const;
  // pathLenConstraint, if the certificate is a CA and sets one.
  std::optional<long> path_len() const;
  // Extended key usages as OpenSSL short names ("serverAuth", "clientAuth", "OCSPSigning", ...).
  std::vector<std::string> extended_key_usages() const;
  // Key usages as names ("digitalSignature", "keyEncipherment", "keyCertSign", "cRLSign", ...).
  std::vector<std::string> key_usages() const;
  // The extendedKeyUsage extension (RFC 5280 4.2.1.12) as OpenSSL short names (dotted OIDs for
  // purposes OpenSSL does not name), in the certificate's order: std::nullopt when the
  // certificate has none, as opposed to an empty list. kParse if the extension does not decode
  // or appears more than once (extended_key_usages() reads both as "none").
  core::Result<std::optional<std::vector<std::string>>> extended_key_usage_extension() const;
  // The keyUsage extension (RFC 5280 4.2.1.3) as bit names in bit order, as key_usages() names
  // them: std::nullopt when absent, an empty list when present with no bit set. kParse if it
  // does not decode or appears more than once.
  core::Result<std::optional<std::vector<std::string>>> key_usage_extension() const;
  // The URI fullNames of the cRLDistributionPoints (RFC 5280 4.2.1.13), in order over every
  // DistributionPoint; other name forms and relative names are skipped. Empty when absent.
  std::vector<std::string> crl_urls() const;
  // The id-ad-ocsp URIs of the authorityInfoAccess (RFC 5280 4.2.2.1), in order; other access
  // methods (caIssuers) and name forms are skipped. Empty when absent.
  std::vector<std::string> ocsp_urls() const;
  std::string subject_key_id_hex() const;
  std::string authority_key_id_hex() const;
  std::string signature_algorithm() const;
  PublicKey public_key() const;
  Fingerprint fingerprint() const;

  // Subject equals issuer.
  bool IsSelfIssued() const;
  // True if `issuer`'s subject is this certificate's issuer and its key verifies this
  // certificate's signature.
  bool IsSignedBy(const Certificate& issuer) const;
  bool Equals(const Certificate& other) const;

  X509* get() const { return x509_.get(); }

 private:
  explicit Certificate(std::shared_ptr<X509> x509) : x509_(std::move(x509)) {}
  std::shared_ptr<X509> x509_;
};

// Upper-case hex of a serial number's magnitude (with "-" if negative, "00" if empty), the digits
// `openssl x509 -serial` prints (i2a_ASN1_INTEGER).
std::string SerialHex(const ASN1_INTEGER* serial);

// PEM of each certificate, concatenated in order.
std::string ToPemBundle(const std::vector<Certificate>& certs);

}  // namespace clustertls::pki
