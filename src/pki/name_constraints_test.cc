#include "pki/name_constraints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "ossl/csprng.h"
#include "pki/extensions.h"
#include "pki/issuer.h"
#include "pki/names.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Ip(std::string_view text) { return Must(IpAddressBytes(text), "ip"); }
std::string Net(std::string_view cidr) {
  IpNetwork net = Must(ParseCidr(cidr), "cidr");
  return net.address + net.mask;
}

TEST(DnsNameInSubtreeTest, FollowsRfc5280AndOpenssl) {
  EXPECT_TRUE(DnsNameInSubtree("example.com", "example.com"));
  EXPECT_TRUE(DnsNameInSubtree("a.b.example.com", "example.com"));
  EXPECT_TRUE(DnsNameInSubtree("A.Example.COM", "example.com"));
  EXPECT_FALSE(DnsNameInSubtree("notexample.com", "example.com"));
  EXPECT_FALSE(DnsNameInSubtree("example.org", "example.com"));
  EXPECT_FALSE(DnsNameInSubtree("com", "example.com"));
  // A leading '.' means the names below only.
  EXPECT_FALSE(DnsNameInSubtree("example.com", ".example.com"));
  EXPECT_TRUE(DnsNameInSubtree("a.example.com", ".example.com"));
  EXPECT_FALSE(DnsNameInSubtree("aexample.com", ".example.com"));
  // The empty subtree holds every name; a wildcard is matched as a string.
  EXPECT_TRUE(DnsNameInSubtree("anything.example", ""));
  EXPECT_TRUE(DnsNameInSubtree("*.example.com", "example.com"));
  EXPECT_FALSE(DnsNameInSubtree("*.example.com", "a.example.com"));
}

TEST(IpAddressInSubtreeTest, MatchesUnderTheMask) {
  EXPECT_TRUE(IpAddressInSubtree(Ip("127.0.0.5"), Net("127.0.0.0/8")));
  EXPECT_TRUE(IpAddressInSubtree(Ip("127.255.255.255"), Net("127.0.0.0/8")));
  EXPECT_FALSE(IpAddressInSubtree(Ip("10.1.2.3"), Net("127.0.0.0/8")));
  EXPECT_TRUE(IpAddressInSubtree(Ip("10.0.0.1"), Net("10.0.0.1")));  // a /32
  EXPECT_FALSE(IpAddressInSubtree(Ip("10.0.0.2"), Net("10.0.0.1")));
  EXPECT_TRUE(IpAddressInSubtree(Ip("2001:db8::1"), Net("2001:db8::/32")));
  EXPECT_FALSE(IpAddressInSubtree(Ip("2001:db9::1"), Net("2001:db8::/32")));
  EXPECT_TRUE(IpAddressInSubtree(Ip("1.2.3.4"), Net("0.0.0.0/0")));
  // Families never mix, not even ::ffff:127.0.0.1 with 127.0.0.0/8.
  EXPECT_FALSE(IpAddressInSubtree(Ip("::ffff:127.0.0.1"), Net("127.0.0.0/8")));
  EXPECT_FALSE(IpAddressInSubtree(Ip("127.0.0.1"), Net("::/0")));
}

TEST(WildcardEscapesConstraintsTest, ExcludedAndPermittedSubtrees) {
  // CVE-2025-61727: *.example.com may name bar.example.com, which is excluded.
  EXPECT_TRUE(WildcardEscapesConstraints("example.com", {}, {"bar.example.com"}));
  EXPECT_TRUE(WildcardEscapesConstraints("example.com", {}, {"example.com"}));
  EXPECT_TRUE(WildcardEscapesConstraints("a.example.com", {}, {"example.com"}));
  // ...and names outside a permitted foo.example.com.
  EXPECT_TRUE(WildcardEscapesConstraints("example.com", {"foo.example.com"}, {}));
  // Fine: every name of *.example.com lies under example.com, none under x.y.example.com.
  EXPECT_FALSE(WildcardEscapesConstraints("example.com", {"example.com"}, {}));
  EXPECT_FALSE(WildcardEscapesConstraints("example.com", {".example.com"}, {}));
  EXPECT_FALSE(WildcardEscapesConstraints("example.com", {}, {"x.y.example.com"}));
  EXPECT_FALSE(WildcardEscapesConstraints("example.com", {}, {"other.com"}));
  EXPECT_FALSE(WildcardEscapesConstraints("example.com", {}, {}));
}

