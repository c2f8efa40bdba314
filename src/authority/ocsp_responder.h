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
// gets `unauthorized`; a malformed one `malformedRequest`; a store failure `internalError`
// (never an HTTP error: the HTTP layer always answers 200 with an OCSPResponse).
//
// Speed: a request without a nonce is answered from a pre-signed cache keyed by the request's
// bytes, so the steady state never signs. An entry is re-signed once half of its lifetime
// (thisUpdate..nextUpdate, default 1 hour) has passed, and the whole cache is dropped on any
// revocation (Invalidate(), or Refresh() seeing the store's kRevocationCounter move) and on a
// signer renewal. The cache is bounded (entries beyond the bound are answered but not kept).
// A request with a nonce is signed per request, echoing the nonce (section 4.4.1).

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
  core::Rng* rng = nullptr;  // thread-safe
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
  // above). Never fails, never throws. Thread-safe.
  std::string Respond(std::string_view request_der);

  // Drops every cached response (after a revocation through this instance).
  void Invalidate();

  // For the poller: drops the cache if kRevocationCounter moved since the last look, and renews
  // the signer if half of its lifetime has passed (the new one is recorded first; on failure the
  // old one keeps signing while it is valid). Returns an error only if a renewal was needed and
  // failed.
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
