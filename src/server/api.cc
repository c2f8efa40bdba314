#include "server/api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "authority/cluster.h"
#include "authority/name_policy.h"
#include "authority/named_cert.h"
#include "authority/named_renew.h"
#include "authority/revocation.h"
#include "core/encoding.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/ocsp.h"
#include "server/cluster_policy.h"
#include "server/http_error.h"

namespace clustertls::server {

namespace {

using json = nlohmann::json;

constexpr const char* kServerVersion = "0.1.0";
constexpr int kDefaultTokenDays = 90;
constexpr int kMaxTokenDays = 3650;
// An OCSP request is a few hundred bytes; docs/api.md: bodies over 64 KiB get 413.
constexpr std::size_t kMaxOcspRequestBytes = 64 * 1024;

// The routes the plain-HTTP public listener serves (docs/api.md "Public listener").
constexpr std::string_view kPublicRoutes[] = {"/health",     "/v1/ca/chain",   "/v1/crl",
                                              "/v1/crl.pem", "/v1/crl/root",   "/v1/crl/root.pem",
                                              "/ocsp",       "/ocsp/{request}"};

// One line on stderr; never carries a key, a password or a request body.
void Log(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::cerr << "clustertls: " << line << '\n';
}

// Parses a request body. A key that appears twice in one object (RFC 8259 section 4: names
// SHOULD be unique; parsers disagree on which one wins, so a reader and the checks before it
// could see different values) sets `*duplicate` to it and gives a discarded value.
json ParseJsonObjectText(std::string_view text, std::string* duplicate) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate->empty()) {
          *duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json out = json::parse(text, check, false);
  if (!duplicate->empty()) {
    return json(json::value_t::discarded);
  }
  return out;
}

// Redis' update_cert page escapes a PEM file with `"$(sed -z 's/\n/\\\n/g' file)"`, which
// leaves a backslash before every line break instead of writing "\n", and, since the shell's
// $(...) drops the file's last line break, a backslash right before the closing quote: not JSON.
// For the certificate routes only (their strings are a name and PEM, which never hold a quote),
// this reads inside a string a backslash followed by a line break (LF or CRLF) as the escape
// "\n", and a backslash-quote followed by `,` or `}` as a last line break and the end of the
// string. Valid JSON without those shapes is left as it was and parsed as strictly as any body.
std::string JoinLineContinuations(std::string_view text) {
  auto ends_value = [&](std::size_t pos) {
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')) {
      ++pos;
    }
    return pos < text.size() && (text[pos] == ',' || text[pos] == '}');
  };
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!in_string) {
      in_string = c == '"';
      out += c;
      continue;
    }
    if (c == '"') {
      in_string = false;
      out += c;
    } else if (c == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      const bool crlf = next == '\r' && i + 2 < text.size() && text[i + 2] == '\n';
      if (next == '\n' || crlf) {
        out += "\\n";
        i += crlf ? 2 : 1;
      } else if (next == '"' && ends_value(i + 2)) {
        out += "\\n\"";
        in_string = false;
        ++i;
      } else {
        out += c;
        out += next;  // an escape: its second character never ends the string
        ++i;
      }
    } else {
      out += c;
    }
  }
  return out;
}

// JSON text that survives non-UTF-8 input (certificate names): bad bytes become U+FFFD.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

net::Response Json(const json& j, int status = 200) { return JsonResponse(Dump(j), status); }

net::Response Error(const core::Error& error) {
  if (HttpStatus(error.code) >= 500) {
    Log("internal error: " + error.message +
        (error.detail.empty() ? "" : " (" + error.detail + ")"));
  }
  return ErrorResponse(error);
}

net::Response BadRequest(std::string message) {
  return ErrorResponse(core::Fail(core::ErrorCode::kInvalidArgument, std::move(message)));
}

// RFC 3986 section 2.1 percent-decoding; `plus_is_space` for query strings (HTML forms).
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return std::nullopt;
      }
      int hi = core::HexDigitValue(in[i + 1]);
      int lo = core::HexDigitValue(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// The responseStatus name of a DER OCSPResponse (RFC 6960 section 4.2.1: SEQUENCE { ENUMERATED
// responseStatus, ... }), for the metrics label.
std::string OcspStatusName(std::string_view der) {
  std::size_t i = 2;
  if (der.size() < 5 || static_cast<unsigned char>(der[0]) != 0x30) {
    return "other";
  }
  unsigned char len = static_cast<unsigned char>(der[1]);
  if (len & 0x80) {
    i += len & 0x7f;
  }
  if (der.size() < i + 3 || der[i] != 0x0a || der[i + 1] != 0x01) {
    return "other";
  }
  switch (der[i + 2]) {
    case 0:
      return "successful";
    case 1:
      return "malformedRequest";
    case 2:
      return "internalError";
    case 3:
      return "tryLater";
    case 5:
      return "sigRequired";
    case 6:
      return "unauthorized";
    default:
      return "other";
  }
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
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

void SanList(const pki::SubjectAltNames& sans, json* out) {
  for (const auto& d : sans.dns) {
    out->push_back("DNS:" + d);
  }
  for (const auto& ip : sans.ips) {
    out->push_back("IP:" + ip);
  }
  for (const auto& u : sans.uris) {
    out->push_back("URI:" + u);
  }
  for (const auto& e : sans.emails) {
    out->push_back("email:" + e);
  }
}

json NamedCertJson(const store::NamedCert& named) {
  json j = {{"name", named.name},
            {"version", named.version},
            {"created_at", core::FormatTime(named.created_at)},
            {"created_by", named.created_by}};
  auto certs = pki::Certificate::ParseAll(named.chain_pem);
  if (certs && !certs->empty()) {
    const pki::Certificate& leaf = certs->front();
    json sans = json::array();
    SanList(leaf.sans(), &sans);
    j["subject"] = leaf.subject();
    j["sans"] = std::move(sans);
    j["serial"] = leaf.serial_hex();
    j["not_before"] = core::FormatTime(leaf.not_before());
    j["not_after"] = core::FormatTime(leaf.not_after());
    j["fingerprint_sha256"] = leaf.fingerprint().colon;
    j["issuer"] = leaf.issuer();
  }
  return j;
}

json IssuedJson(const store::IssuedCert& cert) {
  json sans = json::parse(cert.sans_json, nullptr, false);
  if (sans.is_discarded() || !sans.is_array()) {
    sans = json::array();
  }
  json j = {{"serial", cert.serial_hex},
            {"subject_cn", cert.subject_cn},
            {"sans", std::move(sans)},
            {"profile", cert.profile},
            {"not_before", core::FormatTime(cert.not_before)},
            {"not_after", core::FormatTime(cert.not_after)},
            {"issued_at", core::FormatTime(cert.issued_at)},
            {"issued_by", cert.issued_by},
            {"revoked", cert.revoked_at.has_value()}};
  if (cert.revoked_at) {
    j["revoked_at"] = core::FormatTime(*cert.revoked_at);
    j["revocation_reason"] = cert.revocation_reason;
  }
  return j;
}

json OptionalTime(const std::optional<core::TimePoint>& t) {
  return t ? json(core::FormatTime(*t)) : json(nullptr);
}

// A stored name policy (canonical JSON text, "" for none) as a JSON value: null for none.
json NamePolicyValue(const std::string& stored) {
  if (stored.empty()) {
    return nullptr;
  }
  json j = json::parse(stored, nullptr, false);
  return j.is_discarded() ? json(stored) : j;
}

json TokenJson(const store::ApiToken& token) {
  return {{"id", token.id},
          {"user", token.user},
          {"created_at", core::FormatTime(token.created_at)},
          {"expires_at", OptionalTime(token.expires_at)},
          {"last_used", OptionalTime(token.last_used)},
          {"name_policy", NamePolicyValue(token.name_policy)}};
}

json UserJson(const store::User& user) {
  return {{"name", user.name},
          {"role", user.role},
          {"created_at", core::FormatTime(user.created_at)},
          {"disabled", user.disabled},
          {"name_policy", NamePolicyValue(user.name_policy)}};
}

// Users: [a-z0-9._-]{1,64}.
core::Result<void> CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "name: must be 1-64 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "name: only a-z, 0-9, '.', '_' and '-' are allowed");
    }
  }
  return {};
}

core::Result<void> CheckPassword(const std::string& password) {
  if (password.size() < 12) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "password: must be at least 12 characters");
  }
  if (password.size() > 1024) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "password: longer than 1024 characters");
  }
  return {};
}

// Field readers for a parsed JSON object body; absent fields give nullopt.
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

// The "name_policy" field of a body (authority/name_policy.h): nullopt when absent, an empty
// policy for null (no policy), else the parsed object.
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

// One request being answered.
struct Call {
  net::Request request;
  net::ConnectionInfo connection;
  std::string path;
  std::map<std::string, std::string> query;
  std::vector<std::string> params;  // the {...} segments of the route, decoded
  Principal principal;
  json body;  // the parsed object for JSON routes
};

NodesCaller NodeCaller(const Call& call) {
  return {.actor = call.principal.Describe(), .source = call.connection.remote_address};
}

}  // namespace

