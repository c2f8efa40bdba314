#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "pki/certificate.h"

namespace clustertls::pki {

// Canonicalises a DNS name once, for issuance: lower case, no trailing dot, IDNs (UTF-8) as
// A-labels ("xn--..."), labels 1..63 octets of letters, digits and hyphens (no leading or
// trailing hyphen), total at most 253 octets, no NUL or control characters; a wildcard only as
// the whole left-most label ("*.example.com", never "*.*.x", "f*o.x" or "*"), and only when
// `allow_wildcard`. Fails with kInvalidName, the message quoting the (escaped) name and the cause.
core::Result<std::string> CanonicalDnsName(std::string_view name, bool allow_wildcard = true);

// Canonical text of an IPv4 or IPv6 address ("2001:db8::1"). Fails with kInvalidName.
core::Result<std::string> CanonicalIp(std::string_view ip);

// Checks an e-mail address (local@domain, domain canonicalised as a DNS name). kInvalidName.
core::Result<std::string> CanonicalEmail(std::string_view email);

// Checks a URI (scheme ":" rest, printable ASCII, no spaces). kInvalidName.
core::Result<std::string> CanonicalUri(std::string_view uri);

// True if `text` parses as an IPv4 or IPv6 address.
bool IsIpAddress(std::string_view text);

// The raw address bytes of an IP (4 bytes for IPv4, 16 for IPv6), as an X.509 iPAddress
// GeneralName holds them (RFC 5280 4.2.1.6). Fails with kInvalidName.
core::Result<std::string> IpAddressBytes(std::string_view ip);

// An IP network for name constraints (RFC 5280 4.2.1.10): address and mask bytes (both 4 or both
// 16 bytes), and the canonical "address/prefix" text.
struct IpNetwork {
  std::string address;  // raw bytes, host bits zero
  std::string mask;     // raw bytes, `prefix` leading one bits
  int prefix = 0;
  std::string text;  // canonical, e.g. "10.0.0.0/8", "2001:db8::/32"
};

// Parses "10.0.0.0/8" or "2001:db8::/32"; a bare address is a single host (/32 or /128).
// Refuses set host bits ("10.0.0.1/8") and out-of-range prefixes. Fails with kInvalidName.
core::Result<IpNetwork> ParseCidr(std::string_view cidr);

// The name quoted for an error message, with '"', '\\', control characters, NUL and non-ASCII
// bytes escaped ("a\x00b.com"), so a message stays one printable line.
std::string QuoteName(std::string_view name);

// Checks a common name carried as an otherName SAN whose type-id is id-at-commonName (2.5.4.3)
// and whose value is a UTF8String: what elasticsearch-certutil writes for the `cn` field of an
// instances.yml, and what Elasticsearch's transport trust restrictions match. 1 to 64 characters
// (X.520 ub-common-name) of valid UTF-8, no control characters. Fails with kInvalidName.
core::Result<std::string> CheckOtherNameCommonName(std::string_view cn);

// Canonicalises every name of `sans`, removes duplicates (keeping first-seen order).
core::Result<SubjectAltNames> CanonicalSans(const SubjectAltNames& sans);

// Adds the common name to `sans` (as an IP if it is one, else as a DNS name) if it is not
// already there. The CN must itself be a valid name.
core::Result<void> AddCommonNameToSans(std::string_view common_name, SubjectAltNames& sans);

// ---- Subject attributes besides the CN (RFC 5280 4.1.2.4) ----

// How many times one attribute may appear in a subject (C: once).
inline constexpr std::size_t kMaxSubjectAttributeRepeats = 4;

// Checks the subject attributes a certificate or CSR may carry besides the CN, C, ST, L, O, OU and
// DC, and returns them in the same order with canonical labels ("C", "ST", "L", "O", "OU", "DC";
// the short names in any letter case and the long names such as "organizationName" are accepted).
// Refused with kInvalidArgument, the message naming the attribute: any other attribute (a CN too:
// it is the common name), an empty value, invalid UTF-8, a control character (C0, DEL, C1), a value
// longer than RFC 5280 Appendix A's upper bound in characters (ST and L 128, O and OU 64), a C
// that is not 2 upper-case letters (ISO 3166-1 alpha-2), C twice, a DC (domainComponent, RFC
// 4519: certutil's DNs use it) that is not one DNS label, or another attribute more than
// kMaxSubjectAttributeRepeats times.
core::Result<SubjectAttributes> CanonicalSubjectAttributes(const SubjectAttributes& attributes);

// A subject as users write it on a command line.
struct SubjectText {
  std::string common_name{};       // "" if the text has no CN
  SubjectAttributes attributes{};  // canonical, in subject order (most significant first)
};

// Parses OpenSSL's `-subj` form ("/C=US/ST=California/O=Example/CN=a.example.com") or the RFC
// 4514 (RFC 2253) form ("CN=a.example.com,O=Example,C=US", most significant last). A '\'
// escapes the next character (in the RFC 4514 form also a hex pair, "\2C"); spaces around types
// and values are dropped. Refused with kInvalidArgument: an empty subject, a part without '=', an
// unescaped '+' (multi-valued RDNs), a second CN, and what CanonicalSubjectAttributes refuses.
core::Result<SubjectText> ParseSubjectText(std::string_view text);

}  // namespace clustertls::pki
