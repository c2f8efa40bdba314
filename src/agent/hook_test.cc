#include "agent/hook.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace clustertls::agent {
namespace {

using std::chrono::steady_clock;

TEST(HookTest, ReportsTheExitStatus) {
  auto ok = RunHook({.command = "true"});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_FALSE(ok->timed_out);
  auto three = RunHook({.command = "echo failing; exit 3"});
  ASSERT_TRUE(three);
  EXPECT_EQ(three->exit_code, 3);
  EXPECT_EQ(three->output_tail, "failing\n");
  auto signalled = RunHook({.command = "kill -9 $$"});
  ASSERT_TRUE(signalled);
  EXPECT_EQ(signalled->exit_code, -1);
  EXPECT_FALSE(signalled->timed_out);
  auto missing = RunHook({.command = "/nonexistent/reload"});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->exit_code, 127);
  EXPECT_NE(missing->output_tail.find("/nonexistent/reload"), std::string::npos);
}

TEST(HookTest, PassesChangedNamesAndDirOnTopOfTheAgentsEnvironment) {
  ASSERT_EQ(::setenv("CTLS_HOOK_TEST_INHERITED", "from the agent", 1), 0);
  ASSERT_EQ(::setenv("CLUSTERTLS_DIR", "/stale", 1), 0);
  auto r = RunHook({.command = "printf '%s|%s|%s' \"$CLUSTERTLS_CHANGED\" \"$CLUSTERTLS_DIR\" "
                               "\"$CTLS_HOOK_TEST_INHERITED\"; env | grep -c '^CLUSTERTLS_DIR=' "
                               ">&2",
                    .changed = {"proxy_cert.pem", "proxy_key.pem"},
                    .dir = "/etc/clustertls/node"});
  ::unsetenv("CTLS_HOOK_TEST_INHERITED");
  ::unsetenv("CLUSTERTLS_DIR");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  // stderr goes into the same tail: one CLUSTERTLS_DIR, ours.
  EXPECT_EQ(r->output_tail, "proxy_cert.pem proxy_key.pem|/etc/clustertls/node|from the agent1\n");
}

TEST(HookTest, StdinIsDevNull) {
  auto r = RunHook({.command = "if read line; then echo got; else echo eof; fi"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_tail, "eof\n");
}

TEST(HookTest, KeepsTheLastFourKibibytes) {
  auto r = RunHook({.command = "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done; "
                               "printf END >&2"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  ASSERT_EQ(r->output_tail.size(), kHookOutputTailBytes);
  EXPECT_TRUE(r->output_tail.ends_with("line1999\nEND")) << r->output_tail.substr(4000);
  EXPECT_EQ(r->output_tail.find("line1000\n"), std::string::npos);
}

TEST(HookTest, RecordsWhenItStarted) {
  const auto before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto r = RunHook({.command = "true"});
  const auto after = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  ASSERT_TRUE(r);
  EXPECT_GE(r->at, before);
  EXPECT_LE(r->at, after);
}

TEST(HookTest, ABackgroundChildHoldingTheOutputDoesNotDelayTheResult) {
  const auto start = steady_clock::now();
  auto r = RunHook({.command = "(sleep 3; echo late) & echo done"});
  ASSERT_TRUE(r);
  EXPECT_LT(steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output_tail, "done\n");
}

TEST(HookTest, TimeoutKillsTheProcessGroup) {
  char tmpl[] = "/tmp/ctls-hook-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string pid_file = std::string(tmpl) + "/pid";
  const auto start = steady_clock::now();
  auto r = RunHook({.command = "sleep 30 & echo $! > " + pid_file + "; echo started; wait",
                    .timeout = std::chrono::seconds(1)});
  const auto took = steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->output_tail, "started\n");
  EXPECT_GE(took, std::chrono::seconds(1));
  EXPECT_LT(took, std::chrono::seconds(3));  // SIGTERM was enough
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  ASSERT_GT(child, 0);
  // The background sleep got the signal too (it may linger as a zombie of init briefly).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid_s, comm, state;
    gone = !(stat >> pid_s >> comm >> state) || state == "Z";
    if (!gone) {
      ::usleep(20000);
    }
  }
  EXPECT_TRUE(gone) << "background sleep " << child << " still running";
  std::filesystem::remove_all(tmpl);
}

TEST(HookTest, TimeoutSendsSigkillToWhatIgnoresSigterm) {
  const auto start = steady_clock::now();
  auto r = RunHook(
      {.command = "trap '' TERM; echo ignoring; sleep 30", .timeout = std::chrono::seconds(1)});
  const auto took = steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->output_tail, "ignoring\n");
  EXPECT_GE(took, std::chrono::seconds(3));  // 1 s, then 2 s of grace
  EXPECT_LT(took, std::chrono::seconds(6));
}

TEST(HookTest, RefusesAnEmptyCommandOrTimeout) {
  auto empty = RunHook({.command = ""});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.error().message, "--on-change: empty command");
  auto zero = RunHook({.command = "true", .timeout = std::chrono::seconds(0)});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, core::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace clustertls::agent
