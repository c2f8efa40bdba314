// --owner USER[:GROUP] on the commands that write keys (services that do not run as root), run
// in-process through cli::Run. The refusal without root and reading as the service's user are
// checked by tests/integration/test_owner.sh (runuser).
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/app.h"
#include "cli/cli_testutil.h"
#include "core/files.h"
#include "ossl/csprng.h"

namespace clustertls::cli {
namespace {

using testing::TempDir;

const core::TimePoint kNow = core::ParseTime("2026-01-15T10:00:00Z").value();

using Outcome = testing::CliOutcome;

using testing::OneErrorLine;

class OwnerTest : public ::testing::Test {
 protected:
  Outcome Cli(std::vector<std::string> args) {
    return testing::RunCli(std::move(args), clock_, rng_);
  }
  std::string P(const std::string& name) { return dir_ / name; }
  mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  std::pair<uid_t, gid_t> OwnerOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return {st.st_uid, st.st_gid};
  }

  TempDir dir_;
  core::FixedClock clock_{kNow};
  ossl::Csprng rng_;
};

TEST_F(OwnerTest, UnknownOwnerIsAUsageErrorBeforeAnythingIsWritten) {
  ASSERT_EQ(Cli({"ca", "init", "--out", P("ca")}).code, 0);
  ASSERT_TRUE(core::WriteFileAtomic(P("instances.yml"), "instances:\n  - name: node1\n"));
  const std::vector<std::vector<std::string>> commands{
      {"cert", "issue", "--ca-cert", P("ca/ca.crt"), "--ca-key", P("ca/ca.key"), "--name", "n1",
       "--out", P("out")},
      {"quickstart", "--out", P("out")},
      {"ca", "init", "--out", P("out")},
      {"ca", "intermediate", "--ca-cert", P("ca/ca.crt"), "--ca-key", P("ca/ca.key"), "--out",
       P("out")},
      {"cert", "generate", "--fqdn", "redis.example.com", "--out", P("out")},
      {"cert", "bulk", "--in", P("instances.yml"), "--ca-cert", P("ca/ca.crt"), "--ca-key",
       P("ca/ca.key"), "--out", P("out")},
      {"csr", "create", "--name", "n1", "--out", P("out")},
      {"convert", P("ca/ca.key"), "--to", "pem", "--out", P("out.key")},
  };
  for (const auto& command : commands) {
    for (const std::string owner : {"ctls-no-such-user", "root:ctls-no-such-group"}) {
      std::vector<std::string> args = command;
      args.insert(args.end(), {"--owner", owner});
      auto r = Cli(args);
      EXPECT_EQ(r.code, 2) << command[0] << " " << command[1] << ": " << r.err;
      EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
      const std::string name = owner.substr(owner.find(':') + 1);
      EXPECT_NE(r.err.find("--owner " + owner + ": no such "), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("\"" + name + "\""), std::string::npos) << r.err;
    }
  }
  EXPECT_FALSE(core::PathExists(P("out")));
  EXPECT_FALSE(core::PathExists(P("out.key")));
}

TEST_F(OwnerTest, OwnerGivesKeysAndCertificatesToTheServiceButNotTheCaKey) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "chown needs root (test_owner.sh checks the refusal as another user)";
  }
  auto qs = Cli({"quickstart", "--out", P("qs"), "--owner", "nobody:nogroup"});
  ASSERT_EQ(qs.code, 0) << qs.err;
  const uid_t nobody = ::getpwnam("nobody")->pw_uid;
  const gid_t nogroup = ::getgrnam("nogroup")->gr_gid;
  for (const char* key : {"qs/server/server.key", "qs/client/client.key"}) {
    EXPECT_EQ(OwnerOf(P(key)), std::make_pair(nobody, nogroup)) << key;
    EXPECT_EQ(Mode(P(key)), 0640u) << key;
  }
  for (const char* crt : {"qs/server/server.crt", "qs/client/client.crt", "qs/ca/ca.crt"}) {
    EXPECT_EQ(OwnerOf(P(crt)), std::make_pair(nobody, nogroup)) << crt;
    EXPECT_EQ(Mode(P(crt)), 0644u) << crt;
  }
  EXPECT_EQ(OwnerOf(P("qs/ca/ca.key")), std::make_pair(::geteuid(), ::getegid()));
  EXPECT_EQ(Mode(P("qs/ca/ca.key")), 0600u);
  EXPECT_NE(qs.out.find("server key          " + P("qs/server/server.key") +
                        "  (mode 0640, owner nobody:nogroup)"),
            std::string::npos)
      << qs.out;

  // A user alone: keys stay 0600, now the user's.
  auto issue = Cli({"cert", "issue", "--ca-cert", P("qs/ca/ca.crt"), "--ca-key", P("qs/ca/ca.key"),
                    "--name", "svc", "--out", P("svc"), "--owner", "nobody"});
  ASSERT_EQ(issue.code, 0) << issue.err;
  EXPECT_EQ(OwnerOf(P("svc/svc.key")).first, nobody);
  EXPECT_EQ(Mode(P("svc/svc.key")), 0600u);
  EXPECT_EQ(OwnerOf(P("svc/svc.crt")).first, nobody);
  EXPECT_NE(issue.out.find("mode 0600, owner nobody)"), std::string::npos) << issue.out;

  // Without --owner, keys stay the runner's and 0600 (certificates 0644).
  auto plain = Cli({"cert", "issue", "--ca-cert", P("qs/ca/ca.crt"), "--ca-key", P("qs/ca/ca.key"),
                    "--name", "mine", "--out", P("mine")});
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(OwnerOf(P("mine/mine.key")), std::make_pair(::geteuid(), ::getegid()));
  EXPECT_EQ(Mode(P("mine/mine.key")), 0600u);
  EXPECT_EQ(Mode(P("mine/mine.crt")), 0644u);
  EXPECT_NE(plain.out.find(", mode 0600)"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace clustertls::cli
