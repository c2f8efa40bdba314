#include "pki/issuer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ossl/bio.h"
#include "ossl/csprng.h"
#include "pki/csr_fast.h"
#include "pki/names.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

// The NIDs of every extension of `cert`, and which of them are critical.
std::set<int> ExtensionNids(const Certificate& cert, bool critical_only = false) {
  std::set<int> out;
  for (int i = 0; i < X509_get_ext_count(cert.get()); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert.get(), i);
    if (!critical_only || X509_EXTENSION_get_critical(ext)) {
      out.insert(OBJ_obj2nid(X509_EXTENSION_get_object(ext)));
    }
  }
  return out;
}

template <typename T>
ossl::Ptr<T> Ext(const Certificate& cert, int nid) {
  return ossl::Ptr<T>(static_cast<T*>(X509_get_ext_d2i(cert.get(), nid, nullptr, nullptr)));
}

std::string Bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

// SHA-1 of the subjectPublicKey BIT STRING, computed independently of issuer.cc.
std::string Sha1OfKeyBits(const Certificate& cert) {
  const unsigned char* bits = nullptr;
  int len = 0;
  X509_PUBKEY_get0_param(nullptr, &bits, &len, nullptr, X509_get_X509_PUBKEY(cert.get()));
  unsigned char md[20];
  unsigned int md_len = 0;
  EVP_Digest(bits, static_cast<std::size_t>(len), md, &md_len, EVP_sha1(), nullptr);
  return std::string(reinterpret_cast<char*>(md), md_len);
}

std::vector<int> EkuNids(const Certificate& cert) {
  std::vector<int> out;
  auto eku = Ext<EXTENDED_KEY_USAGE>(cert, NID_ext_key_usage);
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.push_back(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)));
  }
  return out;
}

// Verifies `cert` up to `pki.root` with OpenSSL's own path validation at pki.now.
int OpensslVerify(const TestPki& pki, const Certificate& cert, int purpose) {
  auto store = ossl::Own(X509_STORE_new());
  X509_STORE_add_cert(store.get(), pki.root.get());
  ossl::X509Stack untrusted(sk_X509_new_null());
  X509_up_ref(pki.intermediate.get());
  sk_X509_push(untrusted.get(), pki.intermediate.get());
  auto ctx = ossl::Own(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), untrusted.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(pki.now.time_since_epoch().count()));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  if (purpose != 0) {
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  }
  int ok = X509_verify_cert(ctx.get());
  return ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

const TestPki& SharedPki() {
  static const TestPki* pki = new TestPki(MakeTestPki());
  return *pki;
}

// ---- leaf profiles, field by field, for each key type ----

struct LeafCase {
  Profile profile;
  KeyType key_type;
};

class LeafProfileTest : public ::testing::TestWithParam<LeafCase> {};