struct Api::Impl {
  using RouteFn = std::function<void(Impl&, Call&, const net::Respond&)>;

  struct MethodSpec {
    std::string method;
    std::optional<Role> min_role;  // nullopt: public
    bool json_body = false;
    // Fields a JSON body may have; nullopt: the route checks them itself.
    std::optional<std::vector<std::string>> fields;
    RouteFn fn;
    bool empty_body_ok = false;  // an empty JSON body reads as {}
    // The certificate routes: Redis' documented `sed -z` escaping of PEM files is read as the
    // newlines it stands for (JoinLineContinuations).
    bool pem_line_continuations = false;
  };

  struct Route {
    std::string pattern;
    std::vector<std::string> segments;
    std::vector<MethodSpec> methods;
    bool rest = false;  // the last {param} takes the rest of the path, '/' included
  };

  // Wraps a synchronous route function.
  template <typename F>
  static RouteFn Sync(F f) {
    return [f](Impl& impl, Call& call, const net::Respond& respond) { respond(f(impl, call)); };
  }

  ApiOptions o;
  std::vector<Route> routes;
  std::mutex users_mu;  // serialises user changes (the last-admin rule)

  explicit Impl(ApiOptions options) : o(std::move(options)) { BuildRoutes(); }

  // ------------------------------------------------------------------------------------------
  // Routing.

  void Add(std::string pattern, std::vector<MethodSpec> methods, bool rest = false) {
    Route r;
    r.rest = rest;
    r.pattern = pattern;
    for (auto s : SplitPath(pattern)) {
      r.segments.emplace_back(s);
    }
    r.methods = std::move(methods);
    routes.push_back(std::move(r));
  }

