#include "pki/pkcs12.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include <utility>

#include "ossl/bio.h"
#include "ossl/error.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

// Modern profile (what OpenSSL 3's `openssl pkcs12 -export` writes, with more iterations):
// PBES2/PBKDF2-HMAC-SHA256 + AES-256-CBC for key and certificate bags (RFC 8018 section 6.2),
// HMAC-SHA256 integrity MAC (RFC 7292 appendix B key derivation).
constexpr int kModernIterations = 100000;
constexpr int kModernMacIterations = 100000;
// Legacy profile for old Java/Windows readers: pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1 MAC.
constexpr int kLegacyIterations = 2048;
constexpr int kLegacyMacIterations = 2048;
constexpr int kMacSaltBytes = 16;

const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

const EVP_MD* Sha1() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

}  // namespace

core::Result<std::string> BuildPkcs12(const PrivateKey& key, const Certificate& cert,
                                      const std::vector<Certificate>& chain,
                                      std::string_view passphrase, const Pkcs12Options& options) {
  if (passphrase.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a PKCS#12 file needs a non-empty passphrase");
  }
  if (!key.Matches(cert.public_key())) {
    return Fail(ErrorCode::kKeyMismatch, "the private key does not match the certificate");
  }
  auto ca = ossl::X509Stack(sk_X509_new_null());
  if (!ca) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate a certificate stack");
  }
  for (const auto& c : chain) {
    if (X509_up_ref(c.get()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot reference a chain certificate");
    }
    if (sk_X509_push(ca.get(), c.get()) <= 0) {
      X509_free(c.get());
      return ossl::Failure(ErrorCode::kCrypto, "cannot add a chain certificate");
    }
  }
  // PKCS12_create_ex copies the passphrase into a NUL-terminated string of its own use.
  std::string pass(passphrase);
  const char* name = options.friendly_name.empty() ? nullptr : options.friendly_name.c_str();
  int nid = options.legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
  int iter = options.legacy ? kLegacyIterations : kModernIterations;
  // mac_iter -1: no MAC yet; it is added below with the digest of our choice.
  auto p12 = ossl::Own(PKCS12_create_ex(pass.c_str(), name, key.get(), cert.get(), ca.get(), nid,
                                        nid, iter, -1, 0, nullptr, nullptr));
  if (!p12) {
    OPENSSL_cleanse(pass.data(), pass.size());
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the PKCS#12");
  }
  const EVP_MD* mac_md = options.legacy ? Sha1() : Sha256();
  int mac_iter = options.legacy ? kLegacyMacIterations : kModernMacIterations;
  int mac_ok = mac_md != nullptr && PKCS12_set_mac(p12.get(), pass.c_str(), -1, nullptr,
                                                   kMacSaltBytes, mac_iter, mac_md) == 1;
  OPENSSL_cleanse(pass.data(), pass.size());
  if (!mac_ok) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot add the PKCS#12 integrity MAC");
  }
  std::string der = ossl::ToDer(p12.get(), i2d_PKCS12);
  if (der.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the PKCS#12");
  }
  return der;
}

core::Result<Pkcs12Contents> ParsePkcs12(std::string_view der, std::string_view passphrase) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const auto* p = begin;
  auto p12 = ossl::Own(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (!p12) {
    return ossl::Failure(ErrorCode::kParse, "not a PKCS#12 file");
  }
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kParse, "trailing data after the PKCS#12 structure");
  }
  std::string pass(passphrase);
  // RFC 7292 appendix B.1: an empty password may be encoded as absent or as an empty string.
  const char* pass_arg = pass.c_str();
  if (PKCS12_mac_present(p12.get()) == 1) {
    if (PKCS12_verify_mac(p12.get(), pass_arg, static_cast<int>(pass.size())) != 1) {
      bool ok_as_null = pass.empty() && PKCS12_verify_mac(p12.get(), nullptr, 0) == 1;
      if (!ok_as_null) {
        OPENSSL_cleanse(pass.data(), pass.size());
        ossl::ClearErrors();
        return Fail(ErrorCode::kWrongPassphrase,
                    "cannot open the PKCS#12: wrong passphrase (integrity check failed)");
      }
      pass_arg = nullptr;
    }
  }
  EVP_PKEY* key_raw = nullptr;
  X509* cert_raw = nullptr;
  STACK_OF(X509)* ca_raw = nullptr;
  int ok = PKCS12_parse(p12.get(), pass_arg, &key_raw, &cert_raw, &ca_raw);
  OPENSSL_cleanse(pass.data(), pass.size());
  auto key = ossl::Own(key_raw);
  auto cert = ossl::Own(cert_raw);
  auto ca = ossl::X509Stack(ca_raw);
  if (ok != 1) {
    if (PKCS12_mac_present(p12.get()) != 1) {
      // Without a MAC a wrong passphrase shows up only as a decryption failure.
      return ossl::Failure(ErrorCode::kWrongPassphrase,
                           "cannot open the PKCS#12: wrong passphrase or unsupported encryption");
    }
    return ossl::Failure(ErrorCode::kUnsupported,
                         "cannot decrypt the PKCS#12 contents (unsupported algorithm?)");
  }
  Pkcs12Contents out;
  if (key) {
    CTLS_RETURN_IF_ERROR(CheckKeyAcceptable(key.get()));
    out.key = PrivateKey::FromEvp(key.get());
  }
  if (cert) {
    out.certificate = Certificate::Adopt(std::move(cert));
  }
  if (ca) {
    while (sk_X509_num(ca.get()) > 0) {
      out.chain.push_back(Certificate::Adopt(ossl::Own(sk_X509_shift(ca.get()))));
    }
  }
  return out;
}

}  // namespace clustertls::pki
