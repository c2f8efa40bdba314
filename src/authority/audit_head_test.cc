#include "authority/audit_head.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authority/secrets.h"
#include "authority/test_cluster_testutil.h"
#include "core/encoding.h"
#include "core/files.h"
#include "ossl/ptr.h"
#include "pki/issuer.h"
#include "pki/signature.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

// What `sqlite3 D/clustertls.db "..."` does: one statement on its own connection.
void ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// OpenSSL alone, with the digest named: a judge independent of pki::VerifyData.
bool OpensslVerifies(const pki::Certificate& signer, const std::string& message,
                     const std::string& signature) {
  auto ctx = ossl::Own(EVP_MD_CTX_new());
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                              signer.public_key().get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

TEST(AuditHeadMessageTest, IsDomainSeparatedAndCoversEveryField) {
  const core::TimePoint t = pki::kTestReferenceTime;
  const std::string hash(64, 'a');
  const std::string m = AuditHeadMessage(45, hash, t);
  using std::string_literals::operator""s;
  EXPECT_EQ(m, "clustertls audit head v1\0seq=45\0hash="s + hash + "\0time="s +
                   std::to_string(t.time_since_epoch().count()));
  // Not DER (which every X.509 structure the CA's keys sign starts with: a SEQUENCE, 0x30).
  EXPECT_NE(m.front(), '\x30');
  EXPECT_NE(AuditHeadMessage(46, hash, t), m);
  EXPECT_NE(AuditHeadMessage(45, std::string(64, 'b'), t), m);
  EXPECT_NE(AuditHeadMessage(45, hash, t + std::chrono::seconds(1)), m);
  EXPECT_NE(AuditHeadMessage(4, "5" + hash.substr(1), t), m);
}

class AuditHeadTest : public ClusterCaTest {
 protected:
  void SetUp() override {
    ClusterCaTest::SetUp();
    file_ = dir_ + "/" + std::string(kAuditHeadFileName);
  }

  AuditHeadKeeperOptions Options() {
    return {.store = store_.get(), .clock = &clock_, .rng = &rng_, .file = file_};
  }

  std::unique_ptr<AuditHeadKeeper> Keeper() {
    return Must(AuditHeadKeeper::Create(*ca_, Options()));
  }

  std::int64_t LastSeq() { return Must(store_->LastAudit())->seq; }

  std::string file_;
};

TEST_F(AuditHeadTest, SignsTheLastEntryWithARecordedAuditSignerAndWritesTheFile) {
  const std::int64_t before = LastSeq();
  auto keeper = Keeper();
  EXPECT_FALSE(keeper->Current().has_value());
  EXPECT_FALSE(core::PathExists(file_)) << "nothing is written before the first Update";

  // The signer certificate: recorded like any issued certificate, with its cert.sign entry.
  store::CertPage signers = Must(store_->ListIssued({.profile = "audit-signer"}, {.limit = 10}));
  ASSERT_EQ(signers.certs.size(), 1u);
  EXPECT_EQ(signers.certs[0].subject_cn, "audit.mycluster.example.com");
  EXPECT_EQ(signers.certs[0].issued_by, "clustertls");
  const store::AuditEntry last = *Must(store_->LastAudit());
  EXPECT_EQ(last.seq, before + 1);
  EXPECT_EQ(last.action, "cert.sign");
  EXPECT_EQ(last.target, signers.certs[0].serial_hex);

  EXPECT_TRUE(Must(keeper->Update()));
  std::optional<AuditHead> head = keeper->Current();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->seq, last.seq);
  EXPECT_EQ(head->hash, last.hash);
  EXPECT_EQ(head->signed_at, clock_.Now());
  ASSERT_EQ(head->chain.size(), 3u);
  const pki::Certificate& signer = head->chain[0];
  EXPECT_EQ(signer.serial_hex(), signers.certs[0].serial_hex);
  EXPECT_TRUE(head->chain[1].Equals(ca_->issuing.certificate()));
  EXPECT_TRUE(head->chain[2].Equals(ca_->root));
  EXPECT_EQ(Must(signer.extended_key_usage_extension()),
            std::optional(std::vector<std::string>{std::string(pki::kAuditSigningEkuOid)}));
  EXPECT_EQ(Must(signer.key_usage_extension()),
            std::optional(std::vector<std::string>{"digitalSignature"}));
  EXPECT_FALSE(signer.is_ca());
  EXPECT_EQ(signer.not_after() - clock_.Now(), std::chrono::days(2));
  EXPECT_TRUE(OpensslVerifies(signer, AuditHeadMessage(head->seq, head->hash, head->signed_at),
                              head->signature));
  EXPECT_TRUE(VerifyAuditHead(*head, {ca_->root}).has_value());

  // The file: 0644, exactly the head, which parses back and verifies.
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  const std::string text = ReadAll(file_);
  EXPECT_EQ(text, AuditHeadToJson(*head));
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["format"], "clustertls-audit-head-v1");
  EXPECT_EQ(j["seq"], last.seq);
  EXPECT_EQ(j["hash"], last.hash);
  EXPECT_EQ(j["time"], core::FormatTime(clock_.Now()));
  EXPECT_EQ(j["signer_fingerprint_sha256"], signer.fingerprint().colon);
  EXPECT_EQ(core::Base64Decode(j["signature"].get<std::string>()), head->signature);
  AuditHead parsed = Must(ParseAuditHead(text));
  EXPECT_EQ(parsed.seq, head->seq);
  EXPECT_EQ(parsed.hash, head->hash);
  EXPECT_EQ(parsed.signed_at, head->signed_at);
  EXPECT_EQ(parsed.signature, head->signature);
  EXPECT_TRUE(VerifyAuditHead(parsed, {ca_->root}).has_value());
  EXPECT_TRUE(VerifyAuditHead(parsed, {ca_->issuing.certificate()}).has_value())
      << "a client that pinned the issuing CA verifies it too";
}

