#include "pki/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/objects.h>

#include <string>

#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;
using ::testing::HasSubstr;

class CsrRoundTripTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CsrRoundTripTest, CreateThenParsePemAndDer) {
  PrivateKey key = TestKey(GetParam(), 3);
  auto csr = Csr::Create(key, CsrOptions{.common_name = "App.Example.com",
                                         .subject_extra = {{"O", "Example"}, {"C", "US"}},
                                         .sans = {.dns = {"api.example.com"},
                                                  .ips = {"2001:DB8::1"},
                                                  .uris = {"spiffe://example/app"},
                                                  .emails = {"ops@example.com"}}});
  ASSERT_TRUE(csr.has_value()) << csr.error().message;

  for (const std::string& encoded : {csr->ToPem(), csr->ToDer()}) {
    auto parsed = Csr::Parse(encoded);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(parsed->common_name(), "app.example.com");
    // RFC 2253 order: last RDN first.
    EXPECT_EQ(parsed->subject(), "CN=app.example.com,C=US,O=Example");
    SubjectAltNames want{.dns = {"api.example.com", "app.example.com"},
                         .ips = {"2001:db8::1"},
                         .uris = {"spiffe://example/app"},
                         .emails = {"ops@example.com"}};
    EXPECT_EQ(parsed->sans(), want);
    EXPECT_TRUE(parsed->public_key().Equals(key.public_key()));
    EXPECT_EQ(parsed->ToDer(), csr->ToDer());
    EXPECT_EQ(X509_REQ_get_version(parsed->get()), X509_REQ_VERSION_1);
  }
  EXPECT_THAT(csr->ToPem(), HasSubstr("-----BEGIN CERTIFICATE REQUEST-----"));

  // Signature algorithm: SHA-256 for P-256 and RSA, pure EdDSA for Ed25519.
  const int sig_nid = X509_REQ_get_signature_nid(csr->get());
  switch (GetParam()) {
    case KeyType::kEcP256:
      EXPECT_EQ(sig_nid, NID_ecdsa_with_SHA256);
      break;
    case KeyType::kRsa2048:
      EXPECT_EQ(sig_nid, NID_sha256WithRSAEncryption);
      break;
    case KeyType::kEd25519:
      EXPECT_EQ(sig_nid, NID_ED25519);
      break;
    default:
      break;
  }
  // Cross-check with OpenSSL directly.
  EXPECT_EQ(X509_REQ_verify(csr->get(), key.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CsrRoundTripTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kRsa2048, KeyType::kEd25519),
                         [](const auto& info) {
                           std::string n = KeyTypeName(info.param);
                           n.erase(std::remove(n.begin(), n.end(), '-'), n.end());
                           return n;
                         });

TEST(CsrCreateTest, IpCommonNameBecomesIpSan) {
  auto csr = Csr::Create(NewTestKey(KeyType::kEcP256), CsrOptions{.common_name = "10.0.0.7"});
  ASSERT_TRUE(csr.has_value()) << csr.error().message;
  EXPECT_EQ(csr->sans().ips, std::vector<std::string>{"10.0.0.7"});
  EXPECT_TRUE(csr->sans().dns.empty());
}

TEST(CsrCreateTest, HumanCommonNameIsKeptOutOfSans) {
  auto csr = Csr::Create(NewTestKey(KeyType::kEcP256), CsrOptions{.common_name = "Alice Smith"});
  ASSERT_TRUE(csr.has_value()) << csr.error().message;
  EXPECT_EQ(csr->common_name(), "Alice Smith");
  EXPECT_TRUE(csr->sans().empty());
}

TEST(CsrCreateTest, RefusesInvalidNames) {
  PrivateKey key = NewTestKey(KeyType::kEcP256);
  auto bad_dns =
      Csr::Create(key, CsrOptions{.common_name = "ok.example.com", .sans = {.dns = {"*.*.x"}}});
  ASSERT_FALSE(bad_dns.has_value());
  EXPECT_EQ(bad_dns.error().code, ErrorCode::kInvalidName);
  EXPECT_THAT(bad_dns.error().message, HasSubstr("\"*.*.x\""));

  auto bad_ip =
      Csr::Create(key, CsrOptions{.common_name = "ok.example.com", .sans = {.ips = {"1.2.3"}}});
  ASSERT_FALSE(bad_ip.has_value());
  EXPECT_EQ(bad_ip.error().code, ErrorCode::kInvalidName);

  auto no_cn = Csr::Create(key, CsrOptions{});
  ASSERT_FALSE(no_cn.has_value());
  EXPECT_EQ(no_cn.error().code, ErrorCode::kInvalidArgument);

  auto bad_attr = Csr::Create(
      key, CsrOptions{.common_name = "a.example.com", .subject_extra = {{"NotAnAttribute", "x"}}});
  ASSERT_FALSE(bad_attr.has_value());
  EXPECT_EQ(bad_attr.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_attr.error().message, HasSubstr("NotAnAttribute"));

  auto bad_country =
      Csr::Create(key, CsrOptions{.common_name = "a.example.com", .subject_extra = {{"C", "USA"}}});
  ASSERT_FALSE(bad_country.has_value());
  EXPECT_EQ(bad_country.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_country.error().message, HasSubstr("2 letters"));
}

TEST(CsrParseTest, ReadsOpensslMadeRequests) {
  for (const char* file :
       {"csr/ok-ec.csr.pem", "csr/ok-ec.csr.der", "csr/ok-ec-new-label.csr.pem"}) {
    auto csr = Csr::Parse(ReadTestFile(file));
    ASSERT_TRUE(csr.has_value()) << file << ": " << csr.error().message;
    EXPECT_EQ(csr->common_name(), "app.example.com") << file;
    EXPECT_EQ(csr->subject(), "CN=app.example.com,O=Fixture Org") << file;
    // As written in the request: not canonicalised here.
    EXPECT_EQ(csr->sans().dns, (std::vector<std::string>{"app.example.com", "API.Example.COM"}));
    EXPECT_EQ(csr->sans().ips, std::vector<std::string>{"10.1.2.3"});
    EXPECT_EQ(csr->public_key().Describe(), "EC P-256");
  }
  auto rsa = Csr::Parse(ReadTestFile("csr/ok-rsa.csr.pem"));
  ASSERT_TRUE(rsa.has_value()) << rsa.error().message;
  EXPECT_EQ(rsa->common_name(), "rsa.example.com");
  EXPECT_TRUE(rsa->sans().empty());
  auto ed = Csr::Parse(ReadTestFile("csr/ok-ed25519.csr.pem"));
  ASSERT_TRUE(ed.has_value()) << ed.error().message;
  EXPECT_EQ(ed->public_key().Describe(), "Ed25519");
}

TEST(CsrParseTest, RefusesABrokenSignature) {
  // Made by openssl, last signature byte flipped.
  auto fixture = Csr::Parse(ReadTestFile("csr/bad-signature.csr.der"));
  ASSERT_FALSE(fixture.has_value());
  EXPECT_EQ(fixture.error().code, ErrorCode::kBadSignature);
  EXPECT_EQ(fixture.error().message, "CSR signature does not verify");

  // Made here: flip a byte in the middle of the signature BIT STRING of a DER CSR.
  auto csr = Must(
      Csr::Create(NewTestKey(KeyType::kEcP256), CsrOptions{.common_name = "flip.example.com"}));
  std::string der = csr.ToDer();
  const ASN1_BIT_STRING* sig = nullptr;
  X509_REQ_get0_signature(csr.get(), &sig, nullptr);
  ASSERT_NE(sig, nullptr);
  // The signature value is the tail of the DER.
  std::size_t pos = der.size() - static_cast<std::size_t>(ASN1_STRING_length(sig)) / 2;
  der[pos] = static_cast<char>(der[pos] ^ 0x40);
  auto broken = Csr::Parse(der);
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code, ErrorCode::kBadSignature);