// Issues from `issuer`, returning the error message ("" on success).
std::string IssueError(const Issuer& issuer, const IssueRequest& request) {
  ossl::Csprng rng;
  PrivateKey key = TestKey(KeyType::kEcP256, 2);
  auto cert = issuer.Issue(request, key.public_key(), kTestReferenceTime, rng);
  if (cert) {
    return "";
  }
  EXPECT_EQ(cert.error().code, ErrorCode::kInvalidName) << cert.error().message;
  return cert.error().message;
}

// X509_verify_cert (what `openssl verify` runs) on `leaf` with `anchor` trusted and
// `intermediates` untrusted, at kTestReferenceTime; X509_V_OK or the error.
int OpensslVerify(const Certificate& leaf, const Certificate& anchor,
                  const std::vector<Certificate>& intermediates) {
  auto store = ossl::Own(X509_STORE_new());
  X509_STORE_add_cert(store.get(), anchor.get());
  ossl::X509Stack untrusted(sk_X509_new_null());
  for (const Certificate& c : intermediates) {
    X509_up_ref(c.get());
    sk_X509_push(untrusted.get(), c.get());
  }
  auto ctx = ossl::Own(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param,
                             static_cast<time_t>(kTestReferenceTime.time_since_epoch().count()));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

IssueRequest Leaf(std::string cn, SubjectAltNames sans = {}) {
  return IssueRequest{.profile = Profile::kServer, .common_name = std::move(cn), .sans = sans};
}

class IssuerNameConstraintsTest : public ::testing::Test {
 protected:
  static const TestPki& Pki() {
    static const TestPki* pki = new TestPki(MakeTestPki({
        .intermediate_constraints = {.permitted_dns = {"example.com", ".internal.example"},
                                     .excluded_dns = {"bad.example.com"},
                                     .permitted_ip = {"127.0.0.0/8", "2001:db8::/32"},
                                     .excluded_ip = {"127.0.0.66/32"}},
    }));
    return *pki;
  }
  static constexpr const char* kOf =
      "is outside the name constraints of \"CN=clustertls Test Intermediate CA,O=clustertls "
      "tests\"";
};

TEST_F(IssuerNameConstraintsTest, IssuesNamesInsideAndTheVerifierAgrees) {
  for (const IssueRequest& request : {
           Leaf("example.com"),
           Leaf("a.example.com", {.ips = {"127.0.0.5", "2001:db8::7"}}),
           Leaf("deep.a.example.com", {.dns = {"*.a.example.com", "x.internal.example"}}),
           Leaf("127.0.0.1", {.dns = {"b.example.com"}}),  // a DNS SAN: the CN is not a DNS-ID
           Leaf("ops@example.com", {.dns = {"c.example.com"}, .uris = {"spiffe://other.org/x"}}),
       }) {
    SCOPED_TRACE(request.common_name);
    EXPECT_EQ(IssueError(Pki().issuing, request), "");
    TestLeaf leaf = IssueLeaf(Pki().issuing, request);
    EXPECT_EQ(OpensslVerify(leaf.cert, Pki().root, {Pki().intermediate}), X509_V_OK);
  }
}

// The issuer refuses what OpenSSL's verifier refuses: each name, signed by a twin of the
// intermediate without constraints (same name and key), fails `openssl verify` exactly when the
// issuer refuses it; wildcards are refused beyond that (OpenSSL matches them as strings).
TEST_F(IssuerNameConstraintsTest, RefusesWhatOpensslRefuses) {
  ossl::Csprng rng;
  Certificate twin =
      Must(Pki().root_issuer.Issue({.profile = Profile::kIntermediateCa,
                                    .common_name = "clustertls Test Intermediate CA",
                                    .subject_extra = {{"O", "clustertls tests"}},
                                    .validity = std::chrono::days(730),
                                    .path_len = 0},
                                   Pki().intermediate_key.public_key(), kTestReferenceTime, rng));
  Issuer unconstrained = Must(Issuer::Create(twin, Pki().intermediate_key, {Pki().root}));
  struct Case {
    IssueRequest request;
    bool openssl_refuses;
  };
  for (const Case& c : std::vector<Case>{
           {Leaf("example.com"), false},
           {Leaf("x.y.example.com"), false},
           {Leaf("evil.org"), true},
           {Leaf("notexample.com"), true},
           {Leaf("internal.example"), true},
           {Leaf("a.internal.example"), false},
           {Leaf("bad.example.com"), true},
           {Leaf("x.bad.example.com"), true},
           {Leaf("a.example.com", {.ips = {"127.1.2.3"}}), false},
           {Leaf("a.example.com", {.ips = {"127.0.0.66"}}), true},
           {Leaf("a.example.com", {.ips = {"10.1.2.3"}}), true},
           {Leaf("a.example.com", {.ips = {"2001:db8::1"}}), false},
           {Leaf("a.example.com", {.ips = {"2001:db9::1"}}), true},
           {Leaf("127.0.0.5"), true},  // the CN as a DNS-ID (no DNS SAN)
           {Leaf("127.0.0.5", {.dns = {"a.example.com"}}), false},
       }) {
    const std::string what = c.request.common_name +
                             (c.request.sans.ips.empty() ? "" : " " + c.request.sans.ips.front());
    SCOPED_TRACE(what);
    TestLeaf leaf = IssueLeaf(unconstrained, c.request);
    const int verdict = OpensslVerify(leaf.cert, Pki().root, {Pki().intermediate});
    EXPECT_EQ(verdict != X509_V_OK, c.openssl_refuses) << X509_verify_cert_error_string(verdict);
    EXPECT_EQ(!IssueError(Pki().issuing, c.request).empty(), c.openssl_refuses);
  }
  // OpenSSL takes *.example.com although it matches the excluded bad.example.com; the issuer
  // does not.
  IssueRequest wildcard = Leaf("a.example.com", {.dns = {"*.example.com"}});
  EXPECT_EQ(
      OpensslVerify(IssueLeaf(unconstrained, wildcard).cert, Pki().root, {Pki().intermediate}),
      X509_V_OK);
  EXPECT_NE(IssueError(Pki().issuing, wildcard), "");
}

TEST_F(IssuerNameConstraintsTest, RefusesDnsNamesOutsideNamingTheConstraint) {
  EXPECT_EQ(
      IssueError(Pki().issuing, Leaf("evil.org")),
      std::string("DNS:evil.org ") + kOf + " (permitted DNS: example.com, .internal.example)");
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("a.example.com", {.dns = {"notexample.com"}})),
              HasSubstr("DNS:notexample.com " + std::string(kOf)));
  // ".internal.example" holds the names below it only.
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("internal.example")),
              HasSubstr("DNS:internal.example " + std::string(kOf)));
  // Excluded wins over permitted.
  EXPECT_EQ(IssueError(Pki().issuing, Leaf("x.bad.example.com")),
            std::string("DNS:x.bad.example.com ") + kOf + " (excluded DNS: bad.example.com)");
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("bad.example.com")),
              HasSubstr("(excluded DNS: bad.example.com)"));
}

