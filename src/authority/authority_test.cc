#include "authority/authority.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "authority/cluster.h"
#include "authority/secrets.h"
#include "ossl/bio.h"
#include "ossl/csprng.h"
#include "pki/csr.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ctls-authority-test.XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

// The CSPRNG, or (while `constant` is set) the same bytes every time: two certificates issued
// in constant mode get the same serial, which is how the tests make a serial collide.
class SwitchableRng final : public core::Rng {
 public:
  core::Result<void> Fill(std::span<std::uint8_t> out) override {
    if (constant.load()) {
      std::fill(out.begin(), out.end(), std::uint8_t{0x5a});
      return {};
    }
    return real_.Fill(out);
  }
  std::atomic<bool> constant{false};

 private:
  ossl::Csprng real_;
};

std::string CsrPem(const std::string& cn, const pki::SubjectAltNames& sans = {}) {
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  return Must(pki::Csr::Create(key, {.common_name = cn, .sans = sans})).ToPem();
}

std::string ToPem(std::string_view label, const std::string& der) {
  auto bio = ossl::WriteBio();
  std::string name(label);
  EXPECT_GT(
      PEM_write_bio(bio.get(), name.c_str(), "", reinterpret_cast<const unsigned char*>(der.data()),
                    static_cast<long>(der.size())),
      0);
  return ossl::BioContents(bio.get());
}

// Runs one SQL statement on the store's database file through a separate connection.
void ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::vector<store::AuditEntry> AllAudit(store::Store& store) {
  std::vector<store::AuditEntry> all;
  while (true) {
    auto page = Must(store.ListAudit(all.empty() ? 0 : all.back().seq, 500));
    if (page.empty()) {
      return all;
    }
    all.insert(all.end(), page.begin(), page.end());
  }
}

// The audit entries `init` writes: "cluster.init", then "cert.sign" for each named certificate.
constexpr std::size_t kInitAudit = 6;

// Every record but the named certificates `init` recorded: what the Authority under test issued.
std::vector<store::IssuedCert> IssuedSinceInit(store::Store& store) {
  std::vector<store::IssuedCert> all;
  store::PageRequest page{.limit = 1000};
  while (true) {
    store::CertPage p = Must(store.ListIssued({}, page));
    for (store::IssuedCert& c : p.certs) {
      if (c.issued_by != "init") {
        all.push_back(std::move(c));
      }
    }
    if (p.next_cursor.empty()) {
      return all;
    }
    page.cursor = p.next_cursor;
  }
}

// Every test starts from a copy of one initialised cluster (init costs a scrypt hash and a
// PBKDF2-encrypted root key: made once).
class AuthorityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    template_dir_ = new std::string(MakeTempDir());
    ossl::Csprng csprng;
    core::FixedClock clock(pki::kTestReferenceTime);
    auto store = Must(store::Store::Open(*template_dir_ + "/clustertls.db"), "open store");
    template_sealing_ = new SealingKey(Must(SealingKey::Generate(csprng)));
    template_init_ = new InitResult(Must(InitializeCluster(
        *store, *template_sealing_, {.fqdn = "mycluster.example.com"}, clock, csprng)));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*template_dir_);
    delete template_dir_;
    delete template_sealing_;
    delete template_init_;
  }

  void SetUp() override {
    dir_ = MakeTempDir();
    db_path_ = dir_ + "/clustertls.db";
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = *template_dir_ + "/clustertls.db" + suffix;
      if (std::filesystem::exists(from)) {
        std::filesystem::copy_file(from, db_path_ + suffix);
      }
    }
    store_ = Must(store::Store::Open(db_path_), "open store");
    sealing_ = *template_sealing_;
    init_ = *template_init_;
    authority_ = MakeAuthority({});
  }
  void TearDown() override {
    authority_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Authority> MakeAuthority(AuthorityOptions options) {
    options.store = store_.get();
    options.clock = &clock_;
    options.rng = &rng_;
    return Must(Authority::Create(Must(LoadClusterCa(*store_, *sealing_)), options), "authority");
  }

  // openssl verify at the reference time, with the returned chain as untrusted intermediates.
  pki::CommandResult OpensslVerify(const SignedCert& signed_cert, const std::string& purpose) {
    WriteFile(dir_ + "/root.pem", init_->root.ToPem());
    WriteFile(dir_ + "/chain.pem", signed_cert.chain_pem);
    WriteFile(dir_ + "/leaf.pem", signed_cert.certificate_pem);
    return pki::RunCommand("openssl verify -attime " +
                           std::to_string(pki::kTestReferenceTime.time_since_epoch().count()) +
                           " -purpose " + purpose + " -CAfile " + dir_ + "/root.pem -untrusted " +
                           dir_ + "/chain.pem " + dir_ + "/leaf.pem 2>&1");
  }

  std::string dir_;
  std::string db_path_;
  std::unique_ptr<store::Store> store_;
  core::FixedClock clock_{pki::kTestReferenceTime};
  SwitchableRng rng_;
  std::optional<SealingKey> sealing_;
  std::optional<InitResult> init_;
  std::unique_ptr<Authority> authority_;

  static std::string* template_dir_;
  static SealingKey* template_sealing_;
  static InitResult* template_init_;
};

