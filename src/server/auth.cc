#include "server/auth.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "authority/secrets.h"
#include "core/encoding.h"
#include "ossl/csprng.h"
#include "server/http_error.h"

namespace clustertls::server {
namespace {

using std::chrono::seconds;

// Longest Authorization header value considered (a Basic credential or a token is far shorter).
constexpr std::size_t kMaxAuthorizationBytes = 4096;
// A token's last_used is written at most this often (one write per token per minute).
constexpr seconds kTouchInterval{60};
// Password the unknown-user dummy hash is made from (never matches anything sent: it is only
// run so that unknown names cost as much as real ones).
constexpr std::string_view kDummyPassword = "clustertls unknown user";

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// HMAC, fetched once.
const EVP_MAC* Hmac() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

// HMAC-SHA256(key, data) as 32 raw bytes in a string; empty on failure (then nothing is cached).
std::string HmacSha256(std::span<const std::uint8_t> key, std::string_view data) {
  if (Hmac() == nullptr) {
    return {};
  }
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx(EVP_MAC_CTX_new(const_cast<EVP_MAC*>(Hmac())));
  if (!ctx) {
    return {};
  }
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out.data()), out_len);
}

// RFC 7617 section 2: neither user-id nor password may contain control characters.
bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && core::AsciiLower(a) == core::AsciiLower(b);
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

AuthOutcome Failure(AuthFailure failure, std::string message) {
  AuthOutcome outcome;
  outcome.failure = failure;
  outcome.message = std::move(message);
  return outcome;
}

// kInternal for a store read that failed, keeping its code (a busy database answers 503).
AuthOutcome StoreFailure(const core::Error& error, const std::string& what) {
  AuthOutcome outcome = Failure(AuthFailure::kInternal, what + ": " + error.message);
  outcome.error_code = error.code;
  return outcome;
}

// Adds the stored name policy `json` (if any) of `owner` to the principal. The API stored it in
// canonical form; one that no longer parses refuses the request (kInternal) rather than signing
// without it.
core::Result<void> AddNamePolicy(Principal& principal, std::string owner, const std::string& json) {
  if (json.empty()) {
    return {};
  }
  auto policy = authority::ParseNamePolicy(json, "name_policy");
  if (!policy) {
    return core::Fail(core::ErrorCode::kInternal, "the stored name policy of " + owner +
                                                      " does not parse: " + policy.error().message);
  }
  if (!policy->empty()) {
    principal.name_policies.push_back({.owner = std::move(owner), .policy = std::move(*policy)});
  }
  return {};
}

AuthOutcome Success(Principal principal) {
  AuthOutcome outcome;
  outcome.principal = std::move(principal);
  return outcome;
}

}  // namespace

core::Result<Role> ParseRole(std::string_view name) {
  if (name == "admin") {
    return Role::kAdmin;
  }
  if (name == "operator") {
    return Role::kOperator;
  }
  if (name == "reader") {
    return Role::kReader;
  }
  return core::Fail(core::ErrorCode::kInvalidArgument, "role: unknown role '" +
                                                           std::string(name.substr(0, 64)) +
                                                           "': expected admin, operator or reader");
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "reader";
}

std::string Principal::Describe() const {
  if (token_id.empty()) {
    return user;
  }
  return user + " (token " + token_id + ")";
}

struct Authenticator::Impl {
  // One limiter key's recent failures ("a:<address>" or "u:<user>").
  struct FailureState {
    int failures = 0;
    core::TimePoint last_failure{};
    core::TimePoint blocked_until{};
  };
  struct CacheEntry {
    Principal principal;
    core::TimePoint expires{};
  };
  // A verified API token: what the store said about it and its user.
  struct TokenEntry {
    std::string hash;                              // TokenHash of the token (no secret)
    std::optional<core::TimePoint> token_expires;  // the token's own expiry
    Principal principal;
    core::TimePoint cached_until{};
  };

  store::Store* store;
  const core::Clock* clock;
  AuthOptions options;
  std::array<std::uint8_t, 32> cache_key{};
  bool cache_enabled = false;