TEST_F(IssuerNameConstraintsTest, RefusesIpAddressesOutside) {
  EXPECT_EQ(IssueError(Pki().issuing, Leaf("a.example.com", {.ips = {"10.1.2.3"}})),
            std::string("IP:10.1.2.3 ") + kOf + " (permitted IP: 127.0.0.0/8, 2001:db8::/32)");
  EXPECT_EQ(IssueError(Pki().issuing, Leaf("a.example.com", {.ips = {"127.0.0.66"}})),
            std::string("IP:127.0.0.66 ") + kOf + " (excluded IP: 127.0.0.66/32)");
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("a.example.com", {.ips = {"::1"}})),
              HasSubstr("IP:::1 " + std::string(kOf)));
}

TEST_F(IssuerNameConstraintsTest, RefusesWildcardsThatMayMatchOutside) {
  // *.example.com would match bad.example.com, which is excluded (CVE-2025-61727).
  EXPECT_EQ(IssueError(Pki().issuing, Leaf("a.example.com", {.dns = {"*.example.com"}})),
            "DNS:*.example.com may match names outside the name constraints of \"CN=clustertls "
            "Test Intermediate CA,O=clustertls tests\" (permitted DNS: example.com, "
            ".internal.example; excluded DNS: bad.example.com)");
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("a.example.com", {.dns = {"*.bad.example.com"}})),
              HasSubstr("DNS:*.bad.example.com " + std::string(kOf)));
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("a.example.com", {.dns = {"*.evil.org"}})),
              HasSubstr("DNS:*.evil.org " + std::string(kOf)));
  EXPECT_EQ(IssueError(Pki().issuing, Leaf("a.example.com", {.dns = {"*.internal.example"}})), "");
}

