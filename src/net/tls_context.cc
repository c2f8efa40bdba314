#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ossl/error.h"
#include "pki/issuer.h"

namespace clustertls::net {
namespace {

using core::ErrorCode;

// Session cache namespace: sessions of another context are not resumed here.
constexpr unsigned char kSessionIdContext[] = "clustertls-net";
constexpr int kMaxClientChainDepth = 5;

// A handshake between two in-memory endpoints needs a handful of flights; more is a bug.
constexpr int kMaxHandshakeRounds = 32;

// The ephemeral identity of CheckDefaultClientConnects for `type`: made on first use, kept for
// the life of the process (key generation, RSA above all, is slow).
core::Result<TlsCredentials> EphemeralIdentity(pki::KeyType type, const ClientCheckOptions& o) {
  static std::mutex mu;
  static auto& made = *new std::map<pki::KeyType, TlsCredentials>();  // never destroyed
  std::lock_guard lock(mu);
  if (auto it = made.find(type); it != made.end()) {
    return it->second;
  }
  if (o.rng == nullptr) {
    return core::Fail(ErrorCode::kInternal, "client check: no random number generator");
  }
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(type));
  CTLS_ASSIGN_OR_RETURN(
      pki::Certificate cert,
      pki::SelfSign(key,
                    pki::IssueRequest{.profile = pki::Profile::kServer,
                                      .common_name = "policy-check.clustertls.invalid",
                                      .validity = std::chrono::days(3650)},
                    o.now, *o.rng));
  TlsCredentials identity{.key = key, .certificate = cert, .chain = {}, .client_cas = {}};
  made.emplace(type, identity);
  return identity;
}

int ProtocolVersion(TlsVersion version) {
  return version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// A client context as `client` makes it by default, limited to `version`.
core::Result<ossl::Ptr<SSL_CTX>> ClientContext(DefaultClient client, TlsVersion version) {
  auto ctx = ossl::Own(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot create a client SSL_CTX");
  }
  SSL_CTX* c = ctx.get();
  const int v = ProtocolVersion(version);
  if (SSL_CTX_set_min_proto_version(c, v) != 1 || SSL_CTX_set_max_proto_version(c, v) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot pin the client's TLS version");
  }
  if (client == DefaultClient::kGnuTls) {
    const ClientOffer& offer = kGnuTlsNormalOffer;
    // GnuTLS applies its own rules to what it offers: level 0 makes OpenSSL offer the whole list
    // (SHA-1 signature algorithms included) rather than filter it. The server picks.
    SSL_CTX_set_security_level(c, 0);
    if (SSL_CTX_set_cipher_list(c, std::string(offer.tls12_ciphers).c_str()) != 1 ||
        SSL_CTX_set_ciphersuites(c, std::string(offer.tls13_suites).c_str()) != 1 ||
        SSL_CTX_set1_groups_list(c, std::string(offer.groups).c_str()) != 1 ||
        SSL_CTX_set1_sigalgs_list(c, std::string(offer.sigalgs).c_str()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot set GnuTLS NORMAL's offer on a client");
    }
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);  // the identity is throwaway and self-signed
  return ctx;
}

// The reason of the first error on the queue ("no shared cipher"), then clears it.
std::string TakeReason() {
  const unsigned long e = ERR_peek_error();
  const char* reason = e == 0 ? nullptr : ERR_reason_error_string(e);
  std::string out = reason != nullptr ? reason : "unknown error";
  ossl::ClearErrors();
  return out;
}

// Runs the handshake until both ends finish; "" on success, else the failing end's reason.
std::string Handshake(SSL* client, SSL* server) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < kMaxHandshakeRounds && !(client_done && server_done); ++round) {
    for (auto [ssl, done, who] :
         {std::tuple{client, &client_done, "the client: "}, std::tuple{server, &server_done, ""}}) {
      if (*done) {
        continue;
      }
      ossl::ClearErrors();
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        *done = true;
        continue;
      }
      const int error = SSL_get_error(ssl, r);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        return who + TakeReason();
      }
    }
  }
  if (!(client_done && server_done)) {
    return "the handshake did not finish";
  }
  return "";
}

std::vector<const SSL_CIPHER*> CiphersOf(STACK_OF(SSL_CIPHER) * ciphers, TlsVersion version) {
  std::vector<const SSL_CIPHER*> out;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    const bool tls13 = SSL_CIPHER_get_kx_nid(cipher) == NID_kx_any;
    if (tls13 == (version == TlsVersion::kTls13)) {
      out.push_back(cipher);
    }
  }
  return out;
}

std::string Names(const std::vector<const SSL_CIPHER*>& ciphers, std::size_t max = 4) {
  std::string out;
  for (std::size_t i = 0; i < ciphers.size() && i < max; ++i) {
    out += (i == 0 ? "" : ", ") + std::string(SSL_CIPHER_get_name(ciphers[i]));
  }
  if (ciphers.size() > max) {
    out += ", ...";
  }
  return out;
}