TEST_P(LeafProfileTest, SetsExactlyTheProfilesExtensions) {
  const auto [profile, key_type] = GetParam();
  const TestPki& pki = SharedPki();
  const bool rsa = key_type == KeyType::kRsa2048;
  PrivateKey key = TestKey(key_type, 2);
  ossl::Csprng rng;
  const std::string cn = profile == Profile::kClient ? "client-7.example.com" : "node1.example.com";
  auto cert =
      pki.issuing.Issue(IssueRequest{.profile = profile,
                                     .common_name = cn,
                                     .sans = {.dns = {"alt.example.com"}, .ips = {"10.0.0.1"}},
                                     .validity = std::chrono::days(30)},
                        key.public_key(), pki.now, rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;

  EXPECT_EQ(X509_get_version(cert->get()), X509_VERSION_3);
  EXPECT_EQ(cert->common_name(), cn);
  EXPECT_EQ(cert->issuer(), pki.intermediate.subject());
  EXPECT_TRUE(cert->public_key().Equals(key.public_key()));

  // Exactly the profile's extensions; BasicConstraints and KeyUsage are the critical ones.
  std::set<int> want = {NID_basic_constraints,
                        NID_key_usage,
                        NID_ext_key_usage,
                        NID_subject_key_identifier,
                        NID_authority_key_identifier,
                        NID_subject_alt_name};
  if (profile == Profile::kOcspSigner) {
    want.insert(NID_id_pkix_OCSP_noCheck);
  }
  EXPECT_EQ(ExtensionNids(*cert), want);
  EXPECT_EQ(ExtensionNids(*cert, /*critical_only=*/true),
            (std::set<int>{NID_basic_constraints, NID_key_usage}));

  auto bc = Ext<BASIC_CONSTRAINTS>(*cert, NID_basic_constraints);
  ASSERT_TRUE(bc);
  EXPECT_EQ(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);
  EXPECT_FALSE(cert->is_ca());

  std::uint32_t ku = X509_get_key_usage(cert->get());
  std::uint32_t want_ku = KU_DIGITAL_SIGNATURE;
  if (rsa && profile != Profile::kOcspSigner && profile != Profile::kAuditSigner) {
    want_ku |= KU_KEY_ENCIPHERMENT;
  }
  EXPECT_EQ(ku, want_ku);

  std::vector<int> want_eku;
  int purpose = 0;
  switch (profile) {
    case Profile::kServer:
      want_eku = {NID_server_auth};
      purpose = X509_PURPOSE_SSL_SERVER;
      break;
    case Profile::kClient:
      want_eku = {NID_client_auth};
      purpose = X509_PURPOSE_SSL_CLIENT;
      break;
    case Profile::kPeer:
      want_eku = {NID_server_auth, NID_client_auth};
      purpose = X509_PURPOSE_SSL_SERVER;
      break;
    case Profile::kOcspSigner:
      want_eku = {NID_OCSP_sign};
      break;
    case Profile::kAuditSigner:
      want_eku = {NID_undef};  // the private purpose, which OpenSSL does not name
      break;
    default:
      FAIL();
  }
  EXPECT_EQ(EkuNids(*cert), want_eku);
  if (profile == Profile::kAuditSigner) {
    auto eku = cert->extended_key_usage_extension();
    ASSERT_TRUE(eku.has_value()) << eku.error().message;
    EXPECT_EQ(*eku, std::optional(std::vector<std::string>{std::string(kAuditSigningEkuOid)}));
    // Good for nothing else: no TLS server or client, no OCSP or code signing.
    EXPECT_EQ(X509_get_extended_key_usage(cert->get()), 0u);
    for (int p : {X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT}) {
      EXPECT_NE(X509_check_purpose(cert->get(), p, 0), 1) << p;
    }
  }

  // SKI: RFC 5280 4.2.1.2 method 1; AKI: the intermediate's SKI.
  auto ski = Ext<ASN1_OCTET_STRING>(*cert, NID_subject_key_identifier);
  ASSERT_TRUE(ski);
  EXPECT_EQ(Bytes(ski.get()), Sha1OfKeyBits(*cert));
  auto aki = Ext<AUTHORITY_KEYID>(*cert, NID_authority_key_identifier);
  ASSERT_TRUE(aki);
  ASSERT_NE(aki->keyid, nullptr);
  EXPECT_EQ(Bytes(aki->keyid), Bytes(X509_get0_subject_key_id(pki.intermediate.get())));
  EXPECT_EQ(aki->issuer, nullptr);
  EXPECT_EQ(aki->serial, nullptr);

  // SAN: the request's names and the CN.
  EXPECT_THAT(cert->sans().dns, UnorderedElementsAreArray({"alt.example.com", cn.c_str()}));
  EXPECT_EQ(cert->sans().ips, std::vector<std::string>{"10.0.0.1"});

  // Independent checks: OpenSSL verifies the signature, the chain and the purpose.
  EXPECT_EQ(X509_verify(cert->get(), pki.intermediate_key.get()), 1);
  EXPECT_EQ(OpensslVerify(pki, *cert, purpose), X509_V_OK)
      << X509_verify_cert_error_string(OpensslVerify(pki, *cert, purpose));
  if (profile == Profile::kServer || profile == Profile::kPeer) {
    EXPECT_EQ(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_SERVER, 0), 1);
    EXPECT_EQ(X509_check_host(cert->get(), "alt.example.com", 0, 0, nullptr), 1);
  }
  if (profile == Profile::kClient || profile == Profile::kPeer) {
    EXPECT_EQ(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  }
  if (profile == Profile::kServer) {
    EXPECT_NE(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  }
  if (profile == Profile::kClient) {
    EXPECT_NE(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  }
  EXPECT_EQ(X509_check_ca(cert->get()), 0);
}

std::vector<LeafCase> AllLeafCases() {
  std::vector<LeafCase> out;
  for (Profile p : {Profile::kServer, Profile::kClient, Profile::kPeer, Profile::kOcspSigner,
                    Profile::kAuditSigner}) {
    for (KeyType k : {KeyType::kEcP256, KeyType::kRsa2048, KeyType::kEd25519}) {
      out.push_back({p, k});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Profiles, LeafProfileTest, ::testing::ValuesIn(AllLeafCases()),
                         [](const auto& info) {
                           std::string n = std::string(ProfileName(info.param.profile)) + "_" +
                                           KeyTypeName(info.param.key_type);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// ---- CA profiles ----

TEST(CaProfileTest, RootIsSelfSignedCaWithCaKeyUsageAndNoEku) {
  const TestPki& pki = SharedPki();
  const Certificate& root = pki.root;
  EXPECT_EQ(root.subject(), "CN=clustertls Test Root CA,O=clustertls tests");
  EXPECT_EQ(root.issuer(), root.subject());
  EXPECT_EQ(ExtensionNids(root),
            (std::set<int>{NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
                           NID_authority_key_identifier}));
  EXPECT_EQ(ExtensionNids(root, true), (std::set<int>{NID_basic_constraints, NID_key_usage}));
  auto bc = Ext<BASIC_CONSTRAINTS>(root, NID_basic_constraints);
  ASSERT_TRUE(bc);
  EXPECT_NE(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);  // not requested: unlimited
  EXPECT_EQ(X509_get_key_usage(root.get()),
            static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE));
  // Self-signed: AKI = SKI = SHA-1 of its key bits; the signature verifies with its own key.
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(root.get())), Sha1OfKeyBits(root));
  EXPECT_EQ(Bytes(X509_get0_authority_key_id(root.get())), Sha1OfKeyBits(root));
  EXPECT_EQ(X509_verify(root.get(), pki.root_key.get()), 1);
  EXPECT_EQ(X509_check_ca(root.get()), 1);
  EXPECT_TRUE(root.sans().empty());  // a CA's CN is a label, not a host name
  EXPECT_EQ(X509_get_extension_flags(root.get()) & EXFLAG_SS, EXFLAG_SS);
}

TEST(CaProfileTest, IntermediateCarriesPathLenAndIsSignedByTheRoot) {
  const TestPki& pki = SharedPki();
  const Certificate& ca = pki.intermediate;
  auto bc = Ext<BASIC_CONSTRAINTS>(ca, NID_basic_constraints);
  ASSERT_TRUE(bc);
  EXPECT_NE(bc->ca, 0);
  ASSERT_NE(bc->pathlen, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  EXPECT_EQ(ca.path_len(), 0);
  EXPECT_EQ(ExtensionNids(ca, true), (std::set<int>{NID_basic_constraints, NID_key_usage}));
  EXPECT_TRUE(EkuNids(ca).empty());
  EXPECT_EQ(Bytes(X509_get0_authority_key_id(ca.get())),
            Bytes(X509_get0_subject_key_id(pki.root.get())));
  EXPECT_EQ(X509_verify(ca.get(), pki.root_key.get()), 1);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(pki.issuing.chain().size(), 1u);
}

TEST(CaProfileTest, NameConstraintsAreEncodedCritical) {
  TestPki pki = MakeTestPki(TestPkiOptions{
      .intermediate_constraints = {.permitted_dns = {"Example.COM", ".internal.example"},
                                   .excluded_dns = {"secret.example.com"},
                                   .permitted_ip = {"10.0.0.0/8", "2001:db8::/32"},
                                   .excluded_ip = {"10.9.0.0/16"}}});
  const Certificate& ca = pki.intermediate;
  EXPECT_EQ(ExtensionNids(ca, true),
            (std::set<int>{NID_basic_constraints, NID_key_usage, NID_name_constraints}));
  auto nc = Ext<NAME_CONSTRAINTS>(ca, NID_name_constraints);
  ASSERT_TRUE(nc);
  auto read = [](STACK_OF(GENERAL_SUBTREE) * trees) {
    std::vector<std::string> out;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(trees); ++i) {
      GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(trees, i)->base;
      if (base->type == GEN_DNS) {
        out.push_back("dns:" + Bytes(base->d.dNSName));
      } else if (base->type == GEN_IPADD) {
        std::string b = Bytes(base->d.iPAddress);
        std::string hex;
        for (unsigned char c : b) {
          static constexpr char kHex[] = "0123456789abcdef";
          hex += kHex[c >> 4];
          hex += kHex[c & 15];
        }
        out.push_back("ip:" + hex);
      }
    }
    return out;
  };
  EXPECT_EQ(
      read(nc->permittedSubtrees),
      (std::vector<std::string>{"dns:example.com", "dns:.internal.example", "ip:0a000000ff000000",
                                "ip:20010db8000000000000000000000000"
                                "ffffffff000000000000000000000000"}));
  EXPECT_EQ(read(nc->excludedSubtrees),
            (std::vector<std::string>{"dns:secret.example.com", "ip:0a090000ffff0000"}));

  // OpenSSL enforces them: a leaf inside verifies, one outside does not. The issuer refuses to
  // make the latter, so a twin of the intermediate (same name and key, no constraints) signs it.
  TestLeaf inside = IssueLeaf(pki, "a.example.com");
  EXPECT_EQ(OpensslVerify(pki, inside.cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  ossl::Csprng rng;
  for (const char* name : {"a.example.org", "secret.example.com"}) {
    auto refused = pki.issuing.Issue({.common_name = name},
                                     TestKey(KeyType::kEcP256, 2).public_key(), pki.now, rng);
    ASSERT_FALSE(refused) << name;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidName);
  }
  Certificate twin = Must(pki.root_issuer.Issue({.profile = Profile::kIntermediateCa,
                                                 .common_name = "clustertls Test Intermediate CA",
                                                 .subject_extra = {{"O", "clustertls tests"}},
                                                 .validity = std::chrono::days(730),
                                                 .path_len = 0},
                                                pki.intermediate_key.public_key(), pki.now, rng));
  Issuer unconstrained = Must(Issuer::Create(twin, pki.intermediate_key, {pki.root}));
  TestLeaf outside = IssueLeaf(unconstrained, {.common_name = "a.example.org"});
  EXPECT_EQ(OpensslVerify(pki, outside.cert, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_PERMITTED_VIOLATION);
  TestLeaf excluded = IssueLeaf(unconstrained, {.common_name = "secret.example.com"});
  EXPECT_EQ(OpensslVerify(pki, excluded.cert, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_EXCLUDED_VIOLATION);
}

TEST(CaProfileTest, RefusesBadNameConstraints) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  auto bad_cidr =
      pki.root_issuer.Issue(IssueRequest{.profile = Profile::kIntermediateCa,
                                         .common_name = "Sub CA",
                                         .name_constraints = {.permitted_ip = {"10.0.0.1/8"}}},
                            NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_FALSE(bad_cidr.has_value());
  EXPECT_EQ(bad_cidr.error().code, ErrorCode::kInvalidName);
  EXPECT_THAT(bad_cidr.error().message, HasSubstr("10.0.0.1/8"));

  auto on_leaf = pki.issuing.Issue(IssueRequest{.profile = Profile::kServer,
                                                .common_name = "a.example.com",
                                                .name_constraints = {.permitted_dns = {"x.com"}}},
                                   NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_FALSE(on_leaf.has_value());
  EXPECT_EQ(on_leaf.error().code, ErrorCode::kInvalidArgument);
}

TEST(CaProfileTest, PathLengthMustFitTheIssuers) {
  TestPki pki = MakeTestPki(TestPkiOptions{.root_path_len = 1, .intermediate_path_len = {}});
  // Not requested: the issuer's limit minus one.
  EXPECT_EQ(pki.intermediate.path_len(), 0);
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  auto too_long = pki.root_issuer.Issue(
      IssueRequest{.profile = Profile::kIntermediateCa, .common_name = "Sub", .path_len = 1}, key,
      pki.now, rng);
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(too_long.error().message, HasSubstr("at most 0"));

  // The intermediate (pathlen 0) issues no CA at all.
  auto sub = pki.issuing.Issue(
      IssueRequest{.profile = Profile::kIntermediateCa, .common_name = "Sub"}, key, pki.now, rng);
  ASSERT_FALSE(sub.has_value());
  EXPECT_EQ(sub.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(sub.error().message, HasSubstr("path length 0"));

  auto negative = pki.root_issuer.Issue(
      IssueRequest{.profile = Profile::kIntermediateCa, .common_name = "Sub", .path_len = -1}, key,
      pki.now, rng);
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);

  auto on_leaf = pki.issuing.Issue(
      IssueRequest{.profile = Profile::kServer, .common_name = "a.example.com", .path_len = 0}, key,
      pki.now, rng);
  ASSERT_FALSE(on_leaf.has_value());
  EXPECT_EQ(on_leaf.error().code, ErrorCode::kInvalidArgument);
}

TEST(CaProfileTest, ProfilesGoWhereTheyBelong) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  auto root_by_issuer = pki.root_issuer.Issue(
      IssueRequest{.profile = Profile::kRootCa, .common_name = "Another Root"},
      NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_FALSE(root_by_issuer.has_value());
  EXPECT_EQ(root_by_issuer.error().code, ErrorCode::kInvalidArgument);
  auto self_intermediate = SelfSign(
      NewTestKey(KeyType::kEcP256),
      IssueRequest{.profile = Profile::kIntermediateCa, .common_name = "Sub"}, pki.now, rng);
  ASSERT_FALSE(self_intermediate.has_value());
  EXPECT_EQ(self_intermediate.error().code, ErrorCode::kInvalidArgument);
}

TEST(SelfSignTest, SelfSignedPeerLikeRedisGenerator) {
  ossl::Csprng rng;
  PrivateKey key = NewTestKey(KeyType::kEcP256);
  auto cert = SelfSign(key,
                       IssueRequest{.profile = Profile::kPeer,
                                    .common_name = "a.example.com",
                                    .sans = {.dns = {"*.a.example.com", "internal.a.example.com",
                                                     "*.internal.a.example.com"}}},
                       kTestReferenceTime, rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_TRUE(cert->IsSelfIssued());
  EXPECT_EQ(X509_verify(cert->get(), key.get()), 1);
  EXPECT_FALSE(cert->is_ca());
  EXPECT_EQ(EkuNids(*cert), (std::vector<int>{NID_server_auth, NID_client_auth}));
  EXPECT_EQ(cert->sans().dns,
            (std::vector<std::string>{"*.a.example.com", "internal.a.example.com",
                                      "*.internal.a.example.com", "a.example.com"}));
}

// ---- signature algorithms ----

TEST(SignatureAlgorithmTest, FollowsTheIssuerKey) {
  struct Case {
    KeyType type;
    int nid;
  };
  for (Case c : {Case{KeyType::kEcP256, NID_ecdsa_with_SHA256},
                 Case{KeyType::kEcP384, NID_ecdsa_with_SHA384},
                 Case{KeyType::kRsa2048, NID_sha256WithRSAEncryption},
                 Case{KeyType::kEd25519, NID_ED25519}}) {
    TestPki pki = MakeTestPki(TestPkiOptions{.intermediate_key_type = c.type});
    TestLeaf leaf = IssueLeaf(pki, "sig.example.com");
    EXPECT_EQ(X509_get_signature_nid(leaf.cert.get()), c.nid) << KeyTypeName(c.type);
    EXPECT_EQ(X509_verify(leaf.cert.get(), pki.intermediate_key.get()), 1);
    EXPECT_EQ(OpensslVerify(pki, leaf.cert, X509_PURPOSE_SSL_SERVER), X509_V_OK)
        << KeyTypeName(c.type);
  }
}

TEST(SubjectKeyTest, PublicKeyIsEncodedExactlyAsOpensslDoes) {
  const TestPki& pki = SharedPki();
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    TestLeaf leaf = IssueLeaf(pki, "spki.example.com", Profile::kServer, t);
    std::string cert_spki = ossl::ToDer(X509_get_X509_PUBKEY(leaf.cert.get()), i2d_X509_PUBKEY);
    EXPECT_EQ(cert_spki, leaf.key.public_key().SpkiDer()) << KeyTypeName(t);
  }
}

// ---- serials and validity ----

TEST(SerialTest, AtLeast128RandomBitsPositiveAndUnique) {
  const TestPki& pki = SharedPki();
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    TestLeaf leaf = IssueLeaf(pki, "serial.example.com");
    const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf.cert.get());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
    auto bn = ossl::Own(ASN1_INTEGER_to_BN(serial, nullptr));
    EXPECT_GE(BN_num_bits(bn.get()), 129);
    EXPECT_LE(ASN1_STRING_length(serial), 20);  // RFC 5280 4.1.2.2
    EXPECT_FALSE(BN_is_negative(bn.get()));
    seen.insert(leaf.cert.serial_hex());
  }
  EXPECT_EQ(seen.size(), 20u);
}

TEST(ValidityTest, BackdatesNotBeforeAndAddsTheValidity) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf =
      IssueLeaf(pki, "time.example.com", Profile::kServer, KeyType::kEcP256, std::chrono::days(90));
  EXPECT_EQ(leaf.cert.not_before(), pki.now - kBackdate);
  EXPECT_EQ(leaf.cert.not_after(), pki.now + std::chrono::days(90));
  EXPECT_EQ(core::FormatTime(leaf.cert.not_before()), "2025-12-31T23:55:00Z");
}

TEST(ValidityTest, RefusesToOutliveTheIssuerSayingHowLongItLives) {
  const TestPki& pki = SharedPki();
  // The intermediate runs from 2025-12-31 for 1825 days: 1824 days (and 5 minutes) from now.
  const core::TimePoint int_end = pki.intermediate.not_after();
  ASSERT_EQ(std::chrono::floor<std::chrono::days>(int_end - pki.now), std::chrono::days(1824));
  ossl::Csprng rng;
  auto cert = pki.issuing.Issue(IssueRequest{.profile = Profile::kServer,
                                             .common_name = "long.example.com",
                                             .validity = std::chrono::days(2000)},
                                NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_FALSE(cert.has_value());
  EXPECT_EQ(cert.error().code, ErrorCode::kExpired);
  EXPECT_EQ(cert.error().message, "requested validity (2000 days) ends after the issuer \"" +
                                      pki.intermediate.subject() + "\" expires on " +
                                      core::FormatTime(int_end) +
                                      " (in 1824 days); use at most 1824 days");
  EXPECT_EQ(core::FormatTime(int_end), "2030-12-30T00:05:00Z");

  // Exactly up to the issuer's notAfter is fine (notAfter is inclusive).
  auto exact = pki.issuing.Issue(
      IssueRequest{.profile = Profile::kServer,
                   .common_name = "long.example.com",
                   .validity = std::chrono::duration_cast<std::chrono::seconds>(int_end - pki.now)},
      NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_TRUE(exact.has_value()) << exact.error().message;
  EXPECT_EQ(exact->not_after(), int_end);
  auto one_more = pki.issuing.Issue(
      IssueRequest{.profile = Profile::kServer,
                   .common_name = "long.example.com",
                   .validity = std::chrono::duration_cast<std::chrono::seconds>(int_end - pki.now) +
                               std::chrono::seconds(1)},
      NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
  ASSERT_FALSE(one_more.has_value());
  EXPECT_EQ(one_more.error().code, ErrorCode::kExpired);
}

TEST(ValidityTest, RefusesAnIssuerOutsideItsValidity) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  IssueRequest request{.profile = Profile::kServer, .common_name = "late.example.com"};
  auto late = pki.issuing.Issue(request, key, pki.now + std::chrono::days(3000), rng);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::kExpired);
  EXPECT_THAT(late.error().message, HasSubstr("expired on 2030-12-30T00:05:00Z"));
  EXPECT_THAT(late.error().message, HasSubstr(pki.intermediate.subject()));

  auto early = pki.issuing.Issue(request, key, pki.now - std::chrono::days(30), rng);
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, ErrorCode::kExpired);
  EXPECT_THAT(early.error().message, HasSubstr("not valid before"));

  auto zero = pki.issuing.Issue(IssueRequest{.profile = Profile::kServer,
                                             .common_name = "z.example.com",
                                             .validity = std::chrono::seconds(0)},
                                key, pki.now, rng);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);
}

TEST(ValidityTest, NotBeforeNeverPrecedesTheIssuers) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  // One minute after the intermediate starts: the backdate is clamped to its notBefore.
  core::TimePoint just_after = pki.intermediate.not_before() + std::chrono::minutes(1);
  auto cert = pki.issuing.Issue(
      IssueRequest{.profile = Profile::kServer, .common_name = "early.example.com"},
      NewTestKey(KeyType::kEcP256).public_key(), just_after, rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_EQ(cert->not_before(), pki.intermediate.not_before());
}

// ---- names ----

TEST(IssueNamesTest, RefusesInvalidNamesWithTheNameInTheMessage) {
  using namespace std::string_literals;
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  std::string long_label(64, 'a');
  std::string name254 = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                        std::string(63, 'c') + "." + std::string(62, 'd');
  ASSERT_EQ(name254.size(), 254u);
  struct Case {
    IssueRequest request;
    std::string shown;
  };
  std::vector<Case> cases = {
      {{.common_name = "a\0b.example.com"s}, "a\\x00b.example.com"},
      {{.common_name = long_label + ".example.com"}, long_label + ".example.com"},
      {{.common_name = name254}, name254},
      {{.common_name = "ok.example.com", .sans = {.dns = {"*.*.x"}}}, "*.*.x"},
      {{.common_name = "f*o.example.com"}, "f*o.example.com"},
      {{.common_name = "ok.example.com", .sans = {.ips = {"10.0.0.256"}}}, "10.0.0.256"},
      {{.common_name = "ok.example.com", .sans = {.emails = {"not-an-email"}}}, "not-an-email"},
      {{.common_name = "ok.example.com", .sans = {.uris = {"no scheme"}}}, "no scheme"},
      {{.common_name = "My Server"}, "My Server"},
  };
  for (const auto& c : cases) {
    auto cert = pki.issuing.Issue(c.request, key, pki.now, rng);
    ASSERT_FALSE(cert.has_value()) << c.shown;
    EXPECT_EQ(cert.error().code, ErrorCode::kInvalidName) << cert.error().message;
    EXPECT_THAT(cert.error().message, HasSubstr("\"" + c.shown + "\""));
  }
  auto bad_crl = pki.issuing.Issue(
      IssueRequest{.common_name = "ok.example.com", .crl_urls = {"not a url"}}, key, pki.now, rng);
  ASSERT_FALSE(bad_crl.has_value());
  EXPECT_EQ(bad_crl.error().code, ErrorCode::kInvalidName);
}

TEST(IssueNamesTest, CanonicalisesNamesAndEncodesIdnsAsALabels) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf =
      IssueLeaf(pki.issuing, IssueRequest{.profile = Profile::kServer,
                                          .common_name = "Bücher.Example.",
                                          .sans = {.dns = {"WWW.Example.com"},
                                                   .ips = {"2001:DB8:0:0::1"},
                                                   .uris = {"HTTPS://svc.example.com/x"},
                                                   .emails = {"Ops@Example.COM"}}});
  EXPECT_EQ(leaf.cert.common_name(), "xn--bcher-kva.example");
  EXPECT_EQ(leaf.cert.sans().dns,
            (std::vector<std::string>{"www.example.com", "xn--bcher-kva.example"}));
  EXPECT_EQ(leaf.cert.sans().ips, std::vector<std::string>{"2001:db8::1"});
  EXPECT_EQ(leaf.cert.sans().uris, std::vector<std::string>{"https://svc.example.com/x"});
  EXPECT_EQ(leaf.cert.sans().emails, std::vector<std::string>{"Ops@example.com"});
  EXPECT_EQ(X509_check_host(leaf.cert.get(), "xn--bcher-kva.example", 0, 0, nullptr), 1);

  // The subject's CN is a UTF8String; subject_extra comes first.
  TestLeaf with_org = IssueLeaf(pki.issuing, IssueRequest{.profile = Profile::kClient,
                                                          .common_name = "10.1.1.1",
                                                          .subject_extra = {{"O", "Acme"}}});
  EXPECT_EQ(with_org.cert.subject(), "CN=10.1.1.1,O=Acme");
  EXPECT_EQ(with_org.cert.sans().ips, std::vector<std::string>{"10.1.1.1"});
  const X509_NAME* subject = X509_get_subject_name(with_org.cert.get());
  EXPECT_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, 1))),
            V_ASN1_UTF8STRING);
}