  std::mutex mu;
  std::unordered_map<std::string, FailureState> limiter;     // guarded by mu
  std::unordered_map<std::string, CacheEntry> cache;         // key: HMAC; guarded by mu
  std::unordered_map<std::string, core::TimePoint> touched;  // token id -> last touch
  std::unordered_map<std::string, TokenEntry> tokens;        // token id -> verified token
  // Token ids kept out of `tokens` until the time given (deleted through this server).
  std::unordered_map<std::string, core::TimePoint> no_cache_until;
  // Incremented by Forget and ForgetToken: a store read that started before is not cached.
  std::uint64_t forget_generation = 0;
  std::size_t sweep_at = 1024;  // sweep when a map outgrows it

  // Password checks running now (at most options.max_concurrent_kdf).
  std::mutex kdf_mu;
  std::condition_variable kdf_cv;
  int kdf_running = 0;

  std::once_flag dummy_once;
  std::string dummy_hash;

  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> throttled{0};
  std::atomic<std::uint64_t> password_checks{0};

  static std::string AddressKey(const std::string& source) { return "a:" + source; }
  static std::string UserKey(std::string_view user) { return "u:" + std::string(user); }

  // How long `key` is still blocked at `now` (0: not blocked). Caller holds mu.
  seconds BlockedFor(const std::string& key, core::TimePoint now) const {
    auto it = limiter.find(key);
    if (it == limiter.end() || now >= it->second.blocked_until) {
      return seconds{0};
    }
    return it->second.blocked_until - now;
  }

  // Counts a failure of `key`; from the free_failures-th on, blocks for 1 s, 2 s, 4 s, ...
  // (at most max_backoff). Caller holds mu.
  void RecordFailure(const std::string& key, core::TimePoint now) {
    FailureState& state = limiter[key];
    if (state.failures > 0 && now - state.last_failure >= options.failure_window) {
      state.failures = 0;
    }
    ++state.failures;
    state.last_failure = now;
    const int over = state.failures - std::max(options.free_failures, 1);
    if (over >= 0) {
      const seconds backoff =
          over >= 30 ? options.max_backoff : std::min(seconds{1LL << over}, options.max_backoff);
      state.blocked_until = now + backoff;
    }
  }

  // Drops forgotten failures, expired cache entries and old touch times once a map has grown
  // past sweep_at (amortised: the threshold doubles with what is left). Caller holds mu.
  void MaybeSweep(core::TimePoint now) {
    if (limiter.size() < sweep_at && cache.size() < sweep_at && touched.size() < sweep_at &&
        tokens.size() < sweep_at && no_cache_until.size() < sweep_at) {
      return;
    }
    std::erase_if(limiter, [&](const auto& item) {
      return now - item.second.last_failure >= options.failure_window &&
             now >= item.second.blocked_until;
    });
    std::erase_if(cache, [&](const auto& item) { return now >= item.second.expires; });
    std::erase_if(touched, [&](const auto& item) { return now - item.second >= kTouchInterval; });
    std::erase_if(tokens, [&](const auto& item) { return now >= item.second.cached_until; });
    std::erase_if(no_cache_until, [&](const auto& item) { return now >= item.second; });
    sweep_at =
        std::max<std::size_t>(1024, 2 * std::max({limiter.size(), cache.size(), touched.size(),
                                                  tokens.size(), no_cache_until.size()}));
  }

  // A failed Bearer check: counted against the source address. Caller holds mu.
  AuthOutcome BadToken(const std::string& address_key, core::TimePoint now, std::string message) {
    RecordFailure(address_key, now);
    MaybeSweep(now);
    failures.fetch_add(1, std::memory_order_relaxed);
    return Failure(AuthFailure::kBadCredentials, std::move(message));
  }

  // Whether token `id`'s last_used should be written now (at most once per kTouchInterval per
  // token in this process); if so, remembers that it is. Caller holds mu.
  bool ShouldTouch(const std::string& id, core::TimePoint now) {
    auto it = touched.find(id);
    if (it != touched.end() && now - it->second < kTouchInterval) {
      return false;
    }
    touched[id] = now;
    return true;
  }

  // Drops token `id` from the cache and keeps it out for one TTL. Caller holds mu.
  void ForgetTokenLocked(const std::string& id) {
    ++forget_generation;
    tokens.erase(id);
    if (options.token_cache_ttl > seconds{0}) {
      no_cache_until[id] = clock->Now() + options.token_cache_ttl;
      MaybeSweep(clock->Now());
    }
  }

