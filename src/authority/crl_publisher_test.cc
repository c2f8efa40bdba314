#include "authority/crl_publisher.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authority/revocation.h"
#include "authority/test_cluster_testutil.h"
#include "pki/crl.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;

class CrlPublisherTest : public ClusterCaTest {
 protected:
  std::unique_ptr<CrlPublisher> MakePublisher(store::Store* store = nullptr) {
    return Must(CrlPublisher::Create(
                    *ca_, {.store = store != nullptr ? store : store_.get(), .clock = &clock_}),
                "CRL publisher");
  }
  std::unique_ptr<Revocation> MakeRevocation(CrlPublisher* crl, store::Store* store = nullptr) {
    return Must(
        Revocation::Create(
            *ca_, {.store = store != nullptr ? store : store_.get(), .clock = &clock_, .crl = crl}),
        "revocation");
  }

  // `openssl crl -text` of `crl`'s PEM (and its signature checked against the issuing CA).
  pki::CommandResult OpensslCrlText(const PublishedCrl& crl) {
    const std::string crl_path = WriteFile("crl.pem", crl.pem);
    const std::string ca_path = WriteFile("ca.pem", ca_->chain_pem);
    return pki::RunCommand("openssl crl -in " + crl_path + " -CAfile " + ca_path +
                           " -noout -text 2>&1");
  }

  // The serials `openssl crl -text` lists.
  std::set<std::string> ListedSerials(const PublishedCrl& crl) {
    pki::CommandResult r = OpensslCrlText(crl);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::set<std::string> serials;
    const std::string marker = "Serial Number: ";
    for (std::size_t at = r.output.find(marker); at != std::string::npos;
         at = r.output.find(marker, at + 1)) {
      std::size_t begin = at + marker.size();
      serials.insert(r.output.substr(begin, r.output.find('\n', begin) - begin));
    }
    return serials;
  }
};

