#include "net/tls_policy.h"

#include <string>
#include <string_view>

#include "ossl/error.h"
#include "ossl/ssl_ptr.h"

namespace clustertls::net {
namespace {

core::Error Rfc8996Refusal(std::string_view name) {
  return core::Fail(core::ErrorCode::kInvalidArgument,
                    "TLS " + std::string(name) +
                        " is refused: RFC 8996 deprecates TLS 1.0 and 1.1; use 1.2 or 1.3");
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
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
  std::string v = Lower(text);
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
  std::string v = Lower(text);
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

core::Result<void> TlsPolicy::Validate() const {
  if (min_version == TlsVersion::kTls10 || min_version == TlsVersion::kTls11) {
    return Rfc8996Refusal(TlsVersionName(min_version));
  }
  auto ctx = ossl::Own(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return ossl::Failure(core::ErrorCode::kCrypto, "cannot create a scratch SSL_CTX");
  }
  const bool tls12_allowed = min_version == TlsVersion::kTls12;
  if (!cipher_list.empty() || tls12_allowed) {
    if (SSL_CTX_set_cipher_list(ctx.get(), cipher_list.c_str()) != 1) {
      ossl::ClearErrors();
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "cipher list '" + cipher_list +
                            "' is refused: OpenSSL accepts no TLS 1.2 cipher from it");
    }
  }
  if (SSL_CTX_set_ciphersuites(ctx.get(), tls13_ciphersuites.c_str()) != 1) {
    ossl::ClearErrors();
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "TLS 1.3 ciphersuites '" + tls13_ciphersuites +
                          "' are refused: OpenSSL does not know them");
  }
  // SSL_CTX_set_ciphersuites ignores unknown names in some versions: count what is left.
  int tls13 = 0;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    if (std::string_view(SSL_CIPHER_get_version(sk_SSL_CIPHER_value(ciphers, i))) == "TLSv1.3") {
      ++tls13;
    }
  }
  if (!tls13_ciphersuites.empty() && tls13 == 0) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "TLS 1.3 ciphersuites '" + tls13_ciphersuites +
                          "' are refused: OpenSSL accepts none of them");
  }
  if (min_version == TlsVersion::kTls13 && tls13 == 0) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "minimum TLS version 1.3 with an empty TLS 1.3 ciphersuite list leaves no "
                      "cipher to negotiate");
  }
  return {};
}

}  // namespace clustertls::net
