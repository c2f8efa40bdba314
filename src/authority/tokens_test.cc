#include "authority/tokens.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "authority/secrets.h"
#include "authority/test_cluster_testutil.h"
#include "authority/users.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

const ChangeBy kBy{.actor = "ops", .source = "192.0.2.9"};
const TokenRequester kOps{.user = "ops", .is_admin = false};
const TokenRequester kAdmin{.user = "admin", .is_admin = true};

class TokensTest : public ClusterCaTest {
 protected:
  void SetUp() override {
    ClusterCaTest::SetUp();
    Must(CreateUser(*store_, {.name = "ops", .role = "operator", .password = "ops-password-1"}, kBy,
                    clock_, rng_));
  }
};

TEST_F(TokensTest, CreateStoresOnlyTheHashWithItsAuditEntry) {
  const std::size_t before = AllAudit(*store_).size();
  CreatedToken made =
      Must(CreateToken(*store_, {.owner = "ops", .days = 7}, kOps, kBy, clock_, rng_));
  store::ApiToken stored = Must(store_->GetToken(made.record.id));
  EXPECT_EQ(stored.user, "ops");
  EXPECT_EQ(stored.hash, TokenHash(made.token));
  EXPECT_EQ(stored.expires_at, clock_.Now() + std::chrono::days(7));
  auto audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), before + 1);
  EXPECT_EQ(audit.back().action, "token.create");
  EXPECT_EQ(audit.back().target, made.record.id);
  EXPECT_EQ(audit.back().details_json,
            R"({"expires_at":")" + core::FormatTime(*stored.expires_at) + R"(","user":"ops"})");
}

TEST_F(TokensTest, OnlyAnAdminMakesTokensForOthersAndOnlyForExistingUsers) {
  auto other = CreateToken(*store_, {.owner = "admin"}, kOps, kBy, clock_, rng_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(other.error().message, "only an admin may create a token for another user");
  auto missing = CreateToken(*store_, {.owner = "ghost"}, kAdmin, kBy, clock_, rng_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "user \"ghost\": no such user");
  auto days = CreateToken(*store_, {.owner = "ops", .days = 0}, kOps, kBy, clock_, rng_);
  ASSERT_FALSE(days);
  EXPECT_EQ(days.error().code, ErrorCode::kInvalidArgument);
  Must(CreateToken(*store_, {.owner = "ops"}, kAdmin, kBy, clock_, rng_));
  EXPECT_EQ(Must(store_->ListTokens("ops")).size(), 1u);
}

TEST_F(TokensTest, DeleteHidesOtherUsersTokensFromNonAdmins) {
  CreatedToken admins = Must(CreateToken(*store_, {.owner = "admin"}, kAdmin, kBy, clock_, rng_));
  auto hidden = DeleteToken(*store_, admins.record.id, kOps, kBy, clock_);
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(hidden.error().message, "token \"" + admins.record.id + "\": no such token");
  EXPECT_TRUE(store_->GetToken(admins.record.id));

  CreatedToken own = Must(CreateToken(*store_, {.owner = "ops"}, kOps, kBy, clock_, rng_));
  store::ApiToken deleted = Must(DeleteToken(*store_, own.record.id, kOps, kBy, clock_));
  EXPECT_EQ(deleted.user, "ops");
  EXPECT_EQ(store_->GetToken(own.record.id).error().code, ErrorCode::kNotFound);
  auto audit = AllAudit(*store_);
  EXPECT_EQ(audit.back().action, "token.delete");
  EXPECT_EQ(audit.back().details_json, R"({"user":"ops"})");
  // An admin deletes anyone's.
  Must(DeleteToken(*store_, admins.record.id, kAdmin, kBy, clock_));
}

TEST_F(TokensTest, AFailedAuditWriteLeavesNoChange) {
  CreatedToken kept = Must(CreateToken(*store_, {.owner = "ops"}, kOps, kBy, clock_, rng_));
  const std::size_t before = AllAudit(*store_).size();
  FailingAuditStore failing(store_.get());
  auto created = CreateToken(failing, {.owner = "ops"}, kOps, kBy, clock_, rng_);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kIo);
  auto deleted = DeleteToken(failing, kept.record.id, kOps, kBy, clock_);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(Must(store_->ListTokens("ops")).size(), 1u);
  EXPECT_TRUE(store_->GetToken(kept.record.id));
  EXPECT_EQ(AllAudit(*store_).size(), before);
}

}  // namespace
}  // namespace clustertls::authority
