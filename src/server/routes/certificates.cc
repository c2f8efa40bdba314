// The inventory of issued certificates and their revocation: /v1/certificates...

#include <string>

#include "authority/name_policy.h"
#include "authority/revocation.h"
#include "pki/certificate.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

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

json SelectedJson(const store::IssuedCert& cert) {
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

net::Response ListCertificates(const ApiOptions& o, Call& call) {
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

net::Response GetCertificate(const ApiOptions& o, Call& call) {
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

net::Response RevokeOne(const ApiOptions& o, Call& call) {
  auto reason = StringField(call.body, "reason", false);
  if (!reason) {
    return Error(reason.error());
  }
  auto outcome = o.revocation->Revoke(call.params[0], reason->value_or(""), RevokeByOf(call));
  if (!outcome) {
    return Error(outcome.error());
  }
  if (outcome->newly_revoked) {
    ClusterChanged(o);
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

net::Response RevokeBySelector(const ApiOptions& o, Call& call) {
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
    auto outcomes = o.revocation->RevokeSelected(selector, reason, RevokeByOf(call));
    if (!outcomes) {
      return Error(outcomes.error());
    }
    bool revoked = false;
    for (const auto& outcome : *outcomes) {
      json j = SelectedJson(outcome.cert);
      j["newly_revoked"] = outcome.newly_revoked;
      revoked = revoked || outcome.newly_revoked;
      list.push_back(std::move(j));
    }
    if (revoked) {
      ClusterChanged(o);
    }
  }
  std::size_t count = list.size();
  return Json({{"dry_run", dry_run}, {"count", count}, {"certificates", std::move(list)}});
}

}  // namespace

void AddCertificateRoutes(Router& router, const ApiOptions& o) {
  router.Add("/v1/certificates",
             {Get(Role::kReader, Sync([&o](Call& c) { return ListCertificates(o, c); }))});
  router.Add(
      "/v1/certificates/revoke",
      {WithBody("POST", Role::kOperator,
                std::vector<std::string>{"name", "san", "issued_before", "reason", "dry_run"},
                Sync([&o](Call& c) { return RevokeBySelector(o, c); }))});
  router.Add("/v1/certificates/{serial}",
             {Get(Role::kReader, Sync([&o](Call& c) { return GetCertificate(o, c); }))});
  MethodSpec revoke = WithBody("POST", Role::kOperator, std::vector<std::string>{"reason"},
                               Sync([&o](Call& c) { return RevokeOne(o, c); }));
  revoke.empty_body_ok = true;
  router.Add("/v1/certificates/{serial}/revoke", {std::move(revoke)});
}

}  // namespace clustertls::server
