// The API's users: /v1/users, /v1/users/{name}.

#include "authority/users.h"

#include <string>
#include <vector>

#include "authority/name_policy.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

json UserJson(const store::User& user) {
  return {{"name", user.name},
          {"role", user.role},
          {"created_at", core::FormatTime(user.created_at)},
          {"disabled", user.disabled},
          {"name_policy", NamePolicyValue(user.name_policy)}};
}

net::Response CreateUser(const ApiOptions& o, Call& call) {
  auto name = StringField(call.body, "name", true);
  auto role = StringField(call.body, "role", true);
  auto password = StringField(call.body, "password", false);
  auto name_policy = NamePolicyField(call.body);
  for (const core::Error* e :
       {name ? nullptr : &name.error(), role ? nullptr : &role.error(),
        password ? nullptr : &password.error(), name_policy ? nullptr : &name_policy.error()}) {
    if (e != nullptr) {
      return Error(*e);
    }
  }
  if (auto r = authority::CheckUserName(**name); !r) {
    return Error(r.error());
  }
  auto parsed_role = ParseRole(**role);
  if (!parsed_role) {
    return Error(parsed_role.error().WithContext("role"));
  }
  auto created =
      authority::CreateUser(*o.store,
                            {.name = **name,
                             .role = RoleName(*parsed_role),
                             .password = *password,
                             .name_policy = name_policy->value_or(authority::NamePolicy{})},
                            ChangeByOf(call), *o.clock, *o.rng);
  if (!created) {
    return Error(created.error());
  }
  const store::User& user = created->user;
  json out = {
      {"name", user.name}, {"role", user.role}, {"name_policy", NamePolicyValue(user.name_policy)}};
  if (!created->generated_password.empty()) {
    out["password"] = created->generated_password;
  }
  return Json(out, 201);
}

net::Response ListUsers(const ApiOptions& o) {
  auto users = o.store->ListUsers();
  if (!users) {
    return Error(users.error());
  }
  json list = json::array();
  for (const auto& u : *users) {
    list.push_back(UserJson(u));
  }
  return Json({{"users", std::move(list)}});
}

net::Response UpdateUser(const ApiOptions& o, Call& call) {
  const std::string& name = call.params[0];
  auto role = StringField(call.body, "role", false);
  auto password = StringField(call.body, "password", false);
  if (!role) {
    return Error(role.error());
  }
  if (!password) {
    return Error(password.error());
  }
  auto disabled_field = BoolField(call.body, "disabled");
  auto revoke_field = BoolField(call.body, "revoke_tokens");
  auto name_policy = NamePolicyField(call.body);
  for (const core::Error* e : {disabled_field ? nullptr : &disabled_field.error(),
                               revoke_field ? nullptr : &revoke_field.error(),
                               name_policy ? nullptr : &name_policy.error()}) {
    if (e != nullptr) {
      return Error(*e);
    }
  }
  const std::optional<bool> disabled = *disabled_field;
  // A new password ends the user's API tokens too unless asked otherwise: by default when an
  // admin sets another user's password (a suspected leak), not one's own (which would end the
  // session the admin is using).
  const bool revoke_tokens =
      revoke_field->value_or(password->has_value() && name != call.principal.user);
  if (revoke_field->value_or(false) && !password->has_value()) {
    return BadRequest(
        "revoke_tokens: only with a new password (DELETE /v1/tokens/{id} deletes "
        "one token)");
  }
  authority::UserUpdate update{.password = *password,
                               .disabled = disabled,
                               .name_policy = *name_policy,
                               .revoke_tokens = revoke_tokens};
  if (*role) {
    auto r = ParseRole(**role);
    if (!r) {
      return Error(r.error().WithContext("role"));
    }
    update.role = RoleName(*r);
  }
  auto updated = authority::UpdateUser(*o.store, name, update, ChangeByOf(call), *o.clock, *o.rng);
  if (!updated) {
    return Error(updated.error());
  }
  o.authenticator->Forget(name);
  json out = UserJson(updated->user);
  if (password->has_value()) {
    out["tokens_revoked"] = updated->tokens_revoked;
  }
  return Json(out);
}

net::Response DeleteUser(const ApiOptions& o, Call& call) {
  const std::string& name = call.params[0];
  if (auto r = authority::DeleteUser(*o.store, name, ChangeByOf(call), *o.clock); !r) {
    return Error(r.error());
  }
  o.authenticator->Forget(name);
  return Json({{"deleted", name}});
}

}  // namespace

void AddUserRoutes(Router& router, const ApiOptions& o) {
  router.Add("/v1/users",
             {Get(Role::kAdmin, Sync([&o](Call&) { return ListUsers(o); })),
              WithBody("POST", Role::kAdmin,
                       std::vector<std::string>{"name", "role", "password", "name_policy"},
                       Sync([&o](Call& c) { return CreateUser(o, c); }))});
  router.Add("/v1/users/{name}",
             {WithBody("PUT", Role::kAdmin,
                       std::vector<std::string>{"role", "password", "disabled", "name_policy",
                                                "revoke_tokens"},
                       Sync([&o](Call& c) { return UpdateUser(o, c); })),
              Delete(Role::kAdmin, Sync([&o](Call& c) { return DeleteUser(o, c); }))});
}

}  // namespace clustertls::server