// elasticsearch-certutil's `cn`: otherName entries with type-id id-at-commonName and a
// UTF8String value, after the other names, encoded as Elastic's CertGenUtils.createCommonName
// does (OtherName's value [0] EXPLICIT).
TEST(IssueNamesTest, OtherNameCommonNamesAsElasticWritesThem) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf =
      IssueLeaf(pki.issuing, IssueRequest{.profile = Profile::kPeer,
                                          .common_name = "node1.example.com",
                                          .other_name_cns = {"node1", "Nöde", "node1"}});
  auto sans = Ext<GENERAL_NAMES>(leaf.cert, NID_subject_alt_name);
  ASSERT_TRUE(sans);
  std::vector<std::string> others;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_OTHERNAME) {
      continue;
    }
    EXPECT_EQ(OBJ_obj2nid(gn->d.otherName->type_id), NID_commonName);
    ASSERT_EQ(gn->d.otherName->value->type, V_ASN1_UTF8STRING);
    others.push_back(Bytes(gn->d.otherName->value->value.utf8string));
  }
  EXPECT_EQ(others, (std::vector<std::string>{"node1", "Nöde"}));  // duplicates dropped
  // The DNS names are unchanged, and the exact DER of the first otherName:
  // [0] { OID 2.5.4.3, [0] { UTF8String "node1" } }.
  EXPECT_EQ(leaf.cert.sans().dns, std::vector<std::string>{"node1.example.com"});
  const ASN1_OCTET_STRING* ext_data = X509_EXTENSION_get_data(X509_get_ext(
      leaf.cert.get(), X509_get_ext_by_NID(leaf.cert.get(), NID_subject_alt_name, -1)));
  const std::string expected("\xa0\x0e\x06\x03\x55\x04\x03\xa0\x07\x0c\x05node1", 16);
  EXPECT_NE(Bytes(ext_data).find(expected), std::string::npos);
}

