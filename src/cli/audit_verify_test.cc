// `clustertls audit verify --data-dir` against the signed head that `serve` keeps in
// DIR/audit-head.json: in process, on a data directory made by InitDataDir and served once by a
// real ControlPlane at a fixed time; the database is edited with SQLite's own API, as the
// sqlite3 CLI would.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "authority/audit_head.h"
#include "cli/app.h"
#include "cli/cli_testutil.h"
#include "core/files.h"
#include "ossl/csprng.h"
#include "pki/test_pki_testutil.h"
#include "server/control_plane.h"

namespace clustertls::cli {
namespace {

using testing::TempDir;

using Outcome = testing::CliOutcome;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = dir_ / "d";
    ASSERT_TRUE(server::InitDataDir({.data_dir = d_,
                                     .fqdn = "audit.example.com",
                                     .listen = "127.0.0.1:0",
                                     .public_listen = "127.0.0.1:0"},
                                    clock_, rng_));
    Serve();
  }

  // Starts serve on the data directory and stops it: its head file then names the last entry.
  void Serve() {
    auto plane = server::ControlPlane::Start({.data_dir = d_, .listen = "127.0.0.1:0"}, clock_);
    ASSERT_TRUE(plane) << plane.error().message;
    (*plane)->Stop();
  }

  Outcome Cli(std::vector<std::string> args) {
    return testing::RunCli(std::move(args), clock_, rng_);
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d_ + "/clustertls.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::string Head() const { return d_ + "/audit-head.json"; }

  TempDir dir_;
  std::string d_;
  core::FixedClock clock_{pki::kTestReferenceTime};
  ossl::Csprng rng_;
};

TEST_F(AuditVerifyTest, AnUntouchedLogIsIntactUpToItsSignedHead) {
  const authority::AuditHead head = *authority::ParseAuditHead(core::ReadFile(Head()).value());
  auto r = Cli({"audit", "verify", "--data-dir", d_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "audit chain intact: " + std::to_string(head.seq) +
                       " entries (signed head at entry " + std::to_string(head.seq) + ")\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(AuditVerifyTest, DeletedLastRowsAreReportedAsTruncation) {
  const authority::AuditHead head = *authority::ParseAuditHead(core::ReadFile(Head()).value());
  ASSERT_GT(head.seq, 3);
  Sql("DELETE FROM audit_log WHERE seq > " + std::to_string(head.seq - 3));
  auto r = Cli({"audit", "verify", "--data-dir", d_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "audit log truncated: the signed head (entry " + std::to_string(head.seq) +
                       ", hash " + head.hash +
                       ", signed at 2026-01-01T00:00:00Z) is past the "
                       "log's last entry " +
                       std::to_string(head.seq - 3) + "\n");
  EXPECT_EQ(r.err, "");

  // serve refuses to start on it, naming the file, and leaves the evidence in place.
  const std::string kept = ReadAll(Head());
  auto plane = server::ControlPlane::Start({.data_dir = d_, .listen = "127.0.0.1:0"}, clock_);
  ASSERT_FALSE(plane);
  EXPECT_EQ(plane.error().code, core::ErrorCode::kVerifyFailed);
  EXPECT_NE(plane.error().message.find(Head() + ": audit log truncated: the signed head (entry " +
                                       std::to_string(head.seq)),
            std::string::npos)
      << plane.error().message;
  EXPECT_EQ(ReadAll(Head()), kept);
}

// The same number of rows appended again after the cut: the log reaches the head's seq, with
// another entry there.
TEST_F(AuditVerifyTest, ARewrittenTailIsReported) {
  const std::string before = ReadAll(Head());
  const authority::AuditHead head = *authority::ParseAuditHead(before);
  // Another serve run appends its signers' entries (and moves the head): keep the old head.
  Sql("DELETE FROM audit_log WHERE seq > " + std::to_string(head.seq - 1));
  std::filesystem::rename(Head(), Head() + ".old");
  Serve();
  std::filesystem::rename(Head() + ".old", Head());
  auto r = Cli({"audit", "verify", "--data-dir", d_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(
      r.out.rfind(
          "audit log truncated or rewritten: entry " + std::to_string(head.seq) + " has hash ", 0),
      0u)
      << r.out;
  EXPECT_NE(r.out.find(", not that of the signed head (entry " + std::to_string(head.seq) +
                       ", hash " + head.hash),
            std::string::npos)
      << r.out;
}

TEST_F(AuditVerifyTest, AnEditedHeadIsAnErrorNamingTheFile) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(ReadAll(Head()));
  j["seq"] = j["seq"].get<std::int64_t>() + 10;
  ASSERT_TRUE(core::WriteFileAtomic(Head(), j.dump(2), {.overwrite = true}));
  auto r = Cli({"audit", "verify", "--data-dir", d_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("clustertls: error: " + Head() +
                            ": the audit head's signature does not verify (signer CN=audit.",
                        0),
            0u)
      << r.err;
}

TEST_F(AuditVerifyTest, AMissingHeadIsANote) {
  std::filesystem::remove(Head());
  auto r = Cli({"audit", "verify", "--data-dir", d_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("note: " + Head() + " does not exist"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\naudit chain intact: "), std::string::npos) << r.out;
  auto quiet = Cli({"--quiet", "audit", "verify", "--data-dir", d_});
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.out.rfind("audit chain intact: ", 0), 0u) << quiet.out;
}

// A head recorded earlier (`audit head --out`, here a copy of the file) that the log no longer
// reaches, after serve moved its own head on over the cut.
TEST_F(AuditVerifyTest, ExpectHeadComparesWithAHeadRecordedEarlier) {
  const std::string recorded = dir_ / "recorded-head.json";
  std::filesystem::copy_file(Head(), recorded);
  const authority::AuditHead head = *authority::ParseAuditHead(ReadAll(recorded));
  auto ok = Cli({"audit", "verify", "--data-dir", d_, "--expect-head", recorded});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(
      ok.out.find("(signed head at entry " + std::to_string(head.seq) + "; head recorded in " +
                  recorded + " at entry " + std::to_string(head.seq) + ")"),
      std::string::npos)
      << ok.out;

  Sql("DELETE FROM audit_log WHERE seq > " + std::to_string(head.seq - 2));
  std::filesystem::remove(Head());  // who deleted the rows removed the kept head too
  auto r = Cli({"audit", "verify", "--data-dir", d_, "--expect-head", recorded});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1),
            "audit log truncated: the signed head in " + recorded + " (entry " +
                std::to_string(head.seq) + ", hash " + head.hash +
                ", signed at 2026-01-01T00:00:00Z) is past the log's last entry " +
                std::to_string(head.seq - 2) + "\n")
      << r.out;

  auto missing = Cli({"audit", "verify", "--data-dir", d_, "--expect-head", dir_ / "nope.json"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find(dir_ / "nope.json"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace clustertls::cli
