#include "net/cluster_policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ossl/csprng.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::net {
namespace {

using net::ClientAuth;
using net::TlsVersion;

// Expects `json` applied to the defaults to fail with `code`, the message naming `field`.
void ExpectRefused(std::string_view json, const std::string& field,
                   core::ErrorCode code = core::ErrorCode::kInvalidArgument) {
  auto result = ApplyPolicyJson(ClusterPolicy{}, json);
  ASSERT_FALSE(result) << json;
  EXPECT_EQ(result.error().code, code) << json << ": " << result.error().message;
  EXPECT_NE(result.error().message.find(field), std::string::npos)
      << json << ": " << result.error().message;
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos) << result.error().message;
}

TEST(ClusterPolicyTest, DefaultsValidateAndSerialiseCanonically) {
  ClusterPolicy policy;
  EXPECT_TRUE(policy.Validate());
  EXPECT_EQ(PolicyToJson(policy),
            std::string("{\"min_control_tls_version\":\"1.2\",\"min_data_tls_version\":\"1.2\","
                        "\"cipher_suites\":\"") +
                std::string(net::kIntermediateCipherList) + "\",\"tls13_ciphersuites\":\"" +
                std::string(net::kDefaultTls13Ciphersuites) +
                "\",\"client_auth\":\"none\",\"sentinel_ssl_policy\":\"required\","
                "\"min_sentinel_tls_version\":\"1.2\"}");
}

TEST(ClusterPolicyTest, ControlPolicyNeverAsksForClientCertificates) {
  ClusterPolicy policy{.min_control_tls_version = TlsVersion::kTls13,
                       .client_auth = ClientAuth::kRequired};
  EXPECT_EQ(policy.ControlPolicy().client_auth, ClientAuth::kNone);
  EXPECT_EQ(policy.ControlPolicy().min_version, TlsVersion::kTls13);
  EXPECT_EQ(policy.DataPolicy().client_auth, ClientAuth::kRequired);
  EXPECT_EQ(policy.DataPolicy().min_version, TlsVersion::kTls12);
  EXPECT_EQ(policy.DataPolicy().cipher_list, policy.cipher_suites);
  EXPECT_EQ(policy.ControlPolicy().tls13_ciphersuites, policy.tls13_ciphersuites);
}

TEST(ClusterPolicyTest, PartialUpdateChangesOnlyTheNamedFields) {
  ClusterPolicy base{.client_auth = ClientAuth::kOptional};
  auto result = ApplyPolicyJson(base, R"({"min_data_tls_version":"1.3"})");
  ASSERT_TRUE(result) << result.error().message;
  ClusterPolicy expected = base;
  expected.min_data_tls_version = TlsVersion::kTls13;
  EXPECT_EQ(*result, expected);

  auto empty = ApplyPolicyJson(base, "{}");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, base);
}

TEST(ClusterPolicyTest, AllFieldsRoundTripThroughJson) {
  ClusterPolicy policy{.min_control_tls_version = TlsVersion::kTls13,
                       .min_data_tls_version = TlsVersion::kTls12,
                       .cipher_suites = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
                       .tls13_ciphersuites = "TLS_AES_256_GCM_SHA384",
                       .client_auth = ClientAuth::kRequired,
                       .sentinel_ssl_policy = SentinelSsl::kAllowed,
                       .min_sentinel_tls_version = TlsVersion::kTls13};
  ASSERT_TRUE(policy.Validate());
  auto parsed = ApplyPolicyJson(ClusterPolicy{}, PolicyToJson(policy));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, policy);
  EXPECT_EQ(PolicyToJson(*parsed), PolicyToJson(policy));
}

TEST(ClusterPolicyTest, VersionsAsStringsOrNumbers) {
  auto number = ApplyPolicyJson(ClusterPolicy{},
                                R"({"min_control_tls_version":1.3,"min_data_tls_version":1.2})");
  ASSERT_TRUE(number) << number.error().message;
  EXPECT_EQ(number->min_control_tls_version, TlsVersion::kTls13);
  EXPECT_EQ(number->min_data_tls_version, TlsVersion::kTls12);
  auto text = ApplyPolicyJson(ClusterPolicy{}, R"({"min_control_tls_version":"TLSv1.3"})");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->min_control_tls_version, TlsVersion::kTls13);
}

