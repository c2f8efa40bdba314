#include "authority/named_cert.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "authority/cluster.h"
#include "authority/name_policy.h"
#include "authority/test_cluster_testutil.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

constexpr std::string_view kFqdn = "cluster.example.com";

class NamedCertTest : public ::testing::Test {
 protected:
  NamedCertTest() : pki_(pki::MakeTestPki()) {}

  // The FQDN leaf with its extensions edited (re-signed by the issuing CA), as its key pair.
  pki::TestLeaf Edited(const pki::ExtensionEdits& edits,
                       pki::KeyType key_type = pki::KeyType::kEcP256) const {
    pki::TestLeaf leaf = pki::IssueLeaf(pki_.issuing,
                                        pki::IssueRequest{.profile = pki::Profile::kPeer,
                                                          .common_name = std::string(kFqdn),
                                                          .sans = {.dns = RedisSanLayout(kFqdn)}},
                                        key_type);
    leaf.cert = pki::EditExtensions(leaf.cert, edits, pki_.intermediate_key);
    return leaf;
  }

  NamedCertRules Rules() const {
    return NamedCertRules{.fqdn = std::string(kFqdn),
                          .cluster_chain = {pki_.intermediate, pki_.root},
                          .now = pki_.now};
  }

  // Profile peer (serverAuth and clientAuth), as Redis' own certificates: fits every name.
  pki::TestLeaf Leaf(std::vector<std::string> dns,
                     std::chrono::seconds validity = std::chrono::days(90)) const {
    return pki::IssueLeaf(pki_.issuing, pki::IssueRequest{.profile = pki::Profile::kPeer,
                                                          .common_name = dns.front(),
                                                          .sans = {.dns = dns},
                                                          .validity = validity});
  }

  static NamedCertInput Input(std::string name, const pki::TestLeaf& leaf,
                              const std::vector<pki::Certificate>& rest) {
    std::vector<pki::Certificate> all{leaf.cert};
    all.insert(all.end(), rest.begin(), rest.end());
    return NamedCertInput{.name = std::move(name),
                          .key_pem = Must(leaf.key.ToPem()),
                          .certificate_pem = pki::ToPemBundle(all)};
  }

  pki::TestPki pki_;
};

void ExpectChain(const ValidatedNamedCert& v, const std::vector<pki::Certificate>& expected) {
  ASSERT_EQ(v.chain.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(v.chain[i].Equals(expected[i])) << i;
  }
  auto reparsed = Must(pki::Certificate::ParseAll(v.chain_pem));
  ASSERT_EQ(reparsed.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(reparsed[i].Equals(expected[i])) << i;
  }
}

TEST(CertNameTest, AcceptsAndRefuses) {
  for (std::string_view ok : {"cm", "api", "proxy", "syncer", "metrics", "a", "0", "my_cert-2",
                              "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"}) {
    EXPECT_TRUE(CheckCertName(ok)) << ok;
  }
  for (std::string_view bad :
       {"", "-cm", "_cm", "Api", "a.b", "a b", "a/b", "../x", "ä",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"}) {
    auto r = CheckCertName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_TRUE(r.error().message.starts_with("certificate name \"")) << r.error().message;
  }
  auto quoted = CheckCertName(std::string_view("a\0b", 3));
  ASSERT_FALSE(quoted);
  EXPECT_EQ(quoted.error().message.find('\0'), std::string::npos);
}

TEST(CertNameTest, FqdnNamesAndRedisLayout) {
  EXPECT_TRUE(NameMustCoverFqdn("cm"));
  EXPECT_TRUE(NameMustCoverFqdn("api"));
  EXPECT_TRUE(NameMustCoverFqdn("proxy"));
  EXPECT_FALSE(NameMustCoverFqdn("syncer"));
  EXPECT_FALSE(NameMustCoverFqdn("metrics"));
  EXPECT_FALSE(NameMustCoverFqdn("custom"));
  EXPECT_EQ(
      RedisSanLayout("Cluster.Example.com"),
      (std::vector<std::string>{"cluster.example.com", "*.cluster.example.com",
                                "internal.cluster.example.com", "*.internal.cluster.example.com"}));
}

TEST_F(NamedCertTest, FullChainInOrderIsAccepted) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  auto v = ValidateNamedCert(Input("api", leaf, {pki_.intermediate, pki_.root}), Rules());
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->name, "api");
  EXPECT_TRUE(v->key.Matches(leaf.cert.public_key()));
  ExpectChain(*v, {leaf.cert, pki_.intermediate, pki_.root});
}

