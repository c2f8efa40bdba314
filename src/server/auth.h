#pragma once

// Authentication (HTTP Basic, RFC 7617, and Bearer API tokens, RFC 6750) and authorization by
// role. Passwords are checked with VerifyPassword (scrypt, constant-time); a successful Basic
// check is remembered for a short time under an HMAC of the credentials (a per-process random
// key), so scripts that send Basic auth on every request do not pay the KDF every time.
// Repeated failures from one source address or for one user name are answered 429 with an
// exponential backoff, without running the KDF, while other clients are served.
//
// A verified Bearer token is remembered for `token_cache_ttl` (default 5 s) under its id, with
// the SHA-256 of its secret, its expiry and its user's name and role, so that a client sending
// the same token on every request does not cost two store reads per request. The presented
// token is still hashed and compared in constant time on every request, and its expiry checked.
// Invalidation: Forget(user) (password change, role change, disable, delete) drops the user's
// tokens too; ForgetToken(id) (the API calls it once `DELETE /v1/tokens/{id}` committed) drops
// one token, so that a token deleted through this server stops working at once. A change this
// server does not see (another `serve` on the same PostgreSQL, a direct database edit) takes effect
// within one TTL.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authority/name_policy.h"
#include "authority/secrets.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "net/https_server.h"
#include "store/store.h"

namespace clustertls::server {

enum class Role { kReader = 0, kOperator = 1, kAdmin = 2 };

// "admin" | "operator" | "reader" (kInvalidArgument otherwise).
core::Result<Role> ParseRole(std::string_view name);
const char* RoleName(Role role);

// Who made a request.
struct Principal {
  std::string user;
  Role role = Role::kReader;
  std::string token_id;  // set when authenticated with a token
  // The name policies of the user and of the token (authority/name_policy.h), only those set.
  std::vector<authority::OwnedPolicy> name_policies{};
  // "user" or "user (token <id>)": what the audit log records as the actor.
  std::string Describe() const;
};

// Why a request was not authenticated.
enum class AuthFailure {
  kMissing,         // no Authorization header: 401 with WWW-Authenticate
  kMalformed,       // 401
  kBadCredentials,  // 401 (counted for backoff)
  kThrottled,       // 429 with Retry-After
  kInternal,        // the store failed: 500 (not counted; `message` is for the log only)
};

struct AuthOutcome {
  std::optional<Principal> principal;  // set on success
  AuthFailure failure = AuthFailure::kMissing;
  std::chrono::seconds retry_after{0};  // for kThrottled
  std::string message;                  // one line for the client
  // For kInternal: the code of the failure (the store's: kUnavailable for a busy database).
  core::ErrorCode error_code = core::ErrorCode::kInternal;
};

struct AuthOptions {
  int free_failures = 5;                     // failures allowed before backoff starts
  std::chrono::seconds failure_window{300};  // failures older than this are forgotten
  std::chrono::seconds max_backoff{300};     // backoff doubles from 1 s up to this
  std::chrono::seconds basic_cache_ttl{60};  // how long a verified Basic credential is trusted
  // How long a verified Bearer token is trusted without reading the store (0: never cached).
  std::chrono::seconds token_cache_ttl{5};
  // The scrypt cost run for an unknown user name, so that it takes as long as a real user's
  // check (no user enumeration by timing). Tests lower it with their users' cost.
  authority::PasswordHashOptions unknown_user_cost{};
  // At most this many password checks (scrypt: 32 MiB each at the default cost) run at once;
  // further ones wait for a slot.
  int max_concurrent_kdf = 4;
};

class Authenticator {
 public:
  // `store` and `clock` are not owned and outlive the Authenticator.
  Authenticator(store::Store* store, const core::Clock* clock, const AuthOptions& options = {});
  ~Authenticator();

  // Checks the request's Authorization header; `source` is the client address. Thread-safe.
  AuthOutcome Authenticate(const net::Request& request, const std::string& source);

  // Drops cached Basic credentials and cached tokens of `user` (after a password change, role
  // change, disable or delete).
  void Forget(const std::string& user);

  // Drops the cached token `id` (after it is deleted) and keeps it out of the cache for one
  // token_cache_ttl.
  void ForgetToken(const std::string& id);

  // The 401/429 response for a failed outcome (JSON error body, WWW-Authenticate: Basic
  // realm="clustertls", Bearer / Retry-After).
  static net::Response FailureResponse(const AuthOutcome& outcome);

  std::uint64_t failures() const;  // for /metrics
  std::uint64_t throttled() const;
  // How many password checks (KDF runs) have run: cache hits and throttled requests run none.
  std::uint64_t password_checks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::server