// Without a DNS SAN, OpenSSL checks a CN that looks like a host name, "127.0.0.5" included,
// against the DNS subtrees (`openssl verify` fails with "permitted subtree violation").
TEST_F(IssuerNameConstraintsTest, ChecksAnIpCommonNameAsVerifiersDo) {
  EXPECT_THAT(IssueError(Pki().issuing, Leaf("127.0.0.5")),
              AllOf(HasSubstr("CN 127.0.0.5 " + std::string(kOf)),
                    HasSubstr("permitted DNS: example.com"), HasSubstr("no DNS SAN")));
  // Under IP constraints alone, the same leaf is fine.
  TestPki ip_only = MakeTestPki({.intermediate_constraints = {.permitted_ip = {"127.0.0.0/8"}}});
  EXPECT_EQ(IssueError(ip_only.issuing, Leaf("127.0.0.5")), "");
  EXPECT_THAT(IssueError(ip_only.issuing, Leaf("10.0.0.1")), HasSubstr("IP:10.0.0.1 is outside"));
  // DNS names are unconstrained there.
  EXPECT_EQ(IssueError(ip_only.issuing, Leaf("evil.org", {.ips = {"127.0.0.9"}})), "");
}

TEST(IssuerChainNameConstraintsTest, ARootConstraintAppliesBelowAnUnconstrainedIntermediate) {
  TestPki pki = MakeTestPki();  // no constraints in the intermediate
  Certificate root = EditExtensions(
      pki.root,
      {.name_constraints = "critical,permitted;DNS:example.com,excluded;IP:10.0.0.0/255.0.0.0"},
      pki.root_key);
  Issuer issuing = Must(Issuer::Create(pki.intermediate, pki.intermediate_key, {root}));
  EXPECT_EQ(IssueError(issuing, Leaf("evil.org")),
            "DNS:evil.org is outside the name constraints of \"CN=clustertls Test Root CA,"
            "O=clustertls tests\" (permitted DNS: example.com)");
  EXPECT_THAT(IssueError(issuing, Leaf("a.example.com", {.ips = {"10.9.9.9"}})),
              HasSubstr("(excluded IP: 10.0.0.0/8)"));
  EXPECT_EQ(IssueError(issuing, Leaf("a.example.com", {.ips = {"192.0.2.1"}})), "");
  TestLeaf ok = IssueLeaf(issuing, Leaf("a.example.com", {.ips = {"192.0.2.1"}}));
  EXPECT_EQ(OpensslVerify(ok.cert, root, {pki.intermediate}), X509_V_OK);
  // The same intermediate, without the root's constraints known, issues anything.
  EXPECT_EQ(IssueError(pki.issuing, Leaf("evil.org")), "");
}

TEST(IssuerChainNameConstraintsTest, EveryCaOfTheChainCounts) {
  // root -> intermediate (example.com) -> sub-CA (no constraints of its own, or wider ones)
  TestPki pki = MakeTestPki(
      {.intermediate_path_len = 1, .intermediate_constraints = {.permitted_dns = {"example.com"}}});
  ossl::Csprng rng;
  PrivateKey sub_key = TestKey(KeyType::kEcP256, 3);
  Certificate sub = Must(pki.issuing.Issue({.profile = Profile::kIntermediateCa,
                                            .common_name = "Sub CA",
                                            .validity = std::chrono::days(365),
                                            .name_constraints = {.permitted_dns = {"org"}}},
                                           sub_key.public_key(), kTestReferenceTime, rng));
  Issuer sub_issuer = Must(Issuer::Create(sub, sub_key, {pki.intermediate, pki.root}));
  // Inside the sub-CA's constraints, outside the intermediate's.
  EXPECT_THAT(IssueError(sub_issuer, Leaf("evil.org")),
              HasSubstr("DNS:evil.org is outside the name constraints of \"CN=clustertls Test "
                        "Intermediate CA"));
  // Inside the intermediate's, outside the sub-CA's.
  EXPECT_THAT(IssueError(sub_issuer, Leaf("a.example.com")),
              HasSubstr("the name constraints of \"CN=Sub CA\" (permitted DNS: org)"));
}

