// The audit log: /v1/audit, /v1/audit/head.

#include <climits>
#include <optional>

#include "authority/audit_head.h"
#include "server/http_error.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

net::Response ListAudit(const ApiOptions& o, Call& call) {
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
net::Response AuditHead(const ApiOptions& o) {
  std::optional<authority::AuditHead> head =
      o.audit_head == nullptr ? std::nullopt : o.audit_head->Current();
  if (!head) {
    return Error(
        core::Fail(core::ErrorCode::kNotFound, "this server has signed no audit head yet"));
  }
  return JsonResponse(authority::AuditHeadToJson(*head), 200);
}

}  // namespace

void AddAuditRoutes(Router& router, const ApiOptions& o) {
  router.Add("/v1/audit", {Get(Role::kReader, Sync([&o](Call& c) { return ListAudit(o, c); }))});
  router.Add("/v1/audit/head", {Get(Role::kReader, Sync([&o](Call&) { return AuditHead(o); }))});
}

}  // namespace clustertls::server
