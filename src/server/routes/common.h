#pragma once

// What the route files share: the JSON body's field readers, the query checks, the JSON views
// that more than one resource answers with, and the responses (a JSON body, an error through
// HttpStatus). Nothing here touches the Store.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authority/audited.h"
#include "authority/name_policy.h"
#include "authority/revocation.h"
#include "core/result.h"
#include "core/time.h"
#include "net/https_server.h"
#include "server/api.h"
#include "server/router.h"

namespace clustertls::server {

using json = nlohmann::json;

// One line on stderr; never carries a key, a password or a request body.
void Log(const std::string& line);

// JSON text that survives non-UTF-8 input (certificate names): bad bytes become U+FFFD.
std::string Dump(const json& j);

// A JSON response (200 or `status`).
net::Response Json(const json& j, int status = 200);

// The error response for `error` (server/http_error.h); a 5xx is also logged with its detail.
net::Response Error(const core::Error& error);

// A 400 invalid_argument response.
net::Response BadRequest(std::string message);

// `text` as an integer in min..max; kInvalidArgument naming `field`.
core::Result<std::int64_t> ParseInt(std::string_view text, const std::string& field,
                                    std::int64_t min, std::int64_t max);

// kInvalidArgument naming the first key of `object` that is not in `allowed` ("<where>unknown
// field ...").
core::Result<void> CheckFields(const json& object, const std::vector<std::string>& allowed,
                               const std::string& where);

// kInvalidArgument for a query parameter that is not in `allowed`.
core::Result<void> CheckQuery(const Call& call, const std::vector<std::string>& allowed);

// Field readers for a parsed JSON object body; absent (or null) fields give nullopt.
core::Result<std::optional<std::string>> StringField(const json& body, const std::string& field,
                                                     bool required);
core::Result<std::optional<std::int64_t>> IntField(const json& body, const std::string& field,
                                                   std::int64_t min, std::int64_t max);
core::Result<std::optional<bool>> BoolField(const json& body, const std::string& field);

// The "name_policy" field of a body (authority/name_policy.h): nullopt when absent, an empty
// policy for null (no policy), else the parsed object.
core::Result<std::optional<authority::NamePolicy>> NamePolicyField(const json& body);

// An RFC 3339 time, or null.
json OptionalTime(const std::optional<core::TimePoint>& t);

// A stored name policy (canonical JSON text, "" for none) as a JSON value: null for none.
json NamePolicyValue(const std::string& stored);

// Calls options.on_cluster_change if set: after an accepted change of what cluster nodes receive.
void ClusterChanged(const ApiOptions& options);

// Who revokes, for authority::Revocation: the principal and the client's address.
authority::RevokeBy RevokeByOf(const Call& call);

// Who changes something, for its audit entry (authority/audited.h): the same.
authority::ChangeBy ChangeByOf(const Call& call);

}  // namespace clustertls::server
