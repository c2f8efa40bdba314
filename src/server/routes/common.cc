#include "server/routes/common.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <iostream>
#include <mutex>
#include <utility>

#include "server/http_error.h"

namespace clustertls::server {

void Log(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::cerr << "clustertls: " << line << '\n';
}

std::string Dump(const json& j) { return authority::AuditDetailsText(j); }

net::Response Json(const json& j, int status) { return JsonResponse(Dump(j), status); }

net::Response Error(const core::Error& error) {
  if (const int status = HttpStatus(error.code); status >= 500) {
    Log((status == 503 ? "unavailable: " : "internal error: ") + error.message +
        (error.detail.empty() ? "" : " (" + error.detail + ")"));
  }
  return ErrorResponse(error);
}

net::Response BadRequest(std::string message) {
  return ErrorResponse(core::Fail(core::ErrorCode::kInvalidArgument, std::move(message)));
}

core::Result<std::int64_t> ParseInt(std::string_view text, const std::string& field,
                                    std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, field + ": not an integer");
  }
  if (value < min || value > max) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      field + ": " + std::to_string(value) + " is out of range " +
                          std::to_string(min) + ".." + std::to_string(max));
  }
  return value;
}

core::Result<void> CheckFields(const json& object, const std::vector<std::string>& allowed,
                               const std::string& where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string known;
      for (const auto& a : allowed) {
        known += (known.empty() ? "" : ", ") + a;
      }
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        where + "unknown field \"" + it.key() + "\" (known: " + known + ")");
    }
  }
  return {};
}

core::Result<void> CheckQuery(const Call& call, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : call.query) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "query: unknown parameter \"" + key.substr(0, 64) + "\"");
    }
  }
  return {};
}

core::Result<std::optional<std::string>> StringField(const json& body, const std::string& field,
                                                     bool required) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    if (required) {
      return core::Fail(core::ErrorCode::kInvalidArgument, field + ": missing");
    }
    return std::optional<std::string>();
  }
  if (!it->is_string()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, field + ": must be a string");
  }
  return std::optional<std::string>(it->get<std::string>());
}

core::Result<std::optional<std::int64_t>> IntField(const json& body, const std::string& field,
                                                   std::int64_t min, std::int64_t max) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    return std::optional<std::int64_t>();
  }
  if (!it->is_number_integer()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, field + ": must be an integer");
  }
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return core::Fail(core::ErrorCode::kInvalidArgument, field + ": out of range");
  }
  std::int64_t v = it->get<std::int64_t>();
  if (v < min || v > max) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      field + ": " + std::to_string(v) + " is out of range " + std::to_string(min) +
                          ".." + std::to_string(max));
  }
  return std::optional<std::int64_t>(v);
}

core::Result<std::optional<bool>> BoolField(const json& body, const std::string& field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    return std::optional<bool>();
  }
  if (!it->is_boolean()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, field + ": must be true or false");
  }
  return std::optional<bool>(it->get<bool>());
}

core::Result<std::optional<authority::NamePolicy>> NamePolicyField(const json& body) {
  auto it = body.find("name_policy");
  if (it == body.end()) {
    return std::optional<authority::NamePolicy>();
  }
  if (it->is_null()) {
    return std::optional<authority::NamePolicy>(authority::NamePolicy{});
  }
  if (!it->is_object()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "name_policy: must be an object (null removes the policy)");
  }
  CTLS_ASSIGN_OR_RETURN(authority::NamePolicy policy,
                        authority::ParseNamePolicy(it->dump(), "name_policy"));
  return std::optional<authority::NamePolicy>(std::move(policy));
}

json OptionalTime(const std::optional<core::TimePoint>& t) {
  return t ? json(core::FormatTime(*t)) : json(nullptr);
}

json NamePolicyValue(const std::string& stored) { return authority::StoredNamePolicyValue(stored); }

authority::RevokeBy RevokeByOf(const Call& call) {
  return {.actor = call.principal.Describe(), .source = call.connection.remote_address};
}

void ClusterChanged(const ApiOptions& options) {
  if (options.on_cluster_change) {
    options.on_cluster_change();
  }
}

authority::ChangeBy ChangeByOf(const Call& call) {
  return {.actor = call.principal.Describe(), .source = call.connection.remote_address};
}

}  // namespace clustertls::server
