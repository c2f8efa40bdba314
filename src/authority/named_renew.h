#pragma once

// Renewing a named cluster certificate (`cm`, `api`, ...) from the cluster CA: a new key and a
// new certificate with the same names, the current CRL/OCSP URLs, recorded like any other
// issuance, stored as the name's next version. What an operator does after the key leaked (then
// revokes the old serial) or after the public URL moved; no key ever leaves the server.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "authority/cluster.h"
#include "authority/secrets.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "store/store.h"

namespace clustertls::authority {

// What to renew and how.
struct RenewNamedRequest {
  std::string name;
  std::chrono::days validity{365};
  // The new key's type; unset: the same type as the current certificate's key (EC P-256 if it
  // is of a type clustertls does not generate).
  std::optional<pki::KeyType> key_type{};
  std::vector<std::string> crl_urls{};   // written into the new certificate
  std::vector<std::string> ocsp_urls{};  // idem
  // Names the new certificate carries beside the current one's: for `api`, the names the
  // control plane is reached by (its reserved names), so that a renewal repairs an `api`
  // certificate replaced by one that does not name the listen address.
  pki::SubjectAltNames add_sans{};
  // Refuse (kInvalidArgument, nothing changed) if the current certificate was not signed by
  // the cluster CA: the caller means to revoke it next, and only this CA's can be.
  bool require_previous_ours = false;
  std::string actor;   // who renews (records and audit)
  std::string source;  // where the request came from (audit)
};

// What a renewal made.
struct RenewedNamedCert {
  std::string name;
  std::int64_t version = 0;  // the name's new version
  pki::Certificate leaf;     // the new certificate
  std::string chain_pem;     // leaf, issuing CA, root
  std::string previous_serial;
  // The previous certificate was signed by this cluster CA (so this CA can revoke it).
  bool previous_ours = false;
};

// Renews `request.name`: generates a key, issues a certificate (profile peer) with the current
// certificate's subject CN and SANs (plus `request.add_sans`) from `ca`, records it and its
// "cert.sign" audit entry (details also "named" and "renews": the previous serial) in one
// transaction, then stores it with the sealed key as the name's next version. kNotFound
// ("certificate "x": no such name") for a name with no certificate; kInvalidArgument for a bad name
// or validity; kExpired if the validity would outlive the issuing CA (nothing is recorded then). If
// storing the new version fails after the record committed, the error says so and names the
// recorded serial (nothing uses it; it can be revoked). The new version commits with its
// "named_cert.renew" audit entry (NamedVersionDetails and previous_serial) in one transaction.
core::Result<RenewedNamedCert> RenewNamedCert(store::Store& store, const SealingKey& sealing_key,
                                              const ClusterCa& ca, const RenewNamedRequest& request,
                                              const core::Clock& clock, core::Rng& rng);

}  // namespace clustertls::authority
