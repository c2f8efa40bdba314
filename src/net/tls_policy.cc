#include "net/tls_policy.h"

#include <openssl/obj_mac.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"
#include "ossl/error.h"
#include "ossl/ssl_ptr.h"

namespace clustertls::net {
namespace {

core::Error Rfc8996Refusal(std::string_view name) {
  return core::Fail(core::ErrorCode::kInvalidArgument,
                    "TLS " + std::string(name) +
                        " is refused: RFC 8996 deprecates TLS 1.0 and 1.1; use 1.2 or 1.3");
}

}  // namespace

const char* TlsVersionName(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return "1.0";
    case TlsVersion::kTls11:
      return "1.1";
    case TlsVersion::kTls12:
      return "1.2";
    case TlsVersion::kTls13:
      return "1.3";
  }
  return "?";
}

core::Result<TlsVersion> ParseTlsVersion(std::string_view text) {
  std::string v = core::AsciiLower(text);
  for (std::string_view prefix : {"tlsv", "tls"}) {
    if (v.starts_with(prefix)) {
      v = v.substr(prefix.size());
      break;
    }
  }
  for (char& c : v) {
    if (c == '_') {
      c = '.';
    }
  }
  if (v == "1.2") {
    return TlsVersion::kTls12;
  }
  if (v == "1.3") {
    return TlsVersion::kTls13;
  }
  if (v == "1" || v == "1.0") {
    return Rfc8996Refusal("1.0");
  }
  if (v == "1.1") {
    return Rfc8996Refusal("1.1");
  }
  return core::Fail(core::ErrorCode::kInvalidArgument,
                    "unknown TLS version '" + std::string(text) + "': expected 1.2 or 1.3");
}

const char* ClientAuthName(ClientAuth mode) {
  switch (mode) {
    case ClientAuth::kNone:
      return "none";
    case ClientAuth::kOptional:
      return "optional";
    case ClientAuth::kRequired:
      return "required";
  }
  return "?";
}

core::Result<ClientAuth> ParseClientAuth(std::string_view text) {
  std::string v = core::AsciiLower(text);
  if (v == "none") {
    return ClientAuth::kNone;
  }
  if (v == "optional") {
    return ClientAuth::kOptional;
  }
  if (v == "required") {
    return ClientAuth::kRequired;
  }
  return core::Fail(
      core::ErrorCode::kInvalidArgument,
      "unknown client_auth '" + std::string(text) + "': expected none, optional or required");
}

const char* RefusedCipherClassName(RefusedCipherClass c) {
  switch (c) {
    case RefusedCipherClass::kNullEncryption:
      return "NULL encryption, traffic in clear";
    case RefusedCipherClass::kAnonymous:
      return "anonymous suites, no server authentication";
    case RefusedCipherClass::kExportGrade:
      return "export-grade encryption, below 128 bits";
    case RefusedCipherClass::kRc4:
      return "RC4, prohibited by RFC 7465";
    case RefusedCipherClass::kDes:
      return "DES/3DES, 64-bit blocks";
    case RefusedCipherClass::kMd5Mac:
      return "MD5 MACs";
  }
  return "?";
}

namespace internal {

std::vector<RefusedCipherClass> RefusedClassesOf(const CipherFacts& cipher) {
  std::vector<RefusedCipherClass> classes;
  const bool null_encryption = cipher.cipher_nid == NID_undef;
  const bool des = cipher.cipher_nid == NID_des_cbc || cipher.cipher_nid == NID_des_ede3_cbc ||
                   cipher.cipher_nid == NID_des_ede_cbc || cipher.cipher_nid == NID_desx_cbc;
  const bool rc4 = cipher.cipher_nid == NID_rc4 || cipher.cipher_nid == NID_rc4_40 ||
                   cipher.cipher_nid == NID_rc4_hmac_md5;
  if (null_encryption) {
    classes.push_back(RefusedCipherClass::kNullEncryption);
  }
  if (cipher.auth_nid == NID_auth_null) {
    classes.push_back(RefusedCipherClass::kAnonymous);
  }
  // DES and NULL have their own, clearer, class.
  if (!null_encryption && !des && cipher.strength_bits < 128) {
    classes.push_back(RefusedCipherClass::kExportGrade);
  }
  if (rc4) {
    classes.push_back(RefusedCipherClass::kRc4);
  }
  if (des) {
    classes.push_back(RefusedCipherClass::kDes);
  }
  if (cipher.digest_nid == NID_md5) {
    classes.push_back(RefusedCipherClass::kMd5Mac);
  }
  return classes;
}

}  // namespace internal

