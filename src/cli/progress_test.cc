#include "cli/progress.h"

#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace clustertls::cli {
namespace {

TEST(ProgressTest, RendersBar) {
  EXPECT_EQ(Progress::Render("issuing", 5, 10, 10), "issuing [#####     ] 5/10");
  EXPECT_EQ(Progress::Render("issuing", 10, 10, 4), "issuing [####] 10/10");
  EXPECT_EQ(Progress::Render("x", 0, 0, 2), "x [##] 0/0");
}

TEST(ProgressTest, DisabledPrintsNothing) {
  std::ostringstream out;
  {
    Progress p(out, 3, "issuing", /*enabled=*/false);
    p.Advance();
    p.Advance(2);
    EXPECT_EQ(p.done(), 3u);
  }
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressTest, EnabledEndsWithFinalStateAndNewline) {
  std::ostringstream out;
  Progress p(out, 1000, "issuing", /*enabled=*/true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&p] {
      for (int i = 0; i < 250; ++i) {
        p.Advance();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  p.Finish();
  p.Finish();
  const std::string s = out.str();
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("1000/1000\n"), std::string::npos);
  EXPECT_EQ(s.find('\n'), s.size() - 1);  // one line, redrawn with '\r'
}

}  // namespace
}  // namespace clustertls::cli
