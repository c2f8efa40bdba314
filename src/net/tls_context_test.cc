#include "net/tls_context.h"

#include <gtest/gtest.h>

#include "net/credentials.h"
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

}  // namespace
}  // namespace clustertls::net
