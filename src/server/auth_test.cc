#include "server/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "authority/secrets.h"
#include "ossl/csprng.h"

namespace clustertls::server {
namespace {

using std::chrono::seconds;

// Base64 by OpenSSL's encoder (independent of the decoder under test).
std::string Base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string BasicHeader(std::string_view user, std::string_view password) {
  return "Basic " + Base64(std::string(user) + ":" + std::string(password));
}

net::Request WithAuthorization(std::string value) {
  return net::Request{.method = "GET",
                      .target = "/v1/certificates",
                      .headers = {{"Authorization", std::move(value)}}};
}

constexpr char kAlicePassword[] = "correct horse battery";
constexpr char kBobPassword[] = "pa:ss:word-with-colons";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ctls-auth-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = store::Store::Open(dir_ + "/auth.db");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    AddUser("alice", "admin", kAlicePassword);
    AddUser("bob", "reader", kBobPassword);
    AddUser("carol", "operator", "carol's long password");
  }
  void TearDown() override {
    auth_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddUser(const std::string& name, const std::string& role, const std::string& password,
               bool disabled = false) {
    auto hash = authority::HashPassword(password, rng_, kCost);
    ASSERT_TRUE(hash) << hash.error().message;
    auto created = store_->CreateUser(store::User{.name = name,
                                                  .role = role,
                                                  .password_hash = *hash,
                                                  .created_at = clock_.Now(),
                                                  .disabled = disabled});
    ASSERT_TRUE(created) << created.error().message;
  }

  // A token for `user` expiring `lifetime` from now (none when zero).
  authority::NewToken AddToken(const std::string& user, seconds lifetime = seconds{0}) {
    auto token = authority::GenerateToken(rng_);
    EXPECT_TRUE(token);
    std::optional<core::TimePoint> expires;
    if (lifetime > seconds{0}) {
      expires = clock_.Now() + lifetime;
    }
    auto created = store_->CreateToken(store::ApiToken{.id = token->id,
                                                       .user = user,
                                                       .hash = token->hash,
                                                       .created_at = clock_.Now(),
                                                       .expires_at = expires,
                                                       .last_used = {}});
    EXPECT_TRUE(created) << created.error().message;
    return *token;
  }

  Authenticator& auth() {
    if (!auth_) {
      auth_ = std::make_unique<Authenticator>(store_.get(), &clock_, options_);
    }
    return *auth_;
  }

  AuthOutcome Basic(std::string_view user, std::string_view password,
                    const std::string& source = "192.0.2.1") {
    return auth().Authenticate(WithAuthorization(BasicHeader(user, password)), source);
  }

  AuthOutcome Raw(std::string value, const std::string& source = "192.0.2.1") {
    return auth().Authenticate(WithAuthorization(std::move(value)), source);
  }

  void Advance(seconds by) { clock_.Set(clock_.Now() + by); }

  static constexpr authority::PasswordHashOptions kCost{.log2_n = 10};
  std::string dir_;
  ossl::Csprng rng_;
  core::FixedClock clock_{core::TimePoint{seconds{1'800'000'000}}};
  AuthOptions options_{.free_failures = 3,
                       .failure_window = seconds{300},
                       .max_backoff = seconds{60},
                       .basic_cache_ttl = seconds{60},
                       .unknown_user_cost = kCost};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Authenticator> auth_;
};

TEST(RoleTest, ParsesAndNamesRoles) {
  EXPECT_EQ(*ParseRole("admin"), Role::kAdmin);
  EXPECT_EQ(*ParseRole("operator"), Role::kOperator);
  EXPECT_EQ(*ParseRole("reader"), Role::kReader);
  EXPECT_FALSE(ParseRole("Admin"));
  EXPECT_FALSE(ParseRole(""));
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
  EXPECT_EQ((Principal{.user = "u", .role = Role::kReader, .token_id = ""}.Describe()), "u");
  EXPECT_EQ((Principal{.user = "u", .role = Role::kReader, .token_id = "ab12"}.Describe()),
            "u (token ab12)");
}

TEST_F(AuthTest, GoodBasicCredentials) {
  AuthOutcome outcome = Basic("alice", kAlicePassword);
  ASSERT_TRUE(outcome.principal) << outcome.message;
  EXPECT_EQ(outcome.principal->user, "alice");
  EXPECT_EQ(outcome.principal->role, Role::kAdmin);
  EXPECT_TRUE(outcome.principal->token_id.empty());

  // The password is split from the user at the FIRST colon (RFC 7617 section 2).
  AuthOutcome bob = Basic("bob", kBobPassword);
  ASSERT_TRUE(bob.principal) << bob.message;
  EXPECT_EQ(bob.principal->role, Role::kReader);

  // The scheme is case-insensitive; extra spaces before the credentials are allowed.
  AuthOutcome lower = Raw("basic   " + Base64(std::string("carol:carol's long password")));
  ASSERT_TRUE(lower.principal) << lower.message;
  EXPECT_EQ(lower.principal->role, Role::kOperator);
}

TEST_F(AuthTest, WrongPasswordAndUnknownUserLookTheSame) {
  AuthOutcome wrong = Basic("alice", "not the password");
  EXPECT_FALSE(wrong.principal);
  EXPECT_EQ(wrong.failure, AuthFailure::kBadCredentials);
  AuthOutcome unknown = Basic("mallory", kAlicePassword);
  EXPECT_FALSE(unknown.principal);
  EXPECT_EQ(unknown.failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(wrong.message, unknown.message);
  // The unknown name cost a KDF run too (no user enumeration by timing).
  EXPECT_EQ(auth().password_checks(), 2u);
  // A prefix of the password, or the password of another user, is refused.
  // (From other addresses: this one has used its free failures.)
  EXPECT_FALSE(Basic("alice", "correct horse", "192.0.2.2").principal);
  EXPECT_FALSE(Basic("alice", kBobPassword, "192.0.2.3").principal);
  EXPECT_FALSE(Basic("bob", "pa", "192.0.2.4").principal);
  EXPECT_EQ(auth().failures(), 5u);

  net::Response response = Authenticator::FailureResponse(wrong);
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.content_type, "application/json");
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"]["code"], "unauthorized");
  EXPECT_EQ(body["error"]["message"], wrong.message);
  bool basic_challenge = false;
  for (const auto& [name, value] : response.headers) {
    if (name == "WWW-Authenticate" && value.starts_with("Basic realm=\"clustertls\"")) {
      basic_challenge = true;
    }
  }
  EXPECT_TRUE(basic_challenge);
  // The password never appears in the answer.
  EXPECT_EQ(response.body.find("not the password"), std::string::npos);
}

TEST_F(AuthTest, MissingAndMalformedHeaders) {
  net::Request none{.method = "GET", .target = "/v1/certificates"};
  AuthOutcome missing = auth().Authenticate(none, "192.0.2.1");
  EXPECT_FALSE(missing.principal);
  EXPECT_EQ(missing.failure, AuthFailure::kMissing);
  EXPECT_EQ(Authenticator::FailureResponse(missing).status, 401);

  const std::vector<std::string> malformed = {
      "",
      "Basic",
      "Basic ",
      "Basic !!!!",
      "Basic YWxpY2U",                        // "alice" without padding: no colon
      "Basic " + Base64("alice"),             // no colon
      "Basic " + Base64(":password"),         // empty user
      "Basic " + Base64("al\x01ice:pw"),      // control character in the user
      "Basic " + Base64("alice:pass\nword"),  // control character in the password
      "Basic " + Base64(std::string("alice\0x:pw", 10)),
      "Basic YW=xpY2U6cHc=",               // '=' inside
      "Basic YWxpY2U6cHc===",              // too much padding
      "Basic Y",                           // truncated group
      "Basic " + std::string(10000, 'A'),  // huge
      "Bearer",
      "Digest username=\"alice\"",
      "Basicfoo",
  };
  for (const std::string& value : malformed) {
    AuthOutcome outcome = Raw(value);
    EXPECT_FALSE(outcome.principal) << value;
    EXPECT_EQ(outcome.failure, AuthFailure::kMalformed) << value << ": " << outcome.message;
    EXPECT_EQ(Authenticator::FailureResponse(outcome).status, 401);
    EXPECT_EQ(outcome.message.find('\n'), std::string::npos);
  }
  // None of these ran the KDF.
  EXPECT_EQ(auth().password_checks(), 0u);
  // The well-formed version of one of them works.
  EXPECT_TRUE(Raw("Basic " + Base64(std::string("alice:") + kAlicePassword)).principal);
}

TEST_F(AuthTest, BearerTokens) {
  authority::NewToken token = AddToken("bob", seconds{3600});
  AuthOutcome good = Raw("Bearer " + token.token);
  ASSERT_TRUE(good.principal) << good.message;
  EXPECT_EQ(good.principal->user, "bob");
  EXPECT_EQ(good.principal->role, Role::kReader);
  EXPECT_EQ(good.principal->token_id, token.id);
  EXPECT_EQ(good.principal->Describe(), "bob (token " + token.id + ")");
  EXPECT_EQ(auth().password_checks(), 0u);  // tokens never run the KDF

  // Same id, different secret.
  std::string forged = token.token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  AuthOutcome bad = Raw("Bearer " + forged);
  EXPECT_FALSE(bad.principal);
  EXPECT_EQ(bad.failure, AuthFailure::kBadCredentials);
  // Wrong shape, unknown id.
  EXPECT_EQ(Raw("Bearer ctls_nope").failure, AuthFailure::kBadCredentials);
  authority::NewToken unstored = *authority::GenerateToken(rng_);
  EXPECT_EQ(Raw("Bearer " + unstored.token, "192.0.2.9").failure, AuthFailure::kBadCredentials);

  // Expired.
  Advance(seconds{3600});
  AuthOutcome expired = Raw("Bearer " + token.token, "192.0.2.10");
  EXPECT_FALSE(expired.principal);
  EXPECT_EQ(expired.failure, AuthFailure::kBadCredentials);
  EXPECT_NE(expired.message.find("expired"), std::string::npos);

  // Deleted through the API: the handler deletes the record, then calls ForgetToken; the next
  // request is refused at once.
  authority::NewToken forever = AddToken("alice");
  ASSERT_TRUE(Raw("Bearer " + forever.token, "192.0.2.11").principal);
  ASSERT_TRUE(store_->DeleteToken(forever.id));
  auth().ForgetToken(forever.id);
  EXPECT_EQ(Raw("Bearer " + forever.token, "192.0.2.11").failure, AuthFailure::kBadCredentials);
}

TEST_F(AuthTest, BearerCacheServesRepeatsWithoutTheStoreAndForgets) {
  authority::NewToken token = AddToken("carol", seconds{60});
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  // Deleted behind the authenticator's back (another server on the same database): trusted for
  // at most token_cache_ttl (5 s), then refused.
  ASSERT_TRUE(store_->DeleteToken(token.id));
  AuthOutcome cached = Raw("Bearer " + token.token);
  ASSERT_TRUE(cached.principal) << cached.message;
  EXPECT_EQ(cached.principal->user, "carol");
  EXPECT_EQ(cached.principal->role, Role::kOperator);
  EXPECT_EQ(cached.principal->token_id, token.id);
  // A cache hit still compares the secret.
  std::string forged = token.token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Raw("Bearer " + forged, "192.0.2.20").failure, AuthFailure::kBadCredentials);
  Advance(seconds{4});
  EXPECT_TRUE(Raw("Bearer " + token.token).principal);
  Advance(seconds{1});
  EXPECT_EQ(Raw("Bearer " + token.token).failure, AuthFailure::kBadCredentials);

  // ForgetToken: refused at once, and not cached again within the TTL.
  authority::NewToken second = AddToken("carol");
  ASSERT_TRUE(Raw("Bearer " + second.token).principal);
  auth().ForgetToken(second.id);
  ASSERT_TRUE(store_->DeleteToken(second.id));
  EXPECT_EQ(Raw("Bearer " + second.token).failure, AuthFailure::kBadCredentials);

  // Forget(user) (role change, disable, delete, as the API does) drops the user's tokens.
  authority::NewToken third = AddToken("carol");
  ASSERT_TRUE(Raw("Bearer " + third.token).principal);
  auto carol = *store_->GetUser("carol");
  carol.role = "reader";
  ASSERT_TRUE(store_->UpdateUser(carol));
  EXPECT_EQ(Raw("Bearer " + third.token).principal->role, Role::kOperator);  // still cached
  auth().Forget("carol");
  EXPECT_EQ(Raw("Bearer " + third.token).principal->role, Role::kReader);

  // A cached token still expires on time.
  authority::NewToken brief = AddToken("carol", seconds{3});
  ASSERT_TRUE(Raw("Bearer " + brief.token).principal);
  Advance(seconds{3});
  AuthOutcome expired = Raw("Bearer " + brief.token, "192.0.2.21");
  EXPECT_EQ(expired.failure, AuthFailure::kBadCredentials);
  EXPECT_NE(expired.message.find("expired"), std::string::npos);
}

TEST_F(AuthTest, BearerCacheCanBeTurnedOff) {
  options_.token_cache_ttl = seconds{0};
  authority::NewToken token = AddToken("bob");
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  ASSERT_TRUE(store_->DeleteToken(token.id));
  EXPECT_EQ(Raw("Bearer " + token.token).failure, AuthFailure::kBadCredentials);
}

TEST_F(AuthTest, BearerLastUsedIsWrittenAtMostOnceAMinute) {
  authority::NewToken token = AddToken("alice");
  const core::TimePoint t0 = clock_.Now();
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  EXPECT_EQ(store_->GetToken(token.id)->last_used, t0);
  Advance(seconds{30});
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  EXPECT_EQ(store_->GetToken(token.id)->last_used, t0);
  Advance(seconds{31});
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  EXPECT_EQ(store_->GetToken(token.id)->last_used, t0 + seconds{61});
}

TEST_F(AuthTest, ThrottlingAfterFreeFailuresWithoutRunningTheKdf) {
  for (int i = 0; i < 3; ++i) {
    AuthOutcome outcome = Basic("alice", "wrong password", "198.51.100.7");
    EXPECT_EQ(outcome.failure, AuthFailure::kBadCredentials) << i;
  }
  const std::uint64_t checks = auth().password_checks();
  // Even the right password is refused now, without a KDF run.
  AuthOutcome throttled = Basic("alice", kAlicePassword, "198.51.100.7");
  EXPECT_FALSE(throttled.principal);
  EXPECT_EQ(throttled.failure, AuthFailure::kThrottled);
  EXPECT_EQ(throttled.retry_after, seconds{1});
  EXPECT_EQ(auth().password_checks(), checks);
  EXPECT_EQ(auth().throttled(), 1u);
  net::Response response = Authenticator::FailureResponse(throttled);
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "too_many_requests");
  bool retry_after = false;
  for (const auto& [name, value] : response.headers) {
    retry_after = retry_after || (name == "Retry-After" && value == "1");
  }
  EXPECT_TRUE(retry_after);

  // The blocked address cannot try another user; the blocked user cannot be tried from
  // another address; tokens from the blocked address are throttled too.
  EXPECT_EQ(Basic("bob", kBobPassword, "198.51.100.7").failure, AuthFailure::kThrottled);
  EXPECT_EQ(Basic("alice", kAlicePassword, "203.0.113.1").failure, AuthFailure::kThrottled);
  authority::NewToken token = AddToken("carol");
  EXPECT_EQ(Raw("Bearer " + token.token, "198.51.100.7").failure, AuthFailure::kThrottled);
  EXPECT_EQ(auth().password_checks(), checks);

  // Other clients are served meanwhile.
  EXPECT_TRUE(Basic("bob", kBobPassword, "203.0.113.1").principal);
  EXPECT_TRUE(Raw("Bearer " + token.token, "203.0.113.2").principal);
}

TEST_F(AuthTest, BackoffDoublesAndExpiresWithTheClock) {
  const std::string source = "198.51.100.8";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Basic("bob", "wrong", source).failure, AuthFailure::kBadCredentials);
  }
  EXPECT_EQ(Basic("bob", "wrong", source).retry_after, seconds{1});
  Advance(seconds{1});
  // Allowed again; this failure doubles the backoff.
  EXPECT_EQ(Basic("bob", "wrong", source).failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Basic("bob", "wrong", source).retry_after, seconds{2});
  Advance(seconds{1});
  EXPECT_EQ(Basic("bob", kBobPassword, source).retry_after, seconds{1});
  Advance(seconds{1});
  EXPECT_EQ(Basic("bob", "wrong", source).failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Basic("bob", "wrong", source).retry_after, seconds{4});
  // Capped at max_backoff (60 s).
  for (int i = 0; i < 10; ++i) {
    Advance(seconds{60});
    EXPECT_EQ(Basic("bob", "wrong", source).failure, AuthFailure::kBadCredentials);
  }
  EXPECT_EQ(Basic("bob", "wrong", source).retry_after, seconds{60});
  Advance(seconds{60});
  AuthOutcome ok = Basic("bob", kBobPassword, source);
  EXPECT_TRUE(ok.principal) << ok.message;
}