TEST(ClusterPolicyTest, Tls10And11RefusedCitingRfc8996) {
  for (std::string json :
       {R"({"min_control_tls_version":"1.1"})", R"({"min_control_tls_version":1.1})",
        R"({"min_control_tls_version":"1.0"})", R"({"min_control_tls_version":1})",
        R"({"min_control_tls_version":1.0})"}) {
    ExpectRefused(json, "min_control_tls_version");
    auto result = ApplyPolicyJson(ClusterPolicy{}, json);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("RFC 8996"), std::string::npos);
  }
  ExpectRefused(R"({"min_data_tls_version":"1.1"})", "min_data_tls_version");
  auto result = ApplyPolicyJson(ClusterPolicy{}, R"({"min_data_tls_version":1.1})");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("TLS 1.1"), std::string::npos) << result.error().message;

  // A struct built in code is refused by Validate too.
  auto direct = ClusterPolicy{.min_data_tls_version = TlsVersion::kTls10}.Validate();
  ASSERT_FALSE(direct);
  EXPECT_NE(direct.error().message.find("min_data_tls_version"), std::string::npos);
  EXPECT_NE(direct.error().message.find("RFC 8996"), std::string::npos);
}

TEST(ClusterPolicyTest, UnknownFieldsWrongTypesAndBadValuesNameTheField) {
  ExpectRefused(R"({"min_tls":"1.2"})", "min_tls");
  ExpectRefused(R"({"version":3})", "version");
  ExpectRefused(R"({"min_control_tls_version":true})", "min_control_tls_version");
  ExpectRefused(R"({"min_control_tls_version":null})", "min_control_tls_version");
  ExpectRefused(R"({"min_control_tls_version":"1.4"})", "min_control_tls_version");
  ExpectRefused(R"({"min_data_tls_version":13})", "min_data_tls_version");
  ExpectRefused(R"({"cipher_suites":42})", "cipher_suites");
  ExpectRefused(R"({"cipher_suites":"NOT-A-CIPHER"})", "cipher_suites");
  ExpectRefused(R"({"cipher_suites":""})", "cipher_suites");
  ExpectRefused(R"({"cipher_suites":"AES\nGCM"})", "cipher_suites");
  ExpectRefused(R"({"tls13_ciphersuites":["TLS_AES_128_GCM_SHA256"]})", "tls13_ciphersuites");
  ExpectRefused(R"({"tls13_ciphersuites":"TLS_NOPE_SHA999"})", "tls13_ciphersuites");
  ExpectRefused(R"({"client_auth":"sometimes"})", "client_auth");
  ExpectRefused(R"({"client_auth":1})", "client_auth");
  ExpectRefused(std::string(R"({"cipher_suites":")") + std::string(5000, 'A') + "\"}",
                "cipher_suites");
}

TEST(ClusterPolicyTest, CombinationsThatLeaveNoCipherAreRefused) {
  // TLS 1.3 only on one path needs a TLS 1.3 suite.
  ExpectRefused(R"({"min_data_tls_version":"1.3","tls13_ciphersuites":""})", "tls13_ciphersuites");
  // TLS 1.2 only (no 1.3 suites) is allowed while both paths accept 1.2.
  auto no13 = ApplyPolicyJson(ClusterPolicy{}, R"({"tls13_ciphersuites":""})");
  ASSERT_TRUE(no13) << no13.error().message;
  EXPECT_TRUE(no13->tls13_ciphersuites.empty());
  // An empty TLS <= 1.2 list is fine when both paths are TLS 1.3 only.
  auto only13 = ApplyPolicyJson(
      ClusterPolicy{},
      R"({"min_control_tls_version":"1.3","min_data_tls_version":"1.3","cipher_suites":""})");
  ASSERT_TRUE(only13) << only13.error().message;
}

