#pragma once

// Creating a cluster (`clustertls init`) and loading its CA for `serve`.
//
// Keys at rest: the root CA key is stored as encrypted PKCS#8 under the root passphrase (given
// or generated and shown once; `serve` never needs it). The issuing CA key and every named
// certificate's key are sealed with the data directory's SealingKey (AES-256-GCM, aad
// "ca:issuing" / "named:<name>"). Nothing private reaches the store unencrypted.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authority/name_policy.h"
#include "authority/secrets.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "store/store.h"

namespace clustertls::authority {

// CaRecord ids.
inline constexpr std::string_view kRootCaId = "root";
inline constexpr std::string_view kIssuingCaId = "issuing";

// The config keys `init` writes into the store.
inline constexpr std::string_view kConfigFqdn = "cluster.fqdn";

struct InitOptions {
  std::string fqdn{};                            // canonicalised and checked (kInvalidName)
  std::optional<std::string> root_passphrase{};  // absent: a random one is generated and returned
  // Names added to the `api` certificate beside Redis' layout, so that clients on this host can
  // check the name they connect to. Defaults: localhost, 127.0.0.1, ::1.
  std::vector<std::string> api_extra_sans = {"localhost", "127.0.0.1", "::1"};
  pki::KeyType key_type = pki::KeyType::kEcP256;
  std::chrono::days root_validity{3650};
  std::chrono::days issuing_validity{1825};
  std::chrono::days named_validity{365};
  std::string admin_user = "admin";
  std::string cluster_name{};  // the CAs' O attribute; default "clustertls <fqdn>"
  // Put into the named certificates (CRL distribution point, AIA OCSP), as `serve` puts them
  // into what it issues; empty: none.
  std::vector<std::string> crl_urls{};
  std::vector<std::string> ocsp_urls{};
};

// What `init` shows once.
struct InitResult {
  std::string root_passphrase{};  // the generated one; empty when the caller gave it
  std::string admin_password{};
  pki::Certificate root;
  pki::Certificate issuing;
};

// Creates the cluster in `store`: root CA, issuing intermediate (path length 0), the named
// certificates of kDefaultNamedCerts (peer profile, CN = fqdn, SANs = RedisSanLayout(fqdn),
// plus api_extra_sans and the crl_urls / ocsp_urls given), the admin user (role admin, generated
// password), the default TLS policy document, config kConfigFqdn, the audit entry "cluster.init",
// then each named certificate's issuance record (profile "peer", issued_by "init") with its
// "cert.sign" entry. Fails with kAlreadyExists if the store already holds a root CA (nothing is
// changed).
core::Result<InitResult> InitializeCluster(store::Store& store, const SealingKey& sealing_key,
                                           const InitOptions& options, const core::Clock& clock,
                                           core::Rng& rng);

// The online part of the cluster CA.
struct ClusterCa {
  pki::Issuer issuing;  // signs everything the API issues (its chain() holds the root)
  pki::Certificate root;
  std::string issuer_id = std::string(kIssuingCaId);
  std::string chain_pem;  // issuing CA first, root last (GET /v1/ca/chain)
};

// Loads "issuing" (key opened with `sealing_key`) and "root" from the store. kNotFound if the
// cluster was never initialised ("run clustertls init first"), kWrongPassphrase if the sealing
// key is not the one the cluster was created with.
core::Result<ClusterCa> LoadClusterCa(store::Store& store, const SealingKey& sealing_key);

// The root CA's certificate from the store, without opening any key (what verifiers of the
// cluster's signatures anchor to). kNotFound if the cluster was never initialised.
core::Result<pki::Certificate> LoadClusterRoot(store::Store& store);

// A named certificate's new version as the store keeps it (version unset): the key sealed with
// aad "named:<name>". kInvalidArgument for a bad name (CheckCertName).
core::Result<store::NamedCert> SealNamedCert(const SealingKey& sealing_key, const std::string& name,
                                             const pki::PrivateKey& key,
                                             const std::string& chain_pem, core::TimePoint now,
                                             const std::string& actor, core::Rng& rng);

// Stores a named certificate's new version: the key sealed with aad "named:<name>".
core::Result<std::int64_t> PutNamedCert(store::Store& store, const SealingKey& sealing_key,
                                        const std::string& name, const pki::PrivateKey& key,
                                        const std::string& chain_pem, core::TimePoint now,
                                        const std::string& actor, core::Rng& rng);

// Adds kControlPlaneUri to `sans` when `name` is "api" (and it is not there yet).
void AddNamedIdentity(std::string_view name, pki::SubjectAltNames& sans);

// The issuance record of a named certificate the cluster CA signed (profile peer, issuer
// "issuing"), and its "cert.sign" audit entry (from `source`; details also {"named": name},
// plus `extra_details`). kParse naming the certificate if `leaf_der` does not parse.
struct NamedRecord {
  store::IssuedCert record;
  store::AuditInput audit;
};
core::Result<NamedRecord> MakeNamedRecord(std::string_view leaf_der, const std::string& name,
                                          core::TimePoint now, const std::string& actor,
                                          const std::string& source,
                                          const nlohmann::ordered_json& extra_details);

// The CRL and OCSP URLs a certificate carries for a public base URL (no trailing '/'): the
// public listener's GET /v1/crl and POST /ocsp (docs/api.md "Public listener").
inline std::string CrlUrlOf(std::string_view base_url) { return std::string(base_url) + "/v1/crl"; }
inline std::string OcspUrlOf(std::string_view base_url) { return std::string(base_url) + "/ocsp"; }

// The leaf of a named certificate's current version.
struct NamedLeaf {
  std::string name;
  pki::Certificate leaf;
};

// The leaf of every named certificate's current version, in the store's order. kParse naming
// the certificate for a stored chain that does not parse.
core::Result<std::vector<NamedLeaf>> ListNamedLeaves(store::Store& store);

// A named certificate that sends relying parties to another server for revocation, and the
// URLs it names (as in the certificate, in order; either list may be empty).
struct NamedUrlMismatch {
  std::string name;
  std::vector<std::string> crl_urls{};
  std::vector<std::string> ocsp_urls{};
};

// The named certificates in use (ListNamedLeaves, in the store's order) that `issuing` signed
// and that carry CRL or OCSP URLs, but whose authorityInfoAccess OCSP URLs (RFC 5280 4.2.2.1)
// lack `<public_url>/ocsp` or whose cRLDistributionPoints (4.2.1.13) lack `<public_url>/v1/crl`,
// compared as the issuer writes URLs (scheme lower-case). Empty if `public_url` is empty.
// Certificates of another CA and ones without URLs are left alone. Fails as ListNamedLeaves.
core::Result<std::vector<NamedUrlMismatch>> NamedCertsNotPointingAt(store::Store& store,
                                                                    const pki::Certificate& issuing,
                                                                    std::string_view public_url);

// Records the named certificates in use that the cluster's issuing CA signed but the store holds
// no issuance record of (data directories made before `init` recorded them), each with a
// "cert.sign" audit entry (actor "serve", details "named" and "recorded_late": true), so that
// OCSP answers for them and one can be revoked by serial. A certificate another CA signed is
// left alone; one another instance records at the same moment counts as recorded. Returns the
// names recorded now.
core::Result<std::vector<std::string>> RecordUnrecordedNamedCerts(store::Store& store,
                                                                  const ClusterCa& ca,
                                                                  const core::Clock& clock);

// A stored named certificate, opened.
struct OpenedNamedCert {
  std::string name;
  std::int64_t version = 0;
  pki::PrivateKey key;
  std::vector<pki::Certificate> chain;  // leaf first
};

// The current version of `name` with its key unsealed. kNotFound / kWrongPassphrase.
core::Result<OpenedNamedCert> GetNamedCert(store::Store& store, const SealingKey& sealing_key,
                                           const std::string& name);

}  // namespace clustertls::authority