TEST_F(CrlPublisherTest, FirstCrlIsSignedAndCurrent) {
  auto publisher = MakePublisher();
  std::shared_ptr<const PublishedCrl> crl = publisher->Current();
  ASSERT_NE(crl, nullptr);
  EXPECT_GE(crl->number, 1);
  EXPECT_EQ(crl->entries, 0u);
  EXPECT_EQ(crl->this_update, clock_.Now());
  EXPECT_EQ(crl->next_update, clock_.Now() + days(7));
  EXPECT_EQ(crl->revocation_counter, Must(store_->PeekCounter(store::kRevocationCounter)));
  EXPECT_EQ(crl->pem.rfind("-----BEGIN X509 CRL-----\n", 0), 0u) << crl->pem;
  // The PEM holds exactly the DER.
  pki::Crl parsed = Must(pki::Crl::Parse(crl->pem));
  EXPECT_EQ(parsed.ToDer(), crl->der);
  EXPECT_EQ(Must(pki::Crl::Parse(crl->der)).ToDer(), crl->der);

  pki::CommandResult text = OpensslCrlText(*crl);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("verify OK"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Version 2"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("X509v3 CRL Number: \n                " + std::to_string(crl->number) +
                             "\n"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("Last Update: Jan  1 00:00:00 2026 GMT"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("Next Update: Jan  8 00:00:00 2026 GMT"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("No Revoked Certificates."), std::string::npos) << text.output;
}

TEST_F(CrlPublisherTest, RefusesBadOptions) {
  auto no_store = CrlPublisher::Create(*ca_, {.clock = &clock_});
  ASSERT_FALSE(no_store);
  EXPECT_EQ(no_store.error().code, ErrorCode::kInvalidArgument);
  auto no_clock = CrlPublisher::Create(*ca_, {.store = store_.get()});
  ASSERT_FALSE(no_clock);
  EXPECT_EQ(no_clock.error().code, ErrorCode::kInvalidArgument);
  auto short_validity = CrlPublisher::Create(
      *ca_, {.store = store_.get(), .clock = &clock_, .validity = std::chrono::minutes(59)});
  ASSERT_FALSE(short_validity);
  EXPECT_EQ(short_validity.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(short_validity.error().message.find("validity"), std::string::npos);
  auto hour = CrlPublisher::Create(
      *ca_, {.store = store_.get(), .clock = &clock_, .validity = std::chrono::hours(1)});
  ASSERT_TRUE(hour) << hour.error().message;
  EXPECT_EQ((*hour)->Current()->next_update, clock_.Now() + hours(1));
}

TEST_F(CrlPublisherTest, NumbersIncreaseAcrossRegenerationsAndRestarts) {
  std::int64_t last = 0;
  auto publisher = MakePublisher();
  last = publisher->Current()->number;
  for (int i = 0; i < 3; ++i) {
    auto crl = Must(publisher->Regenerate());
    EXPECT_GT(crl->number, last);
    EXPECT_EQ(publisher->Current(), crl);
    last = crl->number;
  }
  // Restart: a new publisher on a reopened store continues above the last number.
  publisher.reset();
  store_.reset();
  authority_.reset();
  store_ = OpenStore();
  auto restarted = MakePublisher();
  EXPECT_GT(restarted->Current()->number, last);
  pki::CommandResult text = OpensslCrlText(*restarted->Current());
  EXPECT_NE(text.output.find("X509v3 CRL Number: \n                " +
                             std::to_string(restarted->Current()->number) + "\n"),
            std::string::npos)
      << text.output;
}

TEST_F(CrlPublisherTest, TwoInstancesNeverShareANumber) {
  // Two `serve` instances: two stores (connections) on one database, generating at once.
  auto other_store = OpenStore();
  auto a = MakePublisher();
  auto b = MakePublisher(other_store.get());
  constexpr int kPerInstance = 15;
  std::vector<std::int64_t> numbers_a{a->Current()->number};
  std::vector<std::int64_t> numbers_b{b->Current()->number};
  auto run = [](CrlPublisher* p, std::vector<std::int64_t>* out) {
    for (int i = 0; i < kPerInstance; ++i) {
      auto crl = p->Regenerate();
      ASSERT_TRUE(crl) << crl.error().message;
      out->push_back((*crl)->number);
    }
  };
  std::thread ta(run, a.get(), &numbers_a);
  std::thread tb(run, b.get(), &numbers_b);
  ta.join();
  tb.join();
  ASSERT_EQ(numbers_a.size(), kPerInstance + 1u);
  ASSERT_EQ(numbers_b.size(), kPerInstance + 1u);
  EXPECT_TRUE(std::is_sorted(numbers_a.begin(), numbers_a.end()));
  EXPECT_TRUE(std::is_sorted(numbers_b.begin(), numbers_b.end()));
  std::set<std::int64_t> all(numbers_a.begin(), numbers_a.end());
  all.insert(numbers_b.begin(), numbers_b.end());
  EXPECT_EQ(all.size(), numbers_a.size() + numbers_b.size()) << "a CRL number was used twice";
}

TEST_F(CrlPublisherTest, RevokedCertificateListedUntilItExpires) {
  SignedCert revoked = Issue("gone.example.com", {.dns = {"gone.example.com"}}, 10);
  SignedCert kept = Issue("kept.example.com", {.dns = {"kept.example.com"}}, 10);
  auto publisher = MakePublisher();
  auto revocation = MakeRevocation(publisher.get());
  const std::int64_t before = publisher->Current()->number;

  clock_.Set(pki::kTestReferenceTime + hours(2));
  RevokeOutcome outcome = Must(revocation->Revoke(revoked.serial_hex, "keyCompromise",
                                                  {.actor = "bob", .source = "192.0.2.1"}));
  ASSERT_TRUE(outcome.newly_revoked);
  std::shared_ptr<const PublishedCrl> crl = publisher->Current();
  EXPECT_GT(crl->number, before);
  EXPECT_EQ(crl->entries, 1u);
  EXPECT_EQ(crl->this_update, clock_.Now());
  EXPECT_EQ(ListedSerials(*crl), std::set<std::string>{revoked.serial_hex});
  pki::CommandResult text = OpensslCrlText(*crl);
  EXPECT_NE(text.output.find("Revocation Date: Jan  1 02:00:00 2026 GMT"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("X509v3 CRL Reason Code: \n                Key Compromise"),
            std::string::npos)
      << text.output;

  // Still listed at its last valid second (the half-life refresh at 3.5 days regenerates).
  clock_.Set(revoked.not_after);
  Must(publisher->Regenerate());
  EXPECT_EQ(ListedSerials(*publisher->Current()), std::set<std::string>{revoked.serial_hex});
  // After it expired it drops out; the kept one was never listed.
  clock_.Set(revoked.not_after + seconds(1));
  Must(publisher->Regenerate());
  EXPECT_EQ(publisher->Current()->entries, 0u);
  EXPECT_TRUE(ListedSerials(*publisher->Current()).empty());
  (void)kept;
}

TEST_F(CrlPublisherTest, StreamedEntriesCarryEveryReasonAsItsCode) {
  // Records written straight to the store with every RFC 5280 reason name (any spelling case),
  // "unspecified" and a name this version does not know (both: no reasonCode).
  const std::vector<std::pair<std::string, pki::RevocationReason>> reasons = {
      {"unspecified", pki::RevocationReason::kUnspecified},
      {"keyCompromise", pki::RevocationReason::kKeyCompromise},
      {"cACompromise", pki::RevocationReason::kCaCompromise},
      {"affiliationChanged", pki::RevocationReason::kAffiliationChanged},
      {"superseded", pki::RevocationReason::kSuperseded},
      {"cessationOfOperation", pki::RevocationReason::kCessationOfOperation},
      {"certificateHold", pki::RevocationReason::kCertificateHold},
      {"removeFromCRL", pki::RevocationReason::kRemoveFromCrl},
      {"privilegeWithdrawn", pki::RevocationReason::kPrivilegeWithdrawn},
      {"aACompromise", pki::RevocationReason::kAaCompromise},
      {"SUPERSEDED", pki::RevocationReason::kSuperseded},
      {"stolenByPirates", pki::RevocationReason::kUnspecified},
  };
  const core::TimePoint now = clock_.Now();
  std::vector<store::IssuedCert> records;
  std::map<std::string, std::pair<core::TimePoint, pki::RevocationReason>> expected;
  for (std::size_t i = 0; i < 3 * reasons.size(); ++i) {
    char serial[40];
    // Serials with and without the top bit (a sign octet), short and 17 octets long.
    const char* format = i % 3 == 0 ? "%02zX" : i % 3 == 1 ? "80%030zX" : "7F%030zX";
    std::snprintf(serial, sizeof serial, format, i + 1);
    const auto& [name, code] = reasons[i % reasons.size()];
    store::IssuedCert c{.serial_hex = serial,
                        .issuer_id = ca_->issuer_id,
                        .profile = "server",
                        .subject_cn = "r" + std::to_string(i),
                        .sans_json = "[]",
                        .not_before = now - days(1),
                        .not_after = now + days(30),
                        .der = {0x30, 0x00},
                        .issued_at = now - days(1),
                        .issued_by = "test",
                        .revoked_at = now - seconds(3600 * 24 * static_cast<long>(i) + 17 * i),
                        .revocation_reason = name};
    expected[serial] = {*c.revoked_at, code};
    records.push_back(std::move(c));
  }
  ASSERT_TRUE(store_->RecordIssued(records));
  auto publisher = MakePublisher();
  std::shared_ptr<const PublishedCrl> crl = publisher->Current();
  ASSERT_EQ(crl->entries, records.size());
  pki::Crl parsed = Must(pki::Crl::Parse(crl->der));
  ASSERT_TRUE(parsed.IsSignedBy(ca_->issuing.certificate()));
  std::vector<pki::CrlEntry> listed = Must(parsed.entries());
  ASSERT_EQ(listed.size(), records.size());
  for (const pki::CrlEntry& e : listed) {
    SCOPED_TRACE(e.serial_hex);
    ASSERT_EQ(expected.count(e.serial_hex), 1u);
    EXPECT_EQ(e.revoked_at, expected[e.serial_hex].first);
    EXPECT_EQ(e.reason, expected[e.serial_hex].second);
  }
  // The same CRL as BuildCrl makes from ListRevoked's materialised list (the former path):
  // byte for byte, once the CRL number and the signature are the same.
  std::vector<pki::CrlEntry> from_list;
  for (const store::RevokedEntry& r : Must(store_->ListRevoked(ca_->issuer_id, now))) {
    auto reason = pki::ParseRevocationReason(r.reason);
    from_list.push_back({.serial_hex = r.serial_hex,
                         .revoked_at = r.revoked_at,
                         .reason = reason ? *reason : pki::RevocationReason::kUnspecified});
  }
  std::string rebuilt =
      Must(pki::BuildCrl(ca_->issuing.certificate(), ca_->issuing.key(), from_list,
                         {.this_update = crl->this_update,
                          .next_update = crl->next_update,
                          .crl_number = crl->number}));
  // ECDSA signatures differ per signing: compare the TBSCertList.
  auto tbs = [](const std::string& der) {
    pki::Crl c = Must(pki::Crl::Parse(der));
    unsigned char* p = nullptr;
    int n = i2d_re_X509_CRL_tbs(c.get(), &p);
    std::string out(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    OPENSSL_free(p);
    return out;
  };
  EXPECT_EQ(tbs(crl->der), tbs(rebuilt));
}

TEST_F(CrlPublisherTest, RefreshRegeneratesAtHalfLifeOnly) {
  auto publisher = MakePublisher();
  const std::int64_t first = publisher->Current()->number;
  EXPECT_FALSE(Must(publisher->Refresh()));
  clock_.Set(pki::kTestReferenceTime + hours(84) - seconds(1));  // half of 7 days, minus 1 s
  EXPECT_FALSE(Must(publisher->Refresh()));
  EXPECT_EQ(publisher->Current()->number, first);
  clock_.Set(pki::kTestReferenceTime + hours(84));
  EXPECT_TRUE(Must(publisher->Refresh()));
  std::shared_ptr<const PublishedCrl> crl = publisher->Current();
  EXPECT_GT(crl->number, first);
  EXPECT_EQ(crl->this_update, clock_.Now());
  EXPECT_EQ(crl->next_update, clock_.Now() + days(7));
  EXPECT_FALSE(Must(publisher->Refresh()));
  EXPECT_EQ(publisher->Current(), crl);
}

TEST_F(CrlPublisherTest, RefreshSeesAnotherInstancesRevocation) {
  SignedCert leaf = Issue("node7.example.com", {.dns = {"node7.example.com"}});
  auto other_store = OpenStore();
  auto publisher = MakePublisher();
  // The other instance revokes through its own store and its own publisher.
  auto other_publisher = MakePublisher(other_store.get());
  auto other = MakeRevocation(other_publisher.get(), other_store.get());
  Must(other->Revoke(leaf.serial_hex, "superseded", {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_EQ(publisher->Current()->entries, 0u);

  EXPECT_TRUE(Must(publisher->Refresh()));
  std::shared_ptr<const PublishedCrl> crl = publisher->Current();
  EXPECT_EQ(crl->entries, 1u);
  EXPECT_EQ(ListedSerials(*crl), std::set<std::string>{leaf.serial_hex});
  EXPECT_GT(crl->number, other_publisher->Current()->number);
  EXPECT_FALSE(Must(publisher->Refresh()));
}

TEST_F(CrlPublisherTest, OpensslVerifyRefusesTheRevokedLeafOnly) {
  SignedCert revoked = Issue("bad.example.com", {.dns = {"bad.example.com"}});
  SignedCert good = Issue("good.example.com", {.dns = {"good.example.com"}});
  auto publisher = MakePublisher();
  auto revocation = MakeRevocation(publisher.get());
  Must(revocation->Revoke(revoked.serial_hex, "keyCompromise",
                          {.actor = "bob", .source = "192.0.2.1"}));

  const std::string chain = WriteFile("chain.pem", ca_->chain_pem);
  const std::string crl = WriteFile("crl.pem", publisher->Current()->pem);
  auto verify = [&](const SignedCert& leaf) {
    const std::string path = WriteFile("leaf.pem", leaf.certificate_pem);
    return pki::RunCommand(
        "openssl verify -attime " +
        std::to_string((pki::kTestReferenceTime + hours(1)).time_since_epoch().count()) +
        " -crl_check -CAfile " + chain + " -CRLfile " + crl + " " + path + " 2>&1");
  };
  pki::CommandResult refused = verify(revoked);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("certificate revoked"), std::string::npos) << refused.output;
  pki::CommandResult accepted = verify(good);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_NE(accepted.output.find(": OK"), std::string::npos) << accepted.output;

  // The DER served at /v1/crl says the same.
  const std::string der_path = WriteFile("crl.der", publisher->Current()->der);
  pki::CommandResult der =
      pki::RunCommand("openssl crl -inform DER -in " + der_path + " -noout -text 2>&1");
  EXPECT_EQ(der.exit_code, 0) << der.output;
  EXPECT_NE(der.output.find("Serial Number: " + revoked.serial_hex), std::string::npos)
      << der.output;
}

// Holds SQLite's write lock on `path` through a separate connection until destroyed.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(CrlPublisherTest, FailedGenerationKeepsThePreviousAndRefreshRetries) {
  auto impatient = OpenStore({.busy_timeout_ms = 100});
  auto publisher = MakePublisher(impatient.get());
  std::shared_ptr<const PublishedCrl> before = publisher->Current();
  {
    WriteLock lock(db_path_);  // the CRL number cannot be taken
    auto failed = publisher->Regenerate();
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("CRL"), std::string::npos) << failed.error().message;
    EXPECT_EQ(publisher->Current(), before);
  }
  // Nothing was revoked and half-life is far: Refresh retries because the last attempt failed.
  auto refreshed = publisher->Refresh();
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  EXPECT_TRUE(*refreshed);
  EXPECT_GT(publisher->Current()->number, before->number);
  EXPECT_FALSE(Must(publisher->Refresh()));
}

// Counts CRL numbers taken; the first ListRevoked call waits until released.
class GatedStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  core::Result<std::vector<store::RevokedEntry>> ListRevoked(const std::string& issuer_id,
                                                             core::TimePoint now) override {
    if (!gate_passed_.exchange(true)) {
      entered_.store(true);
      while (!released_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    return inner_->ListRevoked(issuer_id, now);
  }
  core::Result<std::int64_t> NextCounter(const std::string& name) override {
    numbers_taken_.fetch_add(1);
    return inner_->NextCounter(name);
  }
  void Arm() { gate_passed_.store(false); }
  std::atomic<bool> gate_passed_{true};
  std::atomic<bool> entered_{false};
  std::atomic<bool> released_{false};
  std::atomic<int> numbers_taken_{0};
};

TEST_F(CrlPublisherTest, ConcurrentRegenerationsCoalesce) {
  GatedStore gated(store_.get());
  auto publisher = MakePublisher(&gated);
  gated.numbers_taken_.store(0);
  gated.Arm();
  std::int64_t first_number = 0;
  std::thread first([&] { first_number = Must(publisher->Regenerate())->number; });
  while (!gated.entered_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Three more callers arrive while the first generation runs (e.g. three revocations).
  std::vector<std::int64_t> numbers(3);
  std::vector<std::thread> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.emplace_back([&, i] { numbers[i] = Must(publisher->Regenerate())->number; });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let them queue on the lock
  gated.released_.store(true);
  first.join();
  for (auto& t : waiting) {
    t.join();
  }
  // The first, then one generation for all three (it started after each of them began).
  EXPECT_EQ(gated.numbers_taken_.load(), 2);
  for (std::int64_t n : numbers) {
    EXPECT_GT(n, first_number);
    EXPECT_EQ(n, publisher->Current()->number);
  }
  // Alone, every call generates.
  Must(publisher->Regenerate());
  EXPECT_EQ(gated.numbers_taken_.load(), 3);
}

TEST_F(CrlPublisherTest, ReadersAlwaysSeeACompleteCrl) {
  auto publisher = MakePublisher();
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    std::int64_t last = 0;
    while (!stop.load()) {
      std::shared_ptr<const PublishedCrl> crl = publisher->Current();
      ASSERT_NE(crl, nullptr);
      ASSERT_FALSE(crl->der.empty());
      ASSERT_GE(crl->number, last);
      last = crl->number;
      reads.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(publisher->Regenerate());
      }
    });
  }
  for (auto& w : writers) {
    w.join();
  }
  stop.store(true);
  reader.join();
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace clustertls::authority