  const Route* Match(std::string_view path, std::vector<std::string>* params) const {
    auto parts = SplitPath(path);
    for (const Route& r : routes) {
      bool rest_fits = r.rest && parts.size() > r.segments.size();
      if (r.segments.size() != parts.size() && !rest_fits) {
        continue;
      }
      std::vector<std::string> captured;
      bool ok = true;
      for (std::size_t i = 0; i < r.segments.size() && ok; ++i) {
        const std::string& seg = r.segments[i];
        if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
          std::string_view raw = parts[i];
          if (r.rest && i + 1 == r.segments.size()) {
            raw = path.substr(static_cast<std::size_t>(parts[i].data() - path.data()));
          }
          auto decoded = PercentDecode(raw, false);
          if (!decoded || decoded->empty()) {
            ok = false;
          } else {
            captured.push_back(std::move(*decoded));
          }
        } else if (seg != parts[i]) {
          ok = false;
        }
      }
      if (ok) {
        if (params != nullptr) {
          *params = std::move(captured);
        }
        return &r;
      }
    }
    return nullptr;
  }

  static std::string PathOf(const std::string& target) {
    std::size_t q = target.find('?');
    return q == std::string::npos ? target : target.substr(0, q);
  }

  void BuildRoutes();

  // ------------------------------------------------------------------------------------------
  // The pipeline.

  static bool IsPublicRoute(const Route* route) {
    return route != nullptr && std::find(std::begin(kPublicRoutes), std::end(kPublicRoutes),
                                         route->pattern) != std::end(kPublicRoutes);
  }

  // Cross-site request forgery: a page on another site can make a browser send requests with the
  // Basic credentials it has cached for this API. Such requests carry an Origin (every
  // cross-origin POST, PUT and DELETE does) or Sec-Fetch-Site naming another site; a form or a
  // no-cors fetch cannot send Content-Type: application/json. So an authenticated route refuses
  // another origin (403), and a JSON route any body that is not application/json (415). This
  // API sends no CORS headers, so a browser never lets another origin read its answers either.
  static std::optional<net::Response> RefuseCrossSite(const Call& call) {
    const net::Request& request = call.request;
    if (auto site = request.Header("Sec-Fetch-Site");
        site &&
        (core::AsciiLower(*site) == "cross-site" || core::AsciiLower(*site) == "same-site")) {
      return ErrorResponse(403, "forbidden",
                           "cross-origin request refused (Sec-Fetch-Site: " +
                               std::string(site->substr(0, 32)) + ")");
    }
    auto origin = request.Header("Origin");
    if (!origin) {
      return std::nullopt;
    }
    auto host = request.Header("Host");
    const std::string own = "https://" + core::AsciiLower(host.value_or(""));
    std::string seen = core::AsciiLower(*origin);
    if (seen.ends_with(":443") && !own.ends_with(":443")) {
      seen.resize(seen.size() - 4);
    }
    if (!host || seen != own) {
      return ErrorResponse(403, "forbidden",
                           "cross-origin request refused: Origin " +
                               std::string(origin->substr(0, 100)) + " is not this server (" +
                               own.substr(0, 100) + ")");
    }
    return std::nullopt;
  }

  // A JSON route's body needs Content-Type: application/json (parameters such as charset are
  // fine); an empty body where the route allows one may come without a type.
  static std::optional<net::Response> RequireJsonType(const Call& call, bool empty_ok) {
    auto type = call.request.Header("Content-Type");
    const bool empty = call.request.body.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!type) {
      if (empty && empty_ok) {
        return std::nullopt;
      }
      return ErrorResponse(415, "unsupported_media_type",
                           "request body: Content-Type: application/json is required");
    }
    std::string media = core::AsciiLower(type->substr(0, type->find(';')));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) {
      media.pop_back();
    }
    if (media != "application/json") {
      return ErrorResponse(415, "unsupported_media_type",
                           "request body: expected Content-Type application/json, got " +
                               std::string(type->substr(0, 100)));
    }
    return std::nullopt;
  }

  // `public_only`: the public listener; only kPublicRoutes exist and nothing authenticates.
  void Dispatch(Call& call, const Route* route, const net::Respond& respond, bool public_only) {
    if (public_only && !IsPublicRoute(route)) {
      route = nullptr;
    }
    // A CORS preflight: this API answers no cross-origin request, so it refuses the preflight.
    if (call.request.method == "OPTIONS" &&
        (call.request.Header("Origin") || call.request.Header("Access-Control-Request-Method"))) {
      respond(ErrorResponse(403, "forbidden",
                            "cross-origin requests are refused (this API sends no CORS headers)"));
      return;
    }
    if (route == nullptr) {
      respond(ErrorResponse(404, "not_found", "no route " + call.path));
      return;
    }
    const MethodSpec* spec = nullptr;
    std::string allow;
    for (const MethodSpec& m : route->methods) {
      allow += (allow.empty() ? "" : ", ") + m.method;
      if (m.method == call.request.method) {
        spec = &m;
      }
    }
    if (spec == nullptr) {
      net::Response r = ErrorResponse(405, "method_not_allowed",
                                      call.request.method + " is not allowed on " + route->pattern +
                                          " (allowed: " + allow + ")");
      r.headers.emplace_back("Allow", allow);
      respond(std::move(r));
      return;
    }
    if (spec->min_role && public_only) {
      respond(ErrorResponse(404, "not_found", "no route " + call.path));
      return;
    }
    if (spec->min_role) {
      AuthOutcome outcome =
          o.authenticator->Authenticate(call.request, call.connection.remote_address);
      if (!outcome.principal) {
        if (outcome.failure == AuthFailure::kBadCredentials ||
            outcome.failure == AuthFailure::kMalformed) {
          o.metrics->CountAuthFailure();
        }
        respond(Authenticator::FailureResponse(outcome));
        return;
      }
      call.principal = *outcome.principal;
      if (static_cast<int>(call.principal.role) < static_cast<int>(*spec->min_role)) {
        respond(ErrorResponse(403, "forbidden",
                              "user \"" + call.principal.user + "\" (role " +
                                  RoleName(call.principal.role) + ") may not " +
                                  call.request.method + " " + route->pattern + " (needs " +
                                  RoleName(*spec->min_role) + ")"));
        return;
      }
      if (auto refused = RefuseCrossSite(call)) {
        respond(std::move(*refused));
        return;
      }
    }
    if (spec->json_body) {
      if (auto refused = RequireJsonType(call, spec->empty_body_ok)) {
        respond(std::move(*refused));
        return;
      }
    }
    if (auto q = ParseQuery(call); !q) {
      respond(Error(q.error()));
      return;
    }
    if (spec->json_body && spec->empty_body_ok &&
        call.request.body.find_first_not_of(" \t\r\n") == std::string::npos) {
      call.body = json::object();
    } else if (spec->json_body) {
      if (auto r = ParseBody(call, *spec); !r) {
        respond(std::move(*r.error_response));
        return;
      }
    }
    spec->fn(*this, call, respond);
  }

  core::Result<void> ParseQuery(Call& call) {
    std::size_t q = call.request.target.find('?');
    if (q == std::string::npos) {
      return {};
    }
    std::string_view rest = std::string_view(call.request.target).substr(q + 1);
    while (!rest.empty()) {
      std::size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (pair.empty()) {
        continue;
      }
      std::size_t eq = pair.find('=');
      auto key = PercentDecode(pair.substr(0, eq), true);
      auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!key || !value) {
        return core::Fail(core::ErrorCode::kInvalidArgument, "query: bad percent-encoding");
      }
      call.query[*key] = *value;
    }
    return {};
  }

  struct BodyResult {
    bool ok = true;
    std::optional<net::Response> error_response;
    explicit operator bool() const { return ok; }
  };

  BodyResult ParseBody(Call& call, const MethodSpec& spec) {
    const std::optional<std::vector<std::string>>& fields = spec.fields;
    auto fail = [](net::Response r) {
      BodyResult b;
      b.ok = false;
      b.error_response = std::move(r);
      return b;
    };
    const std::string joined =
        spec.pem_line_continuations ? JoinLineContinuations(call.request.body) : std::string();
    const std::string& body = spec.pem_line_continuations ? joined : call.request.body;
    if (auto depth = CheckJsonDepth(body); !depth) {
      return fail(ErrorResponse(400, "parse_error", depth.error().message));
    }
    std::string duplicate;
    json parsed = ParseJsonObjectText(body, &duplicate);
    if (!duplicate.empty()) {
      return fail(ErrorResponse(
          400, "parse_error",
          "request body: the key \"" + duplicate.substr(0, 64) + "\" appears twice in one object"));
    }
    if (parsed.is_discarded()) {
      return fail(ErrorResponse(400, "parse_error",
                                body.empty() ? "request body: empty (expected a JSON object)"
                                             : "request body: malformed JSON"));
    }
    if (!parsed.is_object()) {
      return fail(ErrorResponse(400, "invalid_argument", "request body: expected a JSON object"));
    }
    if (fields) {
      if (auto r = CheckFields(parsed, *fields, "request body: "); !r) {
        return fail(ErrorResponse(r.error()));
      }
    }
    call.body = std::move(parsed);
    return {};
  }

  // ------------------------------------------------------------------------------------------
  // Shared helpers.

  core::Result<void> Audit(const Call& call, const std::string& action, const std::string& target,
                           const json& details) {
    store::AuditInput input{.time = o.clock->Now(),
                            .actor = call.principal.Describe(),
                            .action = action,
                            .target = target,
                            .source = call.connection.remote_address,
                            .details_json = Dump(details)};
    auto entry = o.store->AppendAudit(
        input, [](const store::AuditEntry& e) { return authority::AuditHash(e); });
    if (!entry) {
      return entry.error().WithContext("audit log");
    }
    return {};
  }

  void TlsChanged() {
    if (o.on_tls_change) {
      o.on_tls_change();
    }
  }

  std::vector<pki::Certificate> ClusterChain() const {
    auto chain = pki::Certificate::ParseAll(o.authority->ca().chain_pem);
    if (chain) {
      return *chain;
    }
    return {o.authority->ca().issuing.certificate(), o.authority->ca().root};
  }

  // ------------------------------------------------------------------------------------------
  // Routes.

  net::Response Health(Call&) { return Json({{"status", "ok"}, {"version", kServerVersion}}); }

  net::Response MetricsRoute(Call&) {
    std::vector<Metrics::Expiry> expiries;
    const authority::ClusterCa& ca = o.authority->ca();
    auto unix = [](core::TimePoint t) {
      return static_cast<std::int64_t>(t.time_since_epoch().count());
    };
    expiries.push_back({"ca", "root", unix(ca.root.not_after())});
    expiries.push_back({"ca", ca.issuer_id, unix(ca.issuing.certificate().not_after())});
    expiries.push_back({"crl", ca.issuer_id, unix(o.crl->Current()->next_update)});
    if (o.root_crl != nullptr) {
      if (std::shared_ptr<const authority::RootCrl> root_crl = o.root_crl->Current()) {
        expiries.push_back({"crl", "root", unix(root_crl->next_update)});
      }
    }
    expiries.push_back({"ocsp-signer", ca.issuer_id, unix(o.ocsp->SignerNotAfter())});
    auto named = o.store->ListNamedCerts();
    if (!named) {
      return Error(named.error());
    }
    for (const auto& n : *named) {
      auto certs = pki::Certificate::ParseAll(n.chain_pem);
      if (certs && !certs->empty()) {
        expiries.push_back({"named", n.name, unix(certs->front().not_after())});
      }
    }
    // The issued certificate, neither revoked nor expired, that expires first (one index probe).
    auto soonest = o.store->SoonestExpiring(o.clock->Now());
    if (!soonest) {
      return Error(soonest.error());
    }
    if (*soonest) {
      expiries.push_back({"issued", (*soonest)->serial_hex, unix((*soonest)->not_after)});
    }
    std::string nodes_text;
    if (o.nodes != nullptr) {
      auto text = o.nodes->MetricsText(&expiries);
      if (!text) {
        return Error(text.error());
      }
      nodes_text = *std::move(text);
    }
    net::Response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = o.metrics->Render(expiries) + nodes_text;
    return r;
  }

  net::Response CaChain(Call&) {
    net::Response r;
    r.content_type = "application/x-pem-file";
    r.body = o.authority->ca().chain_pem;
    return r;
  }

  void Sign(Call& call, const net::Respond& respond) {
    auto csr = StringField(call.body, "csr", true);
    auto profile = StringField(call.body, "profile", false);
    auto days = IntField(call.body, "days", 1, 100000);
    auto allow_reserved = BoolField(call.body, "allow_reserved");
    for (const core::Error* e :
         {csr ? nullptr : &csr.error(), profile ? nullptr : &profile.error(),
          days ? nullptr : &days.error(), allow_reserved ? nullptr : &allow_reserved.error()}) {
      if (e != nullptr) {
        respond(Error(*e));
        return;
      }
    }
    if (allow_reserved->value_or(false) && call.principal.role != Role::kAdmin) {
      respond(Error(core::Fail(core::ErrorCode::kPermissionDenied,
                               "allow_reserved: only an admin may sign the names reserved for "
                               "the cluster's own certificates")));
      return;
    }
    authority::SignRequest request;
    request.name_policies = call.principal.name_policies;
    request.allow_reserved = allow_reserved->value_or(false);
    request.csr_pem = **csr;
    request.profile = profile->value_or("server");
    request.days = static_cast<int>(days->value_or(0));
    request.actor = call.principal.Describe();
    request.source = call.connection.remote_address;
    Metrics* metrics = o.metrics;
    std::string profile_name = request.profile;
    o.authority->SignAsync(
        request, [respond, metrics, profile_name](core::Result<authority::SignedCert> result) {
          if (!result) {
            respond(Error(result.error()));
            return;
          }
          metrics->CountIssued(profile_name);
          respond(Json({{"certificate", result->certificate_pem},
                        {"chain", result->chain_pem},
                        {"serial", result->serial_hex},
                        {"not_after", core::FormatTime(result->not_after)}},
                       201));
        });
  }

  net::Response ListCertificates(Call& call) {
    if (auto r =
            CheckQuery(call, {"name", "profile", "expiring_before", "revoked", "limit", "cursor"});
        !r) {
      return Error(r.error());
    }
    store::CertFilter filter;
    store::PageRequest page;
    auto& q = call.query;
    if (q.count("name")) {
      if (q["name"].size() > authority::kMaxSelectorLength) {
        return BadRequest("name: " + std::to_string(q["name"].size()) + " characters; at most " +
                          std::to_string(authority::kMaxSelectorLength));
      }
      filter.name_contains = q["name"];
    }
    if (q.count("profile")) {
      filter.profile = q["profile"];
    }
    if (q.count("expiring_before")) {
      auto t = core::ParseTime(q["expiring_before"]);
      if (!t) {
        return Error(t.error().WithContext("expiring_before"));
      }
      filter.expiring_before = *t;
    }
    if (q.count("revoked")) {
      if (q["revoked"] == "true") {
        filter.revoked = true;
      } else if (q["revoked"] == "false") {
        filter.revoked = false;
      } else {
        return BadRequest("revoked: must be true or false");
      }
    }
    if (q.count("limit")) {
      auto limit = ParseInt(q["limit"], "limit", 1, 1000);
      if (!limit) {
        return Error(limit.error());
      }
      page.limit = static_cast<int>(*limit);
    }
    if (q.count("cursor")) {
      page.cursor = q["cursor"];
    }
    auto result = o.store->ListIssued(filter, page);
    if (!result) {
      return Error(result.error());
    }
    json list = json::array();
    for (const auto& c : result->certs) {
      list.push_back(IssuedJson(c));
    }
    return Json({{"certificates", std::move(list)}, {"next_cursor", result->next_cursor}});
  }

  net::Response GetCertificate(Call& call) {
    auto cert = o.store->GetIssued(call.params[0]);
    if (!cert) {
      return Error(cert.error());
    }
    json j = IssuedJson(*cert);
    auto parsed = pki::Certificate::FromDer(
        std::string_view(reinterpret_cast<const char*>(cert->der.data()), cert->der.size()));
    if (parsed) {
      j["certificate"] = parsed->ToPem();
    }
    return Json(j);
  }

  // --- revocation (issue 4) ---

  static authority::RevokeBy By(const Call& call) {
    return {.actor = call.principal.Describe(), .source = call.connection.remote_address};
  }

  net::Response RevokeOne(Call& call) {
    auto reason = StringField(call.body, "reason", false);
    if (!reason) {
      return Error(reason.error());
    }
    auto outcome = o.revocation->Revoke(call.params[0], reason->value_or(""), By(call));
    if (!outcome) {
      return Error(outcome.error());
    }
    const store::IssuedCert& cert = outcome->cert;
    json body = {{"serial", cert.serial_hex},
                 {"revoked", true},
                 {"revoked_at", OptionalTime(cert.revoked_at)},
                 {"reason", cert.revocation_reason},
                 {"newly_revoked", outcome->newly_revoked},
                 {"subject_cn", cert.subject_cn}};
    if (!outcome->named.empty()) {
      body["named"] = outcome->named;  // still in use by the cluster until it is replaced
    }
    return Json(body);
  }

  static json SelectedJson(const store::IssuedCert& cert) {
    json sans = json::parse(cert.sans_json, nullptr, false);
    if (sans.is_discarded() || !sans.is_array()) {
      sans = json::array();
    }
    return {{"serial", cert.serial_hex},
            {"subject_cn", cert.subject_cn},
            {"sans", std::move(sans)},
            {"not_after", core::FormatTime(cert.not_after)},
            {"issued_at", core::FormatTime(cert.issued_at)}};
  }

  net::Response RevokeBySelector(Call& call) {
    authority::RevocationSelector selector;
    std::string reason;
    bool dry_run = false;
    {
      auto name = StringField(call.body, "name", false);
      auto san = StringField(call.body, "san", false);
      auto before = StringField(call.body, "issued_before", false);
      auto why = StringField(call.body, "reason", false);
      for (const core::Error* e :
           {name ? nullptr : &name.error(), san ? nullptr : &san.error(),
            before ? nullptr : &before.error(), why ? nullptr : &why.error()}) {
        if (e != nullptr) {
          return Error(*e);
        }
      }
      selector.name = name->value_or("");
      selector.san = san->value_or("");
      if (*before) {
        auto t = core::ParseTime(**before);
        if (!t) {
          return Error(t.error().WithContext("issued_before"));
        }
        selector.issued_before = *t;
      }
      reason = why->value_or("");
    }
    {
      auto dry = BoolField(call.body, "dry_run");
      if (!dry) {
        return Error(dry.error());
      }
      dry_run = dry->value_or(false);
    }
    if (selector.name.empty() && selector.san.empty() && !selector.issued_before) {
      return BadRequest("request body: give at least one of name, san, issued_before");
    }
    // Checked before a dry run too, so that the real run is not refused afterwards.
    if (auto r = authority::CanonicalRevocationReason(reason); !r) {
      return Error(r.error().WithContext("reason"));
    }
    json list = json::array();
    if (dry_run) {
      auto selected = o.revocation->Select(selector);
      if (!selected) {
        return Error(selected.error());
      }
      for (const auto& cert : *selected) {
        list.push_back(SelectedJson(cert));
      }
    } else {
      auto outcomes = o.revocation->RevokeSelected(selector, reason, By(call));
      if (!outcomes) {
        return Error(outcomes.error());
      }
      for (const auto& outcome : *outcomes) {
        json j = SelectedJson(outcome.cert);
        j["newly_revoked"] = outcome.newly_revoked;
        list.push_back(std::move(j));
      }
    }
    std::size_t count = list.size();
    return Json({{"dry_run", dry_run}, {"count", count}, {"certificates", std::move(list)}});
  }

  // --- CRL and OCSP (public) ---

  // GET /v1/crl (the issuing CA's CRL, DER) and GET /v1/crl.pem: the issuing CA's CRL followed
  // by the root CA's, so that one downloaded file holds a CRL for every CA of the chain (what
  // nginx's ssl_crl and `openssl verify -crl_check_all` need). `openssl crl -in` reads the
  // first.
  net::Response Crl(bool pem) {
    std::shared_ptr<const authority::PublishedCrl> crl = o.crl->Current();
    net::Response r;
    r.content_type = pem ? "application/x-pem-file" : "application/pkix-crl";
    if (pem) {
      std::shared_ptr<const authority::RootCrl> root =
          o.root_crl == nullptr ? nullptr : o.root_crl->Current();
      r.body.reserve(crl->pem.size() + (root ? root->pem.size() : 0));
      r.body = crl->pem;
      if (root) {
        r.body += root->pem;
      }
    } else {
      r.body = crl->der;
    }
    r.headers.emplace_back("Cache-Control", "max-age=60");
    return r;
  }

  // GET /v1/crl/root(.pem): the root CA's CRL alone (root_crl.h). 404 for a cluster initialised
  // before root CRLs existed, until `clustertls crl sign-root` makes one.
  net::Response RootCrl(bool pem) {
    std::shared_ptr<const authority::RootCrl> root =
        o.root_crl == nullptr ? nullptr : o.root_crl->Current();
    if (!root) {
      return ErrorResponse(404, "not_found",
                           "this cluster has no root CA CRL yet: sign one offline with "
                           "`clustertls crl sign-root --data-dir DIR --ca-passphrase-file FILE`");
    }
    net::Response r;
    r.content_type = pem ? "application/x-pem-file" : "application/pkix-crl";
    r.body = pem ? root->pem : root->der;
    r.headers.emplace_back("Cache-Control", "max-age=60");
    return r;
  }

  // RFC 6960 appendix A.1: always 200 with an OCSPResponse, whatever the request.
  net::Response Ocsp(std::string_view request_der) {
    net::Response r;
    r.content_type = "application/ocsp-response";
    if (request_der.empty()) {
      r.body = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
    } else {
      r.body = o.ocsp->Respond(request_der);
    }
    o.metrics->CountOcspResponse(OcspStatusName(r.body));
    return r;
  }

  // POST /ocsp. The Content-Type is not checked: application/ocsp-request is expected, but
  // clients that send none (or curl's default) are answered all the same.
  net::Response OcspPost(Call& call) {
    if (call.request.body.size() > kMaxOcspRequestBytes) {
      net::Response r = ErrorResponse(413, "body_too_large",
                                      "request body: " + std::to_string(call.request.body.size()) +
                                          " bytes; an OCSP request may have at most " +
                                          std::to_string(kMaxOcspRequestBytes));
      r.close = true;
      return r;
    }
    return Ocsp(call.request.body);
  }

  // GET /ocsp/{base64}: the route already percent-decoded it (%2B, %2F, %3D).
  net::Response OcspGet(Call& call) {
    auto der = core::Base64Decode(call.params[0]);
    if (!der) {
      net::Response r;
      r.content_type = "application/ocsp-response";
      r.body = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
      o.metrics->CountOcspResponse("malformedRequest");
      return r;
    }
    return Ocsp(*der);
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

  // --- named cluster certificates ---

  core::Result<authority::NamedCertInput> NamedInput(const json& object, const std::string& where) {
    if (!object.is_object()) {
      return core::Fail(core::ErrorCode::kInvalidArgument, where + "expected a JSON object");
    }
    CTLS_RETURN_IF_ERROR(CheckFields(object, {"name", "key", "certificate"}, where));
    authority::NamedCertInput input;
    CTLS_ASSIGN_OR_RETURN(auto name, StringField(object, "name", true));
    CTLS_ASSIGN_OR_RETURN(auto key, StringField(object, "key", true));
    CTLS_ASSIGN_OR_RETURN(auto cert, StringField(object, "certificate", true));
    input.name = *name;
    input.key_pem = *key;
    input.certificate_pem = *cert;
    return input;
  }

  // "warnings": what a stored api or cm certificate will still get wrong for its clients
  // (authority::NamedCertWarnings), each also logged.
  void AddWarnings(const authority::ValidatedNamedCert& cert, json& out) {
    std::vector<std::string> warnings = authority::NamedCertWarnings(
        cert, {.cluster_chain = ClusterChain(), .api_hosts = {o.listen_host}});
    for (const std::string& w : warnings) {
      Log("warning: " + w);
    }
    if (!warnings.empty()) {
      out["warnings"] = warnings;
    }
  }

  core::Result<authority::ValidatedNamedCert> Validate(const authority::NamedCertInput& input) {
    authority::NamedCertRules rules{
        .fqdn = o.fqdn, .cluster_chain = ClusterChain(), .now = o.clock->Now()};
    return authority::ValidateNamedCert(input, rules);
  }

  // Stores validated certificates (in order) with an audit entry each; returns their versions.
  // The audit details of a named certificate's new version (named_cert.update / .renew).
  static json NamedVersionDetails(std::int64_t version, const pki::Certificate& leaf) {
    return {{"version", version},
            {"serial", leaf.serial_hex()},
            {"subject", leaf.subject()},
            {"not_after", core::FormatTime(leaf.not_after())},
            {"fingerprint_sha256", leaf.fingerprint().colon}};
  }

  core::Result<std::vector<std::int64_t>> StoreNamed(
      const Call& call, const std::vector<authority::ValidatedNamedCert>& certs) {
    std::vector<std::int64_t> versions;
    bool api_changed = false;
    for (const auto& v : certs) {
      CTLS_ASSIGN_OR_RETURN(
          std::int64_t version,
          authority::PutNamedCert(*o.store, *o.sealing_key, v.name, v.key, v.chain_pem,
                                  o.clock->Now(), call.principal.Describe(), *o.rng));
      versions.push_back(version);
      api_changed = api_changed || v.name == "api";
      CTLS_RETURN_IF_ERROR(
          Audit(call, "named_cert.update", v.name, NamedVersionDetails(version, v.chain.front())));
    }
    if (api_changed) {
      TlsChanged();
    }
    return versions;
  }

  net::Response UpdateCert(Call& call) {
    auto input = NamedInput(call.body, "request body: ");
    if (!input) {
      return Error(input.error());
    }
    auto validated = Validate(*input);
    if (!validated) {
      return Error(validated.error());
    }
    std::vector<authority::ValidatedNamedCert> list;
    list.push_back(std::move(*validated));
    auto versions = StoreNamed(call, list);
    if (!versions) {
      return Error(versions.error());
    }
    json out = {{"name", list[0].name}, {"version", versions->at(0)}};
    AddWarnings(list[0], out);
    return Json(out);
  }

  net::Response PutCertificates(Call& call) {
    auto it = call.body.find("certificates");
    if (it == call.body.end() || !it->is_array() || it->empty()) {
      return BadRequest("certificates: must be a non-empty array");
    }
    if (it->size() > 64) {
      return BadRequest("certificates: at most 64 per request");
    }
    std::vector<authority::ValidatedNamedCert> list;
    std::set<std::string> names;
    for (std::size_t i = 0; i < it->size(); ++i) {
      std::string where = "certificates[" + std::to_string(i) + "]: ";
      auto input = NamedInput((*it)[i], where);
      if (!input) {
        return Error(input.error());
      }
      if (!names.insert(input->name).second) {
        return BadRequest(where + "name \"" + input->name + "\" appears twice");
      }
      auto validated = Validate(*input);
      if (!validated) {
        return Error(validated.error().WithContext("certificates[" + std::to_string(i) + "]"));
      }
      list.push_back(std::move(*validated));
    }
    auto versions = StoreNamed(call, list);
    if (!versions) {
      return Error(versions.error());
    }
    json out = json::array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      json entry = {{"name", list[i].name}, {"version", (*versions)[i]}};
      AddWarnings(list[i], entry);
      out.push_back(std::move(entry));
    }
    return Json({{"certificates", std::move(out)}});
  }

  // POST /v1/cluster/certificates/{name}/renew: a new key and certificate from the cluster CA
  // with the same names, stored as the next version; optionally the previous one revoked.
  net::Response RenewNamed(Call& call) {
    const std::string& name = call.params[0];
    const authority::AuthorityOptions& limits = o.authority->options();
    auto days = IntField(call.body, "days", 1, limits.max_days);
    auto key_type = StringField(call.body, "key_type", false);
    auto revoke = StringField(call.body, "revoke_previous", false);
    for (const core::Error* e :
         {days ? nullptr : &days.error(), key_type ? nullptr : &key_type.error(),
          revoke ? nullptr : &revoke.error()}) {
      if (e != nullptr) {
        return Error(*e);
      }
    }
    authority::RenewNamedRequest request{
        .name = name,
        .validity = std::chrono::days(days->value_or(limits.default_days)),
        .crl_urls = limits.crl_urls,
        .ocsp_urls = limits.ocsp_urls,
        .require_previous_ours = revoke->has_value(),
        .actor = call.principal.Describe(),
        .source = call.connection.remote_address};
    if (name == "api") {
      // The names this server is reached by: a renewal makes an `api` certificate that a
      // replacement left without them (Redis' self-signed one, say) usable again.
      const authority::ReservedNames& own = o.authority->options().reserved;
      request.add_sans = {.dns = own.dns, .ips = own.ips, .uris = own.uris};
    }
    if (key_type->has_value()) {
      auto parsed = pki::ParseKeyType(**key_type);
      if (!parsed) {
        return Error(parsed.error().WithContext("key_type"));
      }
      request.key_type = *parsed;
    }
    std::string reason;
    if (revoke->has_value()) {
      auto canonical = authority::CanonicalRevocationReason(**revoke);
      if (!canonical) {
        return Error(canonical.error().WithContext("revoke_previous"));
      }
      reason = *canonical;
    }
    auto renewed = authority::RenewNamedCert(*o.store, *o.sealing_key, o.authority->ca(), request,
                                             *o.clock, *o.rng);
    if (!renewed) {
      return Error(renewed.error());
    }
    const pki::Certificate& leaf = renewed->leaf;
    json details = NamedVersionDetails(renewed->version, leaf);
    details["previous_serial"] = renewed->previous_serial;
    if (auto a = Audit(call, "named_cert.renew", name, details); !a) {
      return Error(a.error());
    }
    if (name == "api") {
      TlsChanged();
    }
    json body = {{"name", name},
                 {"version", renewed->version},
                 {"serial", leaf.serial_hex()},
                 {"not_after", core::FormatTime(leaf.not_after())},
                 {"fingerprint_sha256", leaf.fingerprint().colon},
                 {"certificate", leaf.ToPem()},
                 {"chain", renewed->chain_pem},
                 {"previous_serial", renewed->previous_serial},
                 {"previous_revoked", false}};
    if (!reason.empty()) {
      auto revoked = o.revocation->Revoke(renewed->previous_serial, reason, By(call));
      if (!revoked) {
        Log("renewing certificate \"" + name + "\": revoking the previous certificate " +
            renewed->previous_serial + " failed: " + revoked.error().message);
        return ErrorResponse(500, "internal",
                             "certificate \"" + name + "\" was renewed (version " +
                                 std::to_string(renewed->version) + ", serial " +
                                 leaf.serial_hex() + ") but revoking the previous certificate " +
                                 renewed->previous_serial +
                                 " failed: revoke it with POST /v1/certificates/" +
                                 renewed->previous_serial + "/revoke");
      }
      body["previous_revoked"] = true;
      body["previous_revoked_at"] = OptionalTime(revoked->cert.revoked_at);
      body["reason"] = revoked->cert.revocation_reason;
    }
    return Json(body);
  }

  net::Response ListNamed(Call&) {
    auto named = o.store->ListNamedCerts();
    if (!named) {
      return Error(named.error());
    }
    json j = json::object();
    json list = json::array();
    for (const auto& n : *named) {
      j[n.name + "_cert"] = n.chain_pem;
      list.push_back(NamedCertJson(n));
    }
    j["certificates"] = std::move(list);
    return Json(j);
  }

  net::Response DeleteNamed(Call& call) {
    const std::string& name = call.params[0];
    if (name == "api") {
      return ErrorResponse(409, "conflict",
                           "certificate \"api\": this server presents it and it cannot be "
                           "deleted (replace it with PUT /v1/cluster/update_cert)");
    }
    if (auto r = o.store->DeleteNamedCert(name); !r) {
      if (r.error().code == core::ErrorCode::kNotFound) {
        return ErrorResponse(404, "not_found", "certificate \"" + name + "\": no such name");
      }
      return Error(r.error());
    }
    if (auto a = Audit(call, "named_cert.delete", name, json::object()); !a) {
      return Error(a.error());
    }
    return Json({{"deleted", name}});
  }

  // --- policy ---

  core::Result<std::pair<ClusterPolicy, std::int64_t>> CurrentPolicy() {
    auto doc = o.store->GetPolicy();
    if (!doc) {
      if (doc.error().code == core::ErrorCode::kNotFound) {
        return std::make_pair(ClusterPolicy{}, std::int64_t{0});
      }
      return doc.error();
    }
    auto policy = ApplyPolicyJson(ClusterPolicy{}, doc->json);
    if (!policy) {
      // The stored document, not the client's: a store failure (500, message in the log only).
      return core::Fail(core::ErrorCode::kInternal,
                        "stored TLS policy version " + std::to_string(doc->version) +
                            " does not parse: " + policy.error().message);
    }
    return std::make_pair(*policy, doc->version);
  }

  static json PolicyJson(const ClusterPolicy& policy, std::int64_t version) {
    json j = json::parse(PolicyToJson(policy), nullptr, false);
    if (!j.is_object()) {
      j = json::object();
    }
    j["version"] = version;
    return j;
  }

  // GET /v1/cluster: Redis Enterprise's cluster object as far as clustertls has it: the name (the
  // FQDN) and the TLS policy under Redis' field names.
  net::Response GetCluster(Call&) {
    auto current = CurrentPolicy();
    if (!current) {
      return Error(current.error());
    }
    return Json(ClusterJson(current->first));
  }

  json ClusterJson(const ClusterPolicy& policy) const {
    json j = json::parse(PolicyToRedisJson(policy), nullptr, false);
    if (!j.is_object()) {
      j = json::object();
    }
    j["name"] = o.fqdn;
    return j;
  }

  // PUT /v1/cluster: the policy fields of a Redis cluster object (the policy takes Redis' names
  // too); anything else of that object is refused by the policy's field check.
  net::Response PutCluster(Call& call) {
    return UpdatePolicy(call, [this](const ClusterPolicy& policy, std::int64_t) {
      return Json(ClusterJson(policy));
    });
  }

  net::Response GetPolicy(Call&) {
    auto current = CurrentPolicy();
    if (!current) {
      return Error(current.error());
    }
    return Json(PolicyJson(current->first, current->second));
  }

  net::Response PutPolicy(Call& call) {
    return UpdatePolicy(call, [](const ClusterPolicy& policy, std::int64_t version) {
      return Json(PolicyJson(policy, version));
    });
  }

  // Applies the body's policy fields, checks that default clients still connect, stores and
  // audits the new policy; `view` answers with it.
  template <typename View>
  net::Response UpdatePolicy(Call& call, View view) {
    auto current = CurrentPolicy();
    if (!current) {
      return Error(current.error());
    }
    if (call.body.contains("version")) {
      return BadRequest("version: assigned by the server, not settable");
    }
    auto updated = ApplyPolicyJson(current->first, call.request.body);
    if (!updated) {
      return Error(updated.error());
    }
    // A policy that default OpenSSL or GnuTLS clients cannot connect under is refused before it
    // is stored: it would lock everyone out of the listener that applies it.
    auto check = ClientCheckOptionsFor(*o.store, o.clock->Now(), o.rng);
    if (!check) {
      return Error(check.error());
    }
    if (auto connects = CheckDefaultClients(*updated, *check); !connects) {
      return Error(connects.error());
    }
    store::PolicyDoc doc{.json = PolicyToJson(*updated),
                         .version = 0,
                         .updated_at = o.clock->Now(),
                         .updated_by = call.principal.Describe()};
    auto version = o.store->PutPolicy(doc, current->second);
    if (!version) {
      if (version.error().code == core::ErrorCode::kAlreadyExists) {
        return ErrorResponse(409, "conflict",
                             "policy: changed by someone else at the same time; read it and retry");
      }
      return Error(version.error());
    }
    json details = json::parse(doc.json, nullptr, false);
    details["version"] = *version;
    if (auto a = Audit(call, "policy.update", "policy", details); !a) {
      return Error(a.error());
    }
    TlsChanged();
    return view(*updated, *version);
  }

  // --- users ---

  core::Result<int> ActiveAdmins(const std::string& except) {
    CTLS_ASSIGN_OR_RETURN(auto users, o.store->ListUsers());
    int n = 0;
    for (const auto& u : users) {
      if (u.role == "admin" && !u.disabled && u.name != except) {
        ++n;
      }
    }
    return n;
  }

  net::Response CreateUser(Call& call) {
    auto name = StringField(call.body, "name", true);
    auto role = StringField(call.body, "role", true);
    auto password = StringField(call.body, "password", false);
    auto name_policy = NamePolicyField(call.body);
    for (const core::Error* e :
         {name ? nullptr : &name.error(), role ? nullptr : &role.error(),
          password ? nullptr : &password.error(), name_policy ? nullptr : &name_policy.error()}) {
      if (e != nullptr) {
        return Error(*e);
      }
    }
    if (auto r = CheckUserName(**name); !r) {
      return Error(r.error());
    }
    auto parsed_role = ParseRole(**role);
    if (!parsed_role) {
      return Error(parsed_role.error().WithContext("role"));
    }
    std::string pw;
    bool generated = false;
    if (*password) {
      if (auto r = CheckPassword(**password); !r) {
        return Error(r.error());
      }
      pw = **password;
    } else {
      auto g = authority::GeneratePassword(*o.rng);
      if (!g) {
        return Error(g.error());
      }
      pw = *g;
      generated = true;
    }
    auto hash = authority::HashPassword(pw, *o.rng);
    if (!hash) {
      return Error(hash.error());
    }
    store::User user{
        .name = **name,
        .role = RoleName(*parsed_role),
        .password_hash = *hash,
        .created_at = o.clock->Now(),
        .disabled = false,
        .name_policy = authority::NamePolicyToJson(name_policy->value_or(authority::NamePolicy{}))};
    {
      std::lock_guard lock(users_mu);
      if (auto r = o.store->CreateUser(user); !r) {
        if (r.error().code == core::ErrorCode::kAlreadyExists) {
          return ErrorResponse(409, "already_exists", "user \"" + user.name + "\" already exists");
        }
        return Error(r.error());
      }
    }
    json details = {{"role", user.role}, {"password_generated", generated}};
    if (!user.name_policy.empty()) {
      details["name_policy"] = NamePolicyValue(user.name_policy);
    }
    if (auto a = Audit(call, "user.create", user.name, details); !a) {
      return Error(a.error());
    }
    json out = {{"name", user.name},
                {"role", user.role},
                {"name_policy", NamePolicyValue(user.name_policy)}};
    if (generated) {
      out["password"] = pw;
    }
    return Json(out, 201);
  }

  net::Response ListUsers(Call&) {
    auto users = o.store->ListUsers();
    if (!users) {
      return Error(users.error());
    }
    json list = json::array();
    for (const auto& u : *users) {
      list.push_back(UserJson(u));
    }
    return Json({{"users", std::move(list)}});
  }

  net::Response UpdateUser(Call& call) {
    const std::string& name = call.params[0];
    auto role = StringField(call.body, "role", false);
    auto password = StringField(call.body, "password", false);
    if (!role) {
      return Error(role.error());
    }
    if (!password) {
      return Error(password.error());
    }
    auto disabled_field = BoolField(call.body, "disabled");
    auto revoke_field = BoolField(call.body, "revoke_tokens");
    auto name_policy = NamePolicyField(call.body);
    for (const core::Error* e : {disabled_field ? nullptr : &disabled_field.error(),
                                 revoke_field ? nullptr : &revoke_field.error(),
                                 name_policy ? nullptr : &name_policy.error()}) {
      if (e != nullptr) {
        return Error(*e);
      }
    }
    const std::optional<bool> disabled = *disabled_field;
    // A new password ends the user's API tokens too unless asked otherwise: by default when an
    // admin sets another user's password (a suspected leak), not one's own (which would end the
    // session the admin is using).
    const bool revoke_tokens =
        revoke_field->value_or(password->has_value() && name != call.principal.user);
    if (revoke_field->value_or(false) && !password->has_value()) {
      return BadRequest(
          "revoke_tokens: only with a new password (DELETE /v1/tokens/{id} deletes "
          "one token)");
    }
    std::optional<Role> new_role;
    if (*role) {
      auto r = ParseRole(**role);
      if (!r) {
        return Error(r.error().WithContext("role"));
      }
      new_role = *r;
    }
    std::string hash;
    if (*password) {
      if (auto r = CheckPassword(**password); !r) {
        return Error(r.error());
      }
      auto h = authority::HashPassword(**password, *o.rng);
      if (!h) {
        return Error(h.error());
      }
      hash = *h;
    }
    store::User user;
    json details = json::object();
    {
      std::lock_guard lock(users_mu);
      auto current = o.store->GetUser(name);
      if (!current) {
        if (current.error().code == core::ErrorCode::kNotFound) {
          return ErrorResponse(404, "not_found", "user \"" + name + "\": no such user");
        }
        return Error(current.error());
      }
      user = *current;
      if (new_role) {
        user.role = RoleName(*new_role);
        details["role"] = user.role;
      }
      if (disabled) {
        user.disabled = *disabled;
        details["disabled"] = *disabled;
      }
      if (!hash.empty()) {
        user.password_hash = hash;
        details["password_changed"] = true;
      }
      if (*name_policy) {
        user.name_policy = authority::NamePolicyToJson(**name_policy);
        details["name_policy"] = NamePolicyValue(user.name_policy);
      }
      bool was_active_admin = current->role == "admin" && !current->disabled;
      bool is_active_admin = user.role == "admin" && !user.disabled;
      if (was_active_admin && !is_active_admin) {
        auto others = ActiveAdmins(name);
        if (!others) {
          return Error(others.error());
        }
        if (*others == 0) {
          return ErrorResponse(409, "conflict", "user \"" + name + "\" is the last active admin");
        }
      }
      if (auto r = o.store->UpdateUser(user); !r) {
        return Error(r.error());
      }
    }
    std::vector<std::string> revoked_tokens;
    if (revoke_tokens) {
      auto deleted = o.store->DeleteTokensOf(name);
      if (!deleted) {
        return Error(deleted.error());
      }
      revoked_tokens = std::move(*deleted);
      details["tokens_revoked"] = revoked_tokens;
    }
    o.authenticator->Forget(name);
    if (auto a = Audit(call, "user.update", name, details); !a) {
      return Error(a.error());
    }
    json out = UserJson(user);
    if (password->has_value()) {
      out["tokens_revoked"] = revoked_tokens;
    }
    return Json(out);
  }

  net::Response DeleteUser(Call& call) {
    const std::string& name = call.params[0];
    {
      std::lock_guard lock(users_mu);
      auto current = o.store->GetUser(name);
      if (!current) {
        if (current.error().code == core::ErrorCode::kNotFound) {
          return ErrorResponse(404, "not_found", "user \"" + name + "\": no such user");
        }
        return Error(current.error());
      }
      if (current->role == "admin" && !current->disabled) {
        auto others = ActiveAdmins(name);
        if (!others) {
          return Error(others.error());
        }
        if (*others == 0) {
          return ErrorResponse(409, "conflict", "user \"" + name + "\" is the last active admin");
        }
      }
      if (auto r = o.store->DeleteUser(name); !r) {
        return Error(r.error());
      }
    }
    o.authenticator->Forget(name);
    if (auto a = Audit(call, "user.delete", name, json::object()); !a) {
      return Error(a.error());
    }
    return Json({{"deleted", name}});
  }

  // --- tokens ---

  net::Response CreateToken(Call& call) {
    auto user = StringField(call.body, "user", false);
    if (!user) {
      return Error(user.error());
    }
    auto days = IntField(call.body, "expires_in_days", 1, kMaxTokenDays);
    if (!days) {
      return Error(days.error());
    }
    auto name_policy = NamePolicyField(call.body);
    if (!name_policy) {
      return Error(name_policy.error());
    }
    std::string owner = user->value_or(call.principal.user);
    if (owner != call.principal.user && call.principal.role != Role::kAdmin) {
      return ErrorResponse(403, "forbidden", "only an admin may create a token for another user");
    }
    auto target = o.store->GetUser(owner);
    if (!target) {
      if (target.error().code == core::ErrorCode::kNotFound) {
        return ErrorResponse(404, "not_found", "user \"" + owner + "\": no such user");
      }
      return Error(target.error());
    }
    auto token = authority::GenerateToken(*o.rng);
    if (!token) {
      return Error(token.error());
    }
    core::TimePoint now = o.clock->Now();
    store::ApiToken record{
        .id = token->id,
        .user = owner,
        .hash = token->hash,
        .created_at = now,
        .expires_at = now + std::chrono::days(days->value_or(kDefaultTokenDays)),
        .last_used = std::nullopt,
        .name_policy = authority::NamePolicyToJson(name_policy->value_or(authority::NamePolicy{}))};
    if (auto r = o.store->CreateToken(record); !r) {
      return Error(r.error());
    }
    json details = {{"user", owner}, {"expires_at", core::FormatTime(*record.expires_at)}};
    if (!record.name_policy.empty()) {
      details["name_policy"] = NamePolicyValue(record.name_policy);
    }
    if (auto a = Audit(call, "token.create", record.id, details); !a) {
      return Error(a.error());
    }
    return Json({{"id", record.id},
                 {"token", token->token},
                 {"user", owner},
                 {"expires_at", core::FormatTime(*record.expires_at)},
                 {"name_policy", NamePolicyValue(record.name_policy)}},
                201);
  }

  net::Response ListTokens(Call& call) {
    auto tokens = o.store->ListTokens(call.principal.role == Role::kAdmin ? std::string()
                                                                          : call.principal.user);
    if (!tokens) {
      return Error(tokens.error());
    }
    json list = json::array();
    for (const auto& t : *tokens) {
      list.push_back(TokenJson(t));
    }
    return Json({{"tokens", std::move(list)}});
  }

  net::Response DeleteToken(Call& call) {
    const std::string& id = call.params[0];
    auto token = o.store->GetToken(id);
    bool visible =
        token && (call.principal.role == Role::kAdmin || token->user == call.principal.user);
    if (!token && token.error().code != core::ErrorCode::kNotFound) {
      return Error(token.error());
    }
    if (!visible) {
      return ErrorResponse(404, "not_found", "token \"" + id.substr(0, 64) + "\": no such token");
    }
    if (auto r = o.store->DeleteToken(id); !r) {
      return Error(r.error());
    }
    o.authenticator->ForgetToken(id);  // cached by Bearer auth: refused from the next request
    if (auto a = Audit(call, "token.delete", id, {{"user", token->user}}); !a) {
      return Error(a.error());
    }
    return Json({{"deleted", id}});
  }

  // --- audit ---

  net::Response ListAudit(Call& call) {
    if (auto r = CheckQuery(call, {"after", "limit"}); !r) {
      return Error(r.error());
    }
    std::int64_t after = 0;
    int limit = 100;
    if (call.query.count("after")) {
      auto a = ParseInt(call.query["after"], "after", 0, INT64_MAX);
      if (!a) {
        return Error(a.error());
      }
      after = *a;
    }
    if (call.query.count("limit")) {
      auto l = ParseInt(call.query["limit"], "limit", 1, 1000);
      if (!l) {
        return Error(l.error());
      }
      limit = static_cast<int>(*l);
    }
    auto entries = o.store->ListAudit(after, limit);
    if (!entries) {
      return Error(entries.error());
    }
    json list = json::array();
    std::int64_t last = 0;
    for (const auto& e : *entries) {
      json details = json::parse(e.details_json, nullptr, false);
      if (details.is_discarded()) {
        details = e.details_json;
      }
      list.push_back({{"seq", e.seq},
                      {"time", core::FormatTime(e.time)},
                      {"actor", e.actor},
                      {"action", e.action},
                      {"target", e.target},
                      {"source", e.source},
                      {"details", std::move(details)},
                      // The exact text the hash covers, for `clustertls audit verify`.
                      {"details_json", e.details_json},
                      {"prev_hash", e.prev_hash},
                      {"hash", e.hash}});
      last = e.seq;
    }
    return Json({{"entries", std::move(list)}, {"next_after", last}});
  }

  // GET /v1/audit/head: the head the keeper last signed (authority/audit_head.h), as it is kept
  // in the data directory's audit-head.json.
  net::Response AuditHead() {
    std::optional<authority::AuditHead> head =
        o.audit_head == nullptr ? std::nullopt : o.audit_head->Current();
    if (!head) {
      return Error(
          core::Fail(core::ErrorCode::kNotFound, "this server has signed no audit head yet"));
    }
    return JsonResponse(authority::AuditHeadToJson(*head), 200);
  }
};