TEST(IssueNamesTest, RefusesBadOtherNameCommonNames) {
  using namespace std::string_literals;
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  for (const std::string& bad : {""s, "a\nb"s, std::string(65, 'x'), "\xff\xfe"s}) {
    auto cert = pki.issuing.Issue(
        IssueRequest{.common_name = "ok.example.com", .other_name_cns = {bad}}, key, pki.now, rng);
    ASSERT_FALSE(cert.has_value()) << bad;
    EXPECT_EQ(cert.error().code, ErrorCode::kInvalidName) << cert.error().message;
    EXPECT_THAT(cert.error().message, HasSubstr("invalid common name"));
  }
  EXPECT_TRUE(pki.issuing.Issue(
      IssueRequest{.common_name = "ok.example.com", .other_name_cns = {std::string(64, 'x')}}, key,
      pki.now, rng));
  // 99 DNS names + the CN + 1 otherName: 101.
  IssueRequest many{.common_name = "ok.example.com", .other_name_cns = {"x"}};
  for (int i = 0; i < 99; ++i) {
    many.sans.dns.push_back("n" + std::to_string(i) + ".example.com");
  }
  auto over = pki.issuing.Issue(many, key, pki.now, rng);
  ASSERT_FALSE(over.has_value());
  EXPECT_THAT(over.error().message, HasSubstr("101 subject alternative names"));
}

