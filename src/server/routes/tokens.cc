// API tokens: /v1/tokens, /v1/tokens/{id}.

#include <chrono>
#include <string>

#include "authority/name_policy.h"
#include "authority/secrets.h"
#include "server/http_error.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

constexpr int kDefaultTokenDays = 90;
constexpr int kMaxTokenDays = 3650;

json TokenJson(const store::ApiToken& token) {
  return {{"id", token.id},
          {"user", token.user},
          {"created_at", core::FormatTime(token.created_at)},
          {"expires_at", OptionalTime(token.expires_at)},
          {"last_used", OptionalTime(token.last_used)},
          {"name_policy", NamePolicyValue(token.name_policy)}};
}

net::Response CreateToken(const ApiOptions& o, Call& call) {
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
  if (auto a = Audit(o, call, "token.create", record.id, details); !a) {
    return Error(a.error());
  }
  return Json({{"id", record.id},
               {"token", token->token},
               {"user", owner},
               {"expires_at", core::FormatTime(*record.expires_at)},
               {"name_policy", NamePolicyValue(record.name_policy)}},
              201);
}

net::Response ListTokens(const ApiOptions& o, Call& call) {
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

net::Response DeleteToken(const ApiOptions& o, Call& call) {
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
  if (auto a = Audit(o, call, "token.delete", id, {{"user", token->user}}); !a) {
    return Error(a.error());
  }
  return Json({{"deleted", id}});
}

}  // namespace

void AddTokenRoutes(Router& router, const ApiOptions& o) {
  router.Add("/v1/tokens",
             {Get(Role::kReader, Sync([&o](Call& c) { return ListTokens(o, c); })),
              WithBody("POST", Role::kReader,
                       std::vector<std::string>{"user", "expires_in_days", "name_policy"},
                       Sync([&o](Call& c) { return CreateToken(o, c); }))});
  router.Add("/v1/tokens/{id}",
             {Delete(Role::kReader, Sync([&o](Call& c) { return DeleteToken(o, c); }))});
}

}  // namespace clustertls::server
