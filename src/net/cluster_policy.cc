#include "net/cluster_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "core/encoding.h"
#include "net/tls_context.h"

namespace clustertls::net {
namespace {

using net::TlsVersion;

constexpr const char* kMinControl = "min_control_tls_version";
constexpr const char* kMinData = "min_data_tls_version";
constexpr const char* kCipherSuites = "cipher_suites";
constexpr const char* kTls13Suites = "tls13_ciphersuites";
constexpr const char* kClientAuth = "client_auth";
constexpr const char* kSentinelSsl = "sentinel_ssl_policy";
constexpr const char* kMinSentinel = "min_sentinel_tls_version";

// Redis Enterprise's names for the same settings (its cluster object and rladmin), matched after
// lower-casing: what each means here.
struct Alias {
  const char* redis;
  const char* ours;
};
constexpr Alias kAliases[] = {
    {"control_cipher_suites", kCipherSuites},
    {"control_cipher_suites_tls_1_3", kTls13Suites},
    {"sentinel_tls_mode", kSentinelSsl},
};
// Redis' per-path lists: clustertls has one cipher list for every path, so these are refused
// with what to set instead.
constexpr const char* kOnePathFields[] = {"data_cipher_list", "data_cipher_suites_tls_1_3",
                                          "sentinel_cipher_suites",
                                          "sentinel_cipher_suites_tls_1_3"};

// Longest cipher list accepted (OpenSSL's full list is well under this).
constexpr std::size_t kMaxListBytes = 2048;
// The policy is a flat object; anything nested deeper is refused before parsing.
constexpr int kMaxDepth = kMaxJsonDepth;

core::Error FieldError(const std::string& field, const core::Error& error) {
  return core::Fail(error.code, field + ": " + error.message, error.detail);
}

core::Error FieldError(const std::string& field, std::string message) {
  return core::Fail(core::ErrorCode::kInvalidArgument, field + ": " + std::move(message));
}

bool Refused(TlsVersion v) { return v == TlsVersion::kTls10 || v == TlsVersion::kTls11; }

const char* JsonTypeName(const nlohmann::json& value) { return value.type_name(); }

// A version given as "1.2" or 1.2 (RFC 8996 refusal for 1, 1.0, 1.1).
core::Result<TlsVersion> VersionField(const std::string& field, const nlohmann::json& value) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_number()) {
    const double number = value.get<double>();
    if (!std::isfinite(number)) {
      return FieldError(field, "expected a TLS version such as \"1.2\" or 1.3");
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", number);
    text = buffer;
  } else {
    return FieldError(field, std::string("expected a TLS version such as \"1.2\" or 1.3, got ") +
                                 JsonTypeName(value));
  }
  auto version = net::ParseTlsVersion(text);
  if (!version) {
    return FieldError(field, version.error());
  }
  return *version;
}

core::Result<std::string> ListField(const std::string& field, const nlohmann::json& value) {
  if (!value.is_string()) {
    return FieldError(field, std::string("expected a string, got ") + JsonTypeName(value));
  }
  std::string text = value.get<std::string>();
  if (text.size() > kMaxListBytes) {
    return FieldError(field, "longer than " + std::to_string(kMaxListBytes) + " characters");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f) {
      return FieldError(field, "contains a character that is not printable ASCII");
    }
  }
  return text;
}

}  // namespace

const char* SentinelSslName(SentinelSsl mode) {
  switch (mode) {
    case SentinelSsl::kAllowed:
      return "allowed";
    case SentinelSsl::kRequired:
      return "required";
    case SentinelSsl::kDisabled:
      return "disabled";
  }
  return "required";
}

