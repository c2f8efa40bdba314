#pragma once

// Private helpers of csr.cc and issuer.cc: X.509 names, GeneralNames and extensions built as
// OpenSSL structures (never from configuration strings), and the algorithms both fetch once.

#include <string>
#include <string_view>

#include "core/result.h"
#include "ossl/ptr.h"
#include "pki/certificate.h"
#include "pki/csr.h"

namespace clustertls::pki::internal {

// Builds a subject, one attribute per RDN: `extra` in order (checked and relabelled by
// CanonicalSubjectAttributes: C, ST, L, O, OU only), then the common name last; strings are
// UTF8String except where X.520 wants otherwise (C is a PrintableString). kInvalidArgument naming
// the attribute on a refused attribute or value (e.g. a CN over 64 characters).
core::Result<ossl::Ptr<X509_NAME>> BuildSubject(const SubjectAttributes& extra,
                                                std::string_view common_name);
// The same, appended to an existing (empty) `name`, e.g. X509_get_subject_name of a new X509.
core::Result<void> AppendSubject(X509_NAME* name, const SubjectAttributes& extra,
                                 std::string_view common_name);

// DER of `obj` in one encoding pass (OpenSSL's allocating i2d form); "" on failure.
template <typename T, typename Fn>
std::string ToDerOnePass(const T* obj, Fn i2d) {
  unsigned char* out = nullptr;
  int len = i2d(obj, &out);
  if (len <= 0 || out == nullptr) {
    return {};
  }
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return der;
}

// RFC 2253 one-line form of a name ("CN=a,O=b"), UTF-8 kept.
std::string NameToString(const X509_NAME* name);

// The last commonName of `name` as UTF-8, "" if there is none.
std::string LastCommonName(const X509_NAME* name);

// The C, ST, L, O, OU and DC attributes of `name` in its order, as UTF-8, each labelled with its
// short name; other attributes (CN, emailAddress, serialNumber, DC, ...) are skipped, and a
// multi-valued RDN gives one entry per value. Values are not checked here (the issuer does that
// with CanonicalSubjectAttributes). kParse if a value cannot be converted to UTF-8.
core::Result<SubjectAttributes> ReadSubjectAttributes(const X509_NAME* name);

// GeneralNames of canonical `sans` (RFC 5280 4.2.1.6): dNSName, iPAddress (4 or 16 bytes),
// uniformResourceIdentifier, rfc822Name. Null if `sans` is empty. kInvalidName on a bad IP.
core::Result<ossl::Ptr<GENERAL_NAMES>> BuildGeneralNames(const SubjectAltNames& sans);

// The dNSName, iPAddress, URI and rfc822Name entries of `names`, as written (IPs as text).
// Other name forms are skipped.
SubjectAltNames ReadGeneralNames(const GENERAL_NAMES* names);

// A URI GeneralName (for CRL distribution points and OCSP locations).
ossl::Ptr<GENERAL_NAME> UriName(std::string_view uri);

// The digest a key of this type signs certificates and CSRs with: SHA-256 for P-256 and RSA,
// SHA-384 for P-384, none (nullptr) for Ed25519 (pure EdDSA, RFC 8410 6). Fetched once.
// kUnsupported for other keys.
core::Result<const EVP_MD*> SigningDigest(const EVP_PKEY* key);

// RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
core::Result<std::string> KeyIdentifier(const X509_PUBKEY* spki);

}  // namespace clustertls::pki::internal
