#pragma once

// Builds and signs a full X.509 v2 CRL (RFC 5280 section 5) for an issuing CA. OpenSSL builds
// and signs the CRL's frame (version, signature algorithm, issuer, thisUpdate, nextUpdate,
// authorityKeyIdentifier, cRLNumber); the revokedCertificates list, which may hold a million
// entries, is DER-encoded (CrlEntryEncoder) directly into the buffer that becomes the CRL, and
// the to-be-signed bytes are signed in place with EVP_DigestSign (one digest pass, no
// re-encoding through OpenSSL's ASN.1 templates). Building OpenSSL's X509_REVOKED objects for
// every entry is what makes `openssl ca -gencrl` slow; the bytes are the same.

#include <climits>
#include <cstdint>
#include <cstddef>
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

// Encodes revokedCertificates entries (RFC 5280 section 5.1) one at a time, straight into the
// buffer that becomes the CRL's DER: a list of a million entries costs no per-entry allocation
// and no intermediate list. Move it into BuildEncodedCrl when done.
class CrlEntryEncoder {
 public:
  // `expected_entries` pre-sizes the buffer (a hint; more may be added).
  explicit CrlEntryEncoder(std::size_t expected_entries = 0);
  CrlEntryEncoder(CrlEntryEncoder&&) = default;
  CrlEntryEncoder& operator=(CrlEntryEncoder&&) = default;

  // Appends one entry, listed in the order added. `serial_hex`: 1 to 42 hex digits
  // (case-insensitive, leading zeros ignored), else kInvalidArgument naming it. Reason
  // kUnspecified adds no reasonCode extension (RFC 5280 section 5.3.1).
  core::Result<void> Add(std::string_view serial_hex, core::TimePoint revoked_at,
                         RevocationReason reason);
  // Entries added so far.
  std::size_t size() const { return count_; }

 private:
  friend core::Result<std::string> BuildEncodedCrl(const Certificate& issuer,
                                                   const PrivateKey& issuer_key,
                                                   CrlEntryEncoder entries,
                                                   const CrlOptions& options);
  // The entries' DER is buf_[kPrefix, used_): the room before it takes the CRL's headers.
  static constexpr std::size_t kPrefix = 4096;
  std::string buf_;
  std::size_t used_ = kPrefix;
  std::size_t count_ = 0;
  // The last revocationDate encoded (entries often share a day, or a second).
  std::int64_t last_secs_ = INT64_MIN;
  std::int64_t last_day_ = INT64_MIN;
  unsigned char last_time_[17] = {};
  std::size_t last_time_len_ = 0;
};

// Builds a v2 CRL signed by `issuer_key`, whose certificate is `issuer` (a CA with cRLSign, or
// no KeyUsage: kNotCa otherwise; key must match: kKeyMismatch). Entries are listed in the
// order given. Fails with kInvalidArgument on a malformed serial (naming it) or next_update
// not after this_update. Returns DER.
core::Result<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                                   std::span<const CrlEntry> entries, const CrlOptions& options);
// The same with the entries encoded by a CrlEntryEncoder (which refused malformed serials).
core::Result<std::string> BuildEncodedCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                                          CrlEntryEncoder entries, const CrlOptions& options);

}  // namespace clustertls::pki
