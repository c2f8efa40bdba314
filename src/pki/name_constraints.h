#pragma once

// RFC 5280 4.2.1.10 name constraints: the one place that matches names against subtrees. The
// issuer uses it to refuse names outside its chain's constraints (ChainNameConstraints), the
// verifier's own checks for wildcards (WildcardEscapesConstraints). Matching follows OpenSSL's
// verifier (crypto/x509/v3_ncons.c), which is what `openssl verify` and most TLS stacks apply.

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "ossl/ptr.h"
#include "pki/certificate.h"

namespace clustertls::pki {

// True if the DNS name `name` lies within the dNSName subtree `subtree`: letter case ignored;
// "" holds every name; "example.com" holds example.com and every name below it; ".example.com"
// only the names below it.
bool DnsNameInSubtree(std::string_view name, std::string_view subtree);

// True if the IP address `address` (4 or 16 raw bytes) lies within the iPAddress subtree
// `subtree` (address then mask: 8 or 32 bytes). An IPv4 address never lies in an IPv6 subtree,
// nor the reverse.
bool IpAddressInSubtree(std::string_view address, std::string_view subtree);

// RFC 9525 section 6.3 meets RFC 5280 section 4.2.1.10: may a name matched by the wildcard
// `*.base` fall outside the constraints? True if some name `<label>.base` lies inside one of
// `excluded`, or `permitted` is not empty and not every such name lies inside one of it.
// Constraints are DNS subtrees in the form of RFC 5280 (a leading '.' is tolerated). A literal
// match of "*.base" is not enough: verifiers match the wildcard name as a string, so an
// excluded "a.example.com" does not catch "*.example.com" (CVE-2025-61727).
bool WildcardEscapesConstraints(std::string_view base, const std::vector<std::string>& permitted,
                                const std::vector<std::string>& excluded);

// The nameConstraints of one CA certificate, as written in it.
struct CaNameConstraints {
  std::string subject{};  // RFC 2253, for messages
  std::vector<std::string> permitted_dns{};
  std::vector<std::string> excluded_dns{};
  std::vector<std::string> permitted_ip{};  // raw address then mask (8 or 32 bytes)
  std::vector<std::string> excluded_ip{};
  // Subtree kinds the issuer does not evaluate ("e-mail", "URI", "directoryName"); a subtree
  // with minimum/maximum is listed under its kind too (OpenSSL refuses every name it applies to).
  std::vector<std::string> unchecked{};
};

// The name constraints of the CAs above a certificate being issued (the issuer and the chain
// above it, trust anchor included, as OpenSSL applies them), read once when the issuer is made.
class ChainNameConstraints {
 public:
  ChainNameConstraints() = default;
  // Reads the nameConstraints extension of each of `cas` (CAs without one are skipped). kParse
  // naming the CA if the extension cannot be decoded.
  static core::Result<ChainNameConstraints> Read(const std::vector<const X509*>& cas);

  bool empty() const { return cas_.empty(); }

  // Refuses (kInvalidName) a certificate with the names `sans` (canonical, as the issuer encodes
  // them) if one of them lies outside the constraints of one of the CAs: outside its permitted
  // subtrees of that name's type (when it has any), or inside an excluded one; a wildcard DNS
  // name also when it may match such a name (WildcardEscapesConstraints). The message names
  // the name, the CA and the subtrees, e.g. `DNS:evil.org is outside the name constraints of
  // "CN=Int CA" (permitted DNS: example.com)`. `leaf_common_name` is a leaf's CN ("" for a CA):
  // without a DNS SAN, OpenSSL checks a CN that looks like a host name (even "10.0.0.1")
  // against the DNS constraints too. Names of a kind a CA constrains but the issuer does not
  // evaluate (e-mail, URI) are refused, and so is every certificate under a CA with
  // directoryName constraints (the subject would have to be checked).
  core::Result<void> Check(const SubjectAltNames& sans, std::string_view leaf_common_name) const;

 private:
  std::vector<CaNameConstraints> cas_;
};

}  // namespace clustertls::pki
