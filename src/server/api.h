#pragma once

// The REST API of `clustertls serve` (docs/api.md) as one request handler: route -> method
// check -> authentication and role -> JSON body (depth-bounded, unknown fields refused) ->
// the route's work -> audit entry for every change -> response. The handler never touches a
// socket (Beast's model): net::HttpsServer calls Handle() and sends what it answers.
// POST /v1/ca/sign answers from the Authority's group-commit callback; every other route
// answers inline.

#include <functional>
#include <memory>
#include <string>

#include "authority/audit_head.h"
#include "authority/authority.h"
#include "authority/crl_publisher.h"
#include "authority/ocsp_responder.h"
#include "authority/revocation.h"
#include "authority/root_crl.h"
#include "authority/secrets.h"
#include "core/rng.h"
#include "core/time.h"
#include "net/https_server.h"
#include "server/auth.h"
#include "server/cluster_policy.h"
#include "server/metrics.h"
#include "server/nodes_api.h"
#include "store/store.h"

namespace clustertls::server {

// Everything a request may touch. Nothing is owned; all of it outlives the Api.
struct ApiOptions {
  store::Store* store = nullptr;
  authority::Authority* authority = nullptr;
  const authority::SealingKey* sealing_key = nullptr;
  Authenticator* authenticator = nullptr;
  Metrics* metrics = nullptr;
  const core::Clock* clock = nullptr;
  core::Rng* rng = nullptr;  // must be thread-safe (ossl::Csprng is)
  std::string fqdn;          // the cluster FQDN (store config "cluster.fqdn")
  // Called (on the request's thread, before the response is sent) after an accepted change of
  // the `api` certificate or of the policy, so the listener can swap its TLS context.
  std::function<void()> on_tls_change{};
  // Issue 4: revoking (POST /v1/certificates/.../revoke), the CRL (GET /v1/crl, /v1/crl.pem)
  // and OCSP (POST /ocsp, GET /ocsp/{base64}). Required: Create refuses a null one.
  authority::Revocation* revocation = nullptr;
  authority::CrlPublisher* crl = nullptr;
  authority::OcspResponder* ocsp = nullptr;
  // The root CA's CRL (GET /v1/crl/root(.pem), appended to GET /v1/crl.pem). Optional: null
  // serves no root CRL (404 on its routes).
  authority::RootCrlCache* root_crl = nullptr;
  // The signed head of the audit log (GET /v1/audit/head). Optional: null answers 404.
  const authority::AuditHeadKeeper* audit_head = nullptr;
  // The host this server's HTTPS listener is bound to, when clients can reach it by that name or
  // address (empty for a wildcard such as 0.0.0.0): an `api` certificate that does not name it
  // is accepted with a warning.
  std::string listen_host{};
  // Called (on the request's thread, before the response is sent; at most once per request)
  // after an accepted change of what cluster nodes receive: a named certificate stored,
  // deleted or renewed (PUT /v1/cluster/update_cert, PUT /v1/cluster/certificates,
  // DELETE /v1/cluster/certificates/{name}, POST /v1/cluster/certificates/{name}/renew), the
  // TLS policy (PUT /v1/cluster/policy, PUT /v1/cluster) and a revocation that revoked something
  // (POST /v1/certificates/{serial}/revoke, POST /v1/certificates/revoke without dry_run). Not
  // for a refused change, a dry run or a certificate that was already revoked. Optional.
  std::function<void()> on_cluster_change{};
  // The node routes (/v1/nodes..., /v1/agent/...). Optional: null answers 404 on them.
  NodesApi* nodes = nullptr;
};

class Api {
 public:
  // kInvalidArgument if a required pointer is null.
  static core::Result<std::unique_ptr<Api>> Create(const ApiOptions& options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers `request` through `respond` (exactly once, possibly from another thread). Never
  // throws; a bug becomes a 500. Thread-safe.
  void Handle(net::Request request, const net::ConnectionInfo& connection, net::Respond respond);

  // The plain-HTTP public listener (docs/api.md "Public listener"): the same route functions as
  // Handle(), but only the public routes GET /health, GET /v1/ca/chain, GET /v1/crl,
  // GET /v1/crl.pem, GET /v1/crl/root(.pem), POST /ocsp and GET /ocsp/{base64}; any other path is a
  // 404 JSON error and no request is ever authenticated. Thread-safe.
  void HandlePublic(net::Request request, const net::ConnectionInfo& connection,
                    net::Respond respond);

  // Handle() and wait for the answer (tests, and callers without an async transport).
  net::Response HandleSync(net::Request request, const net::ConnectionInfo& connection);
  // HandlePublic() and wait for the answer (tests).
  net::Response HandlePublicSync(net::Request request, const net::ConnectionInfo& connection);

  // The route pattern `method target` matches ("/v1/certificates/{serial}"), or "other": the
  // metrics label.
  static std::string RoutePattern(const std::string& target);

 private:
  struct Impl;
  explicit Api(std::unique_ptr<Impl> impl);
  void Run(net::Request request, const net::ConnectionInfo& connection, net::Respond respond,
           bool public_only);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::server
