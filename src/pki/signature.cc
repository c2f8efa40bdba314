#include "pki/signature.h"

#include <openssl/evp.h>

#include "ossl/error.h"
#include "ossl/ptr.h"
#include "pki/extensions.h"

namespace clustertls::pki {

using core::ErrorCode;

core::Result<std::string> SignData(const PrivateKey& key, std::string_view message) {
  if (key.get() == nullptr) {
    return core::Fail(ErrorCode::kInvalidArgument, "no signing key");
  }
  CTLS_ASSIGN_OR_RETURN(const EVP_MD* md, internal::SigningDigest(key.get()));
  auto ctx = ossl::Own(EVP_MD_CTX_new());
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, message.size()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign");
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, data,
                     message.size()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign");
  }
  signature.resize(len);  // an ECDSA signature's DER is often shorter than the bound
  return signature;
}

core::Result<void> VerifyData(const PublicKey& key, std::string_view message,
                              std::string_view signature) {
  if (key.get() == nullptr) {
    return core::Fail(ErrorCode::kBadSignature, "signature does not verify: no public key");
  }
  CTLS_ASSIGN_OR_RETURN(const EVP_MD* md, internal::SigningDigest(key.get()));
  auto ctx = ossl::Own(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot start verifying a signature");
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ossl::ClearErrors();
  if (rc != 1) {
    return core::Fail(ErrorCode::kBadSignature, "signature does not verify");
  }
  return {};
}

}  // namespace clustertls::pki