std::string* AuthorityTest::template_dir_ = nullptr;
SealingKey* AuthorityTest::template_sealing_ = nullptr;
InitResult* AuthorityTest::template_init_ = nullptr;

TEST_F(AuthorityTest, SignsRecordsAndAudits) {
  const std::string csr = CsrPem(
      "web1.example.com", {.dns = {"web1.example.com", "www.example.com"}, .ips = {"10.0.0.1"}});
  SignedCert s = Must(authority_->Sign(
      {.csr_pem = csr, .profile = "server", .days = 30, .actor = "alice", .source = "192.0.2.7"}));

  pki::Certificate leaf = Must(pki::Certificate::FromPem(s.certificate_pem));
  EXPECT_EQ(leaf.common_name(), "web1.example.com");
  EXPECT_EQ(leaf.serial_hex(), s.serial_hex);
  EXPECT_EQ(s.not_after, leaf.not_after());
  EXPECT_EQ(leaf.not_after() - leaf.not_before(), std::chrono::days(30) + pki::kBackdate);
  EXPECT_TRUE(leaf.IsSignedBy(init_->issuing));
  EXPECT_EQ(s.chain_pem, init_->issuing.ToPem() + init_->root.ToPem());
  EXPECT_EQ(s.serial_hex.find_first_of("abcdef"), std::string::npos);

  pki::CommandResult v = OpensslVerify(s, "sslserver");
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find(": OK"), std::string::npos) << v.output;

  // The record committed before Sign returned.
  store::IssuedCert rec = Must(store_->GetIssued(s.serial_hex));
  EXPECT_EQ(rec.serial_hex, s.serial_hex);
  EXPECT_EQ(rec.issuer_id, "issuing");
  EXPECT_EQ(rec.profile, "server");
  EXPECT_EQ(rec.subject_cn, "web1.example.com");
  EXPECT_EQ(
      nlohmann::json::parse(rec.sans_json),
      nlohmann::json::parse(R"(["DNS:web1.example.com","DNS:www.example.com","IP:10.0.0.1"])"));
  EXPECT_EQ(rec.not_before, leaf.not_before());
  EXPECT_EQ(rec.not_after, leaf.not_after());
  EXPECT_EQ(std::string(rec.der.begin(), rec.der.end()), leaf.ToDer());
  EXPECT_EQ(rec.issued_at, pki::kTestReferenceTime);
  EXPECT_EQ(rec.issued_by, "alice");
  EXPECT_FALSE(rec.revoked_at.has_value());

  std::vector<store::AuditEntry> audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), kInitAudit + 1);  // init's, then this cert.sign
  const store::AuditEntry& e = audit.back();
  EXPECT_EQ(e.action, "cert.sign");
  EXPECT_EQ(e.target, s.serial_hex);
  EXPECT_EQ(e.actor, "alice");
  EXPECT_EQ(e.source, "192.0.2.7");
  auto details = nlohmann::json::parse(e.details_json);
  EXPECT_EQ(details["profile"], "server");
  EXPECT_EQ(details["cn"], "web1.example.com");
  EXPECT_EQ(details["not_after"], core::FormatTime(leaf.not_after()));
  AuditVerifier verifier;
  for (const auto& entry : audit) {
    verifier.Add(entry);
  }
  EXPECT_TRUE(verifier.result().ok) << verifier.result().problem;

  AuthorityStats stats = authority_->stats();
  EXPECT_EQ(stats.issued, 1u);
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_EQ(stats.batches, 1u);
  EXPECT_EQ(stats.largest_batch, 1u);
}

