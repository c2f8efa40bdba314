#include "net/tls_policy.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "ossl/ssl_ptr.h"

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

// Expects CheckCipherList (and TlsPolicy::Validate) to refuse `list`, the message saying `why`.
void ExpectListRefused(const std::string& list, const std::string& why) {
  auto result = CheckCipherList(list);
  ASSERT_FALSE(result) << list;
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message.find(why), std::string::npos)
      << list << ": " << result.error().message;
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos);
  auto policy = TlsPolicy{.cipher_list = list}.Validate();
  ASSERT_FALSE(policy) << list;
  EXPECT_NE(policy.error().message.find("cipher list: "), std::string::npos)
      << policy.error().message;
}

// True if this OpenSSL enables any TLS <= 1.2 cipher from `list` (RC4, DES and export suites
// are compiled out of Debian's OpenSSL 3).
bool OpenSslHas(const std::string& list) {
  auto ctx = ossl::Own(SSL_CTX_new(TLS_server_method()));
  const bool has = SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) == 1;
  ERR_clear_error();
  return has;
}

TEST(TlsPolicyTest, RefusesNullAnonymousAndMd5SuitesByWhatOpenSslEnables) {
  // The attack: NULL encryption with the security level lowered so that it negotiates.
  auto attack = CheckCipherList("eNULL:@SECLEVEL=0");
  ASSERT_FALSE(attack);
  EXPECT_NE(attack.error().message.find("enables NULL encryption, traffic in clear (ECDHE-"),
            std::string::npos)
      << attack.error().message;
  EXPECT_NE(attack.error().message.find("@SECLEVEL=0 is below 2"), std::string::npos)
      << attack.error().message;
  EXPECT_TRUE(attack.error().message.ends_with(": refused")) << attack.error().message;
  ExpectListRefused("eNULL", "NULL encryption");
  ExpectListRefused("NULL-SHA256", "NULL encryption, traffic in clear (NULL-SHA256)");
  ExpectListRefused("aNULL", "anonymous suites, no server authentication (ADH-");
  ExpectListRefused("ADH-AES256-GCM-SHA384", "anonymous");
  ExpectListRefused("AECDH-AES128-SHA", "anonymous");
  // Hidden behind good ciphers, or reached through a keyword rather than a name.
  ExpectListRefused("ECDHE-ECDSA-AES128-GCM-SHA256:aNULL", "anonymous");
  ExpectListRefused("ECDHE-RSA-AES128-GCM-SHA256:COMPLEMENTOFDEFAULT", "anonymous");
  ExpectListRefused("ALL:COMPLEMENTOFALL", "NULL encryption");
  ExpectListRefused("MD5", "MD5 MACs (NULL-MD5)");
  // Removing them again is fine: what counts is what the list leaves enabled.
  EXPECT_TRUE(CheckCipherList("ALL:!aNULL:!eNULL"));
  EXPECT_TRUE(CheckCipherList("aNULL:!aNULL:ECDHE-ECDSA-AES128-GCM-SHA256"));
}

TEST(TlsPolicyTest, RefusesExportRc4AndDesWhetherOrNotThisOpenSslHasThem) {
  for (auto [list, why] : {std::pair{"EXPORT", "export-grade"}, std::pair{"EXP", "export-grade"},
                           std::pair{"LOW", "export-grade"}, std::pair{"RC4", "RC4"},
                           std::pair{"RC4-SHA", "RC4"}, std::pair{"RC4-MD5", "RC4"},
                           std::pair{"3DES", "DES/3DES"}, std::pair{"DES-CBC3-SHA", "DES/3DES"},
                           std::pair{"DES", "DES/3DES"}, std::pair{"DES-CBC-SHA", "DES/3DES"}}) {
    // With them compiled out OpenSSL enables nothing from the list; with them compiled in, the
    // class is named.
    ExpectListRefused(list, OpenSslHas(list) ? why : "accepts no TLS 1.2 cipher");
  }
  // What the list enables decides: a name this OpenSSL does not have enables nothing.
  const std::string mixed = "RC4-SHA:DES-CBC3-SHA:ECDHE-ECDSA-AES128-GCM-SHA256";
  if (OpenSslHas("RC4-SHA:DES-CBC3-SHA")) {
    ExpectListRefused(mixed, "RC4");
  } else {
    EXPECT_TRUE(CheckCipherList(mixed));
  }
}

