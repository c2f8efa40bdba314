// The API's users: /v1/users, /v1/users/{name}.

#include <mutex>
#include <string>
#include <vector>

#include "authority/name_policy.h"
#include "authority/secrets.h"
#include "server/http_error.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

// Serialises user changes (the last-admin rule).
std::mutex& UsersMutex() {
  static std::mutex mu;
  return mu;
}

json UserJson(const store::User& user) {
  return {{"name", user.name},
          {"role", user.role},
          {"created_at", core::FormatTime(user.created_at)},
          {"disabled", user.disabled},
          {"name_policy", NamePolicyValue(user.name_policy)}};
}

// Users: [a-z0-9._-]{1,64}.
core::Result<void> CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "name: must be 1-64 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "name: only a-z, 0-9, '.', '_' and '-' are allowed");
    }
  }
  return {};
}

core::Result<void> CheckPassword(const std::string& password) {
  if (password.size() < 12) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "password: must be at least 12 characters");
  }
  if (password.size() > 1024) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "password: longer than 1024 characters");
  }
  return {};
}

core::Result<int> ActiveAdmins(const ApiOptions& o, const std::string& except) {
  CTLS_ASSIGN_OR_RETURN(auto users, o.store->ListUsers());
  int n = 0;
  for (const auto& u : users) {
    if (u.role == "admin" && !u.disabled && u.name != except) {
      ++n;
    }
  }
  return n;
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
  if (auto r = CheckUserName(**name); !r) {
    return Error(r.error());
  }
  auto parsed_role = ParseRole(**role);
  if (!parsed_role) {
    return Error(parsed_role.error().WithContext("role"));
  }
  std::string pw;
  bool generated = false;
  if (*password) {
    if (auto r = CheckPassword(**password); !r) {
      return Error(r.error());
    }
    pw = **password;
  } else {
    auto g = authority::GeneratePassword(*o.rng);
    if (!g) {
      return Error(g.error());
    }
    pw = *g;
    generated = true;
  }
  auto hash = authority::HashPassword(pw, *o.rng);
  if (!hash) {
    return Error(hash.error());
  }
  store::User user{
      .name = **name,
      .role = RoleName(*parsed_role),
      .password_hash = *hash,
      .created_at = o.clock->Now(),
      .disabled = false,
      .name_policy = authority::NamePolicyToJson(name_policy->value_or(authority::NamePolicy{}))};
  {
    std::lock_guard lock(UsersMutex());
    if (auto r = o.store->CreateUser(user); !r) {
      if (r.error().code == core::ErrorCode::kAlreadyExists) {
        return ErrorResponse(409, "already_exists", "user \"" + user.name + "\" already exists");
      }
      return Error(r.error());
    }
  }
  json details = {{"role", user.role}, {"password_generated", generated}};
  if (!user.name_policy.empty()) {
    details["name_policy"] = NamePolicyValue(user.name_policy);
  }
  if (auto a = Audit(o, call, "user.create", user.name, details); !a) {
    return Error(a.error());
  }
  json out = {
      {"name", user.name}, {"role", user.role}, {"name_policy", NamePolicyValue(user.name_policy)}};
  if (generated) {
    out["password"] = pw;
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
  std::optional<Role> new_role;
  if (*role) {
    auto r = ParseRole(**role);
    if (!r) {
      return Error(r.error().WithContext("role"));
    }
    new_role = *r;
  }
  std::string hash;
  if (*password) {
    if (auto r = CheckPassword(**password); !r) {
      return Error(r.error());
    }
    auto h = authority::HashPassword(**password, *o.rng);
    if (!h) {
      return Error(h.error());
    }
    hash = *h;
  }
  store::User user;
  json details = json::object();
  {
    std::lock_guard lock(UsersMutex());
    auto current = o.store->GetUser(name);
    if (!current) {
      if (current.error().code == core::ErrorCode::kNotFound) {
        return ErrorResponse(404, "not_found", "user \"" + name + "\": no such user");
      }
      return Error(current.error());
    }
    user = *current;
    if (new_role) {
      user.role = RoleName(*new_role);
      details["role"] = user.role;
    }
    if (disabled) {
      user.disabled = *disabled;
      details["disabled"] = *disabled;
    }
    if (!hash.empty()) {
      user.password_hash = hash;
      details["password_changed"] = true;
    }
    if (*name_policy) {
      user.name_policy = authority::NamePolicyToJson(**name_policy);
      details["name_policy"] = NamePolicyValue(user.name_policy);
    }
    bool was_active_admin = current->role == "admin" && !current->disabled;
    bool is_active_admin = user.role == "admin" && !user.disabled;
    if (was_active_admin && !is_active_admin) {
      auto others = ActiveAdmins(o, name);
      if (!others) {
        return Error(others.error());
      }
      if (*others == 0) {
        return ErrorResponse(409, "conflict", "user \"" + name + "\" is the last active admin");
      }
    }
    if (auto r = o.store->UpdateUser(user); !r) {
      return Error(r.error());
    }
  }
  std::vector<std::string> revoked_tokens;
  if (revoke_tokens) {
    auto deleted = o.store->DeleteTokensOf(name);
    if (!deleted) {
      return Error(deleted.error());
    }
    revoked_tokens = std::move(*deleted);
    details["tokens_revoked"] = revoked_tokens;
  }
  o.authenticator->Forget(name);
  if (auto a = Audit(o, call, "user.update", name, details); !a) {
    return Error(a.error());
  }
  json out = UserJson(user);
  if (password->has_value()) {
    out["tokens_revoked"] = revoked_tokens;
  }
  return Json(out);
}

net::Response DeleteUser(const ApiOptions& o, Call& call) {
  const std::string& name = call.params[0];
  {
    std::lock_guard lock(UsersMutex());
    auto current = o.store->GetUser(name);
    if (!current) {
      if (current.error().code == core::ErrorCode::kNotFound) {
        return ErrorResponse(404, "not_found", "user \"" + name + "\": no such user");
      }
      return Error(current.error());
    }
    if (current->role == "admin" && !current->disabled) {
      auto others = ActiveAdmins(o, name);
      if (!others) {
        return Error(others.error());
      }
      if (*others == 0) {
        return ErrorResponse(409, "conflict", "user \"" + name + "\" is the last active admin");
      }
    }
    if (auto r = o.store->DeleteUser(name); !r) {
      return Error(r.error());
    }
  }
  o.authenticator->Forget(name);
  if (auto a = Audit(o, call, "user.delete", name, json::object()); !a) {
    return Error(a.error());
  }
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
