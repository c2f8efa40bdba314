#include "net/tls_context.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "net/credentials.h"
#include "ossl/csprng.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::net {
namespace {

using pki::Must;

class TlsContextTest : public ::testing::Test {
 protected:
  pki::TestPki pki_ = pki::MakeTestPki();
  pki::TestLeaf leaf_ = pki::IssueLeaf(pki_, "localhost");
  pki::TestLeaf other_ = pki::IssueLeaf(pki_, "other.example");

  TlsCredentials Credentials(const pki::TestLeaf& leaf) const {
    return TlsCredentials{.key = leaf.key,
                          .certificate = leaf.cert,
                          .chain = {pki_.intermediate},
                          .client_cas = {pki_.root}};
  }
};

TEST_F(TlsContextTest, BuildsContextWithPolicyAndChain) {
  TlsPolicy policy{.min_version = TlsVersion::kTls13, .client_auth = ClientAuth::kRequired};
  ossl::SharedSslCtx ctx = Must(BuildServerContext(policy, Credentials(leaf_)));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_3_VERSION);
  EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(ctx.get()), leaf_.cert.get()), 0);
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(ctx.get(), &chain), 1);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), pki_.intermediate.get()), 0);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx.get()), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx.get())), 1);
  // Idle connections hold no record buffers.
  EXPECT_NE(SSL_CTX_get_mode(ctx.get()) & SSL_MODE_RELEASE_BUFFERS, 0u);
}

TEST_F(TlsContextTest, RefusesMismatchedKey) {
  TlsCredentials credentials = Credentials(leaf_);
  credentials.key = other_.key;
  auto result = BuildServerContext(TlsPolicy{}, credentials);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, core::ErrorCode::kKeyMismatch);
}

TEST_F(TlsContextTest, RefusesInvalidPolicyAndClientAuthWithoutCas) {
  EXPECT_FALSE(
      BuildServerContext(TlsPolicy{.min_version = TlsVersion::kTls11}, Credentials(leaf_)));
  EXPECT_FALSE(BuildServerContext(TlsPolicy{.cipher_list = "BOGUS"}, Credentials(leaf_)));
  TlsCredentials credentials = Credentials(leaf_);
  credentials.client_cas.clear();
  auto result = BuildServerContext(TlsPolicy{.client_auth = ClientAuth::kOptional}, credentials);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("client CA"), std::string::npos);
}

TEST_F(TlsContextTest, StoreSwapsOnlyOnSuccessAndCountsFailures) {
  auto store = Must(CredentialStore::Create(TlsPolicy{}, Credentials(leaf_)));
  ossl::SharedSslCtx first = store->Snapshot();
  TlsCredentials broken = Credentials(other_);
  broken.key = leaf_.key;
  EXPECT_FALSE(store->Reload(TlsPolicy{}, broken));
  EXPECT_FALSE(store->Reload(TlsPolicy{.cipher_list = "BOGUS"}, Credentials(other_)));
  EXPECT_EQ(store->failed_reloads(), 2u);
  EXPECT_EQ(store->reloads(), 0u);
  EXPECT_EQ(store->Snapshot(), first);

  Must(store->Reload(TlsPolicy{}, Credentials(other_)));
  EXPECT_EQ(store->reloads(), 1u);
  ossl::SharedSslCtx second = store->Snapshot();
  EXPECT_NE(second, first);
  EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(second.get()), other_.cert.get()), 0);
  // The old snapshot is still complete for connections that hold it.
  EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(first.get()), leaf_.cert.get()), 0);
}