TEST(ClusterPolicyTest, WeakCipherListsAreRefusedNamingTheFieldAndWhy) {
  // The attacks: NULL encryption at security level 0, anonymous suites.
  ExpectRefused(R"({"cipher_suites":"eNULL:@SECLEVEL=0"})",
                "cipher_suites: enables NULL encryption, traffic in clear (");
  ExpectRefused(R"({"cipher_suites":"eNULL:@SECLEVEL=0"})", "@SECLEVEL=0 is below 2: refused");
  ExpectRefused(R"({"cipher_suites":"aNULL"})", "cipher_suites: enables ");
  ExpectRefused(R"({"cipher_suites":"aNULL"})", "anonymous suites, no server authentication (ADH-");
  ExpectRefused(R"({"cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=1"})",
                "cipher_suites: @SECLEVEL=1 is below 2: refused");
  ExpectRefused(R"({"cipher_suites":"MD5"})", "MD5 MACs (NULL-MD5)");
  // Compiled out of this OpenSSL: nothing is enabled from them, refused all the same.
  for (const char* list : {"EXPORT", "RC4", "3DES", "DES", "DES-CBC3-SHA", "RC4-SHA"}) {
    ExpectRefused(std::string(R"({"cipher_suites":")") + list + "\"}", "cipher_suites: ");
  }
  // The TLS <= 1.2 list is checked whenever it is set, even if both paths are TLS 1.3 only.
  ExpectRefused(
      R"({"min_control_tls_version":"1.3","min_data_tls_version":"1.3","cipher_suites":"aNULL"})",
      "anonymous suites");
  ExpectRefused(R"({"tls13_ciphersuites":"eNULL"})", "tls13_ciphersuites: ");
}

// The default-client check on both paths, with identities of the given key types.
class DefaultClientsTest : public ::testing::Test {
 protected:
  ossl::Csprng rng_;

  core::Result<void> Check(const ClusterPolicy& policy,
                           pki::KeyType control = pki::KeyType::kEcP256,
                           pki::KeyType data = pki::KeyType::kEcP256) {
    return CheckDefaultClients(
        policy,
        {.control_key = control, .data_key = data, .now = pki::kTestReferenceTime, .rng = &rng_});
  }

  void ExpectRefusedWith(const ClusterPolicy& policy, pki::KeyType control, pki::KeyType data,
                         const std::string& prefix) {
    ASSERT_TRUE(policy.Validate()) << "the check runs on valid policies";
    auto result = Check(policy, control, data);
    ASSERT_FALSE(result) << prefix;
    EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_TRUE(result.error().message.starts_with(prefix)) << result.error().message;
  }
};

TEST_F(DefaultClientsTest, DefaultAndRestrictedPoliciesPass) {
  EXPECT_TRUE(Check(ClusterPolicy{}));
  EXPECT_TRUE(Check(ClusterPolicy{}, pki::KeyType::kRsa2048, pki::KeyType::kEd25519));
  const ClusterPolicy restricted{
      .cipher_suites = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
      .tls13_ciphersuites = "TLS_AES_256_GCM_SHA384"};
  EXPECT_TRUE(Check(restricted, pki::KeyType::kRsa2048, pki::KeyType::kEcP256));
  const ClusterPolicy tls13_only{.min_control_tls_version = TlsVersion::kTls13,
                                 .min_data_tls_version = TlsVersion::kTls13,
                                 .cipher_suites = "",
                                 .tls13_ciphersuites = "TLS_AES_256_GCM_SHA384"};
  ASSERT_TRUE(tls13_only.Validate());
  EXPECT_TRUE(Check(tls13_only, pki::KeyType::kRsa2048, pki::KeyType::kEcP384));
}

TEST_F(DefaultClientsTest, Ccm8OnlyTls13IsRefusedNamingTheField) {
  ExpectRefusedWith(ClusterPolicy{.tls13_ciphersuites = "TLS_AES_128_CCM_8_SHA256"},
                    pki::KeyType::kEcP256, pki::KeyType::kEcP256,
                    "tls13_ciphersuites: control path: a default OpenSSL client could not connect "
                    "over TLS 1.3 to an EC P-256 certificate (no shared TLS 1.3 suite: it offers "
                    "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256, "
                    "not TLS_AES_128_CCM_8_SHA256)");
}

