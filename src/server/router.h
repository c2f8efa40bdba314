#pragma once

// The API's routing table and the part of every request that comes before a route's work:
// match the path -> method (405) -> authentication and role (401/403) -> cross-site check ->
// Content-Type (415) -> query -> JSON body (depth-bounded, no key twice, unknown fields refused)
// -> the route function. Routes are registered by resource (server/routes/*.cc, each an
// AddXxxRoutes(Router&, const ApiOptions&)); docs/architecture.md "Where to add things".

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/https_server.h"
#include "server/auth.h"
#include "server/metrics.h"

namespace clustertls::server {

// One request being answered.
struct Call {
  net::Request request;
  net::ConnectionInfo connection;
  std::string path;
  std::map<std::string, std::string> query;
  std::vector<std::string> params;  // the {...} segments of the route, decoded
  Principal principal;
  nlohmann::json body;  // the parsed object for JSON routes
};

// A route's work: answers through `respond`, exactly once (possibly later, from another thread).
using RouteFn = std::function<void(Call&, const net::Respond&)>;

// Wraps a synchronous route function `net::Response f(Call&)`.
template <typename F>
RouteFn Sync(F f) {
  return [f](Call& call, const net::Respond& respond) { respond(f(call)); };
}

// One method of a route.
struct MethodSpec {
  std::string method;
  std::optional<Role> min_role;  // nullopt: public (never authenticated)
  bool json_body = false;
  // Fields a JSON body may have; nullopt: the route checks them itself.
  std::optional<std::vector<std::string>> fields;
  RouteFn fn;
  bool empty_body_ok = false;  // an empty JSON body reads as {}
  // The certificate routes: Redis' documented `sed -z` escaping of PEM files is read as the
  // newlines it stands for.
  bool pem_line_continuations = false;
};

// GET for `role` (nullopt: public).
MethodSpec Get(std::optional<Role> role, RouteFn fn);
// `method` with a JSON body whose fields are `fields` (nullopt: the route checks them).
MethodSpec WithBody(std::string method, Role role, std::optional<std::vector<std::string>> fields,
                    RouteFn fn);
// DELETE for `role`, no body.
MethodSpec Delete(Role role, RouteFn fn);

// How a pattern matches and where it is served.
struct RouteOptions {
  bool rest = false;  // the last {param} takes the rest of the path, '/' included
  // Also served by the plain-HTTP public listener (docs/api.md "Public listener"); its methods
  // must all be public.
  bool public_listener = false;
};

// What Dispatch needs besides the table. Both may be null for a table that only matches
// (Api::RoutePattern).
struct RouterOptions {
  Authenticator* authenticator = nullptr;
  Metrics* metrics = nullptr;
};

class Router {
 public:
  struct Route {
    std::string pattern;
    std::vector<std::string> segments;
    std::vector<MethodSpec> methods;
    RouteOptions options;
  };

  explicit Router(RouterOptions options) : options_(options) {}

  // Adds `pattern` ("/v1/users/{name}": a {param} is one percent-decoded, non-empty segment).
  // The order of Add calls does not matter: of the patterns that match a path, the one with the
  // most literal segments wins ("/v1/certificates/revoke" over "/v1/certificates/{serial}"),
  // then one without `rest`, then the one added first.
  void Add(std::string pattern, std::vector<MethodSpec> methods, RouteOptions options = {});

  // The route for `path` (without the query) and its decoded parameters, or nullptr.
  const Route* Match(std::string_view path, std::vector<std::string>* params) const;

  // Runs the pipeline for `call` on `route` (nullptr: 404). `public_only`: the public listener,
  // where only public_listener routes exist and nothing authenticates.
  void Dispatch(Call& call, const Route* route, const net::Respond& respond,
                bool public_only) const;

  // `target` without its query string.
  static std::string PathOf(const std::string& target);

 private:
  RouterOptions options_;
  std::vector<Route> routes_;
};

// The pieces of request-target parsing, exposed for the unit tests and tests/fuzz/router.cc.
namespace internal {

// RFC 3986 section 2.1 percent-decoding; `plus_is_space` for query strings (HTML forms).
// nullopt for a '%' not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);
// The segments of `path` after its first character (the leading '/'), split on '/'.
std::vector<std::string_view> SplitPath(std::string_view path);
// Fills call.query from the query string of call.request.target (percent-decoded, '+' as a
// space; a repeated key keeps the last value). kInvalidArgument for bad percent-encoding.
core::Result<void> ParseQuery(Call& call);

}  // namespace internal

}  // namespace clustertls::server
