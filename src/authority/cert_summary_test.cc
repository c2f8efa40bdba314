#include "authority/cert_summary.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(SansJson(sans),
            R"(["DNS:a.example.com","DNS:b.example.com","IP:10.0.0.1","IP:::1",)"
            R"("URI:spiffe://example.com/x","email:ops@example.com"])");
  EXPECT_EQ(SansJson({}), "[]");
}

}  // namespace
}  // namespace clustertls::authority