  // Runs VerifyPassword with at most max_concurrent_kdf checks at once.
  bool CheckPassword(std::string_view password, std::string_view encoded) {
    {
      std::unique_lock lock(kdf_mu);
      kdf_cv.wait(lock, [&] { return kdf_running < std::max(options.max_concurrent_kdf, 1); });
      ++kdf_running;
    }
    password_checks.fetch_add(1, std::memory_order_relaxed);
    const bool ok = authority::VerifyPassword(password, encoded);
    {
      std::lock_guard lock(kdf_mu);
      --kdf_running;
    }
    kdf_cv.notify_one();
    return ok;
  }

  const std::string& DummyHash() {
    std::call_once(dummy_once, [&] {
      ossl::Csprng rng;
      auto hash = authority::HashPassword(kDummyPassword, rng, options.unknown_user_cost);
      if (hash) {
        dummy_hash = std::move(*hash);
      }
    });
    return dummy_hash;
  }

  AuthOutcome Throttled(seconds retry_after) {
    throttled.fetch_add(1, std::memory_order_relaxed);
    AuthOutcome outcome =
        Failure(AuthFailure::kThrottled,
                "too many failed attempts; retry in " + std::to_string(retry_after.count()) + " s");
    outcome.retry_after = retry_after;
    return outcome;
  }

  AuthOutcome Malformed(std::string message) {
    failures.fetch_add(1, std::memory_order_relaxed);
    return Failure(AuthFailure::kMalformed, std::move(message));
  }

  AuthOutcome Basic(std::string_view credentials, const std::string& source);
  AuthOutcome Bearer(std::string_view token, const std::string& source);
};

// RFC 7617 section 2: base64(user-id ":" password), split at the first colon.
AuthOutcome Authenticator::Impl::Basic(std::string_view credentials, const std::string& source) {
  auto decoded = core::Base64Decode(credentials);
  if (!decoded) {
    return Malformed("malformed Basic credentials: not base64");
  }
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    return Malformed("malformed Basic credentials: no ':' between user name and password");
  }
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  if (user.empty()) {
    return Malformed("malformed Basic credentials: empty user name");
  }
  if (HasControlCharacter(user) || HasControlCharacter(password)) {
    return Malformed("malformed Basic credentials: control character in user name or password");
  }

  const std::string address_key = AddressKey(source);
  const std::string user_key = UserKey(user);
  std::string mac;
  {
    std::lock_guard lock(mu);
    const core::TimePoint now = clock->Now();
    // Checked before the cache too: a cache hit must not let a throttled guesser test passwords.
    const seconds blocked = std::max(BlockedFor(address_key, now), BlockedFor(user_key, now));
    if (blocked > seconds{0}) {
      return Throttled(blocked);
    }
    if (cache_enabled) {
      mac = HmacSha256(cache_key, user + '\0' + password);
      auto it = mac.empty() ? cache.end() : cache.find(mac);
      if (it != cache.end()) {
        if (now < it->second.expires && it->second.principal.user == user) {
          limiter.erase(user_key);
          return Success(it->second.principal);
        }
        cache.erase(it);
      }
    }
  }

  auto record = store->GetUser(user);
  if (!record && record.error().code != core::ErrorCode::kNotFound) {
    return StoreFailure(record.error(), "cannot read user");
  }
  // An unknown user costs one KDF run too, so that names cannot be probed by timing.
  const bool password_ok = record ? CheckPassword(password, record->password_hash)
                                  : (CheckPassword(password, DummyHash()), false);

  std::lock_guard lock(mu);
  const core::TimePoint now = clock->Now();
  if (!password_ok) {
    RecordFailure(address_key, now);
    RecordFailure(user_key, now);
    MaybeSweep(now);
    failures.fetch_add(1, std::memory_order_relaxed);
    return Failure(AuthFailure::kBadCredentials, "invalid user name or password");
  }
  if (record->disabled) {
    failures.fetch_add(1, std::memory_order_relaxed);
    return Failure(AuthFailure::kBadCredentials, "user '" + user + "' is disabled");
  }
  auto role = ParseRole(record->role);
  if (!role) {
    return Failure(AuthFailure::kInternal, "user '" + user + "': " + role.error().message);
  }
  limiter.erase(user_key);
  Principal principal{.user = user, .role = *role, .token_id = {}};
  if (auto r = AddNamePolicy(principal, "user \"" + user + "\"", record->name_policy); !r) {
    return Failure(AuthFailure::kInternal, r.error().message);
  }
  if (!mac.empty()) {
    cache[mac] = CacheEntry{.principal = principal, .expires = now + options.basic_cache_ttl};
    MaybeSweep(now);
  }
  return Success(std::move(principal));
}

