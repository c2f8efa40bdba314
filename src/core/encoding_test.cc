#include "core/encoding.h"

#include <gtest/gtest.h>

namespace clustertls::core {
namespace {

TEST(Base64DecodeTest, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(Base64Decode("TWFu"), "Man");
  EXPECT_EQ(Base64Decode("TWE="), "Ma");
  EXPECT_EQ(Base64Decode("TWE"), "Ma");
  EXPECT_EQ(Base64Decode("TQ=="), "M");
  EXPECT_EQ(Base64Decode("TQ"), "M");
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64DecodeTest, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(Base64Decode("TQ==="));  // three '='
  EXPECT_FALSE(Base64Decode("TWE=="));  // padding past the quantum
  EXPECT_FALSE(Base64Decode("T"));      // impossible length
  EXPECT_FALSE(Base64Decode("TW-u"));   // base64url alphabet
  EXPECT_FALSE(Base64Decode("TW u"));
  EXPECT_FALSE(Base64Decode("TW=u"));
}

}  // namespace
}  // namespace clustertls::core
