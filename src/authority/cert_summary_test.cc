#include "authority/cert_summary.h"

#include <gtest/gtest.h>

#include <string>

#include "core/files.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

// The summary must say exactly what pki::Certificate (OpenSSL's full d2i_X509) says.
void ExpectSameAsCertificate(const pki::Certificate& cert) {
  SCOPED_TRACE(cert.subject());
  CertSummary s = Must(SummarizeCertificateDer(cert.ToDer()));
  EXPECT_EQ(s.serial_hex, cert.serial_hex());
  EXPECT_EQ(s.common_name, cert.common_name());
  EXPECT_EQ(s.sans, cert.sans());
  EXPECT_EQ(s.not_before, cert.not_before());
  EXPECT_EQ(s.not_after, cert.not_after());
  EXPECT_EQ(CertificatePemFromDer(cert.ToDer()), cert.ToPem());
}

TEST(CertSummaryTest, MatchesTheFullParser) {
  pki::TestPki pki = pki::MakeTestPki();
  ExpectSameAsCertificate(pki.root);
  ExpectSameAsCertificate(pki.intermediate);
  ExpectSameAsCertificate(pki::IssueLeaf(pki, "web.example.com").cert);
  ExpectSameAsCertificate(pki::IssueLeaf(pki, "10.1.2.3").cert);
  ExpectSameAsCertificate(
      pki::IssueLeaf(pki.issuing,
                     pki::IssueRequest{.profile = pki::Profile::kPeer,
                                       .common_name = "node.example.com",
                                       .sans = {.dns = {"*.node.example.com", "xn--bcher-kva.de"},
                                                .ips = {"2001:db8::1", "192.0.2.9"},
                                                .uris = {"spiffe://cluster/node"},
                                                .emails = {"ops@example.com"}},
                                       .validity = std::chrono::days(7)},
                     pki::KeyType::kEd25519)
          .cert);
  ExpectSameAsCertificate(
      pki::IssueLeaf(pki, "rsa.example.com", pki::Profile::kClient, pki::KeyType::kRsa2048).cert);
}

TEST(CertSummaryTest, RefusesWhatIsNotOneCertificate) {
  pki::TestPki pki = pki::MakeTestPki();
  const std::string der = pki.root.ToDer();
  for (const std::string& bad :
       {std::string(), std::string("garbage"), der.substr(0, der.size() - 1), der + "x"}) {
    auto r = SummarizeCertificateDer(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kParse);
  }
}

// Found with tests/fuzz/cert_summary: a certificate with two subjectAltName extensions, whose
// names OpenSSL reads as none (X509_get_ext_d2i) while the summary read the first's.
TEST(CertSummaryTest, RefusesARepeatedSubjectAltName) {
  auto der = core::ReadFile(
      std::string(CTLS_TESTDATA_DIR) + "/../fuzz/corpus/cert_summary/san-twice.der", 1 << 20);
  ASSERT_TRUE(der) << der.error().message;
  auto r = SummarizeCertificateDer(*der);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  EXPECT_NE(r.error().message.find("more than one subjectAltName"), std::string::npos);
}

}  // namespace
}  // namespace clustertls::authority

namespace clustertls::authority {
namespace {

TEST(SansJsonTest, ListsEveryKindInRecordOrder) {
  pki::SubjectAltNames sans;
  sans.dns = {"a.example.com", "b.example.com"};
  sans.ips = {"10.0.0.1", "::1"};
  sans.uris = {"spiffe://example.com/x"};
  sans.emails = {"ops@example.com"};
  EXPECT_EQ(SansJson(sans), R"(["DNS:a.example.com","DNS:b.example.com","IP:10.0.0.1","IP:::1",)"
                            R"("URI:spiffe://example.com/x","email:ops@example.com"])");
  EXPECT_EQ(SansJson({}), "[]");
}

// Found with tests/fuzz/cert_summary (corpus/cert_summary/san-not-utf8.der, a certificate whose
// dNSName holds 0x93...): json::dump() threw type_error 316 on bytes that are not UTF-8.
TEST(SansJsonTest, ReplacesBytesThatAreNotUtf8) {
  pki::SubjectAltNames sans;
  sans.dns = {"server.exa\x93.com"};
  sans.emails = {"a\xff@example.com"};
  EXPECT_EQ(SansJson(sans),
            "[\"DNS:server.exa\xEF\xBF\xBD.com\",\"email:a\xEF\xBF\xBD@example.com\"]");
}

}  // namespace
}  // namespace clustertls::authority