TEST_F(AuthorityTest, ProfilesDefaultDaysAndLegacyPemLabel) {
  // Client profile, default days, and the "NEW CERTIFICATE REQUEST" label of older tools.
  std::string csr = CsrPem("agent-7");
  for (const char* tag : {"-----BEGIN ", "-----END "}) {
    std::string from = std::string(tag) + "CERTIFICATE REQUEST";
    csr.replace(csr.find(from), from.size(), std::string(tag) + "NEW CERTIFICATE REQUEST");
  }
  SignedCert s = Must(authority_->Sign({.csr_pem = csr, .profile = "client", .actor = "bob"}));
  pki::Certificate leaf = Must(pki::Certificate::FromPem(s.certificate_pem));
  EXPECT_EQ(leaf.not_after() - leaf.not_before(), std::chrono::days(365) + pki::kBackdate);
  auto ekus = leaf.extended_key_usages();
  EXPECT_EQ(ekus, std::vector<std::string>{"clientAuth"});
  pki::CommandResult v = OpensslVerify(s, "sslclient");
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_EQ(Must(store_->GetIssued(s.serial_hex)).profile, "client");

  SignedCert peer = Must(
      authority_->Sign({.csr_pem = CsrPem("node1.example.com"), .profile = "peer", .days = 825}));
  EXPECT_EQ(Must(store_->GetIssued(peer.serial_hex)).profile, "peer");
}

TEST_F(AuthorityTest, CrlAndOcspUrlsFromOptionsAreInTheCertificate) {
  authority_ = MakeAuthority({.crl_urls = {"http://ca.example.com/issuing.crl"},
                              .ocsp_urls = {"http://ca.example.com/ocsp"}});
  SignedCert s = Must(authority_->Sign({.csr_pem = CsrPem("db.example.com")}));
  WriteFile(dir_ + "/leaf.pem", s.certificate_pem);
  pki::CommandResult text =
      pki::RunCommand("openssl x509 -in " + dir_ + "/leaf.pem -noout -text 2>&1");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("URI:http://ca.example.com/issuing.crl"), std::string::npos);
  EXPECT_NE(text.output.find("OCSP - URI:http://ca.example.com/ocsp"), std::string::npos);
}

TEST_F(AuthorityTest, BadRequestsAreRefusedInlineAndNothingIsRecorded) {
  const std::string good = CsrPem("ok.example.com");

  // A CSR whose signature does not verify: flip a bit of the signature's last byte.
  auto blocks = Must(ossl::ReadPemBlocks(good, {"CERTIFICATE REQUEST"}, 1));
  std::string der = blocks.at(0).der;
  der.back() = static_cast<char>(der.back() ^ 0x01);
  const std::string bad_signature = ToPem("CERTIFICATE REQUEST", der);

  // CSRs our own builder refuses to make, made by the openssl CLI.
  pki::CommandResult weak = pki::RunCommand(
      "openssl req -new -newkey rsa:1024 -nodes -keyout /dev/null -subj /CN=weak.example.com "
      "2>/dev/null");
  ASSERT_EQ(weak.exit_code, 0) << weak.output;
  pki::CommandResult bad_name = pki::RunCommand(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null "
      "-subj '/CN=bad name!.example.com' 2>/dev/null");
  ASSERT_EQ(bad_name.exit_code, 0) << bad_name.output;

  struct Case {
    SignRequest request;
    ErrorCode code;
    std::string field;  // the message names it
  };
  std::vector<Case> cases = {
      {{.csr_pem = good, .profile = "root-ca"}, ErrorCode::kInvalidArgument, "profile"},
      {{.csr_pem = good, .profile = "intermediate-ca"}, ErrorCode::kInvalidArgument, "profile"},
      {{.csr_pem = good, .profile = ""}, ErrorCode::kInvalidArgument, "profile"},
      {{.csr_pem = good, .days = -1}, ErrorCode::kInvalidArgument, "days"},
      {{.csr_pem = good, .days = 826}, ErrorCode::kInvalidArgument, "days"},
      {{.csr_pem = ""}, ErrorCode::kParse, "csr"},
      {{.csr_pem = "hello"}, ErrorCode::kParse, "csr"},
      {{.csr_pem = init_->root.ToPem()}, ErrorCode::kParse, "csr"},
      {{.csr_pem =
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n"},
       ErrorCode::kParse,
       "csr"},
      {{.csr_pem = ToPem("CERTIFICATE REQUEST", "garbage bytes")}, ErrorCode::kParse, ""},
      {{.csr_pem = good + good}, ErrorCode::kParse, "csr"},
      {{.csr_pem = bad_signature}, ErrorCode::kBadSignature, "signature"},
      {{.csr_pem = weak.output}, ErrorCode::kWeakKey, ""},
      {{.csr_pem = bad_name.output}, ErrorCode::kInvalidName, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request.csr_pem.substr(0, 80) + " profile=" + c.request.profile);
    bool ran = false;
    core::Result<SignedCert> result = core::Fail(ErrorCode::kInternal, "not run");
    authority_->SignAsync(c.request, [&](core::Result<SignedCert> r) {
      ran = true;
      result = std::move(r);
    });
    ASSERT_TRUE(ran) << "a refused request completes inline";
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, c.code) << result.error().message;
    EXPECT_NE(result.error().message.find(c.field), std::string::npos) << result.error().message;
    EXPECT_EQ(result.error().message.find('\n'), std::string::npos);
  }
  EXPECT_TRUE(IssuedSinceInit(*store_).empty());
  EXPECT_EQ(AllAudit(*store_).size(), kInitAudit);
  AuthorityStats stats = authority_->stats();
  EXPECT_EQ(stats.refused, cases.size());
  EXPECT_EQ(stats.issued, 0u);
  EXPECT_EQ(stats.batches, 0u);
}