void Api::Impl::BuildRoutes() {
  using R = Role;
  auto get = [](std::optional<Role> role, RouteFn fn) {
    return MethodSpec{
        .method = "GET", .min_role = role, .json_body = false, .fields = {}, .fn = fn};
  };
  auto with_body = [](std::string method, Role role, std::optional<std::vector<std::string>> fields,
                      RouteFn fn) {
    return MethodSpec{.method = std::move(method),
                      .min_role = role,
                      .json_body = true,
                      .fields = std::move(fields),
                      .fn = std::move(fn)};
  };
  auto del = [](Role role, RouteFn fn) {
    return MethodSpec{
        .method = "DELETE", .min_role = role, .json_body = false, .fields = {}, .fn = fn};
  };
  Add("/health", {get(std::nullopt, Sync([](Impl& i, Call& c) { return i.Health(c); }))});
  Add("/metrics", {get(R::kReader, Sync([](Impl& i, Call& c) { return i.MetricsRoute(c); }))});
  {
    MethodSpec update = with_body("PUT", R::kAdmin, std::nullopt,
                                  Sync([](Impl& i, Call& c) { return i.UpdateCert(c); }));
    update.pem_line_continuations = true;
    Add("/v1/cluster/update_cert", {std::move(update)});
    MethodSpec put = with_body("PUT", R::kAdmin, std::vector<std::string>{"certificates"},
                               Sync([](Impl& i, Call& c) { return i.PutCertificates(c); }));
    put.pem_line_continuations = true;
    Add("/v1/cluster/certificates",
        {get(R::kReader, Sync([](Impl& i, Call& c) { return i.ListNamed(c); })), std::move(put)});
  }
  // Redis Enterprise's cluster object, for its TLS fields (the policy under Redis' names).
  Add("/v1/cluster", {get(R::kReader, Sync([](Impl& i, Call& c) { return i.GetCluster(c); })),
                      with_body("PUT", R::kAdmin, std::nullopt,
                                Sync([](Impl& i, Call& c) { return i.PutCluster(c); }))});
  Add("/v1/cluster/certificates/{name}",
      {del(R::kAdmin, Sync([](Impl& i, Call& c) { return i.DeleteNamed(c); }))});
  {
    MethodSpec renew = with_body("POST", R::kAdmin,
                                 std::vector<std::string>{"days", "key_type", "revoke_previous"},
                                 Sync([](Impl& i, Call& c) { return i.RenewNamed(c); }));
    renew.empty_body_ok = true;
    Add("/v1/cluster/certificates/{name}/renew", {std::move(renew)});
  }
  Add("/v1/cluster/policy", {get(R::kReader, Sync([](Impl& i, Call& c) { return i.GetPolicy(c); })),
                             with_body("PUT", R::kAdmin, std::nullopt,
                                       Sync([](Impl& i, Call& c) { return i.PutPolicy(c); }))});
  Add("/v1/ca/chain", {get(std::nullopt, Sync([](Impl& i, Call& c) { return i.CaChain(c); }))});
  Add("/v1/ca/sign",
      {with_body("POST", R::kOperator,
                 std::vector<std::string>{"csr", "profile", "days", "allow_reserved"},
                 [](Impl& i, Call& c, const net::Respond& r) { i.Sign(c, r); })});
  Add("/v1/certificates",
      {get(R::kReader, Sync([](Impl& i, Call& c) { return i.ListCertificates(c); }))});
  // Before "/v1/certificates/{serial}", which would take "revoke" as a serial.
  Add("/v1/certificates/revoke",
      {with_body("POST", R::kOperator,
                 std::vector<std::string>{"name", "san", "issued_before", "reason", "dry_run"},
                 Sync([](Impl& i, Call& c) { return i.RevokeBySelector(c); }))});
  Add("/v1/certificates/{serial}",
      {get(R::kReader, Sync([](Impl& i, Call& c) { return i.GetCertificate(c); }))});
  {
    MethodSpec revoke = with_body("POST", R::kOperator, std::vector<std::string>{"reason"},
                                  Sync([](Impl& i, Call& c) { return i.RevokeOne(c); }));
    revoke.empty_body_ok = true;
    Add("/v1/certificates/{serial}/revoke", {std::move(revoke)});
  }
  Add("/v1/crl", {get(std::nullopt, Sync([](Impl& i, Call&) { return i.Crl(false); }))});
  Add("/v1/crl.pem", {get(std::nullopt, Sync([](Impl& i, Call&) { return i.Crl(true); }))});
  Add("/v1/crl/root", {get(std::nullopt, Sync([](Impl& i, Call&) { return i.RootCrl(false); }))});
  Add("/v1/crl/root.pem",
      {get(std::nullopt, Sync([](Impl& i, Call&) { return i.RootCrl(true); }))});
  Add("/ocsp", {MethodSpec{.method = "POST",
                           .min_role = std::nullopt,
                           .json_body = false,
                           .fields = {},
                           .fn = Sync([](Impl& i, Call& c) { return i.OcspPost(c); })}});
  Add("/ocsp/{request}", {get(std::nullopt, Sync([](Impl& i, Call& c) { return i.OcspGet(c); }))},
      /*rest=*/true);
  Add("/v1/users", {get(R::kAdmin, Sync([](Impl& i, Call& c) { return i.ListUsers(c); })),
                    with_body("POST", R::kAdmin,
                              std::vector<std::string>{"name", "role", "password", "name_policy"},
                              Sync([](Impl& i, Call& c) { return i.CreateUser(c); }))});
  Add("/v1/users/{name}", {with_body("PUT", R::kAdmin,
                                     std::vector<std::string>{"role", "password", "disabled",
                                                              "name_policy", "revoke_tokens"},
                                     Sync([](Impl& i, Call& c) { return i.UpdateUser(c); })),
                           del(R::kAdmin, Sync([](Impl& i, Call& c) { return i.DeleteUser(c); }))});
  Add("/v1/tokens", {get(R::kReader, Sync([](Impl& i, Call& c) { return i.ListTokens(c); })),
                     with_body("POST", R::kReader,
                               std::vector<std::string>{"user", "expires_in_days", "name_policy"},
                               Sync([](Impl& i, Call& c) { return i.CreateToken(c); }))});
  Add("/v1/tokens/{id}",
      {del(R::kReader, Sync([](Impl& i, Call& c) { return i.DeleteToken(c); }))});
  // Nodes (nodes_api.h). "/v1/nodes/tokens" before "/v1/nodes/{name}", which would take it.
  auto nodes = [](auto f) {
    return Sync([f](Impl& i, Call& c) {
      if (i.o.nodes == nullptr) {
        return ErrorResponse(404, "not_found", "this server does not manage nodes");
      }
      return f(*i.o.nodes, c);
    });
  };
  Add("/v1/nodes", {get(R::kReader, nodes([](NodesApi& n, Call&) { return n.List(); }))});
  Add("/v1/nodes/tokens",
      {get(R::kAdmin, nodes([](NodesApi& n, Call&) { return n.ListTokens(); })),
       with_body("POST", R::kAdmin,
                 std::vector<std::string>{"node", "dns", "ip", "assign", "ttl_seconds"},
                 nodes([](NodesApi& n, Call& c) { return n.CreateToken(c.body, NodeCaller(c)); }))});
  Add("/v1/nodes/{name}",
      {with_body("PUT", R::kAdmin, std::vector<std::string>{"assign"},
                 nodes([](NodesApi& n, Call& c) {
                   return n.Assign(c.params[0], c.body, NodeCaller(c));
                 })),
       del(R::kAdmin, nodes([](NodesApi& n, Call& c) {
             return n.Remove(c.params[0], NodeCaller(c));
           }))});
  // The agent's routes: no Basic or token authentication (enroll carries its one-time token;
  // the others the node certificate, checked by NodesApi).
  auto agent_post = [](std::vector<std::string> fields, RouteFn fn) {
    return MethodSpec{.method = "POST",
                      .min_role = std::nullopt,
                      .json_body = true,
                      .fields = std::move(fields),
                      .fn = std::move(fn)};
  };
  Add("/v1/agent/enroll", {agent_post({"token", "csr"}, nodes([](NodesApi& n, Call& c) {
                                        return n.Enroll(c.body, c.connection);
                                      }))});
  Add("/v1/agent/report",
      {agent_post({"applied_version", "agent_version", "hook"}, nodes([](NodesApi& n, Call& c) {
                    return n.Report(c.body, c.connection);
                  }))});
  Add("/v1/agent/renew", {agent_post({"csr"}, nodes([](NodesApi& n, Call& c) {
                                       return n.Renew(c.body, c.connection);
                                     }))});
  Add("/v1/agent/state", {get(std::nullopt, [](Impl& i, Call& c, const net::Respond& r) {
        if (i.o.nodes == nullptr) {
          r(ErrorResponse(404, "not_found", "this server does not manage nodes"));
          return;
        }
        i.o.nodes->State(c.request, c.connection, r);
      })});
  Add("/v1/audit", {get(R::kReader, Sync([](Impl& i, Call& c) { return i.ListAudit(c); }))});
  Add("/v1/audit/head", {get(R::kReader, Sync([](Impl& i, Call&) { return i.AuditHead(); }))});
}

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

