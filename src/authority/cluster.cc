#include "authority/cluster.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "authority/cert_summary.h"
#include "authority/named_cert.h"
#include "authority/root_crl.h"
#include "pki/names.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;

// The TLS <= 1.2 cipher list of net::kIntermediateCipherList (Mozilla "intermediate" v5.7),
// copied because authority/ may not include net/ (docs/architecture.md, layers). The server
// validates the policy document against OpenSSL before it applies it.
constexpr std::string_view kDefaultCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
// RFC 8446 section 9.1 suites, as OpenSSL enables them by default.
constexpr std::string_view kDefaultTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// Who `init` acts as in the store's created_by/updated_by fields and the audit log.
constexpr std::string_view kInitActor = "init";

constexpr std::string_view kIssuingAad = "ca:issuing";

std::string NamedAad(std::string_view name) { return "named:" + std::string(name); }

// Overwrites a string that held key material before it is freed.
class Wiped {
 public:
  explicit Wiped(std::string s) : s_(std::move(s)) {}
  ~Wiped() { OPENSSL_cleanse(s_.data(), s_.size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  const std::string& get() const { return s_; }

 private:
  std::string s_;
};

store::Blob ToBlob(std::string_view s) { return store::Blob(s.begin(), s.end()); }

// The default policy document (the fields of server/cluster_policy.h, every one set).
std::string DefaultPolicyJson() {
  nlohmann::ordered_json doc = {
      {"min_control_tls_version", "1.2"},
      {"min_data_tls_version", "1.2"},
      {"cipher_suites", std::string(kDefaultCipherList)},
      {"tls13_ciphersuites", std::string(kDefaultTls13Suites)},
      {"client_auth", "none"},
  };
  return doc.dump();
}

// Adds each extra name to `sans` as an IP or a DNS name (canonicalised; kInvalidName).
core::Result<void> AddExtraSans(const std::vector<std::string>& extra, pki::SubjectAltNames& sans) {
  for (const std::string& name : extra) {
    if (pki::IsIpAddress(name)) {
      CTLS_ASSIGN_OR_RETURN(std::string ip, pki::CanonicalIp(name));
      sans.ips.push_back(std::move(ip));
    } else {
      auto dns = pki::CanonicalDnsName(name);
      if (!dns) {
        return dns.error().WithContext("api_extra_sans");
      }
      sans.dns.push_back(*std::move(dns));
    }
  }
  return {};
}

core::Result<void> CheckValidity(std::chrono::days days, std::string_view field) {
  if (days.count() < 1) {
    return Fail(ErrorCode::kInvalidArgument, std::string(field) + ": must be at least 1 day (got " +
                                                 std::to_string(days.count()) + ")");
  }
  return {};
}

// A certificate prepared by InitializeCluster, not yet stored.
struct PreparedNamed {
  std::string name;
  pki::PrivateKey key;
  std::string chain_pem;
  std::string leaf_der;
};

core::Result<store::CaRecord> GetCaRecord(store::Store& store, std::string_view id) {
  auto record = store.GetCa(std::string(id));
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "the store holds no cluster CA (\"" + std::string(id) +
                                            "\"): run clustertls init first");
    }
    return record.error().WithContext("reading CA \"" + std::string(id) + "\"");
  }
  return record;
}

// Opens a sealed private key: kWrongPassphrase names what could not be opened.
core::Result<pki::PrivateKey> OpenSealedKey(const SealingKey& sealing_key, const store::Blob& blob,
                                            std::string_view aad, std::string_view what) {
  auto opened = sealing_key.Open(blob, aad);
  if (!opened) {
    if (opened.error().code == ErrorCode::kWrongPassphrase) {
      return Fail(ErrorCode::kWrongPassphrase,
                  "the sealing key does not open " + std::string(what) +
                      ": it is not the key this cluster was created with (or the record was "
                      "tampered with)");
    }
    return opened.error().WithContext(std::string(what));
  }
  Wiped pem(*std::move(opened));
  auto key = pki::PrivateKey::Parse(pem.get());
  if (!key) {
    return key.error().WithContext(std::string(what));
  }
  return key;
}

}  // namespace

void AddNamedIdentity(std::string_view name, pki::SubjectAltNames& sans) {
  if (name == "api" &&
      std::find(sans.uris.begin(), sans.uris.end(), kControlPlaneUri) == sans.uris.end()) {
    sans.uris.emplace_back(kControlPlaneUri);
  }
}