TEST(TlsPolicyTest, ClassifiesCiphersByWhatOpenSslSaysOfThem) {
  using C = RefusedCipherClass;
  using internal::CipherFacts;
  using internal::RefusedClassesOf;
  // Suites this OpenSSL build has none of, described as OpenSSL describes them
  // (SSL_CIPHER_get_cipher_nid, _auth_nid, _digest_nid, _bits).
  EXPECT_EQ(RefusedClassesOf({NID_rc4, NID_auth_rsa, NID_sha1, 128}), std::vector{C::kRc4});
  EXPECT_EQ(RefusedClassesOf({NID_rc4, NID_auth_rsa, NID_md5, 40}),  // EXP-RC4-MD5
            (std::vector{C::kExportGrade, C::kRc4, C::kMd5Mac}));
  EXPECT_EQ(RefusedClassesOf({NID_des_ede3_cbc, NID_auth_rsa, NID_sha1, 112}),
            std::vector{C::kDes});
  EXPECT_EQ(RefusedClassesOf({NID_des_cbc, NID_auth_rsa, NID_sha1, 56}), std::vector{C::kDes});
  EXPECT_EQ(RefusedClassesOf({NID_rc2_cbc, NID_auth_rsa, NID_md5, 40}),  // EXP-RC2-CBC-MD5
            (std::vector{C::kExportGrade, C::kMd5Mac}));
  EXPECT_EQ(RefusedClassesOf({NID_undef, NID_auth_null, NID_sha1, 0}),  // AECDH-NULL-SHA
            (std::vector{C::kNullEncryption, C::kAnonymous}));
  EXPECT_EQ(
      RefusedClassesOf({NID_undef, NID_auth_any, NID_sha256, 0}),  // RFC 9150 TLS_SHA256_SHA256
      std::vector{C::kNullEncryption});
  EXPECT_TRUE(RefusedClassesOf({NID_aes_128_gcm, NID_auth_ecdsa, NID_undef, 128}).empty());
  EXPECT_TRUE(RefusedClassesOf({NID_chacha20_poly1305, NID_auth_any, NID_undef, 256}).empty());
  EXPECT_STREQ(RefusedCipherClassName(C::kRc4), "RC4, prohibited by RFC 7465");
}

TEST(TlsPolicyTest, RefusesASecurityLevelBelow2) {
  for (const std::string list :
       {"ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0", "@SECLEVEL=1:ECDHE-ECDSA-AES128-GCM-SHA256",
        "DEFAULT@SECLEVEL=1"}) {
    auto result = CheckCipherList(list);
    ASSERT_FALSE(result) << list;
    EXPECT_NE(result.error().message.find(" is below 2: refused"), std::string::npos)
        << result.error().message;
    EXPECT_TRUE(result.error().message.starts_with("@SECLEVEL=")) << result.error().message;
  }
  EXPECT_TRUE(CheckCipherList("ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=2"));
  EXPECT_TRUE(CheckCipherList("ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=3"));
  EXPECT_TRUE(CheckCipherList("DEFAULT"));
}

TEST(TlsPolicyTest, Tls13SuitesAreCheckedOnTheirOwn) {
  EXPECT_TRUE(CheckTls13Suites(kDefaultTls13Ciphersuites));
  EXPECT_TRUE(CheckTls13Suites(""));
  // Not weak as such (the default-client check refuses it alone: tls_context_test.cc).
  EXPECT_TRUE(CheckTls13Suites("TLS_AES_128_CCM_8_SHA256"));
  auto unknown = CheckTls13Suites("TLS_NOT_A_SUITE");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("TLS_NOT_A_SUITE"), std::string::npos);
  // A TLS <= 1.2 name is not a TLS 1.3 suite.
  EXPECT_FALSE(CheckTls13Suites("eNULL"));
  // OpenSSL skips names it does not know among known ones; @SECLEVEL is not part of this syntax
  // and changes nothing (tls_context_test: RunsAtSecurityLevel2AtLeast).
  EXPECT_TRUE(CheckTls13Suites("TLS_AES_128_GCM_SHA256:@SECLEVEL=0"));
}

}  // namespace
}  // namespace clustertls::net