TEST_F(AuthorityTest, ConcurrentSignsAreGroupCommitted) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::vector<std::string> csrs;
  for (int t = 0; t < kThreads; ++t) {
    csrs.push_back(CsrPem("node" + std::to_string(t) + ".example.com"));
  }
  std::mutex mu;
  std::vector<std::string> serials;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = authority_->Sign({.csr_pem = csrs[t], .actor = "t" + std::to_string(t)});
        std::lock_guard lock(mu);
        if (r) {
          serials.push_back(r->serial_hex);
        } else {
          failures.push_back(r.error().message);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  ASSERT_TRUE(failures.empty()) << failures.front();
  const std::set<std::string> unique(serials.begin(), serials.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));

  std::vector<store::IssuedCert> recorded = IssuedSinceInit(*store_);
  std::set<std::string> recorded_serials;
  for (const auto& c : recorded) {
    recorded_serials.insert(c.serial_hex);
  }
  EXPECT_EQ(recorded_serials, unique);

  AuthorityStats stats = authority_->stats();
  EXPECT_EQ(stats.issued, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.record_failures, 0u);
  EXPECT_LT(stats.batches, stats.issued) << "no two records shared a transaction";
  EXPECT_GT(stats.largest_batch, 1u);
  std::cout << "[          ] " << stats.issued << " certificates in " << stats.batches
            << " transactions (largest " << stats.largest_batch << ")\n";

  std::vector<store::AuditEntry> audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), kInitAudit + kThreads * kPerThread);
  AuditVerifier verifier;
  std::set<std::string> audited;
  for (const auto& e : audit) {
    verifier.Add(e);
    if (e.action == "cert.sign" && e.actor != "init") {
      audited.insert(e.target);
    }
  }
  EXPECT_TRUE(verifier.result().ok) << verifier.result().problem;
  EXPECT_EQ(verifier.result().entries, static_cast<std::int64_t>(audit.size()));
  EXPECT_EQ(audited, unique);
}

TEST_F(AuthorityTest, DestructorRecordsEverythingQueued) {
  constexpr int kCount = 40;
  const std::string csr = CsrPem("drain.example.com");
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < kCount; ++i) {
    authority_->SignAsync({.csr_pem = csr},
                          [&](core::Result<SignedCert> r) { (r ? ok : failed).fetch_add(1); });
  }
  authority_.reset();
  EXPECT_EQ(ok.load(), kCount);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(IssuedSinceInit(*store_).size(), static_cast<std::size_t>(kCount));
}

