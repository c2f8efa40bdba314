// GET /health and GET /metrics.

#include <memory>
#include <vector>

#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

constexpr const char* kServerVersion = "0.1.0";

net::Response Health() { return Json({{"status", "ok"}, {"version", kServerVersion}}); }

net::Response MetricsRoute(const ApiOptions& o) {
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

}  // namespace

void AddHealthRoutes(Router& router, const ApiOptions& o) {
  router.Add("/health", {Get(std::nullopt, Sync([](Call&) { return Health(); }))},
             {.public_listener = true});
  router.Add("/metrics", {Get(Role::kReader, Sync([&o](Call&) { return MetricsRoute(o); }))});
}

}  // namespace clustertls::server
