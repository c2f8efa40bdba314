#pragma once

// How the CLI shows a CRL (`clustertls crl show`, `clustertls inspect`): one description as text
// and as JSON, so both commands print the same fields.

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/result.h"
#include "core/time.h"
#include "pki/crl.h"

namespace clustertls::cli {

// The CRL as a JSON object: issuer, crl_number (a number; a decimal string if it exceeds 64
// bits; null when absent), this_update, next_update (null when absent), expired (nextUpdate
// before `now`), signature_algorithm, count, entries [{serial, revoked_at, reason}]. Fails
// (kParse) when an entry's reasonCode is not an RFC 5280 reason.
core::Result<nlohmann::json> CrlJson(const pki::Crl& crl, core::TimePoint now);

// The same as indented text lines on `out`, nextUpdate flagged "EXPIRED ... ago" or
// "expires in ...".
core::Result<void> PrintCrl(std::ostream& out, const pki::Crl& crl, core::TimePoint now);

}  // namespace clustertls::cli