// RFC 6750 section 2.1: "ctls_<id>_<secret>"; the id finds the record, the hash is compared in
// constant time. Failures count against the source address only (a token carries 256 random
// bits: guessing is hopeless, and a user throttled by someone else's password guesses keeps
// working with tokens). A verified token is cached under its id for token_cache_ttl (see
// auth.h); a cache hit still hashes and compares the presented token and checks its expiry.
AuthOutcome Authenticator::Impl::Bearer(std::string_view token, const std::string& source) {
  const std::string address_key = AddressKey(source);
  auto id = authority::TokenId(token);
  const std::string presented = id ? authority::TokenHash(token) : std::string();
  std::uint64_t generation = 0;
  std::optional<Principal> hit;  // a cache hit
  bool touch_hit = false;
  core::TimePoint touch_at{};
  {
    std::lock_guard lock(mu);
    const core::TimePoint now = clock->Now();
    const seconds blocked = BlockedFor(address_key, now);
    if (blocked > seconds{0}) {
      return Throttled(blocked);
    }
    generation = forget_generation;
    auto it = id ? tokens.find(*id) : tokens.end();
    if (it != tokens.end()) {
      const TokenEntry& entry = it->second;
      if (now < entry.cached_until) {
        if (!authority::ConstantTimeEquals(presented, entry.hash)) {
          return BadToken(address_key, now, "invalid token");
        }
        if (entry.token_expires && now >= *entry.token_expires) {
          tokens.erase(it);
          return BadToken(address_key, now, "token has expired");
        }
        hit = entry.principal;
        touch_at = now;
        touch_hit = ShouldTouch(*id, now);
      } else {
        tokens.erase(it);
      }
    }
  }
  if (hit) {
    if (touch_hit) {
      // Best effort: last_used is informational; a failed write does not refuse the request.
      (void)store->TouchToken(*id, touch_at);
    }
    return Success(std::move(*hit));
  }
  auto bad = [&](std::string message) {
    std::lock_guard lock(mu);
    return BadToken(address_key, clock->Now(), std::move(message));
  };

  if (!id) {
    return bad("invalid token");
  }
  auto record = store->GetToken(*id);
  if (!record) {
    if (record.error().code == core::ErrorCode::kNotFound) {
      return bad("invalid token");
    }
    return StoreFailure(record.error(), "cannot read token");
  }
  if (!authority::ConstantTimeEquals(presented, record->hash)) {
    return bad("invalid token");
  }
  const core::TimePoint now = clock->Now();
  if (record->expires_at && now >= *record->expires_at) {
    return bad("token has expired");
  }
  auto user = store->GetUser(record->user);
  if (!user) {
    if (user.error().code == core::ErrorCode::kNotFound) {
      return bad("invalid token");
    }
    return StoreFailure(user.error(), "cannot read user");
  }
  if (user->disabled) {
    failures.fetch_add(1, std::memory_order_relaxed);
    return Failure(AuthFailure::kBadCredentials, "user '" + user->name + "' is disabled");
  }
  auto role = ParseRole(user->role);
  if (!role) {
    return Failure(AuthFailure::kInternal, "user '" + user->name + "': " + role.error().message);
  }
  Principal principal{.user = user->name, .role = *role, .token_id = *id};
  if (auto r = AddNamePolicy(principal, "user \"" + user->name + "\"", user->name_policy); !r) {
    return Failure(AuthFailure::kInternal, r.error().message);
  }
  if (auto r = AddNamePolicy(principal, "token " + *id, record->name_policy); !r) {
    return Failure(AuthFailure::kInternal, r.error().message);
  }

  bool touch = !record->last_used || now - *record->last_used >= kTouchInterval;
  {
    std::lock_guard lock(mu);
    if (!ShouldTouch(*id, now)) {
      touch = false;
    }
    // Not cached if a Forget/ForgetToken ran since the store was read (the record may be
    // gone), or while the token is kept out of the cache.
    auto kept_out = no_cache_until.find(*id);
    const bool kept = kept_out != no_cache_until.end() && now < kept_out->second;
    if (options.token_cache_ttl > seconds{0} && generation == forget_generation && !kept) {
      tokens[*id] = TokenEntry{.hash = record->hash,
                               .token_expires = record->expires_at,
                               .principal = principal,
                               .cached_until = now + options.token_cache_ttl};
    }
    MaybeSweep(now);
  }
  if (touch) {
    // Best effort: last_used is informational; a failed write does not refuse the request.
    (void)store->TouchToken(*id, now);
  }
  return Success(std::move(principal));
}

