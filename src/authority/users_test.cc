#include "authority/users.h"

#include <gtest/gtest.h>

#include <barrier>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "authority/secrets.h"
#include "authority/test_cluster_testutil.h"
#include "authority/tokens.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

const ChangeBy kBy{.actor = "admin", .source = "192.0.2.9"};

// Holds the users lock a while after taking it: two changes that did not serialise on it would
// both read the users before either writes.
class SlowLockStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  core::Result<void> Transact(const store::TransactionFn& fn) override {
    return inner_->Transact([&](store::Transaction& tx) {
      SlowLock slow(&tx);
      return fn(slow);
    });
  }

 private:
  class SlowLock : public ForwardingTransaction {
   public:
    using ForwardingTransaction::ForwardingTransaction;
    core::Result<std::vector<store::User>> LockUsers() override {
      auto users = inner_->LockUsers();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return users;
    }
  };
};

class UsersTest : public ClusterCaTest {
 protected:
  store::User User(const std::string& name) { return Must(store_->GetUser(name)); }

  void MakeUser(const std::string& name, const std::string& role) {
    Must(CreateUser(*store_, {.name = name, .role = role, .password = name + "-password-1"}, kBy,
                    clock_, rng_));
  }

  std::size_t AuditCount() { return AllAudit(*store_).size(); }
};

TEST_F(UsersTest, CreateStoresTheUserWithItsAuditEntry) {
  const std::size_t before = AuditCount();
  CreatedUser made =
      Must(CreateUser(*store_, {.name = "ops.1", .role = "operator"}, kBy, clock_, rng_));
  EXPECT_FALSE(made.generated_password.empty());
  store::User stored = User("ops.1");
  EXPECT_EQ(stored.role, "operator");
  EXPECT_TRUE(VerifyPassword(made.generated_password, stored.password_hash));
  auto audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), before + 1);
  EXPECT_EQ(audit.back().action, "user.create");
  EXPECT_EQ(audit.back().target, "ops.1");
  EXPECT_EQ(audit.back().actor, "admin");
  EXPECT_EQ(audit.back().source, "192.0.2.9");
  EXPECT_EQ(audit.back().details_json, R"({"password_generated":true,"role":"operator"})");
}

TEST_F(UsersTest, CreateRefusesBadInputAndTakenNamesWithoutAChange) {
  const std::size_t before = AuditCount();
  auto bad_name = CreateUser(*store_, {.name = "Bad Name", .role = "reader"}, kBy, clock_, rng_);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad_name.error().message, "name: only a-z, 0-9, '.', '_' and '-' are allowed");
  auto short_pw =
      CreateUser(*store_, {.name = "r", .role = "reader", .password = "short"}, kBy, clock_, rng_);
  ASSERT_FALSE(short_pw);
  EXPECT_EQ(short_pw.error().message, "password: must be at least 12 characters");
  auto taken = CreateUser(*store_, {.name = "admin", .role = "reader"}, kBy, clock_, rng_);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(taken.error().message, "user \"admin\" already exists");
  EXPECT_EQ(User("admin").role, "admin");
  EXPECT_EQ(AuditCount(), before);
}

TEST_F(UsersTest, TheLastActiveAdminCannotBeDemotedDisabledOrDeleted) {
  const std::size_t before = AuditCount();
  for (const UserUpdate& update : {UserUpdate{.role = "operator"}, UserUpdate{.disabled = true}}) {
    auto r = UpdateUser(*store_, "admin", update, kBy, clock_, rng_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    EXPECT_EQ(r.error().message, "user \"admin\" is the last active admin");
  }
  auto deleted = DeleteUser(*store_, "admin", kBy, clock_);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, ErrorCode::kConflict);
  store::User admin = User("admin");
  EXPECT_EQ(admin.role, "admin");
  EXPECT_FALSE(admin.disabled);
  EXPECT_EQ(AuditCount(), before);

  // A disabled admin does not count; an enabled one does.
  MakeUser("second", "admin");
  Must(UpdateUser(*store_, "second", {.disabled = true}, kBy, clock_, rng_));
  EXPECT_FALSE(UpdateUser(*store_, "admin", {.role = "reader"}, kBy, clock_, rng_));
  Must(UpdateUser(*store_, "second", {.disabled = false}, kBy, clock_, rng_));
  UpdatedUser demoted = Must(UpdateUser(*store_, "admin", {.role = "reader"}, kBy, clock_, rng_));
  EXPECT_EQ(demoted.user.role, "reader");
  EXPECT_EQ(User("admin").role, "reader");
  auto audit = AllAudit(*store_);
  EXPECT_EQ(audit.back().action, "user.update");
  EXPECT_EQ(audit.back().details_json, R"({"role":"reader"})");
}

