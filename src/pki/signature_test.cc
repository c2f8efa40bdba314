#include "pki/signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "ossl/ptr.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;
using std::string_view_literals::operator""sv;

constexpr std::string_view kMessage = "clustertls test context\0seq=1"sv;

// OpenSSL's own verification with the digest named explicitly: a judge independent of
// SigningDigest's choice.
bool OpensslVerifies(const PublicKey& key, const EVP_MD* md, std::string_view message,
                     std::string_view signature) {
  auto ctx = ossl::Own(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

struct KeyCase {
  KeyType type;
  const EVP_MD* (*md)();
};

class SignDataTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(SignDataTest, SignsWhatOpensslVerifiesAndVerifiesItBack) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  auto signature = SignData(*key, kMessage);
  ASSERT_TRUE(signature.has_value()) << signature.error().message;
  EXPECT_TRUE(OpensslVerifies(key->public_key(), GetParam().md(), kMessage, *signature));
  EXPECT_TRUE(VerifyData(key->public_key(), kMessage, *signature).has_value());
}

TEST_P(SignDataTest, RefusesAnotherMessageATamperedSignatureAndAnotherKey) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key.has_value());
  auto signature = SignData(*key, kMessage);
  ASSERT_TRUE(signature.has_value());

  std::string other_message(kMessage);
  other_message.back() = '2';
  auto changed = VerifyData(key->public_key(), other_message, *signature);
  ASSERT_FALSE(changed.has_value());
  EXPECT_EQ(changed.error().code, ErrorCode::kBadSignature);
  EXPECT_EQ(changed.error().message, "signature does not verify");

  std::string tampered = *signature;
  tampered[tampered.size() / 2] ^= 0x01;
  auto bad = VerifyData(key->public_key(), kMessage, tampered);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kBadSignature);

  auto truncated = VerifyData(key->public_key(), kMessage, signature->substr(1));
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code, ErrorCode::kBadSignature);

  auto other = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(other.has_value());
  auto wrong_key = VerifyData(other->public_key(), kMessage, *signature);
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_EQ(wrong_key.error().code, ErrorCode::kBadSignature);

  auto empty = VerifyData(key->public_key(), kMessage, "");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kBadSignature);
}

const EVP_MD* NoDigest() { return nullptr; }

INSTANTIATE_TEST_SUITE_P(Keys, SignDataTest,
                         ::testing::Values(KeyCase{KeyType::kEcP256, EVP_sha256},
                                           KeyCase{KeyType::kEcP384, EVP_sha384},
                                           KeyCase{KeyType::kRsa2048, EVP_sha256},
                                           KeyCase{KeyType::kEd25519, NoDigest}),
                         [](const ::testing::TestParamInfo<KeyCase>& info) {
                           std::string name = KeyTypeName(info.param.type);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

// FromEvp(nullptr) is an empty EVP_PKEY of no type: an unknown key type, which verifies nothing.
TEST(VerifyDataTest, AnEmptyKeyVerifiesNothing) {
  auto r = VerifyData(PublicKey::FromEvp(nullptr), kMessage, "sig");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_EQ(r.error().message, "unsupported signing key type");
}

}  // namespace
}  // namespace clustertls::pki
