#include "server/router.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/encoding.h"
#include "server/cluster_policy.h"
#include "server/http_error.h"
#include "server/routes/common.h"

namespace clustertls::server {

namespace {

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

}  // namespace

namespace internal {

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

}  // namespace internal

namespace {

using internal::PercentDecode;
using internal::SplitPath;

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Cross-site request forgery: a page on another site can make a browser send requests with the
// Basic credentials it has cached for this API. Such requests carry an Origin (every
// cross-origin POST, PUT and DELETE does) or Sec-Fetch-Site naming another site; a form or a
// no-cors fetch cannot send Content-Type: application/json. So an authenticated route refuses
// another origin (403), and a JSON route any body that is not application/json (415). This
// API sends no CORS headers, so a browser never lets another origin read its answers either.
std::optional<net::Response> RefuseCrossSite(const Call& call) {
  const net::Request& request = call.request;
  if (auto site = request.Header("Sec-Fetch-Site");
      site && (core::AsciiLower(*site) == "cross-site" || core::AsciiLower(*site) == "same-site")) {
    return Error(core::Fail(
        core::ErrorCode::kPermissionDenied,
        "cross-origin request refused (Sec-Fetch-Site: " + std::string(site->substr(0, 32)) + ")"));
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
    return Error(core::Fail(core::ErrorCode::kPermissionDenied,
                            "cross-origin request refused: Origin " +
                                std::string(origin->substr(0, 100)) + " is not this server (" +
                                own.substr(0, 100) + ")"));
  }
  return std::nullopt;
}

// A JSON route's body needs Content-Type: application/json (parameters such as charset are
// fine); an empty body where the route allows one may come without a type.
std::optional<net::Response> RequireJsonType(const Call& call, bool empty_ok) {
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

}  // namespace

namespace internal {

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

}  // namespace internal

namespace {

using internal::ParseQuery;

// Parses the JSON body into call.body, or gives the response that refuses it.
std::optional<net::Response> ParseBody(Call& call, const MethodSpec& spec) {
  const std::string joined =
      spec.pem_line_continuations ? JoinLineContinuations(call.request.body) : std::string();
  const std::string& body = spec.pem_line_continuations ? joined : call.request.body;
  if (auto depth = CheckJsonDepth(body); !depth) {
    return Error(core::Fail(core::ErrorCode::kParse, depth.error().message));
  }
  std::string duplicate;
  json parsed = ParseJsonObjectText(body, &duplicate);
  if (!duplicate.empty()) {
    return Error(core::Fail(
        core::ErrorCode::kParse,
        "request body: the key \"" + duplicate.substr(0, 64) + "\" appears twice in one object"));
  }
  if (parsed.is_discarded()) {
    return Error(core::Fail(core::ErrorCode::kParse,
                            body.empty() ? "request body: empty (expected a JSON object)"
                                         : "request body: malformed JSON"));
  }
  if (!parsed.is_object()) {
    return Error(
        core::Fail(core::ErrorCode::kInvalidArgument, "request body: expected a JSON object"));
  }
  if (spec.fields) {
    if (auto r = CheckFields(parsed, *spec.fields, "request body: "); !r) {
      return Error(r.error());
    }
  }
  call.body = std::move(parsed);
  return std::nullopt;
}

}  // namespace

MethodSpec Get(std::optional<Role> role, RouteFn fn) {
  return MethodSpec{
      .method = "GET", .min_role = role, .json_body = false, .fields = {}, .fn = std::move(fn)};
}

MethodSpec WithBody(std::string method, Role role, std::optional<std::vector<std::string>> fields,
                    RouteFn fn) {
  return MethodSpec{.method = std::move(method),
                    .min_role = role,
                    .json_body = true,
                    .fields = std::move(fields),
                    .fn = std::move(fn)};
}

MethodSpec Delete(Role role, RouteFn fn) {
  return MethodSpec{
      .method = "DELETE", .min_role = role, .json_body = false, .fields = {}, .fn = std::move(fn)};
}

void Router::Add(std::string pattern, std::vector<MethodSpec> methods, RouteOptions options) {
  Route r;
  r.options = options;
  for (auto s : SplitPath(pattern)) {
    r.segments.emplace_back(s);
  }
  r.pattern = std::move(pattern);
  r.methods = std::move(methods);
  routes_.push_back(std::move(r));
}

const Router::Route* Router::Match(std::string_view path, std::vector<std::string>* params) const {
  auto parts = SplitPath(path);
  const Route* best = nullptr;
  int best_score = -1;
  std::vector<std::string> best_params;
  for (const Route& r : routes_) {
    const bool rest = r.options.rest;
    bool rest_fits = rest && parts.size() > r.segments.size();
    if (r.segments.size() != parts.size() && !rest_fits) {
      continue;
    }
    std::vector<std::string> captured;
    bool ok = true;
    int literals = 0;
    for (std::size_t i = 0; i < r.segments.size() && ok; ++i) {
      const std::string& seg = r.segments[i];
      if (IsParam(seg)) {
        std::string_view raw = parts[i];
        if (rest && i + 1 == r.segments.size()) {
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
      } else {
        ++literals;
      }
    }
    const int score = literals * 2 + (rest ? 0 : 1);
    if (ok && score > best_score) {
      best = &r;
      best_score = score;
      best_params = std::move(captured);
    }
  }
  if (best != nullptr && params != nullptr) {
    *params = std::move(best_params);
  }
  return best;
}

std::string Router::PathOf(const std::string& target) {
  std::size_t q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

void Router::Dispatch(Call& call, const Route* route, const net::Respond& respond,
                      bool public_only) const {
  if (public_only && route != nullptr && !route->options.public_listener) {
    route = nullptr;
  }
  // A CORS preflight: this API answers no cross-origin request, so it refuses the preflight.
  if (call.request.method == "OPTIONS" &&
      (call.request.Header("Origin") || call.request.Header("Access-Control-Request-Method"))) {
    respond(
        Error(core::Fail(core::ErrorCode::kPermissionDenied,
                         "cross-origin requests are refused (this API sends no CORS headers)")));
    return;
  }
  if (route == nullptr) {
    respond(Error(core::Fail(core::ErrorCode::kNotFound, "no route " + call.path)));
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
    net::Response r = ErrorResponse(
        405, "method_not_allowed",
        call.request.method + " is not allowed on " + route->pattern + " (allowed: " + allow + ")");
    r.headers.emplace_back("Allow", allow);
    respond(std::move(r));
    return;
  }
  if (spec->min_role && public_only) {
    respond(Error(core::Fail(core::ErrorCode::kNotFound, "no route " + call.path)));
    return;
  }
  if (spec->min_role) {
    AuthOutcome outcome =
        options_.authenticator->Authenticate(call.request, call.connection.remote_address);
    if (!outcome.principal) {
      if (outcome.failure == AuthFailure::kBadCredentials ||
          outcome.failure == AuthFailure::kMalformed) {
        options_.metrics->CountAuthFailure();
      }
      respond(Authenticator::FailureResponse(outcome));
      return;
    }
    call.principal = *outcome.principal;
    if (static_cast<int>(call.principal.role) < static_cast<int>(*spec->min_role)) {
      respond(Error(core::Fail(core::ErrorCode::kPermissionDenied,
                               "user \"" + call.principal.user + "\" (role " +
                                   RoleName(call.principal.role) + ") may not " +
                                   call.request.method + " " + route->pattern + " (needs " +
                                   RoleName(*spec->min_role) + ")")));
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
    if (auto refused = ParseBody(call, *spec)) {
      respond(std::move(*refused));
      return;
    }
  }
  spec->fn(call, respond);
}

}  // namespace clustertls::server