TEST_F(AuthTest, SuccessResetsTheUserCounterAndOldFailuresAreForgotten) {
  // Failures for alice from three addresses: the user (not the addresses) is blocked.
  for (const char* source : {"198.51.100.1", "198.51.100.2", "198.51.100.3"}) {
    ASSERT_EQ(Basic("alice", "wrong", source).failure, AuthFailure::kBadCredentials);
  }
  EXPECT_EQ(Basic("alice", kAlicePassword, "198.51.100.4").failure, AuthFailure::kThrottled);
  EXPECT_TRUE(Basic("bob", kBobPassword, "198.51.100.1").principal);
  Advance(seconds{1});
  ASSERT_TRUE(Basic("alice", kAlicePassword, "198.51.100.4").principal);
  // The counter restarted: two more failures are free.
  EXPECT_EQ(Basic("alice", "wrong", "198.51.100.5").failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Basic("alice", "wrong", "198.51.100.6").failure, AuthFailure::kBadCredentials);
  EXPECT_TRUE(Basic("alice", kAlicePassword, "198.51.100.7").principal);

  // Failures older than the window do not add up.
  const std::string source = "198.51.100.9";
  EXPECT_EQ(Basic("carol", "wrong", source).failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Basic("carol", "wrong", source).failure, AuthFailure::kBadCredentials);
  Advance(seconds{301});
  EXPECT_EQ(Basic("carol", "wrong", source).failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Basic("carol", "wrong", source).failure, AuthFailure::kBadCredentials);
  EXPECT_TRUE(Basic("carol", "carol's long password", source).principal);
}

