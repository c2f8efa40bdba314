#pragma once

// The issuing CA's OCSP responder (RFC 6960) for `POST /ocsp` and `GET /ocsp/{base64}`.
//
// Responses are signed by a delegated responder (RFC 6960 section 4.2.2.2): an `ocsp-signer`
// certificate (id-kp-OCSPSigning, plus id-pkix-ocsp-nocheck) that this responder issues from
// the issuing CA for itself with a fresh EC P-256 key held only in memory, short-lived
// (default 2 days) and renewed when half its lifetime has passed. Each signer certificate is
// recorded in the store like any issued certificate (profile "ocsp-signer", issued_by
// "clustertls", audited as "cert.sign"), so it is itself `good` to OCSP.
//
// Answers, per CertID:
//   - `good`: a serial the store records for this CA and that is not revoked;
//   - `revoked` with the revocation time and reason;
//   - `unknown`: a serial this CA never issued.
// A request with any CertID naming another issuer (name/key hash mismatch, SHA-1 or SHA-256)
// gets `unauthorized`, and so does a CertID hashed with another algorithm (it decodes, but we
// cannot tell whether it names our issuer: RFC 6960 section 2.3, not authorized to answer);
// one that does not decode (garbage, truncated, empty, trailing bytes, no CertID, or a nonce
// that is empty, longer than 128 octets, repeated or not an OCTET STRING: RFC 9654 section 2.1)
// `malformedRequest`; a store failure `internalError` (never an HTTP error: the HTTP layer
// always answers 200 with an OCSPResponse).
//
// Speed: a request without a nonce is answered from a pre-signed cache keyed by the request's
// bytes, so the steady state never signs. An entry is re-signed once half of its lifetime
// (thisUpdate..nextUpdate, default 1 hour) has passed, and the whole cache is dropped on any
// revocation (Invalidate(), or Refresh() seeing the store's kRevocationCounter move) and on a
// signer renewal. The cache is bounded (entries beyond the bound, and requests over 8 KiB, are
// answered but not kept). While one thread re-signs a stale entry, the others keep serving it
// (it is valid until its nextUpdate). No cached answer is served past its signer's notAfter. A
// request with a nonce (1 to 128 octets) is signed per request, echoing the nonce byte for byte
// (section 4.4.1, RFC 9654 section 2.1); its status is still read from the store.
//
// The signer certificate's CN (and DNS SAN) is "ocsp.<cluster FQDN>" (config kConfigFqdn); its
// validity is signer_validity, cut short to the issuing CA's remaining lifetime.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "authority/cluster.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

struct OcspResponderOptions {
  store::Store* store = nullptr;  // not owned; outlives the responder
  const core::Clock* clock = nullptr;
  core::Rng* rng = nullptr;                                        // thread-safe
  std::chrono::seconds response_validity = std::chrono::hours(1);  // nextUpdate - thisUpdate
  std::chrono::seconds signer_validity = std::chrono::days(2);
  std::size_t max_cache_entries = 100000;
};

struct OcspStats {
  std::uint64_t requests = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t signed_responses = 0;  // responses signed (cache fills and nonce requests)
  std::uint64_t malformed = 0;
  std::uint64_t unauthorized = 0;
  std::uint64_t internal_errors = 0;
  std::uint64_t signer_renewals = 0;
};

class OcspResponder {
 public:
  // Issues and records the first signer certificate before returning. kInvalidArgument for a
  // null pointer or a validity under one minute.
  static core::Result<std::unique_ptr<OcspResponder>> Create(const ClusterCa& ca,
                                                             const OcspResponderOptions& options);
  ~OcspResponder();
  OcspResponder(const OcspResponder&) = delete;
  OcspResponder& operator=(const OcspResponder&) = delete;

  // Answers one DER OCSPRequest with a DER OCSPResponse (successful or an error status; see
  // above). Never fails, never throws. Thread-safe. A cache hit neither parses, reads the store
  // nor signs. If a signature is needed and the signer is past its half-life (no Refresh ran),
  // it renews the signer first (at most one try a minute; the old one signs meanwhile).
  std::string Respond(std::string_view request_der);

  // Drops every cached response (after a revocation through this instance).
  void Invalidate();

  // For the poller: drops the cache if kRevocationCounter moved since the last look, and renews
  // the signer if half of its lifetime has passed (the new one is recorded first; on failure the
  // old one keeps signing while it is valid). Returns an error only if a renewal was needed and
  // failed. If the counter cannot be read, the cache is kept and the next call looks again.
  core::Result<void> Refresh();

  // The current signer certificate (PEM), for tests and `GET /metrics`' expiry gauge.
  std::string SignerCertificatePem() const;
  core::TimePoint SignerNotAfter() const;

  OcspStats stats() const;

 private:
  struct Impl;
  explicit OcspResponder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