TEST_F(AuthorityTest, StoreFailureReturnsNoCertificate) {
  // A real SQLite failure: a trigger, added through another connection, aborts every insert
  // into the issuance table.
  ExecSql(db_path_,
          "CREATE TRIGGER refuse_issue BEFORE INSERT ON issued_certs "
          "BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
  auto r = authority_->Sign({.csr_pem = CsrPem("lost.example.com")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("was not recorded"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("disk says no"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_TRUE(IssuedSinceInit(*store_).empty());
  EXPECT_EQ(AllAudit(*store_).size(), kInitAudit);
  EXPECT_EQ(authority_->stats().record_failures, 1u);
  EXPECT_EQ(authority_->stats().issued, 0u);

  // The recorder keeps going once the store works again.
  ExecSql(db_path_, "DROP TRIGGER refuse_issue");
  SignedCert s = Must(authority_->Sign({.csr_pem = CsrPem("back.example.com")}));
  EXPECT_TRUE(store_->GetIssued(s.serial_hex));
  EXPECT_EQ(authority_->stats().issued, 1u);
}

TEST_F(AuthorityTest, AuditFailureReturnsNoCertificate) {
  ExecSql(db_path_,
          "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
          "BEGIN SELECT RAISE(ABORT, 'audit disk says no'); END");
  auto before = store_->ListIssued({}, {});
  ASSERT_TRUE(before);
  auto r = authority_->Sign({.csr_pem = CsrPem("unaudited.example.com")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("audit"), std::string::npos) << r.error().message;
  EXPECT_EQ(AllAudit(*store_).size(), kInitAudit);
  // The record and its audit entry are one transaction: neither was kept.
  auto after = store_->ListIssued({}, {});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->certs.size(), before->certs.size());
  ExecSql(db_path_, "DROP TRIGGER refuse_audit");
}

TEST_F(AuthorityTest, SerialCollisionFailsOnlyTheCollidingRequest) {
  // First certificate in constant mode: its serial is now taken.
  rng_.constant = true;
  SignedCert first = Must(authority_->Sign({.csr_pem = CsrPem("first.example.com")}));
  rng_.constant = false;

  // Queue colliding and fresh requests together; each is issued on this thread, so which ones
  // collide is decided here. Another connection holds SQLite's write lock meanwhile, so the
  // requests pile up and the recorder gets them in one batch (after at most the first).
  const std::string csr = CsrPem("many.example.com");
  constexpr int kCount = 24;
  std::mutex mu;
  std::vector<std::optional<core::Result<SignedCert>>> results(kCount);
  std::atomic<int> done{0};
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  for (int i = 0; i < kCount; ++i) {
    rng_.constant = (i % 3 == 0);
    authority_->SignAsync({.csr_pem = csr}, [&, i](core::Result<SignedCert> r) {
      std::lock_guard lock(mu);
      results[i] = std::move(r);
      done.fetch_add(1);
    });
  }
  rng_.constant = false;
  EXPECT_EQ(sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  for (int waited_ms = 0; done.load() < kCount && waited_ms < 30000; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done.load(), kCount);
  AuthorityStats stats = authority_->stats();
  EXPECT_GE(stats.collision_retries, 1u);
  EXPECT_GT(stats.largest_batch, 1u);
  EXPECT_EQ(stats.record_failures, static_cast<std::uint64_t>((kCount + 2) / 3));
  int ok = 0;
  for (int i = 0; i < kCount; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(results[i].has_value());
    if (i % 3 == 0) {
      ASSERT_FALSE(*results[i]);
      EXPECT_EQ(results[i]->error().code, ErrorCode::kIo);
      EXPECT_NE(results[i]->error().message.find(first.serial_hex), std::string::npos)
          << results[i]->error().message;
    } else {
      ASSERT_TRUE(*results[i]) << results[i]->error().message;
      EXPECT_TRUE(store_->GetIssued((*results[i])->serial_hex));
      ++ok;
    }
  }
  EXPECT_EQ(IssuedSinceInit(*store_).size(), 1u + ok);
  std::vector<store::AuditEntry> audit = AllAudit(*store_);
  EXPECT_EQ(audit.size(), kInitAudit + 1 + ok);
  AuditVerifier verifier;
  for (const auto& e : audit) {
    verifier.Add(e);
  }
  EXPECT_TRUE(verifier.result().ok) << verifier.result().problem;
}

TEST_F(AuthorityTest, CreateChecksOptions) {
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  auto no_store = Authority::Create(ca, {.clock = &clock_, .rng = &rng_});
  ASSERT_FALSE(no_store);
  EXPECT_EQ(no_store.error().code, ErrorCode::kInvalidArgument);
  auto bad_days = Authority::Create(
      ca, {.store = store_.get(), .clock = &clock_, .rng = &rng_, .default_days = 900});
  ASSERT_FALSE(bad_days);
  EXPECT_EQ(bad_days.error().code, ErrorCode::kInvalidArgument);
  auto no_batch = Authority::Create(
      ca, {.store = store_.get(), .clock = &clock_, .rng = &rng_, .max_batch = 0});
  ASSERT_FALSE(no_batch);
  EXPECT_EQ(no_batch.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(authority_->ca().issuer_id, "issuing");
}

}  // namespace
}  // namespace clustertls::authority
