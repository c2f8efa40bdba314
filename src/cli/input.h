#pragma once

#include <string>
#include <string_view>

#include "core/time.h"
#include "ossl/ptr.h"

namespace clustertls::cli {

// What a file holds, judged from its PEM label or, for DER, by which ASN.1 structure parses.
enum class InputKind {
  kCertificates,          // PEM "CERTIFICATE"/"TRUSTED CERTIFICATE" or one DER certificate
  kCsr,                   // "CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST" or DER PKCS#10
  kCrl,                   // "X509 CRL" or DER
  kPrivateKey,            // "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", DER PKCS#8/1/SEC1
  kEncryptedPrivateKey,   // "ENCRYPTED PRIVATE KEY" or DER EncryptedPrivateKeyInfo
  kPublicKey,             // "PUBLIC KEY" or DER SubjectPublicKeyInfo
  kPkcs12,                // DER PKCS#12
  kUnknown,
};

// Classifies `data`; never fails (kUnknown).
InputKind DetectKind(std::string_view data);

// "certificate", "CSR", "CRL", "private key", ... for messages.
const char* InputKindName(InputKind kind);

// An ASN1_TIME as a time point (epoch on failure).
core::TimePoint FromAsn1Time(const ASN1_TIME* t);

}  // namespace clustertls::cli
