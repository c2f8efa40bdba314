#include "server/cluster_policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace clustertls::server {
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
                std::string(net::kDefaultTls13Ciphersuites) + "\",\"client_auth\":\"none\"}");
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
                       .client_auth = ClientAuth::kRequired};
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

}  // namespace
}  // namespace clustertls::server