TEST_F(NamedCertTest, ChainWithoutRootIsCompletedFromClusterChain) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  auto v = ValidateNamedCert(Input("cm", leaf, {pki_.intermediate}), Rules());
  ASSERT_TRUE(v) << v.error().message;
  ExpectChain(*v, {leaf.cert, pki_.intermediate, pki_.root});

  auto only_leaf = ValidateNamedCert(Input("proxy", leaf, {}), Rules());
  ASSERT_TRUE(only_leaf) << only_leaf.error().message;
  ExpectChain(*only_leaf, {leaf.cert, pki_.intermediate, pki_.root});
}

TEST_F(NamedCertTest, ReversedOrderNamesTheLink) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  NamedCertInput in{.name = "api",
                    .key_pem = Must(leaf.key.ToPem()),
                    .certificate_pem = pki::ToPemBundle({leaf.cert, pki_.root, pki_.intermediate})};
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kChainIncomplete);
  EXPECT_EQ(v.error().message, "certificate: certificate 2 (" + pki_.root.subject() +
                                   ") did not issue certificate 1 (" + leaf.cert.subject() +
                                   "): expected leaf -> intermediate -> root");
}

TEST_F(NamedCertTest, ChainFromAnotherCaCannotBeCompleted) {
  pki::TestPki other =
      pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other CA"});
  auto leaf = pki::IssueLeaf(other, kFqdn);
  auto v = ValidateNamedCert(Input("api", leaf, {other.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kChainIncomplete);
  EXPECT_NE(v.error().message.find("certificate 2"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("Other Root"), std::string::npos) << v.error().message;
}

TEST_F(NamedCertTest, CompleteForeignChainIsAccepted) {
  pki::TestPki other =
      pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other CA"});
  auto leaf = pki::IssueLeaf(other, kFqdn);
  auto v = ValidateNamedCert(Input("api", leaf, {other.intermediate, other.root}), Rules());
  ASSERT_TRUE(v) << v.error().message;
  ExpectChain(*v, {leaf.cert, other.intermediate, other.root});
}

TEST_F(NamedCertTest, WarningsForWhatClientsOfApiAndCmWillRefuse) {
  const NamedCertWarningRules rules{.cluster_chain = {pki_.intermediate, pki_.root},
                                    .api_hosts = {"127.0.0.1", ""}};
  // The cluster's own api certificate: its names, the listen address, the control-plane URI.
  pki::TestLeaf whole = pki::IssueLeaf(
      pki_.issuing, pki::IssueRequest{.profile = pki::Profile::kPeer,
                                      .common_name = std::string(kFqdn),
                                      .sans = {.dns = RedisSanLayout(kFqdn),
                                               .ips = {"127.0.0.1"},
                                               .uris = {std::string(kControlPlaneUri)}}});
  auto v = ValidateNamedCert(Input("api", whole, {pki_.intermediate}), Rules());
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(NamedCertWarnings(*v, rules).empty());

  // From the cluster CA, without the address and the URI.
  auto plain = ValidateNamedCert(Input("api", Leaf(RedisSanLayout(kFqdn)), {}), Rules());
  ASSERT_TRUE(plain) << plain.error().message;
  std::vector<std::string> warnings = NamedCertWarnings(*plain, rules);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0],
            "certificate \"api\" does not name 127.0.0.1, the address this server listens on: "
            "clients connecting by it refuse the certificate");
  EXPECT_TRUE(warnings[1].starts_with(
      "certificate \"api\" lacks the control-plane identity URI:urn:uuid:6449b34e"));
  EXPECT_NE(warnings[1].find(plain->chain.front().fingerprint().colon), std::string::npos);

  // From another root, as cm: only the chain warning (cm needs no URI, no listen address).
  pki::TestPki other =
      pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other CA"});
  auto foreign = ValidateNamedCert(
      Input("cm", pki::IssueLeaf(other, kFqdn), {other.intermediate, other.root}), Rules());
  ASSERT_TRUE(foreign) << foreign.error().message;
  warnings = NamedCertWarnings(*foreign, rules);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("does not chain to the cluster CA (its root is CN=Other Root"),
            std::string::npos)
      << warnings[0];
  // Other names get none.
  auto proxy = ValidateNamedCert(Input("proxy", Leaf(RedisSanLayout(kFqdn)), {}), Rules());
  ASSERT_TRUE(proxy);
  EXPECT_TRUE(NamedCertWarnings(*proxy, rules).empty());
}

