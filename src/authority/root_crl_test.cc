#include "authority/root_crl.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>

#include "authority/crl_publisher.h"
#include "authority/test_cluster_testutil.h"
#include "pki/crl.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;
using std::chrono::days;

class RootCrlTest : public ClusterCaTest {
 protected:
  OpenedRoot Root() { return Must(OpenRootCa(*store_, kTestRootPassphrase), "open root"); }

  // Counts the audit entries with `action`.
  int CountAudit(const std::string& action) {
    int n = 0;
    for (const store::AuditEntry& e : AllAudit(*store_)) {
      n += e.action == action ? 1 : 0;
    }
    return n;
  }
};

TEST_F(RootCrlTest, InitSignsOneValidUntilTheRootExpires) {
  auto loaded = Must(LoadRootCrl(*store_, ca_->root));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->number, 1);
  EXPECT_EQ(loaded->this_update, pki::kTestReferenceTime);
  EXPECT_EQ(loaded->next_update, ca_->root.not_after());
  EXPECT_EQ(loaded->pem.rfind("-----BEGIN X509 CRL-----\n", 0), 0u);
  pki::Crl crl = Must(pki::Crl::Parse(loaded->der));
  EXPECT_EQ(crl.ToDer(), loaded->der);
  EXPECT_EQ(crl.revoked_count(), 0u);
  EXPECT_TRUE(crl.IsSignedBy(ca_->root));
  EXPECT_FALSE(crl.IsSignedBy(ca_->issuing.certificate()));
  // Recorded in init's own audit entry.
  EXPECT_EQ(CountAudit("crl.root.sign"), 0);
  EXPECT_NE(AllAudit(*store_).front().details_json.find("\"root_crl_number\":1"),
            std::string::npos);

  // openssl, as nginx (CRL_CHECK_ALL): with the issuing CA's CRL alone the chain lacks the
  // root's CRL; with both, a good leaf verifies.
  SignedCert leaf = Issue("leaf.example.com");
  auto publisher = Must(CrlPublisher::Create(*ca_, {.store = store_.get(), .clock = &clock_}));
  const std::string root_path = WriteFile("root.pem", ca_->root.ToPem());
  const std::string untrusted = WriteFile("issuing.pem", ca_->issuing.certificate().ToPem());
  const std::string leaf_path = WriteFile("leaf.pem", leaf.certificate_pem);
  const std::string issuing_crl = WriteFile("issuing.crl", publisher->Current()->pem);
  const std::string both = WriteFile("both.crl", publisher->Current()->pem + loaded->pem);
  const std::string at = " -attime " + std::to_string(pki::kTestReferenceTime.time_since_epoch()
                                                          .count() + 60);
  auto verify = [&](const std::string& crls) {
    return pki::RunCommand("openssl verify -crl_check_all" + at + " -CAfile " + root_path +
                           " -untrusted " + untrusted + " -CRLfile " + crls + " " + leaf_path +
                           " 2>&1");
  };
  pki::CommandResult alone = verify(issuing_crl);
  EXPECT_NE(alone.exit_code, 0) << alone.output;
  EXPECT_NE(alone.output.find("unable to get certificate CRL"), std::string::npos) << alone.output;
  pki::CommandResult ok = verify(both);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find(": OK"), std::string::npos) << ok.output;
}

TEST_F(RootCrlTest, ResignIncreasesTheNumberAndIsAudited) {
  OpenedRoot root = Root();
  clock_.Set(pki::kTestReferenceTime + days(10));
  RootCrl crl = Must(SignRootCrl(*store_, root.root, root.key,
                                 {.next_update = clock_.Now() + days(400), .actor = "tester"},
                                 clock_));
  EXPECT_EQ(crl.number, 2);
  EXPECT_EQ(crl.this_update, clock_.Now());
  EXPECT_EQ(crl.next_update, clock_.Now() + days(400));
  auto loaded = Must(LoadRootCrl(*store_, ca_->root));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->der, crl.der);
  EXPECT_EQ(loaded->number, 2);
  EXPECT_EQ(CountAudit("crl.root.sign"), 1);
  EXPECT_EQ(AllAudit(*store_).back().actor, "tester");
  pki::Crl parsed = Must(pki::Crl::Parse(crl.pem));
  EXPECT_EQ(parsed.crl_number(), "2");
}

