#pragma once

// `clustertls certificates list|show` without the network: the argument checks, the query of
// GET /v1/certificates, following its pages, and the table. Tested without a server; the
// commands (certificates_cmd.cc) only add the connection.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace clustertls::cli {

// What the user typed for `certificates list`.
struct CertListArguments {
  std::string name{};         // --name: substring of the CN or a SAN
  std::string profile{};      // --profile
  std::string expiring_in{};  // --expiring-in: "30d", "12h", "90m"; not revoked unless --revoked
  bool revoked = false;       // --revoked
  bool valid = false;         // --valid: neither revoked nor expired
  int limit = 0;              // --limit: at most this many; 0: every page
};

// How to fetch the list: the query of GET /v1/certificates (without limit and cursor) and what
// the client filters out itself.
struct CertListPlan {
  std::string query{};  // "name=...&profile=...&expiring_before=...&revoked=..." (encoded)
  // Drop the certificates whose not_after is before this (expired): set by --expiring-in (the
  // window starts now) and --valid.
  std::optional<core::TimePoint> not_expired_at{};
  int limit = 0;  // 0: every page
};

// Parses a duration as --expiring-in takes it: a positive whole number and one unit, d (days),
// h (hours) or m (minutes), nothing else ("30d", "12h", "90m"); at most 100 years. A usage error
// naming the text otherwise.
core::Result<std::chrono::seconds> ParseExpiringIn(std::string_view text);

// Checks the arguments (usage errors: a bad --expiring-in, --revoked with --valid, an unknown
// --profile, a negative --limit) and plans the request at `now`. --expiring-in D asks for
// expiring_before = now + D and drops what expired before now; it also asks for revoked=false
// unless --revoked is given: a revoked certificate needs no renewal.
core::Result<CertListPlan> CheckCertListArguments(const CertListArguments& args,
                                                  core::TimePoint now);

// Fetches `plan` page by page through `get` (called with targets such as
// "/v1/certificates?revoked=false&limit=1000&cursor=42"), following next_cursor until there is
// none or `plan.limit` certificates were kept. Returns {"certificates":[...]} in the server's
// order. kParse if a page is not {"certificates":[...],"next_cursor":"..."}; a cursor the server
// repeats is an error rather than a loop.
core::Result<nlohmann::json> CollectCertificates(
    const CertListPlan& plan,
    const std::function<core::Result<nlohmann::json>(const std::string& target)>& get);

// The rows of the list table (SERIAL, CN, SANS, PROFILE, NOT AFTER, REVOKED) for the
// certificate objects of GET /v1/certificates; REVOKED is "no" or "yes (REASON, TIME)".
std::vector<std::vector<std::string>> CertificateRows(const nlohmann::json& certificates);

// The table's header.
std::vector<std::string> CertificateTableHeader();

}  // namespace clustertls::cli