TEST_F(DefaultClientsTest, EcdsaOnlyListIsRefusedForTheListenerWithAnRsaCertificate) {
  const ClusterPolicy ecdsa_only{.cipher_suites = "ECDHE-ECDSA-AES256-GCM-SHA384"};
  EXPECT_TRUE(Check(ecdsa_only, pki::KeyType::kEcP256, pki::KeyType::kEcP256));
  ExpectRefusedWith(ecdsa_only, pki::KeyType::kRsa2048, pki::KeyType::kEcP256,
                    "cipher_suites: control path: a default OpenSSL client could not connect over "
                    "TLS 1.2 to an RSA 2048 certificate");
  ExpectRefusedWith(ecdsa_only, pki::KeyType::kEcP256, pki::KeyType::kRsa2048,
                    "cipher_suites: data path: a default OpenSSL client");
  // A listener that allows only TLS 1.3 does not use the TLS <= 1.2 list.
  ClusterPolicy data13 = ecdsa_only;
  data13.min_data_tls_version = TlsVersion::kTls13;
  EXPECT_TRUE(Check(data13, pki::KeyType::kEcP256, pki::KeyType::kRsa2048));
  ClusterPolicy control13 = ecdsa_only;
  control13.min_control_tls_version = TlsVersion::kTls13;
  EXPECT_TRUE(Check(control13, pki::KeyType::kRsa2048, pki::KeyType::kEcP256));
}

TEST_F(DefaultClientsTest, ACipherGnuTlsDoesNotOfferIsRefused) {
  ExpectRefusedWith(ClusterPolicy{.cipher_suites = "ECDHE-ECDSA-AES256-SHA384"},
                    pki::KeyType::kEcP256, pki::KeyType::kEcP256,
                    "cipher_suites: control path: a default GnuTLS client (priority NORMAL) could "
                    "not connect over TLS 1.2 to an EC P-256 certificate (no shared TLS 1.2 "
                    "cipher: it offers none of ECDHE-ECDSA-AES256-SHA384)");
}

