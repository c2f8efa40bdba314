#pragma once

// OCSP (RFC 6960) as values: parsing a request into its CertIDs and nonce, and building signed
// responses for a delegated responder (an `ocsp-signer` certificate issued by the CA, with
// id-kp-OCSPSigning, RFC 6960 section 4.2.2.2). OpenSSL's OCSP_* functions do the encoding
// and the signing. No I/O, no clock: every time is passed in.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl_builder.h"
#include "pki/key.h"

namespace clustertls::pki {

// The hash algorithms a CertID may use.
enum class OcspHash { kSha1, kSha256 };

// One CertID of a request (RFC 6960 section 4.1.1).
struct OcspCertId {
  OcspHash hash = OcspHash::kSha1;
  std::string issuer_name_hash;  // raw bytes
  std::string issuer_key_hash;   // raw bytes
  std::string serial_hex;        // upper-case, as `openssl x509 -serial` prints it
  std::string der;               // the CertID as the request encoded it (echoed in the response)
};

// The longest nonce a request may carry: RFC 9654 section 2.1 (which obsoletes RFC 8954 and its
// 32-octet limit) defines Nonce ::= OCTET STRING (SIZE(1..128)).
inline constexpr std::size_t kMaxOcspNonceLength = 128;

struct OcspRequest {
  std::vector<OcspCertId> ids;  // at least one
  // The nonce extension's extnValue (RFC 6960 section 4.4.1): the DER OCTET STRING that holds
  // the nonce's 1..kMaxOcspNonceLength octets, as the request encoded it (echoed byte for byte).
  std::optional<std::string> nonce{};
};

// Parses a DER OCSPRequest. kParse for anything malformed (truncated, trailing bytes, no
// CertID), and for a nonce extension that is repeated, whose value is not a DER OCTET STRING,
// or whose nonce is empty or longer than kMaxOcspNonceLength octets (RFC 9654 section 2.1: the
// responder answers those malformedRequest); kUnsupported for a CertID hash other than
// SHA-1/SHA-256.
core::Result<OcspRequest> ParseOcspRequest(std::string_view der);

// The issuer fields a CertID must carry to be about `issuer` (RFC 6960 section 4.1.1: hash of
// the issuer's DN and of its public key BIT STRING value).
struct OcspIssuerHashes {
  std::string sha1_name, sha1_key, sha256_name, sha256_key;
  // True if `id` names this issuer.
  bool Matches(const OcspCertId& id) const;
};
OcspIssuerHashes IssuerHashes(const Certificate& issuer);

enum class OcspCertStatus { kGood, kRevoked, kUnknown };

// The answer for one CertID.
struct OcspSingleResponse {
  const OcspCertId* id = nullptr;  // not owned
  OcspCertStatus status = OcspCertStatus::kUnknown;
  core::TimePoint revoked_at{};                              // kRevoked
  RevocationReason reason = RevocationReason::kUnspecified;  // kRevoked
  core::TimePoint this_update{};
  core::TimePoint next_update{};
};

// A delegated responder: signs BasicOCSPResponses with `key` and includes `certificate` so that
// clients can check it was issued by the CA (RFC 6960 section 4.2.2.2). ResponderID byKey.
struct OcspSigner {
  Certificate certificate;
  PrivateKey key;
};

// Builds a successful, signed OCSPResponse (DER) with one SingleResponse per entry, echoing
// `nonce` when given. producedAt is set by OpenSSL (OCSP_basic_sign) from the system clock.
// kCrypto on failure; kInvalidArgument for an empty list or an entry without an id.
core::Result<std::string> BuildOcspResponse(const OcspSigner& signer,
                                            std::span<const OcspSingleResponse> answers,
                                            const std::optional<std::string>& nonce);

// RFC 6960 section 4.2.1 OCSPResponseStatus values for unsigned error responses.
enum class OcspErrorStatus {
  kMalformedRequest = 1,
  kInternalError = 2,
  kTryLater = 3,
  kSigRequired = 5,
  kUnauthorized = 6,
};

// An unsigned OCSPResponse carrying only `status` (DER; a few bytes, computed once).
const std::string& OcspErrorResponse(OcspErrorStatus status);

}  // namespace clustertls::pki