// Whether a TLS <= 1.2 cipher's authentication works with a certificate key of `key`.
bool AuthFits(const SSL_CIPHER* cipher, EVP_PKEY* key) {
  const int auth = SSL_CIPHER_get_auth_nid(cipher);
  const int type = EVP_PKEY_get_base_id(key);
  if (auth == NID_auth_rsa) {
    return type == EVP_PKEY_RSA;
  }
  if (auth == NID_auth_ecdsa) {  // also EdDSA in TLS 1.2 (RFC 8422 section 5.1.1)
    return type == EVP_PKEY_EC || type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448;
  }
  return auth == NID_auth_any;
}

// Why the handshake between `client` and `server` failed, in terms of the policy when it can
// tell (no shared suite, none for the certificate's key), else OpenSSL's `reason`.
std::string Explain(SSL* client, SSL* server, TlsVersion version, EVP_PKEY* key,
                    const std::string& reason) {
  struct Stack {
    void operator()(STACK_OF(SSL_CIPHER) * s) const { sk_SSL_CIPHER_free(s); }
  };
  std::unique_ptr<STACK_OF(SSL_CIPHER), Stack> offered(SSL_get1_supported_ciphers(client));
  const std::vector<const SSL_CIPHER*> offer = CiphersOf(offered.get(), version);
  const std::vector<const SSL_CIPHER*> policy = CiphersOf(SSL_get_ciphers(server), version);
  std::vector<const SSL_CIPHER*> shared;
  for (const SSL_CIPHER* cipher : policy) {
    if (std::find_if(offer.begin(), offer.end(), [cipher](const SSL_CIPHER* o) {
          return SSL_CIPHER_get_id(o) == SSL_CIPHER_get_id(cipher);
        }) != offer.end()) {
      shared.push_back(cipher);
    }
  }
  const std::string v = TlsVersionName(version);
  if (shared.empty()) {
    if (version == TlsVersion::kTls13) {
      return "no shared TLS 1.3 suite: it offers " + Names(offer, 8) + ", not " + Names(policy);
    }
    return "no shared TLS 1.2 cipher: it offers none of " + Names(policy);
  }
  if (std::none_of(shared.begin(), shared.end(),
                   [key](const SSL_CIPHER* c) { return AuthFits(c, key); })) {
    return "no shared TLS " + v + " cipher works with this certificate: " + Names(shared) +
           (shared.size() == 1 ? " needs" : " need") + " another key type";
  }
  return "handshake failed: " + reason;
}

}  // namespace