TEST_F(UsersTest, UnknownUserIsNotFound) {
  auto updated = UpdateUser(*store_, "nobody", {.disabled = true}, kBy, clock_, rng_);
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(updated.error().message, "user \"nobody\": no such user");
  auto deleted = DeleteUser(*store_, "nobody", kBy, clock_);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, ErrorCode::kNotFound);
}

TEST_F(UsersTest, NewPasswordWithRevokeTokensDeletesThemInTheSameChange) {
  MakeUser("ops", "operator");
  CreatedToken t1 = Must(CreateToken(*store_, {.owner = "ops"}, {.user = "admin", .is_admin = true},
                                     kBy, clock_, rng_));
  CreatedToken t2 = Must(CreateToken(*store_, {.owner = "ops"}, {.user = "admin", .is_admin = true},
                                     kBy, clock_, rng_));
  UpdatedUser updated =
      Must(UpdateUser(*store_, "ops", {.password = "another-password-1", .revoke_tokens = true},
                      kBy, clock_, rng_));
  std::vector<std::string> ids = {t1.record.id, t2.record.id};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(updated.tokens_revoked, ids);
  EXPECT_TRUE(Must(store_->ListTokens("ops")).empty());
  EXPECT_TRUE(VerifyPassword("another-password-1", User("ops").password_hash));
  auto details = nlohmann::json::parse(AllAudit(*store_).back().details_json);
  EXPECT_EQ(details["password_changed"], true);
  EXPECT_EQ(details["tokens_revoked"], ids);
}

TEST_F(UsersTest, AFailedAuditWriteLeavesNoChange) {
  MakeUser("ops", "operator");
  MakeUser("second", "admin");
  const std::size_t before = AuditCount();
  FailingAuditStore failing(store_.get());

  auto created = CreateUser(failing, {.name = "new", .role = "reader"}, kBy, clock_, rng_);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kIo);
  EXPECT_EQ(store_->GetUser("new").error().code, ErrorCode::kNotFound);

  auto updated = UpdateUser(failing, "ops", {.role = "admin", .disabled = true}, kBy, clock_, rng_);
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().code, ErrorCode::kIo);
  EXPECT_EQ(User("ops").role, "operator");
  EXPECT_FALSE(User("ops").disabled);

  auto deleted = DeleteUser(failing, "second", kBy, clock_);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(User("second").role, "admin");

  EXPECT_EQ(AuditCount(), before);
}

// Two `serve` instances (two store handles on one SQLite file), each removing a different one
// of the two admins at the same time: exactly one change commits, the other is refused, and one
// enabled admin is left.
TEST_F(UsersTest, LastAdminHoldsAcrossTwoStoreHandles) {
  MakeUser("second", "admin");
  std::unique_ptr<store::Store> a = OpenStore();
  std::unique_ptr<store::Store> b = OpenStore();
  SlowLockStore slow_a(a.get());
  SlowLockStore slow_b(b.get());
  for (int round = 0; round < 3; ++round) {
    std::barrier start(2);
    core::Result<void> demoted;
    core::Result<void> removed;
    std::thread ta([&] {
      start.arrive_and_wait();
      auto r = UpdateUser(slow_a, "admin", {.role = "reader"}, kBy, clock_, rng_);
      demoted = r ? core::Result<void>() : core::Result<void>(r.error());
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      removed = DeleteUser(slow_b, "second", kBy, clock_);
    });
    ta.join();
    tb.join();
    ASSERT_NE(static_cast<bool>(demoted), static_cast<bool>(removed)) << "round " << round;
    const core::Result<void>& refused = demoted ? removed : demoted;
    EXPECT_EQ(refused.error().code, ErrorCode::kConflict) << refused.error().message;
    int active_admins = 0;
    for (const store::User& u : Must(store_->ListUsers())) {
      active_admins += u.role == "admin" && !u.disabled ? 1 : 0;
    }
    ASSERT_EQ(active_admins, 1) << "round " << round;
    // Two admins again for the next round.
    if (demoted) {
      Must(UpdateUser(*store_, "admin", {.role = "admin"}, kBy, clock_, rng_));
    } else {
      MakeUser("second", "admin");
    }
  }
}

}  // namespace
}  // namespace clustertls::authority