TEST_F(AuditHeadTest, SignsAgainOnlyWhenTheLogGrew) {
  auto keeper = Keeper();
  ASSERT_TRUE(Must(keeper->Update()));
  const std::string first = ReadAll(file_);
  clock_.Set(clock_.Now() + std::chrono::seconds(2));
  EXPECT_FALSE(Must(keeper->Update()));
  EXPECT_EQ(ReadAll(file_), first);

  Issue("node1.example.com");
  Issue("node2.example.com");
  EXPECT_TRUE(Must(keeper->Update()));
  EXPECT_EQ(keeper->Current()->seq, LastSeq());
  EXPECT_EQ(keeper->Current()->signed_at, clock_.Now());
  EXPECT_EQ(Must(ParseAuditHead(ReadAll(file_))).seq, LastSeq());
}

// `serve` restarted on an untouched log: the kept head verifies and is answered until the first
// Update signs the log's new last entry (the new signer's cert.sign).
TEST_F(AuditHeadTest, ARestartOnAnUntouchedLogKeepsTheHead) {
  {
    auto keeper = Keeper();
    ASSERT_TRUE(Must(keeper->Update()));
  }
  const AuditHead kept = Must(ParseAuditHead(ReadAll(file_)));
  auto again = Keeper();
  ASSERT_TRUE(again->Current().has_value());
  EXPECT_EQ(again->Current()->seq, kept.seq);
  EXPECT_TRUE(Must(again->Update()));
  EXPECT_EQ(again->Current()->seq, kept.seq + 1);
}

// Rows deleted while serving: the kept head is not replaced (it is the evidence), Update says
// why each time, and the head answered stays the one signed before.
TEST_F(AuditHeadTest, TruncationWhileServingFreezesTheHead) {
  auto keeper = Keeper();
  for (int i = 0; i < 4; ++i) {
    Issue("n" + std::to_string(i) + ".example.com");
  }
  ASSERT_TRUE(Must(keeper->Update()));
  const AuditHead head = *keeper->Current();
  const std::string text = ReadAll(file_);
  const std::int64_t keep = head.seq - 3;
  ExecSql(db_path_, "DELETE FROM audit_log WHERE seq > " + std::to_string(keep));

  auto r = keeper->Update();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kVerifyFailed);
  EXPECT_EQ(r.error().message, "audit log truncated: " + DescribeAuditHead(head) +
                                   " is past the log's last entry " + std::to_string(keep));
  EXPECT_EQ(ReadAll(file_), text);
  EXPECT_EQ(keeper->Current()->seq, head.seq);

  // More entries appended after the cut reach past the head's seq again, with other hashes:
  // still refused, the same head kept.
  for (int i = 0; i < 5; ++i) {
    Issue("m" + std::to_string(i) + ".example.com");
  }
  ASSERT_GT(LastSeq(), head.seq);
  auto again = keeper->Update();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kVerifyFailed);
  EXPECT_EQ(ReadAll(file_), text);
  EXPECT_EQ(keeper->Current()->hash, head.hash);
}