namespace {

// TLS 1.3 suites (RFC 8446 B.4) negotiate no key exchange or authentication of their own.
bool IsTls13Suite(const SSL_CIPHER* cipher) { return SSL_CIPHER_get_kx_nid(cipher) == NID_kx_any; }

internal::CipherFacts FactsOf(const SSL_CIPHER* cipher) {
  return internal::CipherFacts{.cipher_nid = SSL_CIPHER_get_cipher_nid(cipher),
                               .auth_nid = SSL_CIPHER_get_auth_nid(cipher),
                               .digest_nid = SSL_CIPHER_get_digest_nid(cipher),
                               .strength_bits = SSL_CIPHER_get_bits(cipher, nullptr)};
}

// "A, B, C, ..." (at most `max` names).
std::string NameList(const std::vector<std::string>& names, std::size_t max = 3) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) {
    out += (i == 0 ? "" : ", ") + names[i];
  }
  if (names.size() > max) {
    out += ", ...";
  }
  return out;
}

// The refused classes among `ctx`'s ciphers of one kind (TLS 1.3 suites or not), and the
// security level, as one refusal; {} if none.
core::Result<void> RefuseWeak(SSL_CTX* ctx, bool tls13) {
  std::vector<std::vector<std::string>> by_class(
      static_cast<std::size_t>(RefusedCipherClass::kMd5Mac) + 1);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    if (IsTls13Suite(cipher) != tls13) {
      continue;
    }
    for (RefusedCipherClass c : internal::RefusedClassesOf(FactsOf(cipher))) {
      by_class[static_cast<std::size_t>(c)].push_back(SSL_CIPHER_get_name(cipher));
    }
  }
  std::string reasons;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    if (!by_class[c].empty()) {
      reasons += reasons.empty() ? "enables " : ", ";
      reasons += std::string(RefusedCipherClassName(static_cast<RefusedCipherClass>(c))) + " (" +
                 NameList(by_class[c]) + ")";
    }
  }
  // `@SECLEVEL=n` inside a list sets the context's level (SSL_CTX_set_cipher_list).
  const int level = SSL_CTX_get_security_level(ctx);
  if (level < kMinSecurityLevel) {
    reasons += (reasons.empty() ? "" : "; ") + std::string("@SECLEVEL=") + std::to_string(level) +
               " is below " + std::to_string(kMinSecurityLevel);
  }
  if (reasons.empty()) {
    return {};
  }
  return core::Fail(core::ErrorCode::kInvalidArgument, reasons + ": refused");
}

core::Result<ossl::Ptr<SSL_CTX>> ScratchContext() {
  auto ctx = ossl::Own(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return ossl::Failure(core::ErrorCode::kCrypto, "cannot create a scratch SSL_CTX");
  }
  // The level a listener starts at, whatever openssl.cnf says: only the list may lower it.
  SSL_CTX_set_security_level(ctx.get(), kMinSecurityLevel);
  return ctx;
}

}  // namespace

core::Result<void> CheckCipherList(std::string_view list) {
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<SSL_CTX> ctx, ScratchContext());
  const std::string text(list);
  if (SSL_CTX_set_cipher_list(ctx.get(), text.c_str()) != 1) {
    ossl::ClearErrors();
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "OpenSSL accepts no TLS 1.2 cipher from '" + text + "'");
  }
  return RefuseWeak(ctx.get(), /*tls13=*/false);
}

core::Result<void> CheckTls13Suites(std::string_view suites) {
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<SSL_CTX> ctx, ScratchContext());
  const std::string text(suites);
  if (SSL_CTX_set_ciphersuites(ctx.get(), text.c_str()) != 1) {
    ossl::ClearErrors();
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "OpenSSL does not know the TLS 1.3 suites '" + text + "'");
  }
  // SSL_CTX_set_ciphersuites ignores unknown names in some versions: count what is left.
  int tls13 = 0;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    tls13 += IsTls13Suite(sk_SSL_CIPHER_value(ciphers, i)) ? 1 : 0;
  }
  if (!text.empty() && tls13 == 0) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "OpenSSL accepts none of the TLS 1.3 suites '" + text + "'");
  }
  return RefuseWeak(ctx.get(), /*tls13=*/true);
}

core::Result<void> TlsPolicy::Validate() const {
  if (min_version == TlsVersion::kTls10 || min_version == TlsVersion::kTls11) {
    return Rfc8996Refusal(TlsVersionName(min_version));
  }
  if (!cipher_list.empty() || min_version == TlsVersion::kTls12) {
    if (auto checked = CheckCipherList(cipher_list); !checked) {
      return checked.error().WithContext("cipher list");
    }
  }
  if (auto checked = CheckTls13Suites(tls13_ciphersuites); !checked) {
    return checked.error().WithContext("TLS 1.3 ciphersuites");
  }
  if (min_version == TlsVersion::kTls13 && tls13_ciphersuites.empty()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "minimum TLS version 1.3 with an empty TLS 1.3 ciphersuite list leaves no "
                      "cipher to negotiate");
  }
  return {};
}

}  // namespace clustertls::net