core::Result<std::unique_ptr<Api>> Api::Create(const ApiOptions& options) {
  if (options.store == nullptr || options.authority == nullptr || options.sealing_key == nullptr ||
      options.authenticator == nullptr || options.metrics == nullptr || options.clock == nullptr ||
      options.rng == nullptr || options.revocation == nullptr || options.crl == nullptr ||
      options.ocsp == nullptr) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "Api: a required dependency is null");
  }
  return std::unique_ptr<Api>(new Api(std::make_unique<Impl>(options)));
}

std::string Api::RoutePattern(const std::string& target) {
  static const Impl* const kRoutes = [] {
    // Routing needs no dependencies: a table-only instance.
    return new Impl(ApiOptions{});
  }();
  const Impl::Route* r = kRoutes->Match(Impl::PathOf(target), nullptr);
  return r == nullptr ? "other" : r->pattern;
}

void Api::Handle(net::Request request, const net::ConnectionInfo& connection,
                 net::Respond respond) {
  Run(std::move(request), connection, std::move(respond), /*public_only=*/false);
}

void Api::HandlePublic(net::Request request, const net::ConnectionInfo& connection,
                       net::Respond respond) {
  Run(std::move(request), connection, std::move(respond), /*public_only=*/true);
}

void Api::Run(net::Request request, const net::ConnectionInfo& connection, net::Respond respond,
              bool public_only) {
  auto start = std::chrono::steady_clock::now();
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->connection = connection;
  call->path = Impl::PathOf(call->request.target);
  const Impl::Route* route = impl_->Match(call->path, &call->params);
  if (public_only && !Impl::IsPublicRoute(route)) {
    route = nullptr;
  }
  std::string pattern = route == nullptr ? "other" : route->pattern;
  std::string method = call->request.method;
  if (method.size() > 16) {
    method = "other";
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  Metrics* metrics = impl_->o.metrics;
  net::Respond once = [respond = std::move(respond), done, metrics, pattern, method, start,
                       call](net::Response response) {
    if (done->exchange(true)) {
      return;
    }
    metrics->ObserveRequest(method, pattern, response.status,
                            std::chrono::steady_clock::now() - start);
    respond(std::move(response));
  };
  try {
    impl_->Dispatch(*call, route, once, public_only);
  } catch (const std::exception& e) {
    Log(std::string("internal error in ") + pattern + ": " + e.what());
    once(ErrorResponse(500, "internal", "internal error"));
  } catch (...) {
    Log("internal error in " + pattern);
    once(ErrorResponse(500, "internal", "internal error"));
  }
}

net::Response Api::HandleSync(net::Request request, const net::ConnectionInfo& connection) {
  auto promise = std::make_shared<std::promise<net::Response>>();
  std::future<net::Response> future = promise->get_future();
  Handle(std::move(request), connection,
         [promise](net::Response response) { promise->set_value(std::move(response)); });
  return future.get();
}

net::Response Api::HandlePublicSync(net::Request request, const net::ConnectionInfo& connection) {
  auto promise = std::make_shared<std::promise<net::Response>>();
  std::future<net::Response> future = promise->get_future();
  HandlePublic(std::move(request), connection,
               [promise](net::Response response) { promise->set_value(std::move(response)); });
  return future.get();
}

}  // namespace clustertls::server