core::Result<SentinelSsl> ParseSentinelSsl(std::string_view text) {
  const std::string lower = core::AsciiLower(text);
  for (SentinelSsl mode : {SentinelSsl::kAllowed, SentinelSsl::kRequired, SentinelSsl::kDisabled}) {
    if (lower == SentinelSslName(mode)) {
      return mode;
    }
  }
  std::string shown(text.substr(0, 32));
  return core::Fail(
      core::ErrorCode::kInvalidArgument,
      "expected allowed (TLS and plain), required (TLS only) or disabled (plain "
      "only), got " +
          nlohmann::json(shown).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

net::TlsPolicy ClusterPolicy::ControlPolicy() const {
  return net::TlsPolicy{.min_version = min_control_tls_version,
                        .cipher_list = cipher_suites,
                        .tls13_ciphersuites = tls13_ciphersuites,
                        .client_auth = net::ClientAuth::kNone};
}

net::TlsPolicy ClusterPolicy::DataPolicy() const {
  return net::TlsPolicy{.min_version = min_data_tls_version,
                        .cipher_list = cipher_suites,
                        .tls13_ciphersuites = tls13_ciphersuites,
                        .client_auth = client_auth};
}

net::TlsPolicy ClusterPolicy::SentinelPolicy() const {
  net::TlsPolicy policy = DataPolicy();
  policy.min_version = min_sentinel_tls_version;
  return policy;
}

core::Result<void> ClusterPolicy::Validate() const {
  // RFC 8996: TLS 1.0 and 1.1 are refused on both paths.
  if (Refused(min_control_tls_version)) {
    return FieldError(kMinControl,
                      net::ParseTlsVersion(net::TlsVersionName(min_control_tls_version)).error());
  }
  if (Refused(min_data_tls_version)) {
    return FieldError(kMinData,
                      net::ParseTlsVersion(net::TlsVersionName(min_data_tls_version)).error());
  }
  if (Refused(min_sentinel_tls_version)) {
    return FieldError(kMinSentinel,
                      net::ParseTlsVersion(net::TlsVersionName(min_sentinel_tls_version)).error());
  }
  const bool tls12_allowed =
      min_control_tls_version == TlsVersion::kTls12 || min_data_tls_version == TlsVersion::kTls12;
  // Each list is checked on its own first, so that the error names the field at fault.
  if (tls12_allowed || !cipher_suites.empty()) {
    if (auto checked = net::CheckCipherList(cipher_suites); !checked) {
      return FieldError(kCipherSuites, checked.error());
    }
  }
  if (auto checked = net::CheckTls13Suites(tls13_ciphersuites); !checked) {
    return FieldError(kTls13Suites, checked.error());
  }
  for (auto [field, version] : {std::pair{kMinControl, min_control_tls_version},
                                std::pair{kMinData, min_data_tls_version}}) {
    if (version == TlsVersion::kTls13 && tls13_ciphersuites.empty()) {
      return FieldError(kTls13Suites, std::string("empty while ") + field +
                                          " is 1.3: no cipher is left to negotiate");
    }
  }
  if (auto checked = ControlPolicy().Validate(); !checked) {
    return checked.error().WithContext("control path policy");
  }
  if (auto checked = DataPolicy().Validate(); !checked) {
    return checked.error().WithContext("data path policy");
  }
  return {};
}

core::Result<void> CheckDefaultClients(const ClusterPolicy& policy,
                                       const DefaultClientCheckOptions& options) {
  struct Path {
    const char* name;
    net::TlsPolicy policy;
    pki::KeyType key;
  };
  const Path paths[] = {{"control path", policy.ControlPolicy(), options.control_key},
                        {"data path", policy.DataPolicy(), options.data_key}};
  for (const Path& path : paths) {
    // The data path differs from the control path only by client_auth, which the check leaves
    // out: with the same key type and minimum version its outcome is the same.
    if (&path != &paths[0] && path.key == paths[0].key &&
        path.policy.min_version == paths[0].policy.min_version) {
      continue;
    }
    for (TlsVersion version : {TlsVersion::kTls12, TlsVersion::kTls13}) {
      const bool allowed = version == TlsVersion::kTls13 ? !path.policy.tls13_ciphersuites.empty()
                                                         : path.policy.min_version == version;
      if (!allowed) {
        continue;
      }
      for (net::DefaultClient client : net::kDefaultClients) {
        auto connected = net::CheckDefaultClientConnects(
            path.policy, client, version,
            {.key_type = path.key, .now = options.now, .rng = options.rng});
        if (!connected) {
          return FieldError(version == TlsVersion::kTls13 ? kTls13Suites : kCipherSuites,
                            connected.error().WithContext(path.name));
        }
      }
    }
  }
  return {};
}

std::string PolicyToJson(const ClusterPolicy& policy) {
  nlohmann::ordered_json doc;
  doc[kMinControl] = net::TlsVersionName(policy.min_control_tls_version);
  doc[kMinData] = net::TlsVersionName(policy.min_data_tls_version);
  doc[kCipherSuites] = policy.cipher_suites;
  doc[kTls13Suites] = policy.tls13_ciphersuites;
  doc[kClientAuth] = net::ClientAuthName(policy.client_auth);
  doc[kSentinelSsl] = SentinelSslName(policy.sentinel_ssl_policy);
  doc[kMinSentinel] = net::TlsVersionName(policy.min_sentinel_tls_version);
  return doc.dump();
}

std::string PolicyToRedisJson(const ClusterPolicy& policy) {
  nlohmann::ordered_json doc;
  doc["min_control_TLS_version"] = net::TlsVersionName(policy.min_control_tls_version);
  doc["min_data_TLS_version"] = net::TlsVersionName(policy.min_data_tls_version);
  doc["min_sentinel_TLS_version"] = net::TlsVersionName(policy.min_sentinel_tls_version);
  doc["sentinel_ssl_policy"] = SentinelSslName(policy.sentinel_ssl_policy);
  doc["control_cipher_suites"] = policy.cipher_suites;
  doc["control_cipher_suites_tls_1_3"] = policy.tls13_ciphersuites;
  return doc.dump();
}

core::Result<ClusterPolicy> ApplyPolicyJson(const ClusterPolicy& base, std::string_view json) {
  if (!CheckJsonDepth(json, kMaxDepth)) {
    return core::Fail(core::ErrorCode::kParse,
                      "policy: JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return core::Fail(core::ErrorCode::kParse, "policy: the body is not valid JSON");
  }
  if (!doc.is_object()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      std::string("policy: expected a JSON object, got ") + JsonTypeName(doc));
  }
  ClusterPolicy policy = base;
  std::set<std::string> seen;
  for (const auto& [given, value] : doc.items()) {
    // Redis' spellings (min_control_TLS_version) and names (control_cipher_suites) map onto ours.
    std::string key = core::AsciiLower(given);
    for (const Alias& alias : kAliases) {
      if (key == alias.redis) {
        key = alias.ours;
      }
    }
    if (std::find(std::begin(kOnePathFields), std::end(kOnePathFields), key) !=
        std::end(kOnePathFields)) {
      return FieldError(given, std::string("clustertls has one cipher list for every path: set ") +
                                   (key.ends_with("tls_1_3") ? kTls13Suites : kCipherSuites) +
                                   " (Redis' control_cipher_suites) instead");
    }
    if (!seen.insert(key).second) {
      return FieldError(given,
                        "given twice (names are matched without regard to case, and "
                        "Redis' names stand for clustertls's)");
    }
    if (key == kMinControl) {
      CTLS_ASSIGN_OR_RETURN(policy.min_control_tls_version, VersionField(given, value));
    } else if (key == kMinData) {
      CTLS_ASSIGN_OR_RETURN(policy.min_data_tls_version, VersionField(given, value));
    } else if (key == kCipherSuites) {
      CTLS_ASSIGN_OR_RETURN(policy.cipher_suites, ListField(given, value));
    } else if (key == kTls13Suites) {
      CTLS_ASSIGN_OR_RETURN(policy.tls13_ciphersuites, ListField(given, value));
    } else if (key == kClientAuth) {
      if (!value.is_string()) {
        return FieldError(given,
                          std::string("expected \"none\", \"optional\" or \"required\", got ") +
                              JsonTypeName(value));
      }
      auto mode = net::ParseClientAuth(value.get<std::string>());
      if (!mode) {
        return FieldError(given, mode.error());
      }
      policy.client_auth = *mode;
    } else if (key == kSentinelSsl) {
      if (!value.is_string()) {
        return FieldError(given, std::string("expected \"allowed\", \"required\" or "
                                             "\"disabled\", got ") +
                                     JsonTypeName(value));
      }
      auto mode = ParseSentinelSsl(value.get<std::string>());
      if (!mode) {
        return FieldError(given, mode.error());
      }
      policy.sentinel_ssl_policy = *mode;
    } else if (key == kMinSentinel) {
      CTLS_ASSIGN_OR_RETURN(policy.min_sentinel_tls_version, VersionField(given, value));
    } else if (key == "version") {
      return FieldError(given, "is assigned by the server and cannot be set");
    } else {
      nlohmann::json name = given.size() > 64 ? given.substr(0, 64) + "..." : given;
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "policy: unknown field " +
                            name.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  CTLS_RETURN_IF_ERROR(policy.Validate());
  return policy;
}

core::Result<StoredPolicy> ParseStoredPolicy(std::string_view json) {
  if (!CheckJsonDepth(json, kMaxDepth)) {
    return core::Fail(core::ErrorCode::kParse,
                      "policy: JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return core::Fail(core::ErrorCode::kParse, "policy: not valid JSON");
  }
  if (!doc.is_object()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      std::string("policy: expected a JSON object, got ") + JsonTypeName(doc));
  }
  StoredPolicy stored;
  if (auto it = doc.find("version"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
      return FieldError("version", "expected a non-negative integer");
    }
    stored.version = it->get<std::int64_t>();
    doc.erase(it);
  }
  CTLS_ASSIGN_OR_RETURN(stored.policy, ApplyPolicyJson(ClusterPolicy{}, doc.dump()));
  return stored;
}

core::Result<void> CheckJsonDepth(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return core::Fail(core::ErrorCode::kParse,
                          "request body: JSON nested deeper than " + std::to_string(max_depth));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return {};
}

}  // namespace clustertls::net