Authenticator::Authenticator(store::Store* store, const core::Clock* clock,
                             const AuthOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->store = store;
  impl_->clock = clock;
  impl_->options = options;
  ossl::Csprng rng;
  // Without a key (the CSPRNG failed) nothing is cached: every Basic request runs the KDF.
  impl_->cache_enabled = options.basic_cache_ttl > seconds{0} && rng.Fill(impl_->cache_key);
}

Authenticator::~Authenticator() = default;

AuthOutcome Authenticator::Authenticate(const net::Request& request, const std::string& source) {
  const std::optional<std::string_view> header = request.Header("Authorization");
  if (!header) {
    return Failure(AuthFailure::kMissing,
                   "authentication required: send Authorization: Basic or Bearer credentials");
  }
  if (header->size() > kMaxAuthorizationBytes) {
    return impl_->Malformed("malformed Authorization header: too long");
  }
  // RFC 9110 section 11.4: credentials = auth-scheme [ 1*SP token68 ]; the scheme is
  // case-insensitive.
  const std::string_view value = TrimSpaces(*header);
  const std::size_t space = value.find(' ');
  const std::string_view scheme = value.substr(0, space);
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view{} : TrimSpaces(value.substr(space));
  if (EqualsIgnoreCase(scheme, "Basic")) {
    if (rest.empty()) {
      return impl_->Malformed("malformed Authorization header: Basic without credentials");
    }
    return impl_->Basic(rest, source);
  }
  if (EqualsIgnoreCase(scheme, "Bearer")) {
    if (rest.empty()) {
      return impl_->Malformed("malformed Authorization header: Bearer without a token");
    }
    return impl_->Bearer(rest, source);
  }
  return impl_->Malformed("unsupported authorization scheme: use Basic or Bearer");
}

void Authenticator::Forget(const std::string& user) {
  std::lock_guard lock(impl_->mu);
  ++impl_->forget_generation;
  std::erase_if(impl_->cache, [&](const auto& item) { return item.second.principal.user == user; });
  std::erase_if(impl_->tokens,
                [&](const auto& item) { return item.second.principal.user == user; });
}

void Authenticator::ForgetToken(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  impl_->ForgetTokenLocked(id);
}

net::Response Authenticator::FailureResponse(const AuthOutcome& outcome) {
  switch (outcome.failure) {
    case AuthFailure::kThrottled: {
      net::Response response = ErrorResponse(429, "too_many_requests", outcome.message);
      response.headers.emplace_back(
          "Retry-After", std::to_string(std::max<std::int64_t>(outcome.retry_after.count(), 1)));
      return response;
    }
    case AuthFailure::kInternal:
      return ErrorResponse(core::Fail(outcome.error_code, outcome.message));
    case AuthFailure::kMissing:
    case AuthFailure::kMalformed:
    case AuthFailure::kBadCredentials:
      break;
  }
  net::Response response = ErrorResponse(401, "unauthorized", outcome.message);
  // RFC 7617 section 2 and RFC 6750 section 3.
  response.headers.emplace_back("WWW-Authenticate",
                                "Basic realm=\"clustertls\", charset=\"UTF-8\"");
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"clustertls\"");
  return response;
}

std::uint64_t Authenticator::failures() const {
  return impl_->failures.load(std::memory_order_relaxed);
}

std::uint64_t Authenticator::throttled() const {
  return impl_->throttled.load(std::memory_order_relaxed);
}

std::uint64_t Authenticator::password_checks() const {
  return impl_->password_checks.load(std::memory_order_relaxed);
}

}  // namespace clustertls::server