TEST_F(NamedCertTest, KeyOfAnotherCertificateIsMismatch) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  auto other = Leaf(RedisSanLayout(kFqdn));
  NamedCertInput in = Input("api", leaf, {pki_.intermediate});
  in.key_pem = Must(other.key.ToPem());
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kKeyMismatch);
  EXPECT_TRUE(v.error().message.starts_with("key: ")) << v.error().message;
  EXPECT_EQ(v.error().message.find("PRIVATE"), std::string::npos);
}

TEST_F(NamedCertTest, ExpiredAndNotYetValid) {
  auto leaf = Leaf(RedisSanLayout(kFqdn), std::chrono::days(1));
  NamedCertRules later = Rules();
  later.now = pki_.now + std::chrono::days(2);
  auto v = ValidateNamedCert(Input("api", leaf, {pki_.intermediate}), later);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kExpired);
  EXPECT_EQ(v.error().message, "certificate: certificate 1 (" + leaf.cert.subject() +
                                   ") expired at " + core::FormatTime(leaf.cert.not_after()));

  NamedCertRules earlier = Rules();
  earlier.now = pki_.now - std::chrono::hours(1);
  auto early = ValidateNamedCert(Input("api", leaf, {pki_.intermediate}), earlier);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kExpired);
  EXPECT_NE(early.error().message.find("not valid before"), std::string::npos);

  // An expired CA in the chain is named too.
  NamedCertRules far = Rules();
  far.now = pki_.now + std::chrono::days(3650);
  auto ca = ValidateNamedCert(Input("syncer", leaf, {pki_.intermediate}), far);
  ASSERT_FALSE(ca);
  EXPECT_EQ(ca.error().code, ErrorCode::kExpired);
}

TEST_F(NamedCertTest, FqdnCoverageForCmApiProxyOnly) {
  auto leaf = Leaf({"other.example.org", "www.other.example.org"});
  for (std::string name : {"cm", "api", "proxy"}) {
    auto v = ValidateNamedCert(Input(name, leaf, {pki_.intermediate}), Rules());
    ASSERT_FALSE(v) << name;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidName);
    EXPECT_NE(v.error().message.find("cluster.example.com"), std::string::npos);
    EXPECT_NE(v.error().message.find("other.example.org"), std::string::npos);
  }
  for (std::string name : {"syncer", "metrics", "custom-1"}) {
    auto v = ValidateNamedCert(Input(name, leaf, {pki_.intermediate}), Rules());
    ASSERT_TRUE(v) << name << ": " << v.error().message;
  }
}

