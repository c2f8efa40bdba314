#include "cli/input.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>

namespace clustertls::cli {
namespace {

// Parses one DER structure with `d2i` and reports whether it consumed all of `data`.
template <typename T, typename D2i, typename Free>
bool ParsesAsDer(std::string_view data, D2i d2i, Free free_fn) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  T* obj = d2i(nullptr, &p, static_cast<long>(data.size()));
  bool ok = obj != nullptr &&
            p == reinterpret_cast<const unsigned char*>(data.data()) + data.size();
  if (obj != nullptr) {
    free_fn(obj);
  }
  ERR_clear_error();
  return ok;
}

}  // namespace

InputKind DetectKind(std::string_view data) {
  std::size_t begin = data.find("-----BEGIN ");
  if (begin != std::string_view::npos) {
    std::size_t start = begin + 11;
    std::size_t end = data.find("-----", start);
    if (end == std::string_view::npos) {
      return InputKind::kUnknown;
    }
    std::string_view label = data.substr(start, end - start);
    if (label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE" || label == "X509 CERTIFICATE") {
      return InputKind::kCertificates;
    }
    if (label == "CERTIFICATE REQUEST" || label == "NEW CERTIFICATE REQUEST") {
      return InputKind::kCsr;
    }
    if (label == "X509 CRL") {
      return InputKind::kCrl;
    }
    if (label == "ENCRYPTED PRIVATE KEY") {
      return InputKind::kEncryptedPrivateKey;
    }
    if (label == "PRIVATE KEY" || label == "RSA PRIVATE KEY" || label == "EC PRIVATE KEY") {
      // Legacy "Proc-Type: 4,ENCRYPTED" PEM keys are encrypted too.
      if (data.find("Proc-Type: 4,ENCRYPTED", end) != std::string_view::npos) {
        return InputKind::kEncryptedPrivateKey;
      }
      return InputKind::kPrivateKey;
    }
    if (label == "PUBLIC KEY") {
      return InputKind::kPublicKey;
    }
    if (label == "PKCS12") {
      return InputKind::kPkcs12;
    }
    return InputKind::kUnknown;
  }
  if (data.empty() || static_cast<unsigned char>(data[0]) != 0x30) {
    return InputKind::kUnknown;
  }
  if (ParsesAsDer<X509>(data, d2i_X509, X509_free)) {
    return InputKind::kCertificates;
  }
  if (ParsesAsDer<X509_REQ>(data, d2i_X509_REQ, X509_REQ_free)) {
    return InputKind::kCsr;
  }
  if (ParsesAsDer<X509_CRL>(data, d2i_X509_CRL, X509_CRL_free)) {
    return InputKind::kCrl;
  }
  if (ParsesAsDer<PKCS12>(data, d2i_PKCS12, PKCS12_free)) {
    return InputKind::kPkcs12;
  }
  if (ParsesAsDer<X509_SIG>(data, d2i_X509_SIG, X509_SIG_free)) {
    return InputKind::kEncryptedPrivateKey;
  }
  if (ParsesAsDer<X509_PUBKEY>(data, d2i_X509_PUBKEY, X509_PUBKEY_free)) {
    return InputKind::kPublicKey;
  }
  if (ParsesAsDer<PKCS8_PRIV_KEY_INFO>(data, d2i_PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free)) {
    return InputKind::kPrivateKey;
  }
  // PKCS#1 RSA / SEC1 EC private keys: let the decoder decide.
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(data.size()));
  ERR_clear_error();
  if (key != nullptr) {
    EVP_PKEY_free(key);
    return InputKind::kPrivateKey;
  }
  return InputKind::kUnknown;
}

const char* InputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::kCertificates: return "certificate";
    case InputKind::kCsr: return "CSR";
    case InputKind::kCrl: return "CRL";
    case InputKind::kPrivateKey: return "private key";
    case InputKind::kEncryptedPrivateKey: return "encrypted private key";
    case InputKind::kPublicKey: return "public key";
    case InputKind::kPkcs12: return "PKCS#12";
    case InputKind::kUnknown: return "unknown";
  }
  return "unknown";
}

core::TimePoint FromAsn1Time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return core::TimePoint{};
  }
  return core::TimePoint{std::chrono::seconds(timegm(&tm))};
}

}  // namespace clustertls::cli
