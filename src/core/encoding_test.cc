#include "core/encoding.h"

#include <gtest/gtest.h>

namespace clustertls::core {
namespace {

// RFC 4648 section 10's test vectors, and bytes over 0x7f.
TEST(Base64EncodeTest, EncodesTheRfcVectorsWithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(Base64Decode(Base64Encode(all)), all);
}

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

TEST(HexDigitValueTest, EveryDigitAndNothingElse) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  for (char c : {'g', 'G', '/', ':', '@', '`', ' ', '\0'}) {
    EXPECT_EQ(HexDigitValue(c), -1) << static_cast<int>(c);
  }
}

}  // namespace
}  // namespace clustertls::core