TEST_F(TlsContextTest, RunsAtSecurityLevel2AtLeast) {
  ossl::SharedSslCtx ctx = Must(BuildServerContext(TlsPolicy{}, Credentials(leaf_)));
  EXPECT_GE(SSL_CTX_get_security_level(ctx.get()), kMinSecurityLevel);
  // A list may raise the level (an EC P-256 leaf is fine at level 3), never lower it.
  ossl::SharedSslCtx three = Must(BuildServerContext(
      TlsPolicy{.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=3"}, Credentials(leaf_)));
  EXPECT_EQ(SSL_CTX_get_security_level(three.get()), 3);
  auto zero = BuildServerContext(
      TlsPolicy{.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"}, Credentials(leaf_));
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("@SECLEVEL=0 is below 2"), std::string::npos)
      << zero.error().message;
  EXPECT_FALSE(BuildServerContext(TlsPolicy{.cipher_list = "eNULL"}, Credentials(leaf_)));
  ossl::SharedSslCtx tls13 = Must(BuildServerContext(
      TlsPolicy{.tls13_ciphersuites = "TLS_AES_128_GCM_SHA256:@SECLEVEL=0"}, Credentials(leaf_)));
  EXPECT_EQ(SSL_CTX_get_security_level(tls13.get()), SSL_CTX_get_security_level(ctx.get()));
}

TEST_F(TlsContextTest, NoTls13SuitesMeansTls12Only) {
  ossl::SharedSslCtx ctx =
      Must(BuildServerContext(TlsPolicy{.tls13_ciphersuites = ""}, Credentials(leaf_)));
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(
                Must(BuildServerContext(TlsPolicy{}, Credentials(leaf_))).get()),
            0);  // any
}

// The default-client check, on identities of each key type a listener may serve.
class DefaultClientTest : public ::testing::Test {
 protected:
  ossl::Csprng rng_;

  core::Result<void> Check(const TlsPolicy& policy, DefaultClient client, TlsVersion version,
                           pki::KeyType key = pki::KeyType::kEcP256) {
    return CheckDefaultClientConnects(
        policy, client, version, {.key_type = key, .now = pki::kTestReferenceTime, .rng = &rng_});
  }

  // Expects both default clients to connect over every version `policy` allows.
  void ExpectBothConnect(const TlsPolicy& policy, pki::KeyType key) {
    for (DefaultClient client : kDefaultClients) {
      for (TlsVersion version : {TlsVersion::kTls12, TlsVersion::kTls13}) {
        const bool allowed = version == TlsVersion::kTls13 ? !policy.tls13_ciphersuites.empty()
                                                           : policy.min_version == version;
        if (allowed) {
          auto result = Check(policy, client, version, key);
          EXPECT_TRUE(result) << DefaultClientName(client) << " TLS " << TlsVersionName(version)
                              << " " << pki::KeyTypeName(key) << ": " << result.error().message;
        }
      }
    }
  }

  // Expects `client` to be refused over `version`, the message saying `why`.
  void ExpectRefused(const TlsPolicy& policy, DefaultClient client, TlsVersion version,
                     pki::KeyType key, const std::string& why) {
    auto result = Check(policy, client, version, key);
    ASSERT_FALSE(result) << DefaultClientName(client) << " " << why;
    EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_TRUE(result.error().message.starts_with(DefaultClientName(client)))
        << result.error().message;
    EXPECT_NE(result.error().message.find(why), std::string::npos) << result.error().message;
    EXPECT_EQ(result.error().message.find('\n'), std::string::npos) << result.error().message;
  }
};

TEST_F(DefaultClientTest, DefaultAndRestrictedPoliciesLetBothClientsIn) {
  for (pki::KeyType key : {pki::KeyType::kEcP256, pki::KeyType::kEcP384, pki::KeyType::kRsa2048,
                           pki::KeyType::kEd25519}) {
    ExpectBothConnect(TlsPolicy{}, key);
    ExpectBothConnect(
        TlsPolicy{.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"}, key);
    ExpectBothConnect(TlsPolicy{.min_version = TlsVersion::kTls13,
                                .cipher_list = "",
                                .tls13_ciphersuites = "TLS_AES_256_GCM_SHA384"},
                      key);
    ExpectBothConnect(TlsPolicy{.tls13_ciphersuites = ""}, key);  // TLS 1.2 only
  }
}

TEST_F(DefaultClientTest, Ccm8OnlyTls13LocksDefaultClientsOut) {
  const TlsPolicy policy{.tls13_ciphersuites = "TLS_AES_128_CCM_8_SHA256"};
  for (DefaultClient client : kDefaultClients) {
    ExpectRefused(policy, client, TlsVersion::kTls13, pki::KeyType::kEcP256,
                  "could not connect over TLS 1.3 to an EC P-256 certificate (no shared TLS 1.3 "
                  "suite: it offers TLS_AES_256_GCM_SHA384, ");
    ExpectRefused(policy, client, TlsVersion::kTls13, pki::KeyType::kEcP256,
                  ", not TLS_AES_128_CCM_8_SHA256)");
  }
  // TLS 1.2 still works under that policy: the check is per version.
  EXPECT_TRUE(Check(policy, DefaultClient::kOpenSsl, TlsVersion::kTls12));
  // The two clients differ: GnuTLS NORMAL offers AES-128-CCM, OpenSSL's defaults do not.
  const TlsPolicy ccm{.tls13_ciphersuites = "TLS_AES_128_CCM_SHA256"};
  EXPECT_TRUE(Check(ccm, DefaultClient::kGnuTls, TlsVersion::kTls13));
  ExpectRefused(ccm, DefaultClient::kOpenSsl, TlsVersion::kTls13, pki::KeyType::kEcP256,
                "no shared TLS 1.3 suite");
}

TEST_F(DefaultClientTest, EcdsaOnlyListLocksTls12OutOfAnRsaCertificate) {
  const TlsPolicy policy{.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"};
  for (DefaultClient client : kDefaultClients) {
    ExpectRefused(policy, client, TlsVersion::kTls12, pki::KeyType::kRsa2048,
                  "over TLS 1.2 to an RSA 2048 certificate (no shared TLS 1.2 cipher works with "
                  "this certificate: ECDHE-ECDSA-AES256-GCM-SHA384 needs another key type)");
    EXPECT_TRUE(Check(policy, client, TlsVersion::kTls12, pki::KeyType::kEcP256));
    // TLS 1.3 does not depend on the TLS <= 1.2 list.
    EXPECT_TRUE(Check(policy, client, TlsVersion::kTls13, pki::KeyType::kRsa2048));
  }
  ExpectRefused(TlsPolicy{.cipher_list = "ECDHE-RSA-AES128-GCM-SHA256"}, DefaultClient::kGnuTls,
                TlsVersion::kTls12, pki::KeyType::kEcP256, "works with this certificate");
}

TEST_F(DefaultClientTest, ACipherOnlyOneClientOffersLocksTheOtherOut) {
  // CBC with SHA-384: OpenSSL offers it by default, GnuTLS NORMAL does not.
  const TlsPolicy policy{.cipher_list = "ECDHE-ECDSA-AES256-SHA384"};
  EXPECT_TRUE(Check(policy, DefaultClient::kOpenSsl, TlsVersion::kTls12));
  ExpectRefused(policy, DefaultClient::kGnuTls, TlsVersion::kTls12, pki::KeyType::kEcP256,
                "no shared TLS 1.2 cipher: it offers none of ECDHE-ECDSA-AES256-SHA384");
  // AES-CCM: GnuTLS NORMAL offers it, OpenSSL's defaults do not.
  const TlsPolicy ccm{.cipher_list = "ECDHE-ECDSA-AES128-CCM"};
  EXPECT_TRUE(Check(ccm, DefaultClient::kGnuTls, TlsVersion::kTls12));
  ExpectRefused(ccm, DefaultClient::kOpenSsl, TlsVersion::kTls12, pki::KeyType::kEcP256,
                "no shared TLS 1.2 cipher");
}

TEST_F(DefaultClientTest, APolicyTheServerCannotStartWithIsRefused) {
  // Security level 3 needs 3072-bit RSA keys: the listener cannot use an RSA 2048 certificate.
  const TlsPolicy policy{.cipher_list = "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=3"};
  ExpectRefused(policy, DefaultClient::kOpenSsl, TlsVersion::kTls12, pki::KeyType::kRsa2048,
                "the server cannot start: ");
  EXPECT_TRUE(Check(TlsPolicy{.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=3"},
                    DefaultClient::kOpenSsl, TlsVersion::kTls12));
  // The NULL-encryption attack is refused before any handshake.
  auto null = Check(TlsPolicy{.cipher_list = "eNULL:@SECLEVEL=0"}, DefaultClient::kOpenSsl,
                    TlsVersion::kTls12);
  ASSERT_FALSE(null);
  EXPECT_NE(null.error().message.find("NULL encryption"), std::string::npos)
      << null.error().message;
}

TEST(IdentityKeyTypeTest, FollowsTheServedKey) {
  EXPECT_EQ(*IdentityKeyTypeFor(pki::TestKey(pki::KeyType::kEcP384, 9).public_key()),
            pki::KeyType::kEcP384);
  EXPECT_EQ(*IdentityKeyTypeFor(pki::TestKey(pki::KeyType::kRsa2048, 9).public_key()),
            pki::KeyType::kRsa2048);
  EXPECT_EQ(*IdentityKeyTypeFor(pki::TestKey(pki::KeyType::kEd25519, 9).public_key()),
            pki::KeyType::kEd25519);
  EXPECT_FALSE(IdentityKeyTypeFor(pki::PublicKey::FromEvp(nullptr)));
}

// kGnuTlsNormalOffer is what `gnutls-cli --priority NORMAL --list` prints on this machine:
// the suites by their code points, the groups and signature algorithms by name.
TEST(GnuTlsNormalOfferTest, MatchesGnutlsCliList) {
  pki::CommandResult listed = pki::RunCommand("gnutls-cli --priority NORMAL --list 2>&1");
  ASSERT_EQ(listed.exit_code, 0) << "gnutls-cli (gnutls-bin) is needed: " << listed.output;
  std::set<std::uint16_t> gnutls_suites;
  std::string groups;
  std::string sigalgs;
  std::istringstream lines(listed.output);
  for (std::string line; std::getline(lines, line);) {
    unsigned hi = 0;
    unsigned lo = 0;
    const std::size_t at = line.find("0x");
    if (line.starts_with("TLS_") && at != std::string::npos &&
        std::sscanf(line.c_str() + at, "0x%x, 0x%x", &hi, &lo) == 2) {
      gnutls_suites.insert(static_cast<std::uint16_t>(hi << 8 | lo));
    } else if (line.starts_with("Groups: ")) {
      groups = line.substr(8);
    } else if (line.starts_with("PK-signatures: ")) {
      sigalgs = line.substr(15);
    }
  }
  auto ctx = ossl::Own(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);
  ASSERT_EQ(
      SSL_CTX_set_cipher_list(ctx.get(), std::string(kGnuTlsNormalOffer.tls12_ciphers).c_str()), 1);
  ASSERT_EQ(
      SSL_CTX_set_ciphersuites(ctx.get(), std::string(kGnuTlsNormalOffer.tls13_suites).c_str()), 1);
  std::set<std::uint16_t> ours;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    ours.insert(SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(ciphers, i)));
  }
  EXPECT_EQ(ours, gnutls_suites);
  EXPECT_EQ(groups,
            "GROUP-SECP256R1, GROUP-SECP384R1, GROUP-SECP521R1, GROUP-X25519, GROUP-X448, "
            "GROUP-FFDHE2048, GROUP-FFDHE3072, GROUP-FFDHE4096, GROUP-FFDHE6144, GROUP-FFDHE8192");
  EXPECT_EQ(kGnuTlsNormalOffer.groups,
            "P-256:P-384:P-521:X25519:X448:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192");
  EXPECT_EQ(sigalgs,
            "SIGN-RSA-SHA256, SIGN-RSA-PSS-SHA256, SIGN-RSA-PSS-RSAE-SHA256, SIGN-ECDSA-SHA256, "
            "SIGN-ECDSA-SECP256R1-SHA256, SIGN-EdDSA-Ed25519, SIGN-RSA-SHA384, "
            "SIGN-RSA-PSS-SHA384, SIGN-RSA-PSS-RSAE-SHA384, SIGN-ECDSA-SHA384, "
            "SIGN-ECDSA-SECP384R1-SHA384, SIGN-EdDSA-Ed448, SIGN-RSA-SHA512, SIGN-RSA-PSS-SHA512, "
            "SIGN-RSA-PSS-RSAE-SHA512, SIGN-ECDSA-SHA512, SIGN-ECDSA-SECP521R1-SHA512, "
            "SIGN-RSA-SHA1, SIGN-ECDSA-SHA1");
}

}  // namespace
}  // namespace clustertls::net
