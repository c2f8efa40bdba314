#pragma once

// Builds a complete server SSL_CTX from a TlsPolicy and credentials. The context is handed out
// only once every step succeeded, and is never modified afterwards (hot reload builds a new one:
// credentials.h).

#include <vector>

#include "core/result.h"
#include "net/tls_policy.h"
#include "ossl/ssl_ptr.h"
#include "pki/certificate.h"
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
};

// Builds a server SSL_CTX: validates `policy`, sets the version floor, cipher lists, leaf, chain
// and key (which must match), the client-certificate mode and store, and disables
// renegotiation and compression. Fails with kInvalidArgument (policy), kKeyMismatch or kCrypto;
// on failure nothing is returned, so a caller's current context stays in use.
core::Result<ossl::SharedSslCtx> BuildServerContext(const TlsPolicy& policy,
                                                    const TlsCredentials& credentials);

}  // namespace clustertls::net
