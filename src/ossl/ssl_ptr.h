#pragma once

// libssl types, kept apart from ptr.h so that only net/ (and the executables) see libssl.

#include <openssl/ssl.h>

#include <memory>

#include "ossl/ptr.h"

namespace clustertls::ossl {

template <>
struct Deleter<SSL_CTX> {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
template <>
struct Deleter<SSL> {
  void operator()(SSL* p) const { SSL_free(p); }
};

// Stack of X509_NAME owning its elements (client CA lists).
struct X509NameStackDeleter {
  void operator()(STACK_OF(X509_NAME) * s) const { sk_X509_NAME_pop_free(s, X509_NAME_free); }
};
using X509NameStack = std::unique_ptr<STACK_OF(X509_NAME), X509NameStackDeleter>;

// A complete, immutable SSL_CTX shared by every connection that started with it.
using SharedSslCtx = std::shared_ptr<SSL_CTX>;

}  // namespace clustertls::ossl