TEST_F(RootCrlTest, RefusesBadInputAndChangesNothing) {
  OpenedRoot root = Root();
  const std::string before = Must(store_->GetConfig(std::string(kConfigRootCrl)));
  auto past = SignRootCrl(*store_, root.root, root.key, {.next_update = clock_.Now()}, clock_);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(past.error().message.find("nextUpdate"), std::string::npos);
  auto beyond = SignRootCrl(*store_, root.root, root.key,
                            {.next_update = root.root.not_after() + days(1)}, clock_);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(beyond.error().message.find("notAfter"), std::string::npos);
  auto wrong_key = SignRootCrl(*store_, root.root, ca_->issuing.key(), {}, clock_);
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, ErrorCode::kKeyMismatch);
  EXPECT_EQ(Must(store_->GetConfig(std::string(kConfigRootCrl))), before);
  EXPECT_EQ(CountAudit("crl.root.sign"), 0);

  auto wrong = OpenRootCa(*store_, "not the passphrase");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_EQ(wrong.error().message.find("not the passphrase"), std::string::npos);
}

TEST_F(RootCrlTest, LoadRefusesAStoredValueNotSignedByTheRoot) {
  // A CRL signed by the issuing CA in the root CRL's place (a tampered store).
  auto publisher = Must(CrlPublisher::Create(*ca_, {.store = store_.get(), .clock = &clock_}));
  Must(store_->SetConfig(std::string(kConfigRootCrl), publisher->Current()->pem));
  auto forged = LoadRootCrl(*store_, ca_->root);
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code, ErrorCode::kVerifyFailed);
  EXPECT_NE(forged.error().message.find(kConfigRootCrl), std::string::npos);
  Must(store_->SetConfig(std::string(kConfigRootCrl), "garbage"));
  auto garbage = LoadRootCrl(*store_, ca_->root);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::kParse);
}

TEST_F(RootCrlTest, CacheReloadsChangesAndKeepsTheLastGoodOne) {
  auto cache = Must(RootCrlCache::Create(store_.get(), ca_->root));
  std::shared_ptr<const RootCrl> first = cache->Current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->number, 1);
  EXPECT_FALSE(Must(cache->Reload()));  // unchanged
  EXPECT_EQ(cache->Current(), first);

  // Re-signed through another connection (`clustertls crl sign-root` while serve runs).
  auto other = OpenStore();
  OpenedRoot root = Root();
  Must(SignRootCrl(*other, root.root, root.key, {}, clock_));
  EXPECT_TRUE(Must(cache->Reload()));
  EXPECT_EQ(cache->Current()->number, 2);

  // A bad stored value: an error, and the last good CRL stays.
  Must(other->SetConfig(std::string(kConfigRootCrl), "-----BEGIN X509 CRL-----\nAAAA\n"));
  auto bad = cache->Reload();
  ASSERT_FALSE(bad);
  EXPECT_EQ(cache->Current()->number, 2);
}

TEST_F(RootCrlTest, NoStoredCrlIsNotAnError) {
  // A cluster initialised before root CRLs existed: no config value (removed with SQL).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  const std::string sql =
      "DELETE FROM config WHERE key = '" + std::string(kConfigRootCrl) + "'";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
  auto none = LoadRootCrl(*store_, ca_->root);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());
  auto cache = Must(RootCrlCache::Create(store_.get(), ca_->root));
  EXPECT_EQ(cache->Current(), nullptr);
  EXPECT_FALSE(Must(cache->Reload()));
  // `clustertls crl sign-root` then makes one, and the cache picks it up.
  OpenedRoot root = Root();
  Must(SignRootCrl(*store_, root.root, root.key, {}, clock_));
  EXPECT_TRUE(Must(cache->Reload()));
  ASSERT_NE(cache->Current(), nullptr);
  EXPECT_EQ(cache->Current()->number, 2);  // the counter survived: numbers never repeat
}

TEST_F(RootCrlTest, CacheRefusesANullStore) {
  auto cache = RootCrlCache::Create(nullptr, ca_->root);
  ASSERT_FALSE(cache);
  EXPECT_EQ(cache.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace clustertls::authority
