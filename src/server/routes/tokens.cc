// API tokens: /v1/tokens, /v1/tokens/{id}.

#include "authority/tokens.h"

#include <string>

#include "authority/name_policy.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

json TokenJson(const store::ApiToken& token) {
  return {{"id", token.id},
          {"user", token.user},
          {"created_at", core::FormatTime(token.created_at)},
          {"expires_at", OptionalTime(token.expires_at)},
          {"last_used", OptionalTime(token.last_used)},
          {"name_policy", NamePolicyValue(token.name_policy)}};
}

authority::TokenRequester Requester(const Call& call) {
  return {.user = call.principal.user, .is_admin = call.principal.role == Role::kAdmin};
}

net::Response CreateToken(const ApiOptions& o, Call& call) {
  auto user = StringField(call.body, "user", false);
  if (!user) {
    return Error(user.error());
  }
  auto days = IntField(call.body, "expires_in_days", 1, authority::kMaxTokenDays);
  if (!days) {
    return Error(days.error());
  }
  auto name_policy = NamePolicyField(call.body);
  if (!name_policy) {
    return Error(name_policy.error());
  }
  auto created = authority::CreateToken(
      *o.store,
      {.owner = user->value_or(call.principal.user),
       .days = static_cast<int>(days->value_or(authority::kDefaultTokenDays)),
       .name_policy = name_policy->value_or(authority::NamePolicy{})},
      Requester(call), ChangeByOf(call), *o.clock, *o.rng);
  if (!created) {
    return Error(created.error());
  }
  const store::ApiToken& record = created->record;
  return Json({{"id", record.id},
               {"token", created->token},
               {"user", record.user},
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
  if (auto r = authority::DeleteToken(*o.store, id, Requester(call), ChangeByOf(call), *o.clock);
      !r) {
    return Error(r.error());
  }
  o.authenticator->ForgetToken(id);  // cached by Bearer auth: refused from the next request
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
