#pragma once

// Builds a complete server SSL_CTX from a TlsPolicy and credentials. The context is handed out
// only once every step succeeded, and is never modified afterwards (hot reload builds a new one:
// credentials.h).

#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "net/tls_policy.h"
#include "ossl/ssl_ptr.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/key.h"

namespace clustertls::net {

// What a server presents and whom it trusts for client certificates.
struct TlsCredentials {
  pki::PrivateKey key;
  pki::Certificate certificate;
  // Certificates sent after the leaf: intermediates in order (leaf -> root); the root may be
  // left out.
  std::vector<pki::Certificate> chain;
  // Trust anchors for client certificates (and the CA names sent in the CertificateRequest).
  // Required when the policy's client_auth is not kNone.
  std::vector<pki::Certificate> client_cas;
  // CRLs of the client CAs. When not empty, client chains are checked against them with
  // X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL (RFC 5280 section 6.3): every certificate
  // of the chain needs a current CRL of its issuer, and a listed one fails the handshake.
  std::vector<pki::Crl> client_crls{};
};

// Builds a server SSL_CTX: validates `policy`, sets the version floor, the security level (at
// least kMinSecurityLevel, whatever openssl.cnf says), cipher lists, leaf, chain and key (which
// must match), the client-certificate mode and store, and disables renegotiation and
// compression. Fails with kInvalidArgument (policy), kKeyMismatch or kCrypto;
// on failure nothing is returned, so a caller's current context stays in use.
core::Result<ossl::SharedSslCtx> BuildServerContext(const TlsPolicy& policy,
                                                    const TlsCredentials& credentials);

// The TLS clients that every listener's policy must let in (CheckDefaultClientConnects).
enum class DefaultClient {
  // OpenSSL's defaults: TLS_client_method with the default ciphers, TLS 1.3 suites, groups and
  // signature algorithms, as curl and `openssl s_client` offer them.
  kOpenSsl,
  // What a default GnuTLS client offers (gnutls-cli with priority NORMAL), emulated with an
  // OpenSSL client restricted to kGnuTlsNormalOffer.
  kGnuTls,
};

inline constexpr DefaultClient kDefaultClients[] = {DefaultClient::kOpenSsl,
                                                    DefaultClient::kGnuTls};

// "a default OpenSSL client", "a default GnuTLS client (priority NORMAL)".
const char* DefaultClientName(DefaultClient client);

// What a client offers, in OpenSSL's syntax.
struct ClientOffer {
  std::string_view tls12_ciphers;  // SSL_CTX_set_cipher_list
  std::string_view tls13_suites;   // SSL_CTX_set_ciphersuites
  std::string_view groups;         // SSL_CTX_set1_groups_list
  std::string_view sigalgs;        // SSL_CTX_set1_sigalgs_list
};

// GnuTLS's NORMAL priority, from `gnutls-cli --priority NORMAL --list` (gnutls-cli 3.7.9,
// Debian 12, no /etc/gnutls/config), in order, translated to OpenSSL's names: the suites, the
// groups (GROUP-SECP256R1 ... GROUP-FFDHE8192) and the PK-signatures by their TLS code point
// (SIGN-ECDSA-SHA256 and SIGN-ECDSA-SECP256R1-SHA256 are both ecdsa_secp256r1_sha256).
// NORMAL's TLS 1.0/1.1 are left out: no listener accepts them (RFC 8996).
inline constexpr ClientOffer kGnuTlsNormalOffer = {
    .tls12_ciphers =
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-CCM:"
        "ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-CCM:"
        "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
        "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:"
        "AES256-GCM-SHA384:AES256-CCM:AES256-SHA:AES128-GCM-SHA256:AES128-CCM:AES128-SHA:"
        "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES256-CCM:"
        "DHE-RSA-AES256-SHA:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-CCM:DHE-RSA-AES128-SHA",
    .tls13_suites =
        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
        "TLS_AES_128_CCM_SHA256",
    .groups = "P-256:P-384:P-521:X25519:X448:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192",
    .sigalgs =
        "rsa_pkcs1_sha256:rsa_pss_pss_sha256:rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256:"
        "ed25519:rsa_pkcs1_sha384:rsa_pss_pss_sha384:rsa_pss_rsae_sha384:"
        "ecdsa_secp384r1_sha384:ed448:rsa_pkcs1_sha512:rsa_pss_pss_sha512:"
        "rsa_pss_rsae_sha512:ecdsa_secp521r1_sha512:RSA+SHA1:ECDSA+SHA1",
};

// The key type of the ephemeral identity that stands in for a certificate with key `served`:
// its own type; an RSA key of another size as the largest RSA KeyType not above it (OpenSSL's
// security levels step at 2048 and 3072 bits). kInvalidArgument for other key types.
core::Result<pki::KeyType> IdentityKeyTypeFor(const pki::PublicKey& served);

// How CheckDefaultClientConnects builds the server side.
struct ClientCheckOptions {
  // The key type of the certificate the listener serves. The check presents an ephemeral
  // self-signed certificate with a key of this type, made once per process and key type.
  pki::KeyType key_type = pki::KeyType::kEcP256;
  // Time and randomness for that certificate (used by the first call for each key type only).
  core::TimePoint now{};
  core::Rng* rng = nullptr;
};

// Checks that `client` can connect over `version` to a listener under `policy`: builds the
// server context with BuildServerContext (client_auth none: the default clients have no
// certificate, and asking for one does not change what is negotiated) and completes a handshake
// with the client pinned to `version`, in memory (a BIO pair, no network). kInvalidArgument if
// it fails, saying why: "a default OpenSSL client could not connect over TLS 1.3 to an EC P-256
// certificate (no shared TLS 1.3 suite: it offers TLS_AES_256_GCM_SHA384, ..., not
// TLS_AES_128_CCM_8_SHA256)"; a server context that cannot be built with such a certificate is
// refused the same way.
core::Result<void> CheckDefaultClientConnects(const TlsPolicy& policy, DefaultClient client,
                                              TlsVersion version,
                                              const ClientCheckOptions& options);

}  // namespace clustertls::net