TEST_F(AuthTest, DisabledUserIsRefused) {
  AddUser("dave", "admin", "dave's long password", /*disabled=*/true);
  AuthOutcome basic = Basic("dave", "dave's long password");
  EXPECT_FALSE(basic.principal);
  EXPECT_EQ(basic.failure, AuthFailure::kBadCredentials);
  EXPECT_EQ(Authenticator::FailureResponse(basic).status, 401);

  authority::NewToken token = AddToken("carol");
  ASSERT_TRUE(Raw("Bearer " + token.token).principal);
  auto carol = *store_->GetUser("carol");
  carol.disabled = true;
  ASSERT_TRUE(store_->UpdateUser(carol));
  auth().Forget("carol");  // as PUT /v1/users/{name} does
  EXPECT_EQ(Raw("Bearer " + token.token).failure, AuthFailure::kBadCredentials);
}

TEST_F(AuthTest, BasicCacheSkipsTheKdfButNeverAdmitsAWrongPassword) {
  ASSERT_TRUE(Basic("alice", kAlicePassword).principal);
  EXPECT_EQ(auth().password_checks(), 1u);
  ASSERT_TRUE(Basic("alice", kAlicePassword, "192.0.2.50").principal);
  EXPECT_EQ(auth().password_checks(), 1u);  // cached
  // A wrong password for a cached user runs the KDF and fails.
  EXPECT_FALSE(Basic("alice", "correct horse batter").principal);
  EXPECT_FALSE(Basic("alice", std::string(kAlicePassword) + " ").principal);
  EXPECT_EQ(auth().password_checks(), 3u);
  // Another user with alice's password is not let in by alice's entry.
  EXPECT_FALSE(Basic("bob", kAlicePassword).principal);

  // Expires after basic_cache_ttl.
  Advance(seconds{60});
  ASSERT_TRUE(Basic("alice", kAlicePassword).principal);
  EXPECT_EQ(auth().password_checks(), 5u);
  ASSERT_TRUE(Basic("alice", kAlicePassword).principal);
  EXPECT_EQ(auth().password_checks(), 5u);

  // A password change followed by Forget: the old password is refused at once.
  auto alice = *store_->GetUser("alice");
  alice.password_hash = *authority::HashPassword("a brand new password", rng_, kCost);
  ASSERT_TRUE(store_->UpdateUser(alice));
  auth().Forget("alice");
  EXPECT_FALSE(Basic("alice", kAlicePassword, "192.0.2.51").principal);
  EXPECT_TRUE(Basic("alice", "a brand new password", "192.0.2.51").principal);

  // Forget after disabling.
  ASSERT_TRUE(Basic("bob", kBobPassword).principal);
  auto bob = *store_->GetUser("bob");
  bob.disabled = true;
  ASSERT_TRUE(store_->UpdateUser(bob));
  auth().Forget("bob");
  EXPECT_FALSE(Basic("bob", kBobPassword).principal);
}

TEST_F(AuthTest, ConcurrentRequestsAreSafe) {
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  Authenticator& shared = auth();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string source = "10.0." + std::to_string(t) + "." + std::to_string(i);
        if (shared.Authenticate(WithAuthorization(BasicHeader("alice", kAlicePassword)), source)
                .principal) {
          ++admitted;
        }
        if (!shared.Authenticate(WithAuthorization(BasicHeader("bob", "wrong")), source)
                 .principal) {
          ++refused;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(admitted.load(), 80);
  EXPECT_EQ(refused.load(), 80);
}

}  // namespace
}  // namespace clustertls::server
