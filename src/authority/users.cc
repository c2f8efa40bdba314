#include "authority/users.h"

#include <algorithm>
#include <utility>

#include "authority/secrets.h"

namespace clustertls::authority {

namespace {

using core::ErrorCode;
using core::Fail;

bool IsActiveAdmin(const store::User& user) { return user.role == kAdminRole && !user.disabled; }

core::Error NoSuchUser(const std::string& name) {
  return Fail(ErrorCode::kNotFound, "user \"" + name + "\": no such user");
}

core::Error LastAdmin(const std::string& name) {
  return Fail(ErrorCode::kConflict, "user \"" + name + "\" is the last active admin");
}

// True if an enabled admin other than `name` is among `users`.
bool OtherActiveAdmin(const std::vector<store::User>& users, const std::string& name) {
  return std::any_of(users.begin(), users.end(),
                     [&](const store::User& u) { return u.name != name && IsActiveAdmin(u); });
}

}  // namespace

core::Result<void> CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "name: must be 1-64 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Fail(ErrorCode::kInvalidArgument, "name: only a-z, 0-9, '.', '_' and '-' are allowed");
    }
  }
  return {};
}

core::Result<void> CheckPassword(const std::string& password) {
  if (password.size() < 12) {
    return Fail(ErrorCode::kInvalidArgument, "password: must be at least 12 characters");
  }
  if (password.size() > 1024) {
    return Fail(ErrorCode::kInvalidArgument, "password: longer than 1024 characters");
  }
  return {};
}

core::Result<CreatedUser> CreateUser(store::Store& store, const NewUser& user, const ChangeBy& by,
                                     const core::Clock& clock, core::Rng& rng) {
  CTLS_RETURN_IF_ERROR(CheckUserName(user.name));
  CreatedUser out;
  std::string password;
  if (user.password) {
    CTLS_RETURN_IF_ERROR(CheckPassword(*user.password));
    password = *user.password;
  } else {
    CTLS_ASSIGN_OR_RETURN(out.generated_password, GeneratePassword(rng));
    password = out.generated_password;
  }
  // Hashed before the transaction: scrypt takes a while, the store lock should not.
  CTLS_ASSIGN_OR_RETURN(std::string hash, HashPassword(password, rng));
  const core::TimePoint now = clock.Now();
  out.user = store::User{.name = user.name,
                         .role = user.role,
                         .password_hash = std::move(hash),
                         .created_at = now,
                         .disabled = false,
                         .name_policy = NamePolicyToJson(user.name_policy)};
  nlohmann::json details = {{"role", out.user.role},
                            {"password_generated", !user.password.has_value()}};
  if (!out.user.name_policy.empty()) {
    details["name_policy"] = StoredNamePolicyValue(out.user.name_policy);
  }
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    if (auto r = tx.CreateUser(out.user); !r) {
      if (r.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists, "user \"" + user.name + "\" already exists");
      }
      return r.error();
    }
    return AuditIn(tx, by, now, "user.create", out.user.name, details);
  });
  if (!done) {
    return done.error();
  }
  return out;
}

core::Result<UpdatedUser> UpdateUser(store::Store& store, const std::string& name,
                                     const UserUpdate& update, const ChangeBy& by,
                                     const core::Clock& clock, core::Rng& rng) {
  std::string hash;
  if (update.password) {
    CTLS_RETURN_IF_ERROR(CheckPassword(*update.password));
    CTLS_ASSIGN_OR_RETURN(hash, HashPassword(*update.password, rng));
  }
  const core::TimePoint now = clock.Now();
  UpdatedUser out;
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    out = UpdatedUser{};  // a retried transaction starts again
    CTLS_ASSIGN_OR_RETURN(std::vector<store::User> users, tx.LockUsers());
    auto current = std::find_if(users.begin(), users.end(),
                                [&](const store::User& u) { return u.name == name; });
    if (current == users.end()) {
      return NoSuchUser(name);
    }
    out.user = *current;
    nlohmann::json details = nlohmann::json::object();
    if (update.role) {
      out.user.role = *update.role;
      details["role"] = out.user.role;
    }
    if (update.disabled) {
      out.user.disabled = *update.disabled;
      details["disabled"] = *update.disabled;
    }
    if (!hash.empty()) {
      out.user.password_hash = hash;
      details["password_changed"] = true;
    }
    if (update.name_policy) {
      out.user.name_policy = NamePolicyToJson(*update.name_policy);
      details["name_policy"] = StoredNamePolicyValue(out.user.name_policy);
    }
    if (IsActiveAdmin(*current) && !IsActiveAdmin(out.user) && !OtherActiveAdmin(users, name)) {
      return LastAdmin(name);
    }
    CTLS_RETURN_IF_ERROR(tx.UpdateUser(out.user));
    if (update.revoke_tokens) {
      CTLS_ASSIGN_OR_RETURN(out.tokens_revoked, tx.DeleteTokensOf(name));
      details["tokens_revoked"] = out.tokens_revoked;
    }
    return AuditIn(tx, by, now, "user.update", name, details);
  });
  if (!done) {
    return done.error();
  }
  return out;
}

core::Result<void> DeleteUser(store::Store& store, const std::string& name, const ChangeBy& by,
                              const core::Clock& clock) {
  const core::TimePoint now = clock.Now();
  return store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    CTLS_ASSIGN_OR_RETURN(std::vector<store::User> users, tx.LockUsers());
    auto current = std::find_if(users.begin(), users.end(),
                                [&](const store::User& u) { return u.name == name; });
    if (current == users.end()) {
      return NoSuchUser(name);
    }
    if (IsActiveAdmin(*current) && !OtherActiveAdmin(users, name)) {
      return LastAdmin(name);
    }
    CTLS_RETURN_IF_ERROR(tx.DeleteUser(name));
    return AuditIn(tx, by, now, "user.delete", name, nlohmann::json::object());
  });
}

}  // namespace clustertls::authority