  // A changed subject (the signed content) also breaks it.
  std::string der2 = csr.ToDer();
  std::size_t at = der2.find("flip");
  ASSERT_NE(at, std::string::npos);
  der2[at] = 'F';
  auto changed = Csr::Parse(der2);
  ASSERT_FALSE(changed.has_value());
  EXPECT_EQ(changed.error().code, ErrorCode::kBadSignature);
}

TEST(CsrParseTest, RefusesAWeakKey) {
  auto weak = Csr::Parse(ReadTestFile("csr/weak-rsa1024.csr.pem"));
  ASSERT_FALSE(weak.has_value());
  EXPECT_EQ(weak.error().code, ErrorCode::kWeakKey);
  EXPECT_THAT(weak.error().message, HasSubstr("1024"));
}

TEST(CsrParseTest, RefusesGarbageAndTruncation) {
  auto garbage = Csr::Parse("hello, world");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().code, ErrorCode::kParse);

  std::string der = ReadTestFile("csr/ok-ec.csr.der");
  auto truncated = Csr::Parse(std::string_view(der).substr(0, der.size() - 10));
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code, ErrorCode::kParse);

  auto trailing = Csr::Parse(der + "xx");
  ASSERT_FALSE(trailing.has_value());
  EXPECT_EQ(trailing.error().code, ErrorCode::kParse);
  EXPECT_THAT(trailing.error().message, HasSubstr("trailing"));

  std::string pem = ReadTestFile("csr/ok-ec.csr.pem");
  auto corrupt =
      Csr::Parse(pem.substr(0, pem.size() / 2) + "\n-----END CERTIFICATE REQUEST-----\n");
  ASSERT_FALSE(corrupt.has_value());
  EXPECT_EQ(corrupt.error().code, ErrorCode::kParse);

  // A certificate is not a CSR.
  auto cert = Csr::Parse("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(cert.has_value());
  EXPECT_EQ(cert.error().code, ErrorCode::kParse);
}

}  // namespace
}  // namespace clustertls::pki