TEST(IssuerChainNameConstraintsTest, KindsItDoesNotEvaluateAreRefused) {
  TestPki pki = MakeTestPki();
  Certificate root = EditExtensions(
      pki.root, {.name_constraints = "critical,permitted;email:example.com,permitted;URI:x.org"},
      pki.root_key);
  Issuer issuing = Must(Issuer::Create(pki.intermediate, pki.intermediate_key, {root}));
  EXPECT_EQ(IssueError(issuing, Leaf("a.example.com")), "");  // no e-mail, no URI
  EXPECT_THAT(IssueError(issuing, Leaf("a.example.com", {.emails = {"ops@example.com"}})),
              AllOf(HasSubstr("e-mail:ops@example.com falls under the e-mail subtrees"),
                    HasSubstr("does not evaluate")));
  EXPECT_THAT(IssueError(issuing, Leaf("a.example.com", {.uris = {"https://x.org/"}})),
              HasSubstr("URI:https://x.org/ falls under the URI subtrees"));
}

TEST(IssuerChainNameConstraintsTest, DirectoryNameConstraintsStopIssuance) {
  TestPki pki = MakeTestPki();
  auto x = ossl::Own(X509_dup(pki.root.get()));
  ASSERT_TRUE(x);
  auto nc = ossl::Own(NAME_CONSTRAINTS_new());
  ASSERT_TRUE(nc);
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  GENERAL_SUBTREE* subtree = GENERAL_SUBTREE_new();
  X509_NAME* dn = X509_NAME_new();
  ASSERT_EQ(
      X509_NAME_add_entry_by_txt(dn, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("Example"), -1, -1, 0),
      1);
  GENERAL_NAME_set0_value(subtree->base, GEN_DIRNAME, dn);
  ASSERT_GT(sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, subtree), 0);
  ASSERT_EQ(X509_add1_ext_i2d(x.get(), NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT), 1);
  ASSERT_GT(X509_sign(x.get(), pki.root_key.get(), EVP_sha256()), 0);
  Certificate root = Must(Certificate::FromDer(internal::ToDerOnePass(x.get(), i2d_X509)));
  Issuer issuing = Must(Issuer::Create(pki.intermediate, pki.intermediate_key, {root}));
  EXPECT_THAT(IssueError(issuing, Leaf("a.example.com")),
              AllOf(HasSubstr("cannot issue under \"CN=clustertls Test Root CA"),
                    HasSubstr("directoryName")));
}

TEST(IssuerChainNameConstraintsTest, MalformedConstraintsFailCreate) {
  TestPki pki = MakeTestPki();
  Certificate root =
      EditExtensions(pki.root, {.name_constraints = "critical,DER:30:03:02:01:01"}, pki.root_key);
  auto issuer = Issuer::Create(pki.intermediate, pki.intermediate_key, {root});
  ASSERT_FALSE(issuer);
  EXPECT_EQ(issuer.error().code, ErrorCode::kParse);
  EXPECT_THAT(issuer.error().message,
              HasSubstr("nameConstraints of CA \"CN=clustertls Test Root CA"));
}

TEST(IssuerChainNameConstraintsTest, CaProfilesAndUnconstrainedIssuersAreUnaffected) {
  TestPki pki = MakeTestPki(
      {.intermediate_path_len = 1, .intermediate_constraints = {.permitted_dns = {"example.com"}}});
  // A sub-CA's CN is a label, not a name: it is not checked.
  ossl::Csprng rng;
  EXPECT_TRUE(pki.issuing.Issue({.profile = Profile::kIntermediateCa,
                                 .common_name = "Sub CA.evil.org",
                                 .validity = std::chrono::days(30)},
                                TestKey(KeyType::kEcP256, 3).public_key(), kTestReferenceTime,
                                rng));
  EXPECT_EQ(IssueError(MakeTestPki().issuing, Leaf("evil.org", {.ips = {"10.1.2.3"}})), "");
}

}  // namespace
}  // namespace clustertls::pki
