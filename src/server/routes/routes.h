#pragma once

// The API's resources: each AddXxxRoutes registers the routes of one resource on the router,
// with handlers that read what they need from `options` (which must outlive the router).
// A new resource is one new file here plus one call in Api::Impl (api.cc).

#include "server/api.h"
#include "server/router.h"

namespace clustertls::server {

// GET /health, GET /metrics.
void AddHealthRoutes(Router& router, const ApiOptions& options);
// GET /v1/ca/chain, POST /v1/ca/sign, the CRLs (GET /v1/crl, /v1/crl.pem, /v1/crl/root(.pem))
// and OCSP (POST /ocsp, GET /ocsp/{request}).
void AddCaRoutes(Router& router, const ApiOptions& options);
// The inventory and revocation: /v1/certificates...
void AddCertificateRoutes(Router& router, const ApiOptions& options);
// Named certificates, the TLS policy and Redis' cluster object: /v1/cluster...
void AddClusterRoutes(Router& router, const ApiOptions& options);
// /v1/users, /v1/users/{name}.
void AddUserRoutes(Router& router, const ApiOptions& options);
// /v1/tokens, /v1/tokens/{id}.
void AddTokenRoutes(Router& router, const ApiOptions& options);
// /v1/audit, /v1/audit/head.
void AddAuditRoutes(Router& router, const ApiOptions& options);
// Nodes and their agents: /v1/nodes..., /v1/agent/... (nodes.cc).
void AddNodeRoutes(Router& router, const ApiOptions& options);

}  // namespace clustertls::server
