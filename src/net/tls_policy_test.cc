#include "net/tls_policy.h"

#include <gtest/gtest.h>

namespace clustertls::net {
namespace {

TEST(TlsPolicyTest, DefaultsAreValidAndIntermediate) {
  TlsPolicy policy;
  EXPECT_EQ(policy.min_version, TlsVersion::kTls12);
  EXPECT_EQ(policy.client_auth, ClientAuth::kNone);
  EXPECT_EQ(policy.cipher_list, kIntermediateCipherList);
  EXPECT_TRUE(policy.Validate());
}

TEST(TlsPolicyTest, RefusesTls10And11CitingRfc8996) {
  for (TlsVersion v : {TlsVersion::kTls10, TlsVersion::kTls11}) {
    auto result = TlsPolicy{.min_version = v}.Validate();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message.find("RFC 8996"), std::string::npos) << result.error().message;
  }
  for (const char* text : {"1", "1.0", "1.1", "TLSv1.1", "tls1_1"}) {
    auto parsed = ParseTlsVersion(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message.find("RFC 8996"), std::string::npos);
  }
}

TEST(TlsPolicyTest, ParsesVersionsAndClientAuth) {
  EXPECT_EQ(*ParseTlsVersion("1.2"), TlsVersion::kTls12);
  EXPECT_EQ(*ParseTlsVersion("1.3"), TlsVersion::kTls13);
  EXPECT_EQ(*ParseTlsVersion("TLSv1.3"), TlsVersion::kTls13);
  EXPECT_FALSE(ParseTlsVersion("1.4"));
  EXPECT_FALSE(ParseTlsVersion(""));
  EXPECT_STREQ(TlsVersionName(TlsVersion::kTls13), "1.3");
  EXPECT_EQ(*ParseClientAuth("required"), ClientAuth::kRequired);
  EXPECT_EQ(*ParseClientAuth("optional"), ClientAuth::kOptional);
  EXPECT_EQ(*ParseClientAuth("none"), ClientAuth::kNone);
  EXPECT_FALSE(ParseClientAuth("yes"));
  EXPECT_STREQ(ClientAuthName(ClientAuth::kOptional), "optional");
}

TEST(TlsPolicyTest, RefusesCipherListWithNoCipher) {
  auto result = TlsPolicy{.cipher_list = "NO-SUCH-CIPHER:ALSO-NOT"}.Validate();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("accepts no TLS 1.2 cipher"), std::string::npos)
      << result.error().message;
  EXPECT_FALSE(TlsPolicy{.cipher_list = ""}.Validate());
  // One known name among unknown ones is enough for OpenSSL.
  EXPECT_TRUE(TlsPolicy{.cipher_list = "NOPE:ECDHE-ECDSA-AES128-GCM-SHA256"}.Validate());
}

TEST(TlsPolicyTest, RefusesUnknownTls13Suites) {
  EXPECT_FALSE(TlsPolicy{.tls13_ciphersuites = "TLS_NOT_A_SUITE"}.Validate());
  EXPECT_TRUE(TlsPolicy{.tls13_ciphersuites = "TLS_AES_256_GCM_SHA384"}.Validate());
  // TLS 1.2 may run without TLS 1.3 suites; TLS 1.3 only may not.
  EXPECT_TRUE(TlsPolicy{.tls13_ciphersuites = ""}.Validate());
  EXPECT_FALSE((TlsPolicy{.min_version = TlsVersion::kTls13, .tls13_ciphersuites = ""}.Validate()));
  // With TLS 1.3 only, the TLS 1.2 list does not matter and may be empty.
  EXPECT_TRUE((TlsPolicy{.min_version = TlsVersion::kTls13, .cipher_list = ""}.Validate()));
}

}  // namespace
}  // namespace clustertls::net
