#include "core/time.h"

#include <gtest/gtest.h>

namespace clustertls::core {
namespace {

TEST(ParseTime, AcceptsDateAndRfc3339Forms) {
  auto d = ParseTime("2024-01-01");
  ASSERT_TRUE(d);
  EXPECT_EQ(FormatTime(*d), "2024-01-01T00:00:00Z");
  auto z = ParseTime("2024-02-29T12:34:56Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(FormatTime(*z), "2024-02-29T12:34:56Z");
  auto off = ParseTime("2024-01-01T02:00:00+02:00");
  ASSERT_TRUE(off);
  EXPECT_EQ(FormatTime(*off), "2024-01-01T00:00:00Z");
  auto frac = ParseTime("2024-01-01T00:00:00.123Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(*frac, *d);
  auto unix = ParseTime("@86400");
  ASSERT_TRUE(unix);
  EXPECT_EQ(FormatTime(*unix), "1970-01-02T00:00:00Z");
}

TEST(ParseTime, RefusesGarbageNamingTheText) {
  for (const char* bad : {"", "2024", "2024-13-01", "2023-02-29", "2024-01-01T25:00:00Z",
                          "2024-01-01T00:00:00", "@x", "yesterday"}) {
    auto r = ParseTime(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(FormatDuration, PicksTheLargestUnit) {
  EXPECT_EQ(FormatDuration(std::chrono::days(30)), "30 days");
  EXPECT_EQ(FormatDuration(std::chrono::hours(1)), "1 hour");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(90)), "1 minute");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(-7200)), "-2 hours");
}

TEST(ParseDurationTest, UnitsAndRefusals) {
  EXPECT_EQ(*ParseDuration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("90"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("15m"), std::chrono::minutes(15));
  EXPECT_EQ(*ParseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(*ParseDuration("30d"), std::chrono::days(30));
  EXPECT_EQ(*ParseDuration("2w"), std::chrono::days(14));
  for (const char* bad : {"", "h", "0s", "-1h", "1.5h", "1y", "1hh", "99999999999999d"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("duration '"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace clustertls::core