core::Result<NamedRecord> MakeNamedRecord(std::string_view leaf_der, const std::string& name,
                                          core::TimePoint now, const std::string& actor,
                                          const std::string& source,
                                          const nlohmann::ordered_json& extra_details) {
  auto record = IssuedRecordFromDer(leaf_der, std::string(kIssuingCaId),
                                    pki::ProfileName(pki::Profile::kPeer), now, actor);
  if (!record) {
    return record.error().WithContext("named certificate \"" + name + "\"");
  }
  nlohmann::ordered_json extra = {{"named", name}};
  extra.update(extra_details);
  store::AuditInput audit = CertSignAudit(*record, actor, source, extra);
  return NamedRecord{.record = *std::move(record), .audit = std::move(audit)};
}

core::Result<InitResult> InitializeCluster(store::Store& store, const SealingKey& sealing_key,
                                           const InitOptions& options, const core::Clock& clock,
                                           core::Rng& rng) {
  // --- check the options (nothing touched yet) ---
  auto fqdn_result = pki::CanonicalDnsName(options.fqdn, /*allow_wildcard=*/false);
  if (!fqdn_result) {
    return fqdn_result.error().WithContext("fqdn");
  }
  const std::string fqdn = *std::move(fqdn_result);
  CTLS_RETURN_IF_ERROR(CheckValidity(options.root_validity, "root_validity"));
  CTLS_RETURN_IF_ERROR(CheckValidity(options.issuing_validity, "issuing_validity"));
  CTLS_RETURN_IF_ERROR(CheckValidity(options.named_validity, "named_validity"));
  if (options.root_passphrase && options.root_passphrase->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "root passphrase: must not be empty");
  }
  if (options.admin_user.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "admin_user: must not be empty");
  }
  auto existing = store.GetCa(std::string(kRootCaId));
  if (existing) {
    return Fail(ErrorCode::kAlreadyExists,
                "the store already holds a cluster (its root CA exists): nothing was changed");
  }
  if (existing.error().code != ErrorCode::kNotFound) {
    return existing.error().WithContext("checking the store for an existing cluster");
  }

  // --- make every key and certificate first, so only a store write can fail half-way ---
  const core::TimePoint now = clock.Now();
  const std::string org =
      options.cluster_name.empty() ? "clustertls " + fqdn : options.cluster_name;
  const pki::SubjectAttributes subject_extra = {{"O", org}};

  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey root_key, pki::PrivateKey::Generate(options.key_type));
  CTLS_ASSIGN_OR_RETURN(pki::Certificate root,
                        pki::SelfSign(root_key,
                                      pki::IssueRequest{.profile = pki::Profile::kRootCa,
                                                        .common_name = "clustertls Root CA",
                                                        .subject_extra = subject_extra,
                                                        .validity = options.root_validity},
                                      now, rng));
  CTLS_ASSIGN_OR_RETURN(pki::Issuer root_issuer, pki::Issuer::Create(root, root_key));

  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey issuing_key, pki::PrivateKey::Generate(options.key_type));
  auto issuing_result =
      root_issuer.Issue(pki::IssueRequest{.profile = pki::Profile::kIntermediateCa,
                                          .common_name = "clustertls Issuing CA",
                                          .subject_extra = subject_extra,
                                          .validity = options.issuing_validity,
                                          .path_len = 0},
                        issuing_key.public_key(), now, rng);
  if (!issuing_result) {
    return issuing_result.error().WithContext("issuing CA");
  }
  pki::Certificate issuing = *std::move(issuing_result);
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, pki::Issuer::Create(issuing, issuing_key, {root}));
  const std::string ca_chain_pem = issuing.ToPem() + root.ToPem();

  std::vector<PreparedNamed> named;
  for (std::string_view name : kDefaultNamedCerts) {
    pki::IssueRequest request{
        .profile = pki::Profile::kPeer, .common_name = fqdn, .validity = options.named_validity};
    request.sans.dns = RedisSanLayout(fqdn);
    request.crl_urls = options.crl_urls;
    request.ocsp_urls = options.ocsp_urls;
    AddNamedIdentity(name, request.sans);
    if (name == "api") {
      CTLS_RETURN_IF_ERROR(AddExtraSans(options.api_extra_sans, request.sans));
    }
    CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(options.key_type));
    auto cert = issuer.Issue(request, key.public_key(), now, rng);
    if (!cert) {
      return cert.error().WithContext("certificate \"" + std::string(name) + "\"");
    }
    named.push_back(PreparedNamed{.name = std::string(name),
                                  .key = std::move(key),
                                  .chain_pem = cert->ToPem() + ca_chain_pem,
                                  .leaf_der = cert->ToDer()});
  }

  InitResult result{.root_passphrase = "", .admin_password = "", .root = root, .issuing = issuing};
  std::string passphrase;
  if (options.root_passphrase) {
    passphrase = *options.root_passphrase;
  } else {
    CTLS_ASSIGN_OR_RETURN(passphrase, GeneratePassword(rng));
    result.root_passphrase = passphrase;
  }
  Wiped passphrase_wiped(std::move(passphrase));
  CTLS_ASSIGN_OR_RETURN(std::string root_key_pem, root_key.ToPem(passphrase_wiped.get()));
  CTLS_ASSIGN_OR_RETURN(std::string issuing_pem_raw, issuing_key.ToPem());
  Wiped issuing_pem(std::move(issuing_pem_raw));
  CTLS_ASSIGN_OR_RETURN(store::Blob issuing_blob,
                        sealing_key.Seal(issuing_pem.get(), kIssuingAad, rng));

  CTLS_ASSIGN_OR_RETURN(result.admin_password, GeneratePassword(rng));
  CTLS_ASSIGN_OR_RETURN(std::string admin_hash, HashPassword(result.admin_password, rng));

  // --- store: the root first, as the claim (PutCa refuses a second root) ---
  auto stored = [](core::Result<void> r, std::string_view what) -> core::Result<void> {
    if (!r) {
      return r.error().WithContext("storing " + std::string(what));
    }
    return {};
  };
  CTLS_RETURN_IF_ERROR(stored(store.PutCa(store::CaRecord{.id = std::string(kRootCaId),
                                                          .chain_pem = root.ToPem(),
                                                          .encrypted_key = ToBlob(root_key_pem),
                                                          .created_at = now}),
                              "the root CA"));
  CTLS_RETURN_IF_ERROR(stored(store.PutCa(store::CaRecord{.id = std::string(kIssuingCaId),
                                                          .chain_pem = ca_chain_pem,
                                                          .encrypted_key = issuing_blob,
                                                          .created_at = now}),
                              "the issuing CA"));
  for (const PreparedNamed& n : named) {
    auto version = PutNamedCert(store, sealing_key, n.name, n.key, n.chain_pem, now,
                                std::string(kInitActor), rng);
    if (!version) {
      return version.error().WithContext("storing certificate \"" + n.name + "\"");
    }
  }
  CTLS_RETURN_IF_ERROR(stored(store.CreateUser(store::User{.name = options.admin_user,
                                                           .role = "admin",
                                                           .password_hash = admin_hash,
                                                           .created_at = now}),
                              "the admin user"));
  auto policy = store.PutPolicy(
      store::PolicyDoc{
          .json = DefaultPolicyJson(), .updated_at = now, .updated_by = std::string(kInitActor)},
      /*expected_version=*/0);
  if (!policy) {
    return policy.error().WithContext("storing the TLS policy");
  }
  CTLS_RETURN_IF_ERROR(stored(store.SetConfig(std::string(kConfigFqdn), fqdn), "the cluster FQDN"));

  // The root's CRL, signed now: after init the root key is offline (root_crl.h). Recorded in
  // the cluster.init entry below.
  auto root_crl = SignRootCrl(store, root, root_key, {.audit = false}, clock);
  if (!root_crl) {
    return root_crl.error().WithContext("signing the root CA's CRL");
  }
  nlohmann::ordered_json details = {
      {"fqdn", fqdn},
      {"root_sha256", root.fingerprint().colon},
      {"issuing_sha256", issuing.fingerprint().colon},
      {"admin_user", options.admin_user},
      {"root_crl_number", root_crl->number},
      {"root_crl_next_update", core::FormatTime(root_crl->next_update)},
  };
  auto audit = store.AppendAudit(store::AuditInput{.time = now,
                                                   .actor = std::string(kInitActor),
                                                   .action = "cluster.init",
                                                   .target = fqdn,
                                                   .source = "local",
                                                   .details_json = details.dump()},
                                 AuditHash);
  if (!audit) {
    return audit.error().WithContext("appending the audit entry");
  }
  // The named certificates were issued by the cluster CA like any other: recorded, each with a
  // "cert.sign" entry after "cluster.init" (which opens the log), so that OCSP answers for
  // them, the inventory lists them and one can be revoked by serial (selectors skip the ones
  // in use: revocation.h).
  std::vector<store::IssuedCert> records;
  std::vector<store::AuditInput> sign_audits;
  for (const PreparedNamed& n : named) {
    CTLS_ASSIGN_OR_RETURN(NamedRecord made,
                          MakeNamedRecord(n.leaf_der, n.name, now, std::string(kInitActor), "local",
                                          nlohmann::ordered_json::object()));
    records.push_back(std::move(made.record));
    sign_audits.push_back(std::move(made.audit));
  }
  if (auto r = store.RecordIssuedAudited(records, sign_audits, AuditHash); !r) {
    return r.error().WithContext("recording the named certificates");
  }
  return result;
}