TEST_F(NamedCertTest, WildcardCoverage) {
  // "*.example.com" covers exactly one label: cluster.example.com.
  auto wildcard = Leaf({"*.example.com"});
  auto ok = ValidateNamedCert(Input("api", wildcard, {pki_.intermediate}), Rules());
  ASSERT_TRUE(ok) << ok.error().message;

  // "*.cluster.example.com" does not cover the bare FQDN.
  auto sub = Leaf({"*.cluster.example.com"});
  auto v = ValidateNamedCert(Input("api", sub, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidName);

  // Nor does a wildcard two levels up.
  NamedCertRules deep = Rules();
  deep.fqdn = "a.cluster.example.com";
  auto two = ValidateNamedCert(Input("cm", wildcard, {pki_.intermediate}), deep);
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code, ErrorCode::kInvalidName);

  // Matching is case-insensitive.
  NamedCertRules upper = Rules();
  upper.fqdn = "CLUSTER.Example.COM";
  EXPECT_TRUE(ValidateNamedCert(Input("cm", wildcard, {pki_.intermediate}), upper));
}

TEST_F(NamedCertTest, GarbagePemNamesTheField) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  NamedCertInput good = Input("api", leaf, {pki_.intermediate});

  for (std::string garbage : {std::string(), std::string("not a certificate"),
                              std::string("-----BEGIN CERTIFICATE-----\nAAAA!!\n"
                                          "-----END CERTIFICATE-----\n")}) {
    NamedCertInput in = good;
    in.certificate_pem = garbage;
    auto v = ValidateNamedCert(in, Rules());
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kParse);
    EXPECT_TRUE(v.error().message.starts_with("certificate: ")) << v.error().message;
  }
  for (std::string garbage : {std::string(), std::string("not a key"),
                              std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                          "-----END PRIVATE KEY-----\n")}) {
    NamedCertInput in = good;
    in.key_pem = garbage;
    auto v = ValidateNamedCert(in, Rules());
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kParse);
    EXPECT_TRUE(v.error().message.starts_with("key: ")) << v.error().message;
  }
  // The key pasted into the certificate field is a certificate error, and is not echoed.
  NamedCertInput swapped = good;
  swapped.certificate_pem = good.key_pem;
  auto v = ValidateNamedCert(swapped, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kParse);
  EXPECT_EQ(v.error().message.find(good.key_pem.substr(30, 20)), std::string::npos);
}

TEST_F(NamedCertTest, EncryptedKeyIsRefused) {
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  NamedCertInput in = Input("api", leaf, {pki_.intermediate});
  in.key_pem = Must(leaf.key.ToPem("passphrase"));
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_TRUE(v.error().message.starts_with("key: "));
}

TEST_F(NamedCertTest, CaCertificateAsLeafIsRefused) {
  NamedCertInput in{.name = "syncer",
                    .key_pem = Must(pki_.intermediate_key.ToPem()),
                    .certificate_pem = pki::ToPemBundle({pki_.intermediate, pki_.root})};
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().message.find("CA certificate"), std::string::npos);
}

TEST_F(NamedCertTest, BadNameIsCheckedFirst) {
  NamedCertInput in{.name = "API", .key_pem = "garbage", .certificate_pem = "garbage"};
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(v.error().message.starts_with("certificate name"));
}

TEST_F(NamedCertTest, SelfSignedLeafIsAccepted) {
  // Redis' generator makes self-signed leaves: the chain is the leaf itself, its own root.
  auto key = pki::NewTestKey(pki::KeyType::kEcP256);
  ossl::Csprng rng;
  auto cert = Must(pki::SelfSign(key,
                                 pki::IssueRequest{.profile = pki::Profile::kPeer,
                                                   .common_name = std::string(kFqdn),
                                                   .sans = {.dns = RedisSanLayout(kFqdn)}},
                                 pki_.now, rng));
  NamedCertInput in{.name = "api", .key_pem = Must(key.ToPem()), .certificate_pem = cert.ToPem()};
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_TRUE(v) << v.error().message;
  ExpectChain(*v, {cert});
}

TEST_F(NamedCertTest, WeakKeyIsRefused) {
  // An RSA-1024 key, made by the openssl CLI: refused before anything else about the key.
  auto gen = pki::RunCommand("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>&1");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  NamedCertInput in = Input("api", leaf, {pki_.intermediate});
  in.key_pem = gen.output;
  auto v = ValidateNamedCert(in, Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kWeakKey);
  EXPECT_TRUE(v.error().message.starts_with("key: ")) << v.error().message;
}

