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

}  // namespace clustertls::pki