core::Result<std::vector<NamedLeaf>> ListNamedLeaves(store::Store& store) {
  CTLS_ASSIGN_OR_RETURN(std::vector<store::NamedCert> named, store.ListNamedCerts());
  std::vector<NamedLeaf> leaves;
  leaves.reserve(named.size());
  for (const store::NamedCert& n : named) {
    auto leaf = pki::Certificate::FromPem(n.chain_pem);
    if (!leaf) {
      return leaf.error().WithContext("named certificate \"" + n.name + "\"");
    }
    leaves.push_back(NamedLeaf{.name = n.name, .leaf = *std::move(leaf)});
  }
  return leaves;
}

core::Result<std::vector<NamedUrlMismatch>> NamedCertsNotPointingAt(store::Store& store,
                                                                    const pki::Certificate& issuing,
                                                                    std::string_view public_url) {
  std::vector<NamedUrlMismatch> out;
  if (public_url.empty()) {
    return out;
  }
  // The form the issuer writes (pki::CanonicalUri); a URL it refuses matches nothing written.
  auto canonical = [](std::string url) {
    auto c = pki::CanonicalUri(url);
    return c ? *std::move(c) : url;
  };
  const std::string crl = canonical(CrlUrlOf(public_url));
  const std::string ocsp = canonical(OcspUrlOf(public_url));
  auto has = [](const std::vector<std::string>& urls, const std::string& url) {
    return std::find(urls.begin(), urls.end(), url) != urls.end();
  };
  CTLS_ASSIGN_OR_RETURN(std::vector<NamedLeaf> named, ListNamedLeaves(store));
  for (NamedLeaf& n : named) {
    NamedUrlMismatch m{
        .name = std::move(n.name), .crl_urls = n.leaf.crl_urls(), .ocsp_urls = n.leaf.ocsp_urls()};
    if (m.crl_urls.empty() && m.ocsp_urls.empty()) {
      continue;  // names no revocation service: nothing to point elsewhere
    }
    if (has(m.crl_urls, crl) && has(m.ocsp_urls, ocsp)) {
      continue;
    }
    if (!n.leaf.IsSignedBy(issuing)) {
      continue;  // another CA's: its URLs are that CA's business
    }
    out.push_back(std::move(m));
  }
  return out;
}