TEST(IssueNamesTest, CrlDistributionPointAndOcspUrls) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf = IssueLeaf(pki.issuing, IssueRequest{.profile = Profile::kServer,
                                                      .common_name = "urls.example.com",
                                                      .crl_urls = {"http://ca.example.com/int.crl"},
                                                      .ocsp_urls = {"http://ocsp.example.com"}});
  auto crldp = Ext<CRL_DIST_POINTS>(leaf.cert, NID_crl_distribution_points);
  ASSERT_TRUE(crldp);
  ASSERT_EQ(sk_DIST_POINT_num(crldp.get()), 1);
  DIST_POINT* dp = sk_DIST_POINT_value(crldp.get(), 0);
  ASSERT_NE(dp->distpoint, nullptr);
  ASSERT_EQ(dp->distpoint->type, 0);
  GENERAL_NAMES* full = dp->distpoint->name.fullname;
  ASSERT_EQ(sk_GENERAL_NAME_num(full), 1);
  EXPECT_EQ(sk_GENERAL_NAME_value(full, 0)->type, GEN_URI);
  EXPECT_EQ(Bytes(sk_GENERAL_NAME_value(full, 0)->d.uniformResourceIdentifier),
            "http://ca.example.com/int.crl");

  auto aia = Ext<AUTHORITY_INFO_ACCESS>(leaf.cert, NID_info_access);
  ASSERT_TRUE(aia);
  ASSERT_EQ(sk_ACCESS_DESCRIPTION_num(aia.get()), 1);
  ACCESS_DESCRIPTION* ad = sk_ACCESS_DESCRIPTION_value(aia.get(), 0);
  EXPECT_EQ(OBJ_obj2nid(ad->method), NID_ad_OCSP);
  EXPECT_EQ(Bytes(ad->location->d.uniformResourceIdentifier), "http://ocsp.example.com");
  EXPECT_EQ(ExtensionNids(leaf.cert, true), (std::set<int>{NID_basic_constraints, NID_key_usage}));
}

