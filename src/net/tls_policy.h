#pragma once

// The TLS policy of one listener as a read-only value: minimum protocol version, cipher lists
// and client-certificate mode. Mechanism (tls_context.h) reads only this value, never raw config.

#include <string>
#include <string_view>
#include <vector>

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

// The lowest OpenSSL security level (SSL_CTX_set_security_level) a listener runs at, and that
// `@SECLEVEL=n` in a cipher list may not go below: level 2 is 112-bit security (RSA and DH keys
// of 2048 bits or more, no SHA-1 or MD5 signatures, no RC4, no SSL 3).
inline constexpr int kMinSecurityLevel = 2;

// "1.2" for kTls12, etc.
const char* TlsVersionName(TlsVersion version);

// Parses "1.2"/"1.3" (also "TLSv1.2", "tls1_3"). "1", "1.0", "1.1" are refused citing RFC 8996;
// anything else is kInvalidArgument.
core::Result<TlsVersion> ParseTlsVersion(std::string_view text);

// "none", "optional", "required".
const char* ClientAuthName(ClientAuth mode);

// Parses "none|optional|required" (kInvalidArgument otherwise).
core::Result<ClientAuth> ParseClientAuth(std::string_view text);

// Checks an OpenSSL cipher list for TLS <= 1.2 (SSL_CTX_set_cipher_list syntax) by what OpenSSL
// enables from it on a scratch SSL_CTX (never by matching substrings): refuses a list OpenSSL
// accepts no cipher from, one that enables a cipher of a RefusedCipherClass, and one whose
// `@SECLEVEL=n` is below kMinSecurityLevel. kInvalidArgument; the message does not name the
// field (callers prefix it), e.g. "enables NULL encryption, traffic in clear
// (ECDHE-ECDSA-NULL-SHA, ...): refused" or "@SECLEVEL=0 is below 2: refused".
core::Result<void> CheckCipherList(std::string_view list);

// The same for a TLS 1.3 suite list (SSL_CTX_set_ciphersuites syntax): refuses names OpenSSL
// does not know and refused classes (RFC 9150's integrity-only suites are NULL encryption). An
// empty list is valid here (it disables TLS 1.3).
core::Result<void> CheckTls13Suites(std::string_view suites);

// What RFC 9325 section 4.1 says a TLS implementation must not negotiate, and the policy
// refuses.
enum class RefusedCipherClass {
  kNullEncryption,  // no encryption at all
  kAnonymous,       // no authentication of the server (aNULL): man-in-the-middle
  kExportGrade,     // export-grade and other encryption below 128 bits
  kRc4,             // RFC 7465 prohibits RC4
  kDes,             // DES and 3DES: 56-bit keys, 64-bit blocks (Sweet32)
  kMd5Mac,          // HMAC-MD5 record MACs
};

// "NULL encryption, traffic in clear", ... (how a refusal message names the class).
const char* RefusedCipherClassName(RefusedCipherClass c);

namespace internal {

// What OpenSSL says of one cipher (SSL_CIPHER_get_cipher_nid, _auth_nid, _digest_nid, _bits).
// Separate from SSL_CIPHER so that classes this OpenSSL build has no cipher of (RC4, DES and
// export suites are compiled out of Debian's OpenSSL 3) can be tested.
struct CipherFacts {
  int cipher_nid = 0;  // NID_undef: NULL encryption
  int auth_nid = 0;    // NID_auth_null: anonymous
  int digest_nid = 0;  // the record MAC's digest; NID_undef for AEAD
  int strength_bits = 0;
};

// The refused classes `cipher` belongs to, in RefusedCipherClass order; empty if none.
std::vector<RefusedCipherClass> RefusedClassesOf(const CipherFacts& cipher);

}  // namespace internal

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
  // (RFC 8996), a cipher list or TLS 1.3 suite list that CheckCipherList/CheckTls13Suites
  // refuses (no cipher, a refused class, `@SECLEVEL` below 2), and a policy that leaves no
  // cipher for any allowed version. kInvalidArgument, one clear line.
  core::Result<void> Validate() const;

  bool operator==(const TlsPolicy&) const = default;
};

}  // namespace clustertls::net
