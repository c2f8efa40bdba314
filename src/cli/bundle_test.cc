#include "cli/bundle.h"

#include <gtest/gtest.h>

namespace clustertls::cli {
namespace {

TEST(BundleTest, RoundTripsCertutilLayoutWithModes) {
  std::vector<ZipEntry> in{
      {.name = "ca/ca.crt", .data = "CA PEM", .mode = 0644},
      {.name = "node1/node1.crt", .data = "LEAF PEM", .mode = 0644},
      {.name = "node1/node1.key", .data = "KEY PEM", .mode = 0600},
  };
  auto zip = BuildZip(in);
  ASSERT_TRUE(zip) << zip.error().message;
  EXPECT_EQ(zip->substr(0, 4), std::string("PK\x03\x04", 4));
  auto out = ReadZip(*zip);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->size(), 3u);
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].name, in[i].name);
    EXPECT_EQ((*out)[i].data, in[i].data);
    EXPECT_EQ((*out)[i].mode, in[i].mode);
  }
}

TEST(BundleTest, LargeMembersSurvive) {
  std::string big(300000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 7919 % 251);
  }
  auto zip = BuildZip({{.name = "x/y.bin", .data = big}});
  ASSERT_TRUE(zip);
  auto out = ReadZip(*zip);
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ(out->front().data, big);
}

TEST(BundleTest, RefusesUnsafeAndDuplicateNames) {
  for (const char* bad : {"../evil", "/abs", "a//b", "a/./b", "dir/", ""}) {
    auto r = BuildZip({{.name = bad, .data = "x"}});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  }
  auto dup = BuildZip({{.name = "a/b", .data = "1"}, {.name = "a/b", .data = "2"}});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("duplicate"), std::string::npos);
}

TEST(BundleTest, ReadZipRefusesGarbage) {
  auto r = ReadZip("this is not a zip archive at all");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kParse);
}

}  // namespace
}  // namespace clustertls::cli
