#pragma once

// The TLS policy of one listener as a read-only value: minimum protocol version, cipher lists
// and client-certificate mode. Mechanism (tls_context.h) reads only this value, never raw config.

#include <string>
#include <string_view>

#include "core/result.h"

namespace clustertls::net {

// Protocol versions. TLS 1.0 and 1.1 exist only so that they can be named and refused
// (RFC 8996 deprecates them).
enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

// Client-certificate mode: none (never asked), optional (asked, verified if sent) or required.
enum class ClientAuth { kNone, kOptional, kRequired };

// Mozilla's "intermediate" configuration (v5.7) for TLS <= 1.2: ECDHE/DHE with AEAD only.
inline constexpr std::string_view kIntermediateCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

// The TLS 1.3 suites of RFC 8446 section 9.1 that OpenSSL enables by default.
inline constexpr std::string_view kDefaultTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// "1.2" for kTls12, etc.
const char* TlsVersionName(TlsVersion version);

// Parses "1.2"/"1.3" (also "TLSv1.2", "tls1_3"). "1", "1.0", "1.1" are refused citing RFC 8996;
// anything else is kInvalidArgument.
core::Result<TlsVersion> ParseTlsVersion(std::string_view text);

// "none", "optional", "required".
const char* ClientAuthName(ClientAuth mode);

// Parses "none|optional|required" (kInvalidArgument otherwise).
core::Result<ClientAuth> ParseClientAuth(std::string_view text);

// A listener's TLS policy. Build it once (designated initialisers), Validate() it, then pass it
// by const reference; defaults are TLS >= 1.2, Mozilla intermediate ciphers, no client auth.
struct TlsPolicy {
  TlsVersion min_version = TlsVersion::kTls12;
  // OpenSSL cipher list for TLS <= 1.2 (SSL_CTX_set_cipher_list syntax).
  std::string cipher_list = std::string(kIntermediateCipherList);
  // TLS 1.3 suites (SSL_CTX_set_ciphersuites syntax); empty disables TLS 1.3.
  std::string tls13_ciphersuites = std::string(kDefaultTls13Ciphersuites);
  ClientAuth client_auth = ClientAuth::kNone;

  // Checks the policy against this OpenSSL with a scratch SSL_CTX: refuses TLS 1.0/1.1
  // (RFC 8996), a cipher list or TLS 1.3 suite list from which OpenSSL accepts no cipher, and
  // a policy that leaves no cipher for any allowed version. kInvalidArgument, one clear line.
  core::Result<void> Validate() const;

  bool operator==(const TlsPolicy&) const = default;
};

}  // namespace clustertls::net
