// Nodes and their agents (issue 14; docs/api.md "Nodes"): /v1/nodes..., /v1/agent/... The work
// is NodesApi's (server/nodes_api.h); these are the routes.

#include <optional>
#include <string>
#include <vector>

#include "server/http_error.h"
#include "server/nodes_api.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

NodesCaller Caller(const Call& call) {
  return {.actor = call.principal.Describe(), .source = call.connection.remote_address};
}

// `f(nodes, call)`, or 404 when this server manages no nodes.
template <typename F>
RouteFn Nodes(const ApiOptions& o, F f) {
  return Sync([&o, f](Call& c) {
    if (o.nodes == nullptr) {
      return ErrorResponse(404, "not_found", "this server does not manage nodes");
    }
    return f(*o.nodes, c);
  });
}

// The agent's routes: no Basic or token authentication (enroll carries its one-time token, the
// others the node certificate, which NodesApi checks).
MethodSpec AgentPost(std::vector<std::string> fields, RouteFn fn) {
  return MethodSpec{.method = "POST",
                    .min_role = std::nullopt,
                    .json_body = true,
                    .fields = std::move(fields),
                    .fn = std::move(fn)};
}

}  // namespace

void AddNodeRoutes(Router& router, const ApiOptions& o) {
  router.Add("/v1/nodes",
             {Get(Role::kReader, Nodes(o, [](NodesApi& n, Call&) { return n.List(); }))});
  router.Add(
      "/v1/nodes/tokens",
      {Get(Role::kAdmin, Nodes(o, [](NodesApi& n, Call&) { return n.ListTokens(); })),
       WithBody("POST", Role::kAdmin,
                std::vector<std::string>{"node", "dns", "ip", "assign", "ttl_seconds"},
                Nodes(o, [](NodesApi& n, Call& c) { return n.CreateToken(c.body, Caller(c)); }))});
  router.Add(
      "/v1/nodes/{name}",
      {WithBody(
           "PUT", Role::kAdmin, std::vector<std::string>{"assign"},
           Nodes(o, [](NodesApi& n, Call& c) { return n.Assign(c.params[0], c.body, Caller(c)); })),
       Delete(Role::kAdmin,
              Nodes(o, [](NodesApi& n, Call& c) { return n.Remove(c.params[0], Caller(c)); }))});
  router.Add("/v1/agent/enroll", {AgentPost({"token", "csr"}, Nodes(o, [](NodesApi& n, Call& c) {
                                              return n.Enroll(c.body, c.connection);
                                            }))});
  router.Add(
      "/v1/agent/report",
      {AgentPost({"applied_version", "agent_version", "hook"},
                 Nodes(o, [](NodesApi& n, Call& c) { return n.Report(c.body, c.connection); }))});
  router.Add("/v1/agent/renew", {AgentPost({"csr"}, Nodes(o, [](NodesApi& n, Call& c) {
                                             return n.Renew(c.body, c.connection);
                                           }))});
  router.Add("/v1/agent/state", {Get(std::nullopt, [&o](Call& c, const net::Respond& respond) {
               if (o.nodes == nullptr) {
                 respond(ErrorResponse(404, "not_found", "this server does not manage nodes"));
                 return;
               }
               o.nodes->State(c.request, c.connection, respond);
             })});
}

}  // namespace clustertls::server