// Rows deleted while `serve` was stopped: it refuses to start, naming the file and the problem,
// and leaves the file as it is.
TEST_F(AuditHeadTest, ARestartAfterTruncationIsRefused) {
  {
    auto keeper = Keeper();
    Issue("node1.example.com");
    ASSERT_TRUE(Must(keeper->Update()));
  }
  const std::string text = ReadAll(file_);
  const AuditHead head = Must(ParseAuditHead(text));
  ExecSql(db_path_, "DELETE FROM audit_log WHERE seq > " + std::to_string(head.seq - 2));

  auto refused = AuditHeadKeeper::Create(*ca_, Options());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kVerifyFailed);
  EXPECT_EQ(refused.error().message,
            file_ + ": audit log truncated: " + DescribeAuditHead(head) +
                " is past the log's last entry " + std::to_string(head.seq - 2) +
                "; run `clustertls audit verify --data-dir " + dir_ +
                "`, and once the cause is known move " + file_ + " aside to start");
  EXPECT_EQ(ReadAll(file_), text);
  EXPECT_TRUE(Must(store_->ListIssued({.profile = "audit-signer"}, {.limit = 10})).certs.size() ==
              1u)
      << "no signer is issued by a refused start";

  // Moved aside, it starts again.
  std::filesystem::rename(file_, file_ + ".truncated");
  auto started = Keeper();
  EXPECT_FALSE(started->Current().has_value());
  EXPECT_TRUE(Must(started->Update()));
}

TEST_F(AuditHeadTest, ARestartWithAnEditedHeadIsRefusedAsABadSignature) {
  {
    auto keeper = Keeper();
    ASSERT_TRUE(Must(keeper->Update()));
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(ReadAll(file_));
  j["seq"] = j["seq"].get<std::int64_t>() - 1;
  WriteAll(file_, j.dump(2));
  auto refused = AuditHeadKeeper::Create(*ca_, Options());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kBadSignature);
  EXPECT_THAT(refused.error().message,
              StartsWith(file_ + ": the audit head's signature does not verify (signer "));

  WriteAll(file_, "{not json");
  auto unreadable = AuditHeadKeeper::Create(*ca_, Options());
  ASSERT_FALSE(unreadable.has_value());
  EXPECT_EQ(unreadable.error().code, ErrorCode::kParse);
  EXPECT_THAT(unreadable.error().message, StartsWith(file_ + ": audit head: not a JSON object"));
}

