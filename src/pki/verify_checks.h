#pragma once

// Checks of our own that Verify runs on top of OpenSSL's X509_verify_cert, closing the gaps
// where OpenSSL accepts what RFC 5280 or the CA/Browser Forum Baseline Requirements refuse.
// Private to pki/ (verify.cc and its tests); each check is a pure function of its input.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ossl/ptr.h"
#include "pki/verify.h"

namespace clustertls::pki::verify_checks {

// The path as OpenSSL built it: leaf first; the last element is a trust anchor if `anchored`.
struct ChainView {
  std::span<X509* const> path;
  bool anchored = false;
  const VerifyOptions& options;
};

// Appends every problem our own checks find on `chain` to `problems`.
void RunOwnChecks(const ChainView& chain, std::vector<VerifyProblem>& problems);

// RFC 5280 section 4.1.2.2: a serial is positive and at most 20 octets long. Returns the
// reason it is not, or nullopt.
std::optional<std::string> CheckSerial(const ASN1_INTEGER* serial);

// A dNSName as a certificate may carry it (RFC 5280 section 4.2.1.6, RFC 1034 preferred name
// syntax, CA/B Forum BR 7.1.2.7.12): ASCII letters, digits and hyphens in labels of 1-63 octets,
// no hyphen at either end of a label, at most 253 octets; single-label names ("localhost") are
// accepted, as private clusters use them; a wildcard only as the whole left-most label and
// followed by at least two labels ("*.example.com").
bool IsValidDnsSan(std::string_view name);

// An rfc822Name: exactly one '@', a non-empty local part of printable ASCII without spaces,
// and a valid DNS domain.
bool IsValidEmailSan(std::string_view email);

// The number of intermediates on `path` (leaf first, anchor last if `anchored`) that count
// against a maximum depth: self-issued intermediates are not counted (RFC 5280 section 6.1.4 (l)).
int CountedIntermediates(std::span<X509* const> path, bool anchored);

}  // namespace clustertls::pki::verify_checks
