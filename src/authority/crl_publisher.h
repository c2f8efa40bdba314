#pragma once

// The issuing CA's full CRL (RFC 5280 section 5), kept current for `GET /v1/crl`.
//
// Each generation takes the next CRL number from the store's counter "crl:<issuer_id>" (strictly
// increasing across restarts and across every instance sharing the database, section 5.2.3),
// lists the revoked, not yet expired certificates (Store::ForEachRevoked: a revoked certificate
// stays listed until it has expired, and only then drops out), and signs with
// pki::BuildCrl. The CRL is regenerated:
//   - after every revocation through this instance (Regenerate());
//   - when Refresh() sees that the store's kRevocationCounter moved (another instance revoked);
//   - when Refresh() runs after half of the current CRL's lifetime has passed, so a published CRL
//     never lapses (nextUpdate = thisUpdate + validity, default 7 days).
// Readers get an immutable snapshot (shared_ptr); a failed generation keeps the previous CRL.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "authority/cluster.h"
#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

struct CrlPublisherOptions {
  store::Store* store = nullptr;  // not owned; outlives the publisher
  const core::Clock* clock = nullptr;
  std::chrono::seconds validity = std::chrono::days(7);  // nextUpdate - thisUpdate
};

// One generated CRL.
struct PublishedCrl {
  std::string der;  // GET /v1/crl (application/pkix-crl)
  std::string pem;  // GET /v1/crl.pem ("-----BEGIN X509 CRL-----")
  std::int64_t number = 0;  // the cRLNumber extension
  core::TimePoint this_update{};
  core::TimePoint next_update{};
  std::size_t entries = 0;
  std::int64_t revocation_counter = 0;  // kRevocationCounter's value read before listing
};

class CrlPublisher {
 public:
  // Generates the first CRL before returning (an error if that fails: kInvalidArgument for a
  // null pointer or a validity under one hour, the store's or the signer's error otherwise).
  static core::Result<std::unique_ptr<CrlPublisher>> Create(const ClusterCa& ca,
                                                            const CrlPublisherOptions& options);
  ~CrlPublisher();
  CrlPublisher(const CrlPublisher&) = delete;
  CrlPublisher& operator=(const CrlPublisher&) = delete;

  // The current CRL. Never null. Thread-safe, lock-free for readers apart from the pointer copy.
  std::shared_ptr<const PublishedCrl> Current() const;

  // Generates a new CRL now (serialised: concurrent calls generate one after the other). On
  // failure the previous CRL stays current. A call that waited while another generation ran
  // may return a CRL generated after it began by a concurrent call instead of generating again
  // (its content is as new: it read the store after this call began).
  core::Result<std::shared_ptr<const PublishedCrl>> Regenerate();

  // Regenerates if kRevocationCounter differs from the current CRL's, or if half of the current
  // CRL's lifetime has passed at clock->Now(), or if the last generation failed (a retry).
  // Returns true if it regenerated. For the poller.
  core::Result<bool> Refresh();

 private:
  struct Impl;
  explicit CrlPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