// 32 signers appending (group-committed by the Authority) while the keeper signs from two
// threads: every head seen, in memory or in the file (replaced atomically, never torn), names an
// entry already committed, with that entry's hash; never one past the log's end. At the end the
// head is the last entry and the whole log verifies against it.
TEST_F(AuditHeadTest, ThirtyTwoSignersNeverLeaveTheHeadAheadOfTheLog) {
  auto keeper = Keeper();
  std::atomic<bool> done{false};
  std::atomic<int> heads_checked{0};
  std::atomic<int> files_checked{0};
  // Read after the head was taken: the log can only have grown since.
  auto check = [&](const AuditHead& head) {
    std::vector<store::AuditEntry> at = Must(store_->ListAudit(head.seq - 1, 1));
    ASSERT_FALSE(at.empty()) << "head " << head.seq << " is past the log's end";
    EXPECT_EQ(at.front().seq, head.seq);
    EXPECT_EQ(at.front().hash, head.hash) << "head " << head.seq;
  };
  std::vector<std::thread> updaters;
  for (int u = 0; u < 2; ++u) {
    updaters.emplace_back([&] {
      while (!done.load()) {
        auto r = keeper->Update();
        EXPECT_TRUE(r.has_value()) << r.error().message;
        if (std::optional<AuditHead> head = keeper->Current()) {
          check(*head);
          ++heads_checked;
        }
      }
    });
  }
  std::thread reader([&] {
    while (!done.load()) {
      auto text = core::ReadFile(file_, 1024 * 1024);
      if (!text) {
        EXPECT_EQ(text.error().code, ErrorCode::kNotFound) << text.error().message;
        continue;
      }
      auto head = ParseAuditHead(*text);
      ASSERT_TRUE(head.has_value()) << head.error().message << ": " << *text;
      EXPECT_TRUE(VerifyAuditHead(*head, {ca_->root}).has_value());
      check(*head);
      ++files_checked;
    }
  });
  std::vector<std::thread> signers;
  for (int t = 0; t < 32; ++t) {
    signers.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        Issue("s" + std::to_string(t) + "-" + std::to_string(i) + ".example.com");
      }
    });
  }
  for (std::thread& t : signers) {
    t.join();
  }
  done = true;
  for (std::thread& t : updaters) {
    t.join();
  }
  reader.join();
  EXPECT_GT(heads_checked.load(), 0);
  EXPECT_GT(files_checked.load(), 0);

  ASSERT_TRUE(keeper->Update().has_value());
  const AuditHead head = *keeper->Current();
  EXPECT_EQ(head.seq, LastSeq());
  EXPECT_EQ(Must(ParseAuditHead(ReadAll(file_))).seq, head.seq);
  AuditVerifier verifier;
  verifier.ExpectHead(head.seq, head.hash, DescribeAuditHead(head));
  for (const store::AuditEntry& e : AllAudit(*store_)) {
    verifier.Add(e);
  }
  AuditCheck result = verifier.Finish();
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries, head.seq);
}

TEST_F(AuditHeadTest, TheSignerIsRenewedAtHalfLifeAndHeadsVerifyAfterItExpired) {
  auto keeper = Keeper();
  ASSERT_TRUE(Must(keeper->Update()));
  const AuditHead first = *keeper->Current();
  clock_.Set(clock_.Now() + std::chrono::hours(25));
  EXPECT_TRUE(Must(keeper->Update())) << "the new signer's cert.sign is a new last entry";
  const AuditHead second = *keeper->Current();
  EXPECT_NE(second.chain[0].serial_hex(), first.chain[0].serial_hex());
  EXPECT_EQ(Must(store_->ListIssued({.profile = "audit-signer"}, {.limit = 10})).certs.size(), 2u);
  EXPECT_TRUE(VerifyAuditHead(second, {ca_->root}).has_value());
  // The first signer expired a day later; its head is checked at its own signing time.
  clock_.Set(clock_.Now() + std::chrono::days(30));
  EXPECT_TRUE(VerifyAuditHead(first, {ca_->root}).has_value());
}

