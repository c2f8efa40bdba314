#pragma once

// Revoking certificates of the issuing CA (`POST /v1/certificates/{serial}/revoke`,
// `POST /v1/certificates/revoke`, `clustertls revoke`), and keeping what the CA publishes
// about revocation current: after a revocation the CrlPublisher regenerates and the
// OcspResponder drops its cache before the call returns, so the very next CRL download or OCSP
// request shows it. Other instances on the same database learn of it from the store's
// kRevocationCounter (Refresh(), called by the server's poller).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authority/cluster.h"
#include "authority/crl_publisher.h"
#include "authority/ocsp_responder.h"
#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

struct RevocationOptions {
  store::Store* store = nullptr;  // not owned; all of these outlive the Revocation
  const core::Clock* clock = nullptr;
  CrlPublisher* crl = nullptr;       // may be null: then no CRL is kept current
  OcspResponder* ocsp = nullptr;     // may be null: then no OCSP cache is dropped
  std::size_t max_selected = 10000;  // a selector matching more is refused (kInvalidArgument)
};

// Who revokes, for the audit log.
struct RevokeBy {
  std::string actor;
  std::string source;
};

// The outcome of one revocation.
struct RevokeOutcome {
  store::IssuedCert cert;      // the record after the call (revoked_at, reason set)
  bool newly_revoked = false;  // false: it was already revoked (idempotent; first time/reason kept)
  // The named certificate ("api", "proxy", ...) it is the current version of, "" if none: the
  // cluster still presents it until it is replaced, which the caller should say.
  std::string named{};
};

// "One of our nodes was compromised": which certificates to revoke. Every given field must
// match; at least one must be given. Only certificates of the issuing CA that are neither
// revoked nor expired are selected, and never the cluster's own (the named certificates in use
// and the OCSP signer): those are revoked by serial, one at a time, on purpose.
// The longest name or SAN a selector (or an inventory filter) may give: DNS names are at most 253
// characters, URIs and e-mail addresses well under this.
inline constexpr std::size_t kMaxSelectorLength = 1024;

struct RevocationSelector {
  std::string name{};  // the subject CN, exactly (case-insensitive)
  std::string san{};   // one SAN, exactly (case-insensitive): "DNS:node1.example.com",
                       // "IP:10.0.0.5", or a bare DNS name or IP address
  std::optional<core::TimePoint> issued_before{};
};

// The reason as Revoke stores it: the canonical RFC 5280 section 5.3.1 name (case-insensitive;
// "" -> "unspecified"), or kInvalidArgument as Revoke refuses it (an unknown name, naming the
// accepted ones, or removeFromCRL). For checking a request before a dry run.
core::Result<std::string> CanonicalRevocationReason(const std::string& reason);

class Revocation {
 public:
  // kInvalidArgument for a null store or clock.
  static core::Result<std::unique_ptr<Revocation>> Create(const ClusterCa& ca,
                                                          const RevocationOptions& options);
  ~Revocation();
  Revocation(const Revocation&) = delete;
  Revocation& operator=(const Revocation&) = delete;

  // Revokes one certificate with an RFC 5280 reason name (pki::ParseRevocationReason; empty:
  // "unspecified"), recording it and its "cert.revoke" audit entry (target: the serial; details:
  // reason, subject) in one transaction, then regenerates the CRL and drops the OCSP cache.
  // Errors: kInvalidArgument (malformed serial or unknown reason, naming it; also the serial of
  // a CA certificate, the issuing or root CA: "... is the issuing CA's own certificate; this
  // endpoint revokes leaf certificates", and a record another CA issued); kNotFound for a
  // serial this CA never issued. Idempotent: revoking
  // again succeeds with newly_revoked = false and changes nothing.
  // The serial may be any case, with ':' between bytes and leading zeros ("0a:1b" = "0A1B").
  // removeFromCRL is refused (RFC 5280 5.3.1: delta CRLs only; in a full CRL it would un-revoke).
  // The stored reason is the canonical name ("KEYCOMPROMISE" -> "keyCompromise").
  core::Result<RevokeOutcome> Revoke(const std::string& serial_hex, const std::string& reason,
                                     const RevokeBy& by);

  // The certificates `selector` matches, oldest first (the --dry-run listing). kInvalidArgument
  // for an empty selector or more than max_selected matches.
  core::Result<std::vector<store::IssuedCert>> Select(const RevocationSelector& selector);

  // Select, then revokes them all in one store transaction (one audit entry each; all or none:
  // on failure nothing is revoked and the error says so), then regenerates the CRL once.
  // Returns the outcomes in the same order.
  core::Result<std::vector<RevokeOutcome>> RevokeSelected(const RevocationSelector& selector,
                                                          const std::string& reason,
                                                          const RevokeBy& by);

  // For the poller: CrlPublisher::Refresh() and OcspResponder::Refresh().
  core::Result<void> Refresh();

 private:
  struct Impl;
  explicit Revocation(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