// ---- from a CSR ----

TEST(IssueFromCsrTest, TakesOnlyTheCnAndSansOfAGreedyCsr) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  // Made by `openssl req`: asks for CA:TRUE, keyCertSign, codeSigning and extra extensions.
  Csr csr = Must(Csr::Parse(ReadTestFile("csr/ca-true-extra.csr.pem")));
  auto cert =
      pki.issuing.IssueFromCsr(csr, IssueRequest{.profile = Profile::kServer}, pki.now, rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_EQ(ExtensionNids(*cert),
            (std::set<int>{NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                           NID_subject_key_identifier, NID_authority_key_identifier,
                           NID_subject_alt_name}));
  EXPECT_FALSE(cert->is_ca());
  EXPECT_EQ(X509_check_ca(cert->get()), 0);
  EXPECT_EQ(X509_get_key_usage(cert->get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(EkuNids(*cert), std::vector<int>{NID_server_auth});
  // Subject: the CSR's C and O, then the CN; SANs re-canonicalised.
  EXPECT_EQ(cert->subject(), "CN=greedy.example.com,O=Greedy,C=US");
  EXPECT_EQ(cert->sans().dns,
            (std::vector<std::string>{"greedy.example.com", "www.greedy.example.com"}));
  EXPECT_TRUE(cert->public_key().Equals(csr.public_key()));
  EXPECT_EQ(OpensslVerify(pki, *cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST(IssueFromCsrTest, GreedyCsrBuiltWithOpensslApis) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PrivateKey key = NewTestKey(KeyType::kEcP256);
  auto req = ossl::Own(X509_REQ_new());
  X509_REQ_set_version(req.get(), X509_REQ_VERSION_1);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Api.Example.com"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.get());
  STACK_OF(X509_EXTENSION)* exts = nullptr;
  auto bc = ossl::Own(BASIC_CONSTRAINTS_new());
  bc->ca = 0xff;
  X509V3_add1_i2d(&exts, NID_basic_constraints, bc.get(), 1, X509V3_ADD_DEFAULT);
  auto ku = ossl::Own(ASN1_BIT_STRING_new());
  ASN1_BIT_STRING_set_bit(ku.get(), 5, 1);
  X509V3_add1_i2d(&exts, NID_key_usage, ku.get(), 1, X509V3_ADD_DEFAULT);
  auto san = ossl::Own(GENERAL_NAMES_new());
  GENERAL_NAME* dns = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  ASN1_STRING_set(ia5, "API2.example.com", -1);
  GENERAL_NAME_set0_value(dns, GEN_DNS, ia5);
  sk_GENERAL_NAME_push(san.get(), dns);
  X509V3_add1_i2d(&exts, NID_subject_alt_name, san.get(), 0, X509V3_ADD_DEFAULT);
  ossl::ExtensionStack owned(exts);
  ASSERT_EQ(X509_REQ_add_extensions(req.get(), owned.get()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  std::string der = ossl::ToDer(req.get(), i2d_X509_REQ);
  Csr csr = Must(Csr::Parse(der));

  auto cert = pki.issuing.IssueFromCsr(
      csr, IssueRequest{.profile = Profile::kClient, .sans = {.dns = {"extra.example.com"}}},
      pki.now, rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_FALSE(cert->is_ca());
  EXPECT_EQ(X509_get_key_usage(cert->get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(EkuNids(*cert), std::vector<int>{NID_client_auth});
  EXPECT_EQ(cert->common_name(), "api.example.com");
  EXPECT_EQ(cert->sans().dns,
            (std::vector<std::string>{"extra.example.com", "api2.example.com", "api.example.com"}));
}

TEST(IssueFromCsrTest, RequestCommonNameOverridesTheCsrs) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  Csr csr = Must(Csr::Parse(ReadTestFile("csr/ok-ec.csr.pem")));
  auto cert = pki.issuing.IssueFromCsr(
      csr, IssueRequest{.profile = Profile::kServer, .common_name = "other.example.com"}, pki.now,
      rng);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_EQ(cert->common_name(), "other.example.com");
  EXPECT_EQ(cert->sans().dns,
            (std::vector<std::string>{"app.example.com", "api.example.com", "other.example.com"}));
  EXPECT_EQ(cert->sans().ips, std::vector<std::string>{"10.1.2.3"});
}

TEST(IssueNamesTest, AtMostAHundredNamesTheCommonNameIncluded) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  auto request = [](int n, const std::string& cn) {
    IssueRequest r{.profile = Profile::kServer, .common_name = cn};
    for (int i = 0; i < n; ++i) {
      r.sans.dns.push_back("n" + std::to_string(i) + ".example.com");
    }
    return r;
  };
  // 99 names + a CN that is not among them: 100.
  auto hundred = pki.issuing.Issue(request(99, "cn.example.com"), key, pki.now, rng);
  ASSERT_TRUE(hundred.has_value()) << hundred.error().message;
  EXPECT_EQ(hundred->sans().dns.size(), 100u);
  // 100 names + another CN: 101.
  auto over = pki.issuing.Issue(request(100, "cn.example.com"), key, pki.now, rng);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(over.error().message,
            "101 subject alternative names: at most 100 per certificate (the common name counts "
            "as one)");
  // 10,001 names are refused before any is looked at.
  auto many = pki.issuing.Issue(request(10001, "n0.example.com"), key, pki.now, rng);
  ASSERT_FALSE(many.has_value());
  EXPECT_THAT(many.error().message, HasSubstr("10001 subject alternative names"));
}

TEST(IssueNamesTest, TheNameCheckSeesTheCanonicalNamesBeforeSigning) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  PublicKey key = NewTestKey(KeyType::kEcP256).public_key();
  SubjectAltNames seen;
  IssueRequest request{.profile = Profile::kServer,
                       .common_name = "WWW.Example.com",
                       .sans = {.ips = {"2001:DB8::1"}},
                       .check_names = [&seen](const SubjectAltNames& names) -> core::Result<void> {
                         seen = names;
                         return core::Fail(ErrorCode::kPermissionDenied, "no thanks");
                       }};
  auto refused = pki.issuing.Issue(request, key, pki.now, rng);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message, "no thanks");
  EXPECT_EQ(seen.dns, std::vector<std::string>{"www.example.com"});
  EXPECT_EQ(seen.ips, std::vector<std::string>{"2001:db8::1"});

  // Both CSR paths (the fast one for P-256, the OpenSSL one for RSA) ask it.
  for (KeyType t : {KeyType::kEcP256, KeyType::kRsa2048}) {
    Csr csr = Must(Csr::Create(TestKey(t, 5), CsrOptions{.common_name = "csr.example.com"}));
    int asked = 0;
    IssueRequest from_csr{
        .check_names = [&asked](const SubjectAltNames& names) -> core::Result<void> {
          ++asked;
          if (names.dns == std::vector<std::string>{"csr.example.com"}) {
            return core::Fail(ErrorCode::kPermissionDenied, "refused csr.example.com");
          }
          return {};
        }};
    auto der = IssueFromCsrDer(pki.issuing, csr.ToDer(), from_csr, pki.now, rng);
    ASSERT_FALSE(der.has_value()) << KeyTypeName(t);
    EXPECT_EQ(der.error().message, "refused csr.example.com");
    EXPECT_EQ(asked, 1) << KeyTypeName(t);
  }
}

TEST(IssueFromCsrTest, RefusesInvalidNamesInTheCsr) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  Csr csr = Must(Csr::Parse(ReadTestFile("csr/bad-san-wildcard.csr.pem")));
  auto cert = pki.issuing.IssueFromCsr(csr, IssueRequest{}, pki.now, rng);
  ASSERT_FALSE(cert.has_value());
  EXPECT_EQ(cert.error().code, ErrorCode::kInvalidName);
  EXPECT_THAT(cert.error().message, HasSubstr("\"*.*.example.com\""));
}

TEST(IssueFromCsrTest, CsrFromAKeyRoundTrip) {
  const TestPki& pki = SharedPki();
  ossl::Csprng rng;
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    PrivateKey key = TestKey(t, 4);
    Csr made = Must(Csr::Create(
        key, CsrOptions{.common_name = "rt.example.com", .sans = {.ips = {"192.0.2.1"}}}));
    Csr csr = Must(Csr::Parse(made.ToPem()));
    auto cert =
        pki.issuing.IssueFromCsr(csr, IssueRequest{.profile = Profile::kPeer}, pki.now, rng);
    ASSERT_TRUE(cert.has_value()) << cert.error().message;
    EXPECT_TRUE(cert->public_key().Equals(key.public_key())) << KeyTypeName(t);
    EXPECT_EQ(cert->sans().ips, std::vector<std::string>{"192.0.2.1"});
    EXPECT_EQ(cert->sans().dns, std::vector<std::string>{"rt.example.com"});
    EXPECT_EQ(OpensslVerify(pki, *cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK) << KeyTypeName(t);
  }
}

TEST(MergeCsrRequestTest, CsrCnAndAttributesOnlyWhenTheRequestHasNone) {
  IssueRequest base{.sans = {.dns = {"a.example.com"}}};
  SubjectAltNames csr_sans{.dns = {"b.example.com"}, .ips = {"10.0.0.1"}};
  SubjectAttributes csr_subject{{"C", "US"}, {"O", "From CSR"}};
  IssueRequest merged = MergeCsrRequest(base, "csr.example.com", csr_subject, csr_sans);
  EXPECT_EQ(merged.common_name, "csr.example.com");
  EXPECT_EQ(merged.subject_extra, csr_subject);
  EXPECT_EQ(merged.sans.dns, (std::vector<std::string>{"a.example.com", "b.example.com"}));
  EXPECT_EQ(merged.sans.ips, std::vector<std::string>{"10.0.0.1"});
  base.common_name = "req.example.com";
  base.subject_extra = {{"O", "From request"}};
  merged = MergeCsrRequest(base, "csr.example.com", csr_subject, csr_sans);
  EXPECT_EQ(merged.common_name, "req.example.com");
  EXPECT_EQ(merged.subject_extra, (SubjectAttributes{{"O", "From request"}}));
}

// The subject: C, ST, L, O, OU in the request's order, one RDN each, then the CN; anything else
// refused by name (CanonicalSubjectAttributes), on every profile.
TEST(IssueSubjectTest, AttributesInOrderThenTheCn) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf = IssueLeaf(pki.issuing, IssueRequest{.profile = Profile::kClient,
                                                      .common_name = "client1.example.com",
                                                      .subject_extra = {{"C", "US"},
                                                                        {"ST", "California"},
                                                                        {"L", "San Francisco"},
                                                                        {"organizationName", "Ex"},
                                                                        {"OU", "ops"}}});
  EXPECT_EQ(leaf.cert.subject(),
            "CN=client1.example.com,OU=ops,O=Ex,L=San Francisco,ST=California,C=US");
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(leaf.cert.get())), 6);
  CommandResult printed = RunCommand("printf '%s' '" + leaf.cert.ToPem() +
                                     "' | openssl x509 -noout -subject -nameopt RFC2253");
  EXPECT_EQ(printed.output,
            "subject=CN=client1.example.com,OU=ops,O=Ex,L=San Francisco,ST=California,C=US\n");

  ossl::Csprng rng;
  PrivateKey key = TestKey(KeyType::kEcP256, 2);
  for (const auto& [extra, message] : std::vector<std::pair<SubjectAttributes, std::string>>{
           {{{"emailAddress", "a@example.com"}}, "unknown subject attribute \"emailAddress\""},
           {{{"C", "USA"}}, "2 letters"},
           {{{"O", std::string(65, 'o')}}, "more than 64"},
           {{{"CN", "x"}}, "common name"},
       }) {
    SCOPED_TRACE(message);
    auto cert = pki.issuing.Issue({.common_name = "a.example.com", .subject_extra = extra},
                                  key.public_key(), pki.now, rng);
    ASSERT_FALSE(cert);
    EXPECT_EQ(cert.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(cert.error().message, HasSubstr(message));
  }
}

// ---- Issuer::Create ----

TEST(IssuerCreateTest, RefusesANonCa) {
  const TestPki& pki = SharedPki();
  TestLeaf leaf = IssueLeaf(pki, "leaf.example.com");
  auto issuer = Issuer::Create(leaf.cert, leaf.key);
  ASSERT_FALSE(issuer.has_value());
  EXPECT_EQ(issuer.error().code, ErrorCode::kNotCa);
  EXPECT_EQ(issuer.error().message,
            "certificate \"CN=leaf.example.com\" is not a CA (no BasicConstraints CA:TRUE)");
}

TEST(IssuerCreateTest, RefusesACaWithoutKeyCertSign) {
  const TestPki& pki = SharedPki();
  // The root, re-made with KeyUsage digitalSignature only and re-signed with its key.
  auto x = ossl::Own(X509_dup(pki.root.get()));
  X509_EXTENSION_free(X509_delete_ext(x.get(), X509_get_ext_by_NID(x.get(), NID_key_usage, -1)));
  auto ku = ossl::Own(ASN1_BIT_STRING_new());
  ASN1_BIT_STRING_set_bit(ku.get(), 0, 1);
  X509_add1_ext_i2d(x.get(), NID_key_usage, ku.get(), 1, X509V3_ADD_DEFAULT);
  ASSERT_GT(X509_sign(x.get(), pki.root_key.get(), EVP_sha256()), 0);
  Certificate cert = Must(Certificate::FromDer(ossl::ToDer(x.get(), i2d_X509)));
  auto issuer = Issuer::Create(cert, pki.root_key);
  ASSERT_FALSE(issuer.has_value());
  EXPECT_EQ(issuer.error().code, ErrorCode::kNotCa);
  EXPECT_THAT(issuer.error().message, HasSubstr("keyCertSign"));
}

TEST(IssuerCreateTest, RefusesAMismatchedKey) {
  const TestPki& pki = SharedPki();
  auto issuer = Issuer::Create(pki.intermediate, NewTestKey(KeyType::kEcP256));
  ASSERT_FALSE(issuer.has_value());
  EXPECT_EQ(issuer.error().code, ErrorCode::kKeyMismatch);
  EXPECT_THAT(issuer.error().message, HasSubstr(pki.intermediate.subject()));
  auto other_type = Issuer::Create(pki.intermediate, TestKey(KeyType::kEd25519, 5));
  ASSERT_FALSE(other_type.has_value());
  EXPECT_EQ(other_type.error().code, ErrorCode::kKeyMismatch);
}

TEST(IssuerCreateTest, AcceptsAnOpensslMadeCa) {
  // chain-int.pem is an intermediate CA made by `openssl` (tests/fixtures/keys/gen.sh); without
  // its key we check the CA test through the key-mismatch path only.
  auto certs = Certificate::ParseAll(ReadTestFile("keys/chain-root.pem"));
  ASSERT_TRUE(certs.has_value()) << certs.error().message;
  auto issuer = Issuer::Create(certs->front(), NewTestKey(KeyType::kEcP256));
  ASSERT_FALSE(issuer.has_value());
  EXPECT_EQ(issuer.error().code, ErrorCode::kKeyMismatch);  // it is a CA: only the key is wrong
}

TEST(IssuerConcurrencyTest, OneIssuerSignsFromSeveralThreads) {
  // Issue is const and shares the issuer's signing template between threads.
  const TestPki& pki = SharedPki();
  std::vector<std::thread> threads;
  std::vector<std::vector<Certificate>> issued(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ossl::Csprng rng;
      for (int i = 0; i < 25; ++i) {
        auto cert =
            pki.issuing.Issue(IssueRequest{.profile = Profile::kServer,
                                           .common_name = "t" + std::to_string(t) + ".example.com"},
                              NewTestKey(KeyType::kEcP256).public_key(), pki.now, rng);
        if (cert) {
          issued[t].push_back(*cert);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& certs : issued) {
    ASSERT_EQ(certs.size(), 25u);
    for (const auto& cert : certs) {
      EXPECT_EQ(X509_verify(cert.get(), pki.intermediate_key.get()), 1);
    }
  }
}

TEST(ProfileNameTest, RoundTrips) {
  for (Profile p : {Profile::kRootCa, Profile::kIntermediateCa, Profile::kServer, Profile::kClient,
                    Profile::kPeer, Profile::kOcspSigner, Profile::kAuditSigner}) {
    auto parsed = ParseProfile(ProfileName(p));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, p);
  }
  auto bad = ParseProfile("webserver");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message, HasSubstr("\"webserver\""));
}

}  // namespace
}  // namespace clustertls::pki
