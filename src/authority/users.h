#pragma once

// The API's users and their rules: names, passwords, and the last active admin, which no
// change may remove (delete, disable or demote). Every change commits in one store transaction
// with its audit entry (user.create, user.update, user.delete); the last-admin check runs inside
// that transaction under the users lock (store::Transaction::LockUsers), so it holds across
// `serve` instances sharing one PostgreSQL.

#include <optional>
#include <string>
#include <vector>

#include "authority/audited.h"
#include "authority/name_policy.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

// The role that counts for the last-admin rule (store::User::role).
inline constexpr const char* kAdminRole = "admin";

// 1-64 characters of [a-z0-9._-]; kInvalidArgument ("name: ...").
core::Result<void> CheckUserName(const std::string& name);

// 12-1024 characters; kInvalidArgument ("password: ...").
core::Result<void> CheckPassword(const std::string& password);

// A user to create. `role` is "admin", "operator" or "reader" (the caller parses it).
struct NewUser {
  std::string name;
  std::string role;
  std::optional<std::string> password{};  // unset: one is generated (GeneratePassword)
  NamePolicy name_policy{};               // empty: none
};

// What CreateUser made.
struct CreatedUser {
  store::User user;
  std::string generated_password;  // empty when the password was given
};

// Checks the name and the password, hashes it, then creates the user with its "user.create"
// audit entry (details: role, password_generated, name_policy if any) in one transaction.
// kAlreadyExists ("user "x" already exists").
core::Result<CreatedUser> CreateUser(store::Store& store, const NewUser& user, const ChangeBy& by,
                                     const core::Clock& clock, core::Rng& rng);

// A change of a user; unset fields stay as they are.
struct UserUpdate {
  std::optional<std::string> role{};  // "admin", "operator" or "reader"
  std::optional<std::string> password{};
  std::optional<bool> disabled{};
  std::optional<NamePolicy> name_policy{};  // an empty policy removes it
  bool revoke_tokens = false;               // also delete every token of the user
};

// What UpdateUser changed.
struct UpdatedUser {
  store::User user;                         // as stored now
  std::vector<std::string> tokens_revoked;  // the ids deleted (revoke_tokens), sorted
};

// Applies `update` to `name` with its "user.update" audit entry (details: what changed, and
// tokens_revoked) in one transaction. kInvalidArgument for a bad password; kNotFound
// ("user "x": no such user"); kConflict ("user "x" is the last active admin") if it would
// leave no enabled admin.
core::Result<UpdatedUser> UpdateUser(store::Store& store, const std::string& name,
                                     const UserUpdate& update, const ChangeBy& by,
                                     const core::Clock& clock, core::Rng& rng);

// Deletes `name` and its tokens with the "user.delete" audit entry in one transaction.
// kNotFound, kConflict as UpdateUser.
core::Result<void> DeleteUser(store::Store& store, const std::string& name, const ChangeBy& by,
                              const core::Clock& clock);

}  // namespace clustertls::authority
