#pragma once

// Builds and signs a full X.509 v2 CRL (RFC 5280 section 5) for an issuing CA. OpenSSL builds
// and signs the CRL's frame (version, signature algorithm, issuer, thisUpdate, nextUpdate,
// authorityKeyIdentifier, cRLNumber); the revokedCertificates list, which may hold a million
// entries, is DER-encoded directly into the to-be-signed bytes, and the result is signed with
// EVP_DigestSign. Building OpenSSL's X509_REVOKED objects for every entry is what makes
// `openssl ca -gencrl` slow; the bytes are the same.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace clustertls::pki {

// RFC 5280 section 5.3.1 CRLReason (value 7 is unused).
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

// Parses the RFC 5280 name ("keyCompromise", "superseded", "cessationOfOperation", ...;
// case-insensitive). kInvalidArgument listing the accepted names.
core::Result<RevocationReason> ParseRevocationReason(std::string_view name);
// The RFC 5280 name, e.g. "keyCompromise".
const char* RevocationReasonName(RevocationReason reason);

// One revoked certificate as the CRL lists it (RFC 5280 section 5.3).
struct CrlEntry {
  std::string serial_hex;  // hex, as `openssl x509 -serial` prints it (case-insensitive)
  core::TimePoint revoked_at{};
  RevocationReason reason = RevocationReason::kUnspecified;  // unspecified: no reasonCode
};

struct CrlOptions {
  core::TimePoint this_update{};
  core::TimePoint next_update{};
  std::int64_t crl_number = 1;  // RFC 5280 section 5.2.3: monotonically increasing, >= 0
};

// Builds a v2 CRL signed by `issuer_key`, whose certificate is `issuer` (a CA with cRLSign, or
// no KeyUsage: kNotCa otherwise; key must match: kKeyMismatch). Entries are listed in the
// order given. Fails with kInvalidArgument on a malformed serial (naming it) or next_update
// not after this_update. Returns DER.
core::Result<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                                   std::span<const CrlEntry> entries, const CrlOptions& options);

}  // namespace clustertls::pki
