// What the cluster's nodes use: the named certificates (`cm`, `api`, `proxy`, ...), the TLS
// policy, and Redis Enterprise's cluster object: /v1/cluster...

#include "authority/cluster.h"

#include <chrono>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "authority/named_cert.h"
#include "authority/named_renew.h"
#include "authority/revocation.h"
#include "authority/tls_policy.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "server/cluster_policy.h"
#include "server/http_error.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

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

void TlsChanged(const ApiOptions& o) {
  if (o.on_tls_change) {
    o.on_tls_change();
  }
}

std::vector<pki::Certificate> ClusterChain(const ApiOptions& o) {
  auto chain = pki::Certificate::ParseAll(o.authority->ca().chain_pem);
  if (chain) {
    return *chain;
  }
  return {o.authority->ca().issuing.certificate(), o.authority->ca().root};
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
void AddWarnings(const ApiOptions& o, const authority::ValidatedNamedCert& cert, json& out) {
  std::vector<std::string> warnings = authority::NamedCertWarnings(
      cert, {.cluster_chain = ClusterChain(o), .api_hosts = {o.listen_host}});
  for (const std::string& w : warnings) {
    Log("warning: " + w);
  }
  if (!warnings.empty()) {
    out["warnings"] = warnings;
  }
}

core::Result<authority::ValidatedNamedCert> Validate(const ApiOptions& o,
                                                     const authority::NamedCertInput& input) {
  authority::NamedCertRules rules{
      .fqdn = o.fqdn, .cluster_chain = ClusterChain(o), .now = o.clock->Now()};
  return authority::ValidateNamedCert(input, rules);
}

// Stores validated certificates (in order), each with its audit entry, in one transaction;
// returns their versions.
core::Result<std::vector<std::int64_t>> StoreNamed(
    const ApiOptions& o, const Call& call,
    const std::vector<authority::ValidatedNamedCert>& certs) {
  CTLS_ASSIGN_OR_RETURN(std::vector<std::int64_t> versions,
                        authority::StoreNamedCerts(*o.store, *o.sealing_key, certs,
                                                   ChangeByOf(call), *o.clock, *o.rng));
  bool api_changed = false;
  for (const auto& v : certs) {
    api_changed = api_changed || v.name == "api";
  }
  if (api_changed) {
    TlsChanged(o);
  }
  ClusterChanged(o);
  return versions;
}

net::Response UpdateCert(const ApiOptions& o, Call& call) {
  auto input = NamedInput(call.body, "request body: ");
  if (!input) {
    return Error(input.error());
  }
  auto validated = Validate(o, *input);
  if (!validated) {
    return Error(validated.error());
  }
  std::vector<authority::ValidatedNamedCert> list;
  list.push_back(std::move(*validated));
  auto versions = StoreNamed(o, call, list);
  if (!versions) {
    return Error(versions.error());
  }
  json out = {{"name", list[0].name}, {"version", versions->at(0)}};
  AddWarnings(o, list[0], out);
  return Json(out);
}

net::Response PutCertificates(const ApiOptions& o, Call& call) {
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
    auto validated = Validate(o, *input);
    if (!validated) {
      return Error(validated.error().WithContext("certificates[" + std::to_string(i) + "]"));
    }
    list.push_back(std::move(*validated));
  }
  auto versions = StoreNamed(o, call, list);
  if (!versions) {
    return Error(versions.error());
  }
  json out = json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    json entry = {{"name", list[i].name}, {"version", (*versions)[i]}};
    AddWarnings(o, list[i], entry);
    out.push_back(std::move(entry));
  }
  return Json({{"certificates", std::move(out)}});
}

// POST /v1/cluster/certificates/{name}/renew: a new key and certificate from the cluster CA
// with the same names, stored as the next version; optionally the previous one revoked.
net::Response RenewNamed(const ApiOptions& o, Call& call) {
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
  if (name == "api") {
    TlsChanged(o);
  }
  // Once for the request: the new version, and the previous one's revocation if asked for.
  ClusterChanged(o);
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
    auto revoked = o.revocation->Revoke(renewed->previous_serial, reason, RevokeByOf(call));
    if (!revoked) {
      Log("renewing certificate \"" + name + "\": revoking the previous certificate " +
          renewed->previous_serial + " failed: " + revoked.error().message);
      return ErrorResponse(
          500, "internal",
          "certificate \"" + name + "\" was renewed (version " + std::to_string(renewed->version) +
              ", serial " + leaf.serial_hex() + ") but revoking the previous certificate " +
              renewed->previous_serial + " failed: revoke it with POST /v1/certificates/" +
              renewed->previous_serial + "/revoke");
    }
    body["previous_revoked"] = true;
    body["previous_revoked_at"] = OptionalTime(revoked->cert.revoked_at);
    body["reason"] = revoked->cert.revocation_reason;
  }
  return Json(body);
}