TEST_F(NamedCertTest, RootWithBrokenSignatureIsRefused) {
  // The root's own signature is altered; its key (which signed the intermediate) is intact.
  std::string der = pki_.root.ToDer();
  der.back() = static_cast<char>(der.back() ^ 0x01);
  auto broken = Must(pki::Certificate::FromDer(der));
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  auto v = ValidateNamedCert(Input("api", leaf, {pki_.intermediate, broken}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kChainIncomplete);
  EXPECT_NE(v.error().message.find("certificate 3"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("signature does not verify"), std::string::npos);
}

TEST_F(NamedCertTest, UnrelatedCertificateAfterTheRootIsAWrongLink) {
  pki::TestPki other =
      pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other CA"});
  auto leaf = Leaf(RedisSanLayout(kFqdn));
  auto v =
      ValidateNamedCert(Input("api", leaf, {pki_.intermediate, pki_.root, other.root}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kChainIncomplete);
  EXPECT_EQ(v.error().message, "certificate: certificate 4 (" + other.root.subject() +
                                   ") did not issue certificate 3 (" + pki_.root.subject() +
                                   "): expected leaf -> intermediate -> root");
}

// ---- Key usages: what each name does in TLS ----

constexpr std::string_view kServerNames[] = {"api", "cm", "metrics", "metrics_exporter"};
constexpr std::string_view kBothWaysNames[] = {"proxy", "syncer", "ccs_internode_encryption",
                                               "data_internode_encryption"};

TEST(NamedCertRoleTest, RedisNames) {
  for (std::string_view n : kServerNames) {
    EXPECT_EQ(RoleOf(n), NamedCertRole::kServer) << n;
  }
  for (std::string_view n : kBothWaysNames) {
    EXPECT_EQ(RoleOf(n), NamedCertRole::kServerAndClient) << n;
  }
  EXPECT_EQ(RoleOf("ldap_client"), NamedCertRole::kClient);
  EXPECT_EQ(RoleOf("custom-1"), NamedCertRole::kAny);
  EXPECT_EQ(RoleOf("API"), NamedCertRole::kAny);
  // Every name `init` creates has a Redis role.
  for (std::string_view n : kDefaultNamedCerts) {
    EXPECT_NE(RoleOf(n), NamedCertRole::kAny) << n;
  }
}

// The finding: a clientAuth-only certificate for a name a TLS server presents.
TEST_F(NamedCertTest, ClientAuthOnlyIsRefusedForEveryServedName) {
  pki::TestLeaf client = Edited({.extended_key_usage = "clientAuth"});
  // OpenSSL, as a TLS client, refuses it as a server certificate.
  EXPECT_EQ(X509_check_purpose(client.cert.get(), X509_PURPOSE_SSL_SERVER, 0), 0);
  std::vector<std::string_view> names(std::begin(kServerNames), std::end(kServerNames));
  names.insert(names.end(), std::begin(kBothWaysNames), std::end(kBothWaysNames));
  for (std::string_view name : names) {
    auto v = ValidateNamedCert(Input(std::string(name), client, {pki_.intermediate}), Rules());
    ASSERT_FALSE(v) << name;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument) << name;
    const std::string& m = v.error().message;
    EXPECT_TRUE(m.starts_with("certificate: the " + std::string(name) +
                              " certificate (CN=" + std::string(kFqdn) + ")"))
        << m;
    EXPECT_NE(m.find("has extendedKeyUsage clientAuth; serverAuth"), std::string::npos) << m;
    EXPECT_NE(m.find("is required"), std::string::npos) << m;
  }
  // The same from the issuer's own client profile.
  auto issued =
      pki::IssueLeaf(pki_.issuing, pki::IssueRequest{.profile = pki::Profile::kClient,
                                                     .common_name = std::string(kFqdn),
                                                     .sans = {.dns = RedisSanLayout(kFqdn)}});
  auto v = ValidateNamedCert(Input("api", issued, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "certificate: the api certificate (CN=" + std::string(kFqdn) +
                                   ") has extendedKeyUsage clientAuth; serverAuth is required: "
                                   "api is presented by a TLS server");
}

TEST_F(NamedCertTest, ServerAuthOnlyFitsServersButNotProxyOrSyncer) {
  pki::TestLeaf server = Edited({.extended_key_usage = "serverAuth"});
  for (std::string_view name : kServerNames) {
    auto v = ValidateNamedCert(Input(std::string(name), server, {pki_.intermediate}), Rules());
    EXPECT_TRUE(v) << name << ": " << v.error().message;
  }
  for (std::string_view name : kBothWaysNames) {
    auto v = ValidateNamedCert(Input(std::string(name), server, {pki_.intermediate}), Rules());
    ASSERT_FALSE(v) << name;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(v.error().message.find("has extendedKeyUsage serverAuth; serverAuth and clientAuth "
                                     "is required: " +
                                     std::string(name) +
                                     " is presented by a TLS server and also when it connects "
                                     "out as a TLS client"),
              std::string::npos)
        << v.error().message;
  }
  // ldap_client is a TLS client only.
  auto ldap = ValidateNamedCert(Input("ldap_client", server, {pki_.intermediate}), Rules());
  ASSERT_FALSE(ldap);
  EXPECT_NE(ldap.error().message.find("clientAuth is required"), std::string::npos);
  pki::TestLeaf client = Edited({.extended_key_usage = "clientAuth"});
  EXPECT_TRUE(ValidateNamedCert(Input("ldap_client", client, {pki_.intermediate}), Rules()));
}

TEST_F(NamedCertTest, BothPurposesOrNoExtendedKeyUsageFitEveryName) {
  // RFC 5280 4.2.1.12: without the extension, the key may be used for any purpose (OpenSSL
  // agrees).
  pki::TestLeaf both = Edited({.extended_key_usage = "serverAuth,clientAuth,codeSigning"});
  pki::TestLeaf absent = Edited({.extended_key_usage = ""});
  EXPECT_EQ(X509_check_purpose(absent.cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  for (const pki::TestLeaf* leaf : {&both, &absent}) {
    for (std::string name : {"api", "cm", "proxy", "syncer", "metrics", "metrics_exporter",
                             "ldap_client", "ccs_internode_encryption", "custom-1"}) {
      auto v = ValidateNamedCert(Input(name, *leaf, {pki_.intermediate}), Rules());
      EXPECT_TRUE(v) << name << ": " << v.error().message;
    }
  }
}

TEST_F(NamedCertTest, AnyExtendedKeyUsageAloneIsRefused) {
  // OpenSSL refuses a TLS peer whose EKU lists only anyExtendedKeyUsage.
  pki::TestLeaf any = Edited({.extended_key_usage = "anyExtendedKeyUsage"});
  EXPECT_EQ(X509_check_purpose(any.cert.get(), X509_PURPOSE_SSL_SERVER, 0), 0);
  EXPECT_EQ(X509_check_purpose(any.cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 0);
  for (std::string name : {"api", "proxy", "custom-1"}) {
    auto v = ValidateNamedCert(Input(name, any, {pki_.intermediate}), Rules());
    ASSERT_FALSE(v) << name;
    EXPECT_NE(v.error().message.find("has extendedKeyUsage anyExtendedKeyUsage;"),
              std::string::npos)
        << v.error().message;
  }
}

TEST_F(NamedCertTest, CustomNamesNeedATlsPurposeWhenTheyListAny) {
  pki::TestLeaf code = Edited({.extended_key_usage = "codeSigning,emailProtection"});
  auto v = ValidateNamedCert(Input("custom-1", code, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().message.find("has extendedKeyUsage codeSigning, emailProtection; serverAuth "
                                   "or clientAuth is required: a named certificate is used for "
                                   "TLS"),
            std::string::npos)
      << v.error().message;
  for (std::string eku : {"serverAuth", "clientAuth"}) {
    pki::TestLeaf leaf = Edited({.extended_key_usage = eku});
    auto ok = ValidateNamedCert(Input("custom-1", leaf, {pki_.intermediate}), Rules());
    EXPECT_TRUE(ok) << eku << ": " << ok.error().message;
  }
}

TEST_F(NamedCertTest, KeyUsageMustAllowSigningTheHandshake) {
  // An EC key that may only agree keys, an RSA key that may only encipher them: neither can sign
  // a TLS 1.3 or ECDHE handshake.
  pki::TestLeaf ec = Edited({.key_usage = "critical,keyAgreement"});
  auto v = ValidateNamedCert(Input("api", ec, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(v.error().message,
            "certificate: the api certificate (CN=" + std::string(kFqdn) +
                ") has keyUsage keyAgreement; digitalSignature is required: its EC P-256 key "
                "signs the TLS handshake (TLS 1.3 and ECDHE)");

  pki::TestLeaf rsa = Edited({.key_usage = "critical,keyEncipherment"}, pki::KeyType::kRsa2048);
  auto r = ValidateNamedCert(Input("proxy", rsa, {pki_.intermediate}), Rules());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("has keyUsage keyEncipherment; digitalSignature is required: "
                                   "its RSA 2048 key"),
            std::string::npos)
      << r.error().message;

  // Accepted: digitalSignature (with keyEncipherment for RSA, as the peer profile issues it),
  // or no keyUsage at all.
  pki::TestLeaf rsa_ok =
      Edited({.key_usage = "critical,digitalSignature,keyEncipherment"}, pki::KeyType::kRsa2048);
  EXPECT_TRUE(ValidateNamedCert(Input("proxy", rsa_ok, {pki_.intermediate}), Rules()));
  pki::TestLeaf no_ku = Edited({.key_usage = ""});
  EXPECT_TRUE(ValidateNamedCert(Input("api", no_ku, {pki_.intermediate}), Rules()));
  pki::TestLeaf ed = Edited({.key_usage = "critical,digitalSignature"}, pki::KeyType::kEd25519);
  EXPECT_TRUE(ValidateNamedCert(Input("cm", ed, {pki_.intermediate}), Rules()));
}

TEST_F(NamedCertTest, CaKeyUsagesOrCaTrueOnTheLeafAreRefused) {
  for (std::string ku :
       {"critical,digitalSignature,keyCertSign", "critical,digitalSignature,cRLSign"}) {
    pki::TestLeaf leaf = Edited({.key_usage = ku});
    auto v = ValidateNamedCert(Input("api", leaf, {pki_.intermediate}), Rules());
    ASSERT_FALSE(v) << ku;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(v.error().message.find("keyCertSign and cRLSign belong to a CA"), std::string::npos)
        << v.error().message;
  }
  pki::TestLeaf ca = Edited({.basic_constraints = "critical,CA:TRUE"});
  auto v = ValidateNamedCert(Input("api", ca, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().message.find("is a CA certificate (basicConstraints CA:TRUE); the leaf must "
                                   "come first"),
            std::string::npos)
      << v.error().message;
  // Alone (as `openssl req -x509` makes one by default), it is no leaf at all.
  auto alone = ValidateNamedCert(Input("api", ca, {}), Rules());
  ASSERT_FALSE(alone);
  EXPECT_EQ(alone.error().message, "certificate: the first certificate (CN=" + std::string(kFqdn) +
                                       ") is a CA certificate (basicConstraints CA:TRUE); a named "
                                       "certificate must be a leaf");
}

TEST_F(NamedCertTest, MalformedUsageExtensionIsAParseError) {
  pki::TestLeaf leaf = Edited({.extended_key_usage = ""});
  auto x = ossl::Own(X509_dup(leaf.cert.get()));
  auto value = ossl::Own(ASN1_OCTET_STRING_new());
  ASSERT_EQ(
      ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>("\x05\x00"), 2), 1);
  auto ext = ossl::Own(X509_EXTENSION_create_by_NID(nullptr, NID_ext_key_usage, 0, value.get()));
  ASSERT_EQ(X509_add_ext(x.get(), ext.get(), -1), 1);
  ASSERT_GT(X509_sign(x.get(), pki_.intermediate_key.get(), EVP_sha256()), 0);
  leaf.cert = pki::Certificate::Adopt(std::move(x));
  auto v = ValidateNamedCert(Input("api", leaf, {pki_.intermediate}), Rules());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kParse);
  EXPECT_EQ(v.error().message, "certificate: the api certificate (CN=" + std::string(kFqdn) +
                                   "): the extendedKeyUsage extension does not decode");
}

// Storing and deleting named certificates, each with its audit entry in the same transaction.
class NamedCertStoreTest : public ClusterCaTest {
 protected:
  // The stored `name` as StoreNamedCerts takes it (what ValidateNamedCert returns).
  ValidatedNamedCert Current(const std::string& name) {
    OpenedNamedCert opened = pki::Must(GetNamedCert(*store_, *sealing_, name));
    std::string pem;
    for (const pki::Certificate& c : opened.chain) {
      pem += c.ToPem();
    }
    return {.name = name, .key = opened.key, .chain = opened.chain, .chain_pem = pem};
  }
};

const ChangeBy kBy{.actor = "admin", .source = "192.0.2.9"};

TEST_F(NamedCertStoreTest, StoresEveryVersionWithItsAuditEntryInOneTransaction) {
  std::vector<ValidatedNamedCert> certs = {Current("proxy"), Current("cm")};
  const std::int64_t proxy_before = pki::Must(store_->GetNamedCert("proxy")).version;
  const std::size_t audit_before = AllAudit(*store_).size();
  std::vector<std::int64_t> versions =
      pki::Must(StoreNamedCerts(*store_, *sealing_, certs, kBy, clock_, rng_));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0], proxy_before + 1);
  EXPECT_EQ(pki::Must(store_->GetNamedCert("cm")).version, versions[1]);
  EXPECT_EQ(pki::Must(store_->GetNamedCert("cm")).created_by, "admin");
  auto audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), audit_before + 2);
  EXPECT_EQ(audit[audit.size() - 2].action, "named_cert.update");
  EXPECT_EQ(audit[audit.size() - 2].target, "proxy");
  auto details = nlohmann::json::parse(audit.back().details_json);
  EXPECT_EQ(details["version"], versions[1]);
  EXPECT_EQ(details["serial"], certs[1].chain.front().serial_hex());
}

TEST_F(NamedCertStoreTest, AFailedAuditWriteStoresNoVersion) {
  std::vector<ValidatedNamedCert> certs = {Current("proxy"), Current("cm")};
  const std::int64_t proxy_before = pki::Must(store_->GetNamedCert("proxy")).version;
  FailingAuditStore failing(store_.get());
  auto stored = StoreNamedCerts(failing, *sealing_, certs, kBy, clock_, rng_);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, core::ErrorCode::kIo);
  EXPECT_EQ(pki::Must(store_->GetNamedCert("proxy")).version, proxy_before);
  auto deleted = DeleteNamedCert(failing, "proxy", kBy, clock_);
  ASSERT_FALSE(deleted);
  EXPECT_TRUE(store_->GetNamedCert("proxy"));
}

TEST_F(NamedCertStoreTest, DeleteRefusesApiAndUnknownNames) {
  auto api = DeleteNamedCert(*store_, "api", kBy, clock_);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().code, core::ErrorCode::kConflict);
  auto unknown = DeleteNamedCert(*store_, "nope", kBy, clock_);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().message, "certificate \"nope\": no such name");
  pki::Must(DeleteNamedCert(*store_, "syncer", kBy, clock_));
  EXPECT_EQ(store_->GetNamedCert("syncer").error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(AllAudit(*store_).back().action, "named_cert.delete");
  EXPECT_EQ(AllAudit(*store_).back().target, "syncer");
}

}  // namespace
}  // namespace clustertls::authority