core::Result<std::vector<std::string>> RecordUnrecordedNamedCerts(store::Store& store,
                                                                  const ClusterCa& ca,
                                                                  const core::Clock& clock) {
  CTLS_ASSIGN_OR_RETURN(std::vector<NamedLeaf> named, ListNamedLeaves(store));
  const pki::Certificate& issuing = ca.issuing.certificate();
  std::vector<std::string> recorded;
  for (const NamedLeaf& n : named) {
    if (!n.leaf.IsSignedBy(issuing)) {
      continue;  // another CA's: not ours to record or revoke
    }
    auto existing = store.GetIssued(n.leaf.serial_hex());
    if (existing) {
      continue;
    }
    if (existing.error().code != ErrorCode::kNotFound) {
      return existing.error().WithContext("named certificate \"" + n.name + "\"");
    }
    CTLS_ASSIGN_OR_RETURN(NamedRecord made,
                          MakeNamedRecord(n.leaf.ToDer(), n.name, clock.Now(), "serve", "local",
                                          {{"recorded_late", true}}));
    auto stored =
        store.RecordIssuedAudited(std::span<const store::IssuedCert>(&made.record, 1),
                                  std::span<const store::AuditInput>(&made.audit, 1), AuditHash);
    if (!stored) {
      if (stored.error().code == ErrorCode::kAlreadyExists) {
        continue;  // another instance recorded it first
      }
      return stored.error().WithContext("recording named certificate \"" + n.name + "\"");
    }
    recorded.push_back(n.name);
  }
  return recorded;
}