core::Result<ossl::SharedSslCtx> BuildServerContext(const TlsPolicy& policy,
                                                    const TlsCredentials& credentials) {
  CTLS_RETURN_IF_ERROR(policy.Validate());
  if (credentials.key.get() == nullptr || credentials.certificate.get() == nullptr) {
    return core::Fail(ErrorCode::kInvalidArgument, "TLS credentials lack a key or certificate");
  }
  if (!credentials.key.Matches(credentials.certificate.public_key())) {
    return core::Fail(ErrorCode::kKeyMismatch, "the private key does not match the certificate '" +
                                                   credentials.certificate.subject() + "'");
  }
  if (policy.client_auth != ClientAuth::kNone && credentials.client_cas.empty()) {
    return core::Fail(ErrorCode::kInvalidArgument, std::string("client_auth ") +
                                                       ClientAuthName(policy.client_auth) +
                                                       " needs at least one client CA certificate");
  }
  ossl::ClearErrors();
  auto ctx = ossl::Own(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot create an SSL_CTX");
  }
  SSL_CTX* c = ctx.get();
  // Never below kMinSecurityLevel, even if openssl.cnf sets a lower one; the policy's cipher list
  // may raise it with @SECLEVEL=n (Validate refused a lower n).
  SSL_CTX_set_security_level(c, std::max(SSL_CTX_get_security_level(c), kMinSecurityLevel));
  if (SSL_CTX_set_min_proto_version(c, ProtocolVersion(policy.min_version)) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the minimum TLS version");
  }
  // No TLS 1.3 suites means no TLS 1.3: say so with the version range too. A server whose range
  // includes 1.3 but that has no TLS 1.3 suite refuses every handshake ("no ciphers available").
  if (policy.tls13_ciphersuites.empty() && SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the maximum TLS version");
  }
  if (!policy.cipher_list.empty() && SSL_CTX_set_cipher_list(c, policy.cipher_list.c_str()) != 1) {
    return ossl::Failure(ErrorCode::kInvalidArgument,
                         "cipher list '" + policy.cipher_list + "' is refused");
  }
  if (SSL_CTX_set_ciphersuites(c, policy.tls13_ciphersuites.c_str()) != 1) {
    return ossl::Failure(ErrorCode::kInvalidArgument,
                         "TLS 1.3 ciphersuites '" + policy.tls13_ciphersuites + "' are refused");
  }
  if (SSL_CTX_get_security_level(c) < kMinSecurityLevel) {
    return core::Fail(ErrorCode::kInvalidArgument, "cipher list '" + policy.cipher_list +
                                                       "' lowers the security level below " +
                                                       std::to_string(kMinSecurityLevel));
  }
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_use_certificate(c, credentials.certificate.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot use the certificate");
  }
  for (const pki::Certificate& cert : credentials.chain) {
    if (SSL_CTX_add1_chain_cert(c, cert.get()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto,
                           "cannot add chain certificate '" + cert.subject() + "'");
    }
  }
  if (SSL_CTX_use_PrivateKey(c, credentials.key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    return ossl::Failure(ErrorCode::kKeyMismatch, "the private key is refused for the certificate");
  }
  if (SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the session id context");
  }
  if (policy.client_auth != ClientAuth::kNone) {
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    ossl::X509NameStack names(sk_X509_NAME_new_null());
    if (store == nullptr || !names) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot create the client CA store");
    }
    for (const pki::Certificate& ca : credentials.client_cas) {
      if (X509_STORE_add_cert(store, ca.get()) != 1) {
        return ossl::Failure(ErrorCode::kCrypto,
                             "cannot add client CA '" + ca.subject() + "' to the store");
      }
      auto name = ossl::Own(X509_NAME_dup(X509_get_subject_name(ca.get())));
      if (!name || sk_X509_NAME_push(names.get(), name.get()) <= 0) {
        return ossl::Failure(ErrorCode::kCrypto, "cannot list client CA '" + ca.subject() + "'");
      }
      name.release();  // owned by `names` now
    }
    for (const pki::Crl& crl : credentials.client_crls) {
      if (X509_STORE_add_crl(store, crl.get()) != 1) {
        return ossl::Failure(ErrorCode::kCrypto,
                             "cannot add the CRL of '" + crl.issuer() + "' to the store");
      }
    }
    if (!credentials.client_crls.empty()) {
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    SSL_CTX_set_client_CA_list(c, names.release());
    int mode = SSL_VERIFY_PEER;
    if (policy.client_auth == ClientAuth::kRequired) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(c, mode, nullptr);
    SSL_CTX_set_verify_depth(c, kMaxClientChainDepth);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  return ossl::Share(std::move(ctx));
}

const char* DefaultClientName(DefaultClient client) {
  switch (client) {
    case DefaultClient::kOpenSsl:
      return "a default OpenSSL client";
    case DefaultClient::kGnuTls:
      return "a default GnuTLS client (priority NORMAL)";
  }
  return "?";
}

core::Result<pki::KeyType> IdentityKeyTypeFor(const pki::PublicKey& served) {
  if (auto type = served.type()) {
    return *type;
  }
  if (served.get() != nullptr && EVP_PKEY_get_base_id(served.get()) == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(served.get());
    if (bits >= 4096) {
      return pki::KeyType::kRsa4096;
    }
    if (bits >= 3072) {
      return pki::KeyType::kRsa3072;
    }
    return pki::KeyType::kRsa2048;
  }
  return core::Fail(ErrorCode::kInvalidArgument,
                    "no client check for a listener with a " + served.Describe() + " key");
}

core::Result<void> CheckDefaultClientConnects(const TlsPolicy& policy, DefaultClient client,
                                              TlsVersion version,
                                              const ClientCheckOptions& options) {
  CTLS_ASSIGN_OR_RETURN(TlsCredentials identity, EphemeralIdentity(options.key_type, options));
  const std::string who = std::string(DefaultClientName(client)) + " could not connect over TLS " +
                          TlsVersionName(version) + " to an " + identity.key.Describe() +
                          " certificate";
  TlsPolicy server_policy = policy;
  server_policy.client_auth = ClientAuth::kNone;
  auto server_ctx = BuildServerContext(server_policy, identity);
  if (!server_ctx) {
    std::string why = server_ctx.error().message;
    if (!server_ctx.error().detail.empty()) {
      why += ": " + server_ctx.error().detail;
    }
    return core::Fail(ErrorCode::kInvalidArgument, who + " (the server cannot start: " + why + ")");
  }
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<SSL_CTX> client_ctx, ClientContext(client, version));
  auto server = ossl::Own(SSL_new(server_ctx->get()));
  auto ssl = ossl::Own(SSL_new(client_ctx.get()));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (!server || !ssl || BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set up an in-memory handshake");
  }
  SSL_set_bio(ssl.get(), client_bio, client_bio);  // each SSL owns its end
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(ssl.get());
  SSL_set_accept_state(server.get());
  const std::string reason = Handshake(ssl.get(), server.get());
  if (reason.empty() && SSL_version(server.get()) == ProtocolVersion(version)) {
    return {};
  }
  const std::string why =
      reason.empty() ? std::string("it negotiated ") + SSL_get_version(server.get())
                     : Explain(ssl.get(), server.get(), version, identity.key.get(), reason);
  ossl::ClearErrors();
  return core::Fail(ErrorCode::kInvalidArgument, who + " (" + why + ")");
}

}  // namespace clustertls::net
