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

// Canonicalises every name of `sans`, removes duplicates (keeping first-seen order).
core::Result<SubjectAltNames> CanonicalSans(const SubjectAltNames& sans);

// Adds the common name to `sans` (as an IP if it is one, else as a DNS name) if it is not
// already there. The CN must itself be a valid name.
core::Result<void> AddCommonNameToSans(std::string_view common_name, SubjectAltNames& sans);

}  // namespace clustertls::pki
