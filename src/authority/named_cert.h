#pragma once

// Validation of a named cluster certificate (`cm`, `api`, `proxy`, `syncer`, `metrics` or any
// other name) before it is stored: what Redis Enterprise's `update_cert` promises, checked.
// A refused update changes nothing, so the caller stores only what this returns.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "authority/audited.h"
#include "authority/secrets.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "store/store.h"

namespace clustertls::authority {

// The certificate names `init` creates, in order.
inline constexpr std::string_view kDefaultNamedCerts[] = {"cm", "api", "proxy", "syncer",
                                                          "metrics"};

// Checks a certificate name: 1-64 characters of [a-z0-9_-], starting with a letter or digit.
// kInvalidArgument ("certificate name "X": ...").
core::Result<void> CheckCertName(std::string_view name);

// True for the names whose certificate must cover the cluster FQDN: cm, api and proxy.
bool NameMustCoverFqdn(std::string_view name);

// The TLS roles a named certificate plays, which decide the extendedKeyUsage it needs.
enum class NamedCertRole {
  kServer,           // presented by a TLS server only
  kServerAndClient,  // presented by a server and also when connecting out as a client
  kClient,           // presented by a TLS client only
  kAny,              // a custom name: either role
};

// The role of each Redis Enterprise certificate name (redis.io "Certificates" table):
// - kServer: api (REST API), cm (Cluster Manager UI), metrics_exporter (and this project's
//   "metrics"), served by TLS listeners;
// - kServerAndClient: proxy (clients connect to it, and it connects to other clusters' proxies
//   as a client), syncer (Replica Of / Active-Active: it connects out to the source's proxy),
//   ccs_internode_encryption and data_internode_encryption (mutual TLS between nodes);
// - kClient: ldap_client (presented to the LDAP server);
// - kAny: every other name.
NamedCertRole RoleOf(std::string_view name);

// "serverAuth", "serverAuth and clientAuth", "clientAuth", "serverAuth or clientAuth".
std::string RequiredPurposes(NamedCertRole role);

// Checks that `leaf` can do what the certificate `name` is used for in TLS (RFC 5280 4.2.1.3
// and 4.2.1.12, as OpenSSL's peers check them), each failure kInvalidArgument naming the name,
// what the extension holds and what is required:
// - extendedKeyUsage, if present, holds the purposes RequiredPurposes(RoleOf(name)) names
//   (anyExtendedKeyUsage does not stand in for them: OpenSSL refuses a TLS peer whose EKU holds
//   only it); an absent EKU allows every purpose (RFC 5280 4.2.1.12);
// - keyUsage, if present, holds digitalSignature (TLS 1.3 and ECDHE sign with the key, for
//   every key type; keyEncipherment alone serves only the RSA key exchange, which clustertls'
//   TLS policy does not offer), and neither keyCertSign nor cRLSign (a leaf signs no
//   certificate or CRL);
// - either extension malformed or repeated: kParse.
core::Result<void> CheckNamedCertUsage(std::string_view name, const pki::Certificate& leaf);

// Redis' SAN layout for `fqdn`: fqdn, *.fqdn, internal.fqdn, *.internal.fqdn (as DNS names).
std::vector<std::string> RedisSanLayout(std::string_view fqdn);

// What an update brings (the JSON fields of PUT /v1/cluster/update_cert).
struct NamedCertInput {
  std::string name;
  std::string key_pem;  // the private key (unencrypted PEM, any form PrivateKey::Parse takes)
  std::string certificate_pem;  // the leaf, optionally followed by its chain
};

// What the check needs to know about the cluster.
struct NamedCertRules {
  std::string fqdn;
  // The cluster CA chain: the issuing CA first, the root last. Used to complete a chain that
  // stops before the root.
  std::vector<pki::Certificate> cluster_chain;
  core::TimePoint now{};
};

// A certificate that passed every check.
struct ValidatedNamedCert {
  std::string name;
  pki::PrivateKey key;
  std::vector<pki::Certificate> chain;  // leaf, intermediate(s), root: complete
  std::string chain_pem;                // the same, as PEM
};

// Checks, in this order, and reports the first failure as one line naming the field:
// - name: CheckCertName (kInvalidArgument);
// - "certificate": PEM parses, at least one certificate (kParse);
// - "key": parses, is acceptable (kParse / kWeakKey / kWrongPassphrase if encrypted);
// - key matches the first certificate (kKeyMismatch);
// - the first certificate is not a CA (basicConstraints CA:TRUE; kInvalidArgument);
// - its key usages fit the name's TLS role: CheckNamedCertUsage (kInvalidArgument / kParse);
// - order: each certificate is signed by the next (kChainIncomplete saying which link is wrong,
//   e.g. "certificate 2 (CN=...) did not issue certificate 1 (CN=...): expected leaf ->
//   intermediate -> root");
// - completion: if the last certificate is not self-signed, the missing issuers are appended
//   from `rules.cluster_chain`; kChainIncomplete if they cannot be found there;
// - the root is self-signed and its signature verifies (kChainIncomplete);
// - every certificate is valid at `rules.now` (kExpired naming which and when);
// - for cm/api/proxy, the leaf's DNS SANs (or wildcards) cover `rules.fqdn` (kInvalidName).
core::Result<ValidatedNamedCert> ValidateNamedCert(const NamedCertInput& input,
                                                   const NamedCertRules& rules);

// What a valid `api` or `cm` certificate may still get wrong for the people who connect to it.
struct NamedCertWarningRules {
  // The cluster CA chain (issuing CA first, root last): a chain that does not end at its root is
  // not trusted by clients that pinned the root (`clustertls login`, curl --cacert root.pem).
  std::vector<pki::Certificate> cluster_chain;
  // The hosts clients reach the API by besides the FQDN (the listen address when it is not a
  // wildcard such as 0.0.0.0); empty entries are skipped.
  std::vector<std::string> api_hosts;
};

// One line each, for the update's answer (empty for every other name, and when all is well):
// - api, cm: the chain ends at another root than the cluster's;
// - api: a host of `rules.api_hosts` the leaf does not cover (DNS or IP SAN);
// - api: the leaf lacks kControlPlaneUri, so `clustertls login` accepts the server only when
//   pinned to this leaf, whose fingerprint the line gives.
std::vector<std::string> NamedCertWarnings(const ValidatedNamedCert& cert,
                                           const NamedCertWarningRules& rules);

// The audit details of a named certificate's new version (named_cert.update, .renew): version,
// serial, subject, not_after and fingerprint_sha256 of `leaf`.
nlohmann::json NamedVersionDetails(std::int64_t version, const pki::Certificate& leaf);

// Stores each of `certs` (from ValidateNamedCert), in order, as its name's next version (the
// key sealed, created_by `by.actor`), each with its "named_cert.update" audit entry
// (NamedVersionDetails), all in ONE transaction: all are stored or none. Returns the versions in
// the same order.
core::Result<std::vector<std::int64_t>> StoreNamedCerts(
    store::Store& store, const SealingKey& sealing_key,
    const std::vector<ValidatedNamedCert>& certs, const ChangeBy& by, const core::Clock& clock,
    core::Rng& rng);

// Deletes every version of `name` with its "named_cert.delete" audit entry in one transaction.
// kConflict for "api" (the control plane presents it: replace it instead); kNotFound
// ("certificate "x": no such name").
core::Result<void> DeleteNamedCert(store::Store& store, const std::string& name, const ChangeBy& by,
                                   const core::Clock& clock);

}  // namespace clustertls::authority
