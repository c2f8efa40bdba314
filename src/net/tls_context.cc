#include "net/tls_context.h"

#include <string>

#include "ossl/error.h"

namespace clustertls::net {
namespace {

using core::ErrorCode;

// Session cache namespace: sessions of another context are not resumed here.
constexpr unsigned char kSessionIdContext[] = "clustertls-net";
constexpr int kMaxClientChainDepth = 5;

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
  const int min = policy.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(c, min) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the minimum TLS version");
  }
  if (!policy.cipher_list.empty() && SSL_CTX_set_cipher_list(c, policy.cipher_list.c_str()) != 1) {
    return ossl::Failure(ErrorCode::kInvalidArgument,
                         "cipher list '" + policy.cipher_list + "' is refused");
  }
  if (SSL_CTX_set_ciphersuites(c, policy.tls13_ciphersuites.c_str()) != 1) {
    return ossl::Failure(ErrorCode::kInvalidArgument,
                         "TLS 1.3 ciphersuites '" + policy.tls13_ciphersuites + "' are refused");
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

}  // namespace clustertls::net