// Redis Enterprise's cluster object and rladmin spell the same settings their way.
TEST(ClusterPolicyTest, RedisFieldNamesMapOntoThePolicy) {
  auto redis = ApplyPolicyJson(
      ClusterPolicy{}, R"({"min_control_TLS_version":"1.3","min_data_TLS_version":1.2,)"
                       R"("control_cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256",)"
                       R"("control_cipher_suites_tls_1_3":"TLS_AES_256_GCM_SHA384",)"
                       R"("sentinel_ssl_policy":"Allowed","min_sentinel_TLS_version":"1.3"})");
  ASSERT_TRUE(redis) << redis.error().message;
  EXPECT_EQ(redis->min_control_tls_version, TlsVersion::kTls13);
  EXPECT_EQ(redis->min_data_tls_version, TlsVersion::kTls12);
  EXPECT_EQ(redis->cipher_suites, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(redis->tls13_ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(redis->sentinel_ssl_policy, SentinelSsl::kAllowed);
  EXPECT_EQ(redis->min_sentinel_tls_version, TlsVersion::kTls13);
  // The newer name of the Sentinel mode, and the page's default cipher string.
  auto newer = ApplyPolicyJson(
      ClusterPolicy{},
      R"({"sentinel_tls_mode":"disabled","cipher_suites":"HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:!aECDH"})");
  ASSERT_TRUE(newer) << newer.error().message;
  EXPECT_EQ(newer->sentinel_ssl_policy, SentinelSsl::kDisabled);
  // Back under Redis' names.
  const auto view = nlohmann::json::parse(PolicyToRedisJson(*redis));
  EXPECT_EQ(view["min_control_TLS_version"], "1.3");
  EXPECT_EQ(view["min_data_TLS_version"], "1.2");
  EXPECT_EQ(view["min_sentinel_TLS_version"], "1.3");
  EXPECT_EQ(view["sentinel_ssl_policy"], "allowed");
  EXPECT_EQ(view["control_cipher_suites"], "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(view["control_cipher_suites_tls_1_3"], "TLS_AES_256_GCM_SHA384");
}

TEST(ClusterPolicyTest, RedisNamesAreRefusedAsPreciselyAsOurs) {
  // RFC 8996 under Redis' spelling, naming the field as given.
  auto old = ApplyPolicyJson(ClusterPolicy{}, R"({"min_data_TLS_version":"1"})");
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("min_data_TLS_version: "), std::string::npos)
      << old.error().message;
  EXPECT_NE(old.error().message.find("RFC 8996"), std::string::npos) << old.error().message;
  ExpectRefused(R"({"min_sentinel_TLS_version":1.1})", "min_sentinel_TLS_version: ");
  ExpectRefused(R"({"sentinel_ssl_policy":"sometimes"})",
                "sentinel_ssl_policy: expected allowed (TLS and plain), required (TLS only) or "
                "disabled (plain only), got \"sometimes\"");
  ExpectRefused(R"({"sentinel_ssl_policy":true})", "sentinel_ssl_policy: expected");
  // One list for every path: Redis' per-path lists say what to set instead.
  ExpectRefused(R"({"data_cipher_list":"HIGH"})",
                "data_cipher_list: clustertls has one cipher list for every path: set "
                "cipher_suites (Redis' control_cipher_suites) instead");
  ExpectRefused(R"({"sentinel_cipher_suites_tls_1_3":"TLS_AES_256_GCM_SHA384"})",
                "set tls13_ciphersuites");
  // The same setting twice under two spellings.
  ExpectRefused(R"({"min_control_tls_version":"1.2","min_control_TLS_version":"1.3"})",
                "given twice");
  ExpectRefused(R"({"cipher_suites":"HIGH","control_cipher_suites":"HIGH"})", "given twice");
  // Other fields of Redis' cluster object are not policy fields.
  ExpectRefused(R"({"email_alerts":true})", "policy: unknown field \"email_alerts\"");
}

TEST(ClusterPolicyTest, NothingIsAppliedWhenOneFieldIsBad) {
  ClusterPolicy base;
  auto result =
      ApplyPolicyJson(base, R"({"client_auth":"required","min_control_tls_version":"1.1"})");
  ASSERT_FALSE(result);
  EXPECT_EQ(base, ClusterPolicy{});
}

TEST(ClusterPolicyTest, MalformedJsonIsAParseError) {
  ExpectRefused("{", "policy", core::ErrorCode::kParse);
  ExpectRefused("", "policy", core::ErrorCode::kParse);
  ExpectRefused("{\"client_auth\":\"none\"} trailing", "policy", core::ErrorCode::kParse);
  ExpectRefused("[1,2]", "policy");
  ExpectRefused("\"1.2\"", "policy");
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  ExpectRefused(deep, "nested", core::ErrorCode::kParse);
  std::string deep_object = "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}";
  ExpectRefused(deep_object, "nested", core::ErrorCode::kParse);
  // Brackets inside strings do not count as nesting.
  ExpectRefused("{\"client_auth\":\"" + std::string(100, '[') + "\"}", "client_auth");
  // Invalid UTF-8 in a field name does not crash.
  ExpectRefused("{\"\xff\xfe\":1}", "policy", core::ErrorCode::kParse);
}

// policy.json as the agent writes it: PolicyToJson plus the server's version.
TEST(ClusterPolicyTest, StoredPolicyReadsTheAgentsFile) {
  ClusterPolicy policy;
  policy.client_auth = ClientAuth::kRequired;
  policy.min_data_tls_version = TlsVersion::kTls13;
  policy.sentinel_ssl_policy = SentinelSsl::kAllowed;
  nlohmann::json doc = nlohmann::json::parse(PolicyToJson(policy));
  doc["version"] = 7;
  auto stored = ParseStoredPolicy(doc.dump(2) + "\n");
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->version, 7);
  EXPECT_EQ(stored->policy, policy);
  EXPECT_EQ(stored->policy.DataPolicy().min_version, TlsVersion::kTls13);
  EXPECT_EQ(stored->policy.DataPolicy().client_auth, ClientAuth::kRequired);
  EXPECT_EQ(stored->policy.SentinelPolicy().min_version, TlsVersion::kTls12);

  // A hand-written file may leave fields (and the version) out: defaults.
  auto partial = ParseStoredPolicy(R"({"client_auth":"optional"})");
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->version, 0);
  EXPECT_EQ(partial->policy.client_auth, ClientAuth::kOptional);

  auto bad_version = ParseStoredPolicy(R"({"version":"x"})");
  ASSERT_FALSE(bad_version);
  EXPECT_NE(bad_version.error().message.find("version"), std::string::npos);
  auto bad_field = ParseStoredPolicy(R"({"min_data_tls_version":"1.1","version":3})");
  ASSERT_FALSE(bad_field);
  EXPECT_NE(bad_field.error().message.find("min_data_tls_version"), std::string::npos);
  EXPECT_EQ(ParseStoredPolicy("not json").error().code, core::ErrorCode::kParse);
}

}  // namespace
}  // namespace clustertls::net