net::Response ListNamed(const ApiOptions& o) {
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

net::Response DeleteNamed(const ApiOptions& o, Call& call) {
  const std::string& name = call.params[0];
  if (auto r = authority::DeleteNamedCert(*o.store, name, ChangeByOf(call), *o.clock); !r) {
    return Error(r.error());
  }
  ClusterChanged(o);
  return Json({{"deleted", name}});
}

// --- policy ---

core::Result<std::pair<ClusterPolicy, std::int64_t>> CurrentPolicy(const ApiOptions& o) {
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
    return core::Fail(core::ErrorCode::kInternal, "stored TLS policy version " +
                                                      std::to_string(doc->version) +
                                                      " does not parse: " + policy.error().message);
  }
  return std::make_pair(*policy, doc->version);
}

json PolicyJson(const ClusterPolicy& policy, std::int64_t version) {
  json j = json::parse(PolicyToJson(policy), nullptr, false);
  if (!j.is_object()) {
    j = json::object();
  }
  j["version"] = version;
  return j;
}

json ClusterJson(const ApiOptions& o, const ClusterPolicy& policy) {
  json j = json::parse(PolicyToRedisJson(policy), nullptr, false);
  if (!j.is_object()) {
    j = json::object();
  }
  j["name"] = o.fqdn;
  return j;
}

// GET /v1/cluster: Redis Enterprise's cluster object as far as clustertls has it: the name (the
// FQDN) and the TLS policy under Redis' field names.
net::Response GetCluster(const ApiOptions& o) {
  auto current = CurrentPolicy(o);
  if (!current) {
    return Error(current.error());
  }
  return Json(ClusterJson(o, current->first));
}

net::Response GetPolicy(const ApiOptions& o) {
  auto current = CurrentPolicy(o);
  if (!current) {
    return Error(current.error());
  }
  return Json(PolicyJson(current->first, current->second));
}

// Applies the body's policy fields, checks that default clients still connect, stores and
// audits the new policy; `view` answers with it.
template <typename View>
net::Response UpdatePolicy(const ApiOptions& o, Call& call, View view) {
  auto current = CurrentPolicy(o);
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
  auto version = authority::PutTlsPolicy(*o.store, PolicyToJson(*updated), current->second,
                                         ChangeByOf(call), *o.clock);
  if (!version) {
    return Error(version.error());
  }
  TlsChanged(o);
  ClusterChanged(o);
  return view(*updated, *version);
}

// PUT /v1/cluster: the policy fields of a Redis cluster object (the policy takes Redis' names
// too); anything else of that object is refused by the policy's field check.
net::Response PutCluster(const ApiOptions& o, Call& call) {
  return UpdatePolicy(o, call, [&o](const ClusterPolicy& policy, std::int64_t) {
    return Json(ClusterJson(o, policy));
  });
}

net::Response PutPolicy(const ApiOptions& o, Call& call) {
  return UpdatePolicy(o, call, [](const ClusterPolicy& policy, std::int64_t version) {
    return Json(PolicyJson(policy, version));
  });
}

}  // namespace

void AddClusterRoutes(Router& router, const ApiOptions& o) {
  MethodSpec update =
      WithBody("PUT", Role::kAdmin, std::nullopt, Sync([&o](Call& c) { return UpdateCert(o, c); }));
  update.pem_line_continuations = true;
  router.Add("/v1/cluster/update_cert", {std::move(update)});
  MethodSpec put = WithBody("PUT", Role::kAdmin, std::vector<std::string>{"certificates"},
                            Sync([&o](Call& c) { return PutCertificates(o, c); }));
  put.pem_line_continuations = true;
  router.Add("/v1/cluster/certificates",
             {Get(Role::kReader, Sync([&o](Call&) { return ListNamed(o); })), std::move(put)});
  // Redis Enterprise's cluster object, for its TLS fields (the policy under Redis' names).
  router.Add("/v1/cluster", {Get(Role::kReader, Sync([&o](Call&) { return GetCluster(o); })),
                             WithBody("PUT", Role::kAdmin, std::nullopt,
                                      Sync([&o](Call& c) { return PutCluster(o, c); }))});
  router.Add("/v1/cluster/certificates/{name}",
             {Delete(Role::kAdmin, Sync([&o](Call& c) { return DeleteNamed(o, c); }))});
  MethodSpec renew = WithBody("POST", Role::kAdmin,
                              std::vector<std::string>{"days", "key_type", "revoke_previous"},
                              Sync([&o](Call& c) { return RenewNamed(o, c); }));
  renew.empty_body_ok = true;
  router.Add("/v1/cluster/certificates/{name}/renew", {std::move(renew)});
  router.Add("/v1/cluster/policy", {Get(Role::kReader, Sync([&o](Call&) { return GetPolicy(o); })),
                                    WithBody("PUT", Role::kAdmin, std::nullopt,
                                             Sync([&o](Call& c) { return PutPolicy(o, c); }))});
}

}  // namespace clustertls::server
