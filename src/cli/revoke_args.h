#pragma once

// The argument checks of `clustertls revoke`, separate from the command so they are tested
// without a server: everything here fails before any request is sent.

#include <string>
#include <string_view>

#include "core/result.h"

namespace clustertls::cli {

// What the user typed.
struct RevokeArguments {
  std::string serial{};
  std::string reason{};
  std::string name{};
  std::string san{};
  std::string issued_before{};
  bool dry_run = false;
  bool yes = false;
  bool interactive = false;  // stdin is a terminal: a selector revocation may ask to confirm
};

// What is sent: the serial (normalised) or the selectors, the canonical reason name (empty: the
// server's default, unspecified) and issued_before as RFC 3339 UTC.
struct RevokeRequest {
  std::string serial{};
  std::string reason{};
  std::string name{};
  std::string san{};
  std::string issued_before{};
};

// Normalises a serial as `openssl x509 -serial` prints it: optional "serial=" prefix, colons
// and surrounding blanks dropped, upper-case hex, at most 20 octets. Usage error otherwise.
core::Result<std::string> NormalizeSerialArgument(std::string_view text);

// The RFC 5280 reason names, comma-separated, for help texts and errors.
std::string RevocationReasonList();

// Usage errors (exit 2), one line each: SERIAL together with a selector, neither given, an
// unknown --reason (pki::ParseRevocationReason), an --issued-before that is not RFC 3339 or a
// date, a malformed SERIAL, and a selector revocation that is neither --dry-run nor --yes
// without a terminal to ask on.
core::Result<RevokeRequest> CheckRevokeArguments(const RevokeArguments& args);

}  // namespace clustertls::cli
