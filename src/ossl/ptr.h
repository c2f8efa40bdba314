#pragma once

#include <memory>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace clustertls::ossl {

// One deleter per OpenSSL type; every owned OpenSSL pointer is a Ptr<T>.
template <typename T>
struct Deleter;

#define CTLS_OSSL_DELETER(type, fn)             \
  template <>                                   \
  struct Deleter<type> {                        \
    void operator()(type* p) const { fn(p); }   \
  }

CTLS_OSSL_DELETER(BIO, BIO_free_all);
CTLS_OSSL_DELETER(BIGNUM, BN_free);
CTLS_OSSL_DELETER(BN_CTX, BN_CTX_free);
CTLS_OSSL_DELETER(EVP_PKEY, EVP_PKEY_free);
CTLS_OSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
CTLS_OSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
CTLS_OSSL_DELETER(EVP_MD, EVP_MD_free);
CTLS_OSSL_DELETER(EVP_CIPHER, EVP_CIPHER_free);
CTLS_OSSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
CTLS_OSSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);
CTLS_OSSL_DELETER(X509, X509_free);
CTLS_OSSL_DELETER(X509_REQ, X509_REQ_free);
CTLS_OSSL_DELETER(X509_CRL, X509_CRL_free);
CTLS_OSSL_DELETER(X509_NAME, X509_NAME_free);
CTLS_OSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
CTLS_OSSL_DELETER(X509_STORE, X509_STORE_free);
CTLS_OSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
CTLS_OSSL_DELETER(X509_VERIFY_PARAM, X509_VERIFY_PARAM_free);
CTLS_OSSL_DELETER(X509_PUBKEY, X509_PUBKEY_free);
CTLS_OSSL_DELETER(X509_ALGOR, X509_ALGOR_free);
CTLS_OSSL_DELETER(X509_SIG, X509_SIG_free);
CTLS_OSSL_DELETER(PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free);
CTLS_OSSL_DELETER(PKCS12, PKCS12_free);
// ASN1_INTEGER, ASN1_OCTET_STRING, ASN1_BIT_STRING, ASN1_TIME, ... are all ASN1_STRING.
CTLS_OSSL_DELETER(ASN1_STRING, ASN1_STRING_free);
CTLS_OSSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
CTLS_OSSL_DELETER(ASN1_TYPE, ASN1_TYPE_free);
CTLS_OSSL_DELETER(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free);
CTLS_OSSL_DELETER(AUTHORITY_KEYID, AUTHORITY_KEYID_free);
CTLS_OSSL_DELETER(GENERAL_NAME, GENERAL_NAME_free);
CTLS_OSSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free);
CTLS_OSSL_DELETER(NAME_CONSTRAINTS, NAME_CONSTRAINTS_free);
CTLS_OSSL_DELETER(GENERAL_SUBTREE, GENERAL_SUBTREE_free);
CTLS_OSSL_DELETER(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free);
CTLS_OSSL_DELETER(CRL_DIST_POINTS, CRL_DIST_POINTS_free);
CTLS_OSSL_DELETER(DIST_POINT, DIST_POINT_free);
CTLS_OSSL_DELETER(AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free);
CTLS_OSSL_DELETER(ACCESS_DESCRIPTION, ACCESS_DESCRIPTION_free);
CTLS_OSSL_DELETER(OCSP_REQUEST, OCSP_REQUEST_free);
CTLS_OSSL_DELETER(OCSP_RESPONSE, OCSP_RESPONSE_free);
CTLS_OSSL_DELETER(OCSP_BASICRESP, OCSP_BASICRESP_free);
CTLS_OSSL_DELETER(OCSP_CERTID, OCSP_CERTID_free);

#undef CTLS_OSSL_DELETER

// Stack of X509 owning its elements.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct X509CrlStackDeleter {
  void operator()(STACK_OF(X509_CRL) * s) const { sk_X509_CRL_pop_free(s, X509_CRL_free); }
};
struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};

template <typename T>
using Ptr = std::unique_ptr<T, Deleter<T>>;
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using X509CrlStack = std::unique_ptr<STACK_OF(X509_CRL), X509CrlStackDeleter>;
using ExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;

// Takes ownership of a freshly created pointer: `auto x = ossl::Own(X509_new());`.
template <typename T>
Ptr<T> Own(T* p) {
  return Ptr<T>(p);
}

// Shared ownership through OpenSSL's own reference count (X509, EVP_PKEY, X509_CRL):
// immutable values that are cheap to copy.
template <typename T>
std::shared_ptr<T> Share(Ptr<T> p) {
  return std::shared_ptr<T>(p.release(), Deleter<T>());
}

}  // namespace clustertls::ossl