TEST_F(AuditHeadTest, TamperedHeadsAreRefused) {
  auto keeper = Keeper();
  Issue("node1.example.com");
  ASSERT_TRUE(Must(keeper->Update()));
  const AuditHead good = *keeper->Current();
  ASSERT_TRUE(VerifyAuditHead(good, {ca_->root}).has_value());
  auto refused = [&](const AuditHead& head) -> std::string {
    auto r = VerifyAuditHead(head, {ca_->root});
    if (r) {
      ADD_FAILURE() << "accepted a tampered head";
      return "";
    }
    EXPECT_EQ(r.error().code, ErrorCode::kBadSignature);
    return r.error().message;
  };
  const std::string bad_signature = "the audit head's signature does not verify (signer " +
                                    good.chain[0].subject() + ", serial " +
                                    good.chain[0].serial_hex() + ")";
  AuditHead h = good;
  h.seq += 1;
  EXPECT_EQ(refused(h), bad_signature);
  h = good;
  h.hash[0] = h.hash[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(refused(h), bad_signature);
  h = good;
  h.signed_at += std::chrono::seconds(1);
  EXPECT_EQ(refused(h), bad_signature);
  h = good;
  h.signature[h.signature.size() / 2] ^= 0x01;
  EXPECT_EQ(refused(h), bad_signature);

  // Another certificate of the cluster (a TLS server's) is no audit signer, even with a
  // signature its key made.
  SignedCert server = Issue("node2.example.com");
  h = good;
  h.chain[0] = Must(pki::Certificate::FromPem(server.certificate_pem));
  EXPECT_THAT(refused(h), HasSubstr("is not an audit signer"));

  // An audit signer of another CA, with a valid signature: not of this cluster.
  pki::TestPki other = pki::MakeTestPki();
  pki::TestLeaf foreign = pki::IssueLeaf(
      other.issuing, {.profile = pki::Profile::kAuditSigner, .common_name = "audit.other.example"});
  AuditHead forged{.seq = good.seq + 5,
                   .hash = good.hash,
                   .signed_at = pki::kTestReferenceTime,
                   .chain = {foreign.cert, other.intermediate, other.root}};
  forged.signature =
      Must(pki::SignData(foreign.key, AuditHeadMessage(forged.seq, forged.hash, forged.signed_at)));
  EXPECT_TRUE(VerifyAuditHead(forged, {other.root}).has_value()) << "genuine for its own CA";
  EXPECT_THAT(refused(forged), HasSubstr("does not verify against the cluster CA"));
  // The cluster's root put into a forged chain is no help: the anchor is the caller's.
  forged.chain = {foreign.cert, other.intermediate, ca_->root};
  EXPECT_THAT(refused(forged), HasSubstr("does not verify against the cluster CA"));
}

TEST(ParseAuditHeadTest, RefusesWhatIsNotAHead) {
  pki::TestPki pki = pki::MakeTestPki();
  pki::TestLeaf signer = pki::IssueLeaf(
      pki.issuing, {.profile = pki::Profile::kAuditSigner, .common_name = "audit.example.com"});
  AuditHead head{.seq = 7,
                 .hash = std::string(64, 'c'),
                 .signed_at = pki::kTestReferenceTime,
                 .signature = "sig",
                 .chain = {signer.cert, pki.intermediate}};
  const std::string text = AuditHeadToJson(head);
  AuditHead back = Must(ParseAuditHead(text));
  EXPECT_EQ(back.seq, 7);
  EXPECT_EQ(back.signature, "sig");
  ASSERT_EQ(back.chain.size(), 2u);
  EXPECT_TRUE(back.chain[1].Equals(pki.intermediate));

  auto error_of = [](const std::string& t) -> std::string {
    auto r = ParseAuditHead(t);
    if (r) {
      ADD_FAILURE() << "parsed: " << t;
      return "";
    }
    EXPECT_EQ(r.error().code, ErrorCode::kParse);
    return r.error().message;
  };
  auto with = [&](const char* key, const nlohmann::ordered_json& value) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
    j[key] = value;
    return j.dump();
  };
  EXPECT_EQ(error_of("[]"), "audit head: not a JSON object");
  EXPECT_EQ(error_of(with("extra", 1)), "audit head: unknown member \"extra\"");
  EXPECT_EQ(error_of(with("format", "clustertls-audit-head-v2")),
            "audit head: format \"clustertls-audit-head-v2\" is not clustertls-audit-head-v1");
  EXPECT_EQ(error_of(with("seq", 0)),
            "audit head: 'seq' must be an entry's sequence number (an integer, 1 or more)");
  EXPECT_EQ(error_of(with("seq", "7")),
            "audit head: 'seq' must be an entry's sequence number (an integer, 1 or more)");
  EXPECT_EQ(error_of(with("hash", std::string(64, 'C'))),
            "audit head: 'hash' must be 64 lower-case hex characters (an audit entry's SHA-256)");
  EXPECT_EQ(error_of(with("hash", std::string(63, 'c'))),
            "audit head: 'hash' must be 64 lower-case hex characters (an audit entry's SHA-256)");
  EXPECT_THAT(error_of(with("time", "yesterday")), StartsWith("audit head: 'time': "));
  EXPECT_EQ(error_of(with("signature", "not base64!")), "audit head: 'signature' must be base64");
  EXPECT_EQ(error_of(with("chain", "")), "audit head: 'chain' holds no PEM certificate");
  EXPECT_EQ(error_of(with("signer_fingerprint_sha256", pki.intermediate.fingerprint().colon)),
            "audit head: 'signer_fingerprint_sha256' is not the fingerprint of the chain's first "
            "certificate");
  EXPECT_EQ(error_of(with("chain", 5)), "audit head: 'chain' must be a string");
}

}  // namespace
}  // namespace clustertls::authority
