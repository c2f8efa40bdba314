#include "pki/verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/test_pki_testutil.h"
#include "pki/verify_checks.h"

namespace clustertls::pki {
namespace {

using std::chrono::seconds;
using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// Fixtures of tests/fixtures/verify (made by its gen.sh with openssl ca).
Certificate Fixture(const std::string& name) {
  return Must(Certificate::FromPem(ReadTestFile("verify/" + name + ".pem")), name);
}
Crl CrlFixture(const std::string& name) {
  auto crl = Crl::Parse(ReadTestFile("verify/" + name + ".pem"));
  EXPECT_TRUE(crl) << name << ": " << crl.error().message;
  if (!crl) {
    std::abort();
  }
  return *crl;
}

core::TimePoint At(const char* text) {
  auto t = core::ParseTime(text);
  EXPECT_TRUE(t) << text;
  return t ? *t : core::TimePoint{};
}

// 2024-06-01: inside every fixture's validity.
const core::TimePoint kJune2024 =
    core::TimePoint(std::chrono::sys_days(std::chrono::year(2024) / 6 / 1));
// The server, client, nosan and revoked certificates' notAfter, exactly.
const core::TimePoint kLeafNotAfter =
    core::TimePoint(std::chrono::sys_days(std::chrono::year(2025) / 1 / 1));
const core::TimePoint kLeafNotBefore =
    core::TimePoint(std::chrono::sys_days(std::chrono::year(2024) / 1 / 1));

VerifyOptions ServerOptions(core::TimePoint at = kJune2024) {
  return VerifyOptions{.anchors = {Fixture("root")},
                       .untrusted = {Fixture("int")},
                       .host = "server.example.com",
                       .purpose = Purpose::kServer,
                       .at = at};
}

std::vector<std::string> Codes(const VerifyReport& report) {
  std::vector<std::string> codes;
  for (const VerifyProblem& p : report.problems) {
    codes.push_back(p.code);
  }
  return codes;
}

std::string Describe(const VerifyReport& report) {
  std::string out;
  for (const VerifyProblem& p : report.problems) {
    out += p.code + "@" + std::to_string(p.depth) + ": " + p.message + "\n";
  }
  return out;
}

TEST(VerifyTest, AcceptsAValidServerChainAndReturnsThePath) {
  Certificate server = Fixture("server");
  VerifyReport report = Verify(server, ServerOptions());
  EXPECT_TRUE(report.ok()) << Describe(report);
  ASSERT_EQ(report.path.size(), 3u);
  EXPECT_TRUE(report.path[0].Equals(server));
  EXPECT_TRUE(report.path[1].Equals(Fixture("int")));
  EXPECT_TRUE(report.path[2].Equals(Fixture("root")));
}

TEST(VerifyTest, ReportsEveryProblemAtOnce) {
  VerifyOptions options = ServerOptions(At("2026-01-01T00:00:00Z"));
  options.host = "other.example.com";
  options.purpose = Purpose::kClient;
  VerifyReport report = Verify(Fixture("server"), options);
  EXPECT_FALSE(report.ok());
  std::vector<std::string> codes = Codes(report);
  EXPECT_THAT(codes, Contains("expired")) << Describe(report);
  EXPECT_THAT(codes, Contains("hostname_mismatch")) << Describe(report);
  EXPECT_THAT(codes, Contains("purpose")) << Describe(report);
  for (const VerifyProblem& p : report.problems) {
    EXPECT_FALSE(p.message.empty());
    EXPECT_EQ(p.message.find('\n'), std::string::npos) << "one line: " << p.message;
  }
}

TEST(VerifyTest, NotAfterIsInclusive) {
  EXPECT_TRUE(Verify(Fixture("server"), ServerOptions(kLeafNotAfter)).ok())
      << Describe(Verify(Fixture("server"), ServerOptions(kLeafNotAfter)));
  VerifyReport late = Verify(Fixture("server"), ServerOptions(kLeafNotAfter + seconds(1)));
  EXPECT_THAT(Codes(late), UnorderedElementsAre("expired")) << Describe(late);
  EXPECT_EQ(late.problems.front().depth, 0);
}

TEST(VerifyTest, NotBeforeIsInclusive) {
  EXPECT_TRUE(Verify(Fixture("server"), ServerOptions(kLeafNotBefore)).ok());
  VerifyReport early = Verify(Fixture("server"), ServerOptions(kLeafNotBefore - seconds(1)));
  EXPECT_THAT(Codes(early), UnorderedElementsAre("not_yet_valid")) << Describe(early);
}

TEST(VerifyTest, RevokedCertificateIsReportedThroughTheCrl) {
  VerifyOptions options = ServerOptions();
  options.host = "revoked.example.com";
  options.crls = {CrlFixture("int-crl"), CrlFixture("root-crl")};
  VerifyReport report = Verify(Fixture("revoked"), options);
  EXPECT_THAT(Codes(report), UnorderedElementsAre("revoked")) << Describe(report);
  EXPECT_EQ(report.problems.front().depth, 0);

  // The same CRLs do not touch a certificate they do not list.
  VerifyOptions good = ServerOptions();
  good.crls = options.crls;
  VerifyReport ok = Verify(Fixture("server"), good);
  EXPECT_TRUE(ok.ok()) << Describe(ok);
}

TEST(VerifyTest, CrlCheckingCoversTheWholeChain) {
  // Only the intermediate's CRL: the intermediate's own status is unknown.
  VerifyOptions options = ServerOptions();
  options.crls = {CrlFixture("int-crl")};
  VerifyReport report = Verify(Fixture("server"), options);
  EXPECT_THAT(Codes(report), Contains("crl_missing")) << Describe(report);
}

TEST(VerifyTest, CrlsWithAChainFileAsAnchorsWalkUpToTheRoot) {
  // `verify --ca chain.pem --crl crls.pem`: the intermediate and the root both trusted. The path
  // must still reach the root, or the intermediate's status (in the root's CRL) is unknown.
  VerifyOptions options = ServerOptions();
  options.anchors = {Fixture("int"), Fixture("root")};
  options.untrusted = {};
  options.crls = {CrlFixture("int-crl"), CrlFixture("root-crl")};
  VerifyReport ok = Verify(Fixture("server"), options);
  EXPECT_TRUE(ok.ok()) << Describe(ok);
  ASSERT_EQ(ok.path.size(), 3u);
  EXPECT_TRUE(ok.path.back().IsSelfIssued());
  options.host = "revoked.example.com";
  VerifyReport revoked = Verify(Fixture("revoked"), options);
  EXPECT_THAT(Codes(revoked), UnorderedElementsAre("revoked")) << Describe(revoked);

  // Without CRLs a trusted intermediate still ends the path, as before.
  VerifyOptions no_crl = ServerOptions();
  no_crl.anchors = {Fixture("int"), Fixture("root")};
  no_crl.untrusted = {};
  VerifyReport short_path = Verify(Fixture("server"), no_crl);
  EXPECT_TRUE(short_path.ok()) << Describe(short_path);
  EXPECT_EQ(short_path.path.size(), 2u);
}

TEST(VerifyTest, NoCommonNameFallback) {
  VerifyOptions options = ServerOptions();
  options.host = "nosan.example.com";
  VerifyReport report = Verify(Fixture("nosan"), options);
  EXPECT_THAT(Codes(report), UnorderedElementsAre("hostname_mismatch")) << Describe(report);
}

TEST(VerifyTest, HostNamesMatchSansAndWholeLabelWildcardsOnly) {
  for (const char* host : {"server.example.com", "SERVER.example.com", "a.svc.example.com"}) {
    VerifyOptions options = ServerOptions();
    options.host = host;
    EXPECT_TRUE(Verify(Fixture("server"), options).ok()) << host;
  }
  for (const char* host : {"example.com", "svc.example.com", "a.b.svc.example.com",
                           "other.example.com", "server.example.co"}) {
    VerifyOptions options = ServerOptions();
    options.host = host;
    EXPECT_THAT(Codes(Verify(Fixture("server"), options)),
                UnorderedElementsAre("hostname_mismatch"))
        << host;
  }
}

TEST(VerifyTest, IpAddressesMatchSanIpEntriesOnly) {
  for (const char* ip : {"192.0.2.10", "2001:db8::10", "2001:0db8:0:0:0:0:0:10"}) {
    VerifyOptions options = ServerOptions();
    options.host.reset();
    options.ip = ip;
    VerifyReport report = Verify(Fixture("server"), options);
    EXPECT_TRUE(report.ok()) << ip << "\n" << Describe(report);
  }
  for (const char* ip : {"192.0.2.11", "2001:db8::11", "10.0.0.1"}) {
    VerifyOptions options = ServerOptions();
    options.host.reset();
    options.ip = ip;
    EXPECT_THAT(Codes(Verify(Fixture("server"), options)), UnorderedElementsAre("ip_mismatch"))
        << ip;
  }
  VerifyOptions bad = ServerOptions();
  bad.host.reset();
  bad.ip = "not-an-ip";
  EXPECT_THAT(Codes(Verify(Fixture("server"), bad)), Contains("ip_mismatch"));
}

TEST(VerifyTest, ClientPurposeAndEmail) {
  VerifyOptions options{.anchors = {Fixture("root")},
                        .untrusted = {Fixture("int")},
                        .emails = {"client@example.com"},
                        .purpose = Purpose::kClient,
                        .at = kJune2024};
  VerifyReport report = Verify(Fixture("client"), options);
  EXPECT_TRUE(report.ok()) << Describe(report);

  options.emails = {"someone@example.com"};
  EXPECT_THAT(Codes(Verify(Fixture("client"), options)), UnorderedElementsAre("email_mismatch"));

  options.emails.clear();
  options.purpose = Purpose::kServer;
  EXPECT_THAT(Codes(Verify(Fixture("client"), options)), UnorderedElementsAre("purpose"));
  // A server certificate is no client certificate.
  options.purpose = Purpose::kClient;
  EXPECT_THAT(Codes(Verify(Fixture("server"), options)), UnorderedElementsAre("purpose"));
}

TEST(VerifyTest, MissingIntermediateAndWrongAnchor) {
  VerifyOptions options = ServerOptions();
  options.untrusted.clear();
  VerifyReport report = Verify(Fixture("server"), options);
  EXPECT_THAT(Codes(report), Contains("missing_issuer")) << Describe(report);
  ASSERT_FALSE(report.path.empty());
  EXPECT_TRUE(report.path[0].Equals(Fixture("server")));

  VerifyOptions other = ServerOptions();
  other.anchors = {Fixture("other")};
  EXPECT_THAT(Codes(Verify(Fixture("server"), other)), Contains("missing_issuer"));
}

TEST(VerifyTest, TriesAnotherPathWhenTheFirstDeadEnds) {
  // int-x has the intermediate's name and key but is signed by an untrusted root; OpenSSL
  // takes the first matching issuer and does not backtrack (`openssl verify -untrusted` with
  // int-x first fails: "unable to get local issuer certificate").
  VerifyOptions options = ServerOptions();
  options.untrusted = {Fixture("int-x"), Fixture("int")};
  VerifyReport report = Verify(Fixture("server"), options);
  EXPECT_TRUE(report.ok()) << Describe(report);
  ASSERT_EQ(report.path.size(), 3u);
  EXPECT_TRUE(report.path[1].Equals(Fixture("int")));
  EXPECT_TRUE(report.path[2].Equals(Fixture("root")));

  options.untrusted = {Fixture("int-x")};
  EXPECT_FALSE(Verify(Fixture("server"), options).ok());
}

TEST(VerifyTest, IntermediateAsAnchorIsAPartialChain) {
  VerifyOptions options = ServerOptions();
  options.anchors = {Fixture("int")};
  options.untrusted.clear();
  VerifyReport report = Verify(Fixture("server"), options);
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.path.size(), 2u);
}

TEST(VerifyTest, CaCertificateIsNoLeaf) {
  VerifyOptions options = ServerOptions();
  options.host.reset();
  options.purpose = Purpose::kAny;
  VerifyReport report = Verify(Fixture("int"), options);
  EXPECT_THAT(Codes(report), Contains("ca_as_leaf")) << Describe(report);
}

TEST(VerifyTest, MaxDepthCountsIntermediates) {
  VerifyOptions options = ServerOptions();
  options.max_depth = 1;
  EXPECT_TRUE(Verify(Fixture("server"), options).ok());
  options.max_depth = 0;
  EXPECT_THAT(Codes(Verify(Fixture("server"), options)), UnorderedElementsAre("chain_too_long"));
}

// The pure checks of verify_checks.h.

ossl::Ptr<ASN1_INTEGER> Integer(const std::string& hex, bool negative = false) {
  BIGNUM* raw = nullptr;
  EXPECT_GT(BN_hex2bn(&raw, hex.c_str()), 0);
  auto bn = ossl::Own(raw);
  BN_set_negative(bn.get(), negative ? 1 : 0);
  return ossl::Own(BN_to_ASN1_INTEGER(bn.get(), nullptr));
}

TEST(VerifyChecksTest, SerialsArePositiveAndAtMostTwentyOctets) {
  using verify_checks::CheckSerial;
  EXPECT_EQ(CheckSerial(Integer("01").get()), std::nullopt);
  // 20 octets whose high bit is clear: fine; 20 octets with the high bit set need a 21st.
  EXPECT_EQ(CheckSerial(Integer(std::string(40, '7')).get()), std::nullopt);
  EXPECT_NE(CheckSerial(Integer(std::string(40, 'F')).get()), std::nullopt);
  EXPECT_NE(CheckSerial(Integer(std::string(42, '1')).get()), std::nullopt);
  EXPECT_NE(CheckSerial(Integer("00").get()), std::nullopt);
  EXPECT_NE(CheckSerial(Integer("05", true).get()), std::nullopt);
}

TEST(VerifyChecksTest, DnsSanSyntax) {
  using verify_checks::IsValidDnsSan;
  for (const char* ok :
       {"example.com", "a-b.example.com", "*.example.com", "xn--n3h.example", "EXAMPLE.com",
        // Single-label names are normal inside a cluster (quickstart's "localhost").
        "localhost", "redis-node1"}) {
    EXPECT_TRUE(IsValidDnsSan(ok)) << ok;
  }
  for (const char* bad : {"", "*", "*.com", "foo_bar.example.com", "ba*.example.com",
                          "foo.*.example.com", ".example.com", "example.com.", "-a.example.com",
                          "a..example.com", "8.8.8.8x y", "\xf0\x9f\x98\x9c.example.com"}) {
    EXPECT_FALSE(IsValidDnsSan(bad)) << bad;
  }
  EXPECT_FALSE(IsValidDnsSan(std::string(64, 'a') + ".example.com"));
}

TEST(VerifyChecksTest, EmailSanSyntax) {
  using verify_checks::IsValidEmailSan;
  EXPECT_TRUE(IsValidEmailSan("user@example.com"));
  EXPECT_TRUE(IsValidEmailSan("*@example.com"));
  EXPECT_FALSE(IsValidEmailSan("invalid@address@example.com"));
  EXPECT_FALSE(IsValidEmailSan("@example.com"));
  EXPECT_FALSE(IsValidEmailSan("user@"));
  EXPECT_FALSE(IsValidEmailSan("us er@example.com"));
}

TEST(VerifyChecksTest, DepthCountSkipsSelfIssuedIntermediates) {
  Certificate server = Fixture("server");
  Certificate inter = Fixture("int");
  Certificate root = Fixture("root");
  std::vector<X509*> path = {server.get(), inter.get(), root.get()};
  EXPECT_EQ(verify_checks::CountedIntermediates(path, true), 1);
  // Unanchored, the last certificate counts too, unless it is self-issued like this root.
  EXPECT_EQ(verify_checks::CountedIntermediates(path, false), 1);
  std::vector<X509*> two = {server.get(), inter.get()};
  EXPECT_EQ(verify_checks::CountedIntermediates(two, false), 1);
  EXPECT_EQ(verify_checks::CountedIntermediates(two, true), 0);
  std::vector<X509*> self_issued = {server.get(), root.get(), root.get()};
  EXPECT_EQ(verify_checks::CountedIntermediates(self_issued, true), 0);
}

TEST(VerifyChecksTest, CertificatesFromTheTestPkiPass) {
  // The issuer's own output passes every check of ours (with its chain as anchors).
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki, "svc.example.com");
  VerifyReport report = Verify(leaf.cert, VerifyOptions{.anchors = {pki.root},
                                                        .untrusted = {pki.intermediate},
                                                        .host = "svc.example.com",
                                                        .purpose = Purpose::kServer,
                                                        .at = pki.now});
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_THAT(Codes(report), IsEmpty());
  EXPECT_THAT(Codes(Verify(leaf.cert, VerifyOptions{.anchors = {pki.root},
                                                    .untrusted = {pki.intermediate},
                                                    .host = "other.example.com",
                                                    .purpose = Purpose::kServer,
                                                    .at = pki.now})),
              Not(IsEmpty()));
}

}  // namespace
}  // namespace clustertls::pki