core::Result<pki::Certificate> LoadClusterRoot(store::Store& store) {
  CTLS_ASSIGN_OR_RETURN(store::CaRecord root_record, GetCaRecord(store, kRootCaId));
  auto root = pki::Certificate::FromPem(root_record.chain_pem);
  if (!root) {
    return root.error().WithContext("stored root CA certificate");
  }
  return root;
}

core::Result<ClusterCa> LoadClusterCa(store::Store& store, const SealingKey& sealing_key) {
  CTLS_ASSIGN_OR_RETURN(store::CaRecord root_record, GetCaRecord(store, kRootCaId));
  CTLS_ASSIGN_OR_RETURN(store::CaRecord issuing_record, GetCaRecord(store, kIssuingCaId));

  auto root = pki::Certificate::FromPem(root_record.chain_pem);
  if (!root) {
    return root.error().WithContext("stored root CA certificate");
  }
  auto chain = pki::Certificate::ParseAll(issuing_record.chain_pem);
  if (!chain) {
    return chain.error().WithContext("stored issuing CA chain");
  }
  CTLS_ASSIGN_OR_RETURN(
      pki::PrivateKey key,
      OpenSealedKey(sealing_key, issuing_record.encrypted_key, kIssuingAad, "the issuing CA key"));
  const pki::Certificate issuing_cert = chain->front();
  auto issuer = pki::Issuer::Create(issuing_cert, key, {*root});
  if (!issuer) {
    return issuer.error().WithContext("issuing CA");
  }
  if (!issuing_cert.IsSignedBy(*root)) {
    return Fail(ErrorCode::kChainIncomplete,
                "the stored issuing CA was not issued by the stored root CA");
  }
  return ClusterCa{.issuing = *std::move(issuer),
                   .root = *root,
                   .issuer_id = std::string(kIssuingCaId),
                   .chain_pem = issuing_cert.ToPem() + root->ToPem()};
}

core::Result<store::NamedCert> SealNamedCert(const SealingKey& sealing_key, const std::string& name,
                                             const pki::PrivateKey& key,
                                             const std::string& chain_pem, core::TimePoint now,
                                             const std::string& actor, core::Rng& rng) {
  CTLS_RETURN_IF_ERROR(CheckCertName(name));
  CTLS_ASSIGN_OR_RETURN(std::string pem_raw, key.ToPem());
  Wiped pem(std::move(pem_raw));
  CTLS_ASSIGN_OR_RETURN(store::Blob blob, sealing_key.Seal(pem.get(), NamedAad(name), rng));
  return store::NamedCert{.name = name,
                          .chain_pem = chain_pem,
                          .encrypted_key = std::move(blob),
                          .created_at = now,
                          .created_by = actor};
}

core::Result<std::int64_t> PutNamedCert(store::Store& store, const SealingKey& sealing_key,
                                        const std::string& name, const pki::PrivateKey& key,
                                        const std::string& chain_pem, core::TimePoint now,
                                        const std::string& actor, core::Rng& rng) {
  CTLS_ASSIGN_OR_RETURN(store::NamedCert sealed,
                        SealNamedCert(sealing_key, name, key, chain_pem, now, actor, rng));
  return store.PutNamedCert(sealed);
}

core::Result<OpenedNamedCert> GetNamedCert(store::Store& store, const SealingKey& sealing_key,
                                           const std::string& name) {
  CTLS_ASSIGN_OR_RETURN(store::NamedCert stored, store.GetNamedCert(name));
  const std::string what = "the key of certificate \"" + name + "\"";
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key,
                        OpenSealedKey(sealing_key, stored.encrypted_key, NamedAad(name), what));
  auto chain = pki::Certificate::ParseAll(stored.chain_pem);
  if (!chain) {
    return chain.error().WithContext("stored chain of certificate \"" + name + "\"");
  }
  return OpenedNamedCert{.name = stored.name,
                         .version = stored.version,
                         .key = std::move(key),
                         .chain = *std::move(chain)};
}

}  // namespace clustertls::authority
