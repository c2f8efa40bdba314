#include "authority/named_cert.h"

#include <openssl/x509v3.h>

#include <algorithm>

#include "authority/cluster.h"
#include "authority/name_policy.h"
#include "core/encoding.h"
#include "ossl/error.h"
#include "pki/names.h"

namespace clustertls::authority {

using core::ErrorCode;
using core::Result;

namespace {

constexpr std::size_t kMaxNameLength = 64;

// "certificate 2 (CN=Issuing CA,O=Example)": numbered from 1, the leaf first.
std::string Describe(const std::vector<pki::Certificate>& chain, std::size_t index) {
  return "certificate " + std::to_string(index + 1) + " (" + chain[index].subject() + ")";
}

bool IsSelfSigned(const pki::Certificate& cert) {
  return cert.IsSelfIssued() && cert.IsSignedBy(cert);
}

// RFC 6125 section 6.4 through OpenSSL's matcher: DNS SANs only (no CN fallback), a wildcard
// only as the whole left-most label, matching exactly one label.
bool CoversHost(const pki::Certificate& leaf, std::string_view host) {
  int rc = X509_check_host(
      leaf.get(), host.data(), host.size(),
      X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  ossl::ClearErrors();
  return rc == 1;
}

// A DNS name through CoversHost, an IP address against the IP SANs.
bool CoversAddress(const pki::Certificate& leaf, const std::string& host) {
  if (pki::IsIpAddress(host)) {
    int rc = X509_check_ip_asc(leaf.get(), host.c_str(), 0);
    ossl::ClearErrors();
    return rc == 1;
  }
  return CoversHost(leaf, host);
}

std::string JoinNames(const std::vector<std::string>& names) {
  if (names.empty()) {
    return "none";
  }
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += n;
  }
  return out;
}

}  // namespace

Result<void> CheckCertName(std::string_view name) {
  auto fail = [&](const std::string& why) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "certificate name " + pki::QuoteName(name) + ": " + why);
  };
  if (name.empty()) {
    return fail("empty");
  }
  if (name.size() > kMaxNameLength) {
    return fail("longer than 64 characters");
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) {
    return fail("must start with a lower-case letter or a digit");
  }
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '-') {
      return fail("only lower-case letters, digits, '_' and '-' are allowed");
    }
  }
  return {};
}

NamedCertRole RoleOf(std::string_view name) {
  if (name == "api" || name == "cm" || name == "metrics" || name == "metrics_exporter") {
    return NamedCertRole::kServer;
  }
  if (name == "proxy" || name == "syncer" || name == "ccs_internode_encryption" ||
      name == "data_internode_encryption") {
    return NamedCertRole::kServerAndClient;
  }
  if (name == "ldap_client") {
    return NamedCertRole::kClient;
  }
  return NamedCertRole::kAny;
}

std::string RequiredPurposes(NamedCertRole role) {
  switch (role) {
    case NamedCertRole::kServer:
      return "serverAuth";
    case NamedCertRole::kServerAndClient:
      return "serverAuth and clientAuth";
    case NamedCertRole::kClient:
      return "clientAuth";
    case NamedCertRole::kAny:
      return "serverAuth or clientAuth";
  }
  return {};
}

Result<void> CheckNamedCertUsage(std::string_view name, const pki::Certificate& leaf) {
  const std::string subject = "the " + std::string(name) + " certificate (" + leaf.subject() + ")";
  auto eku = leaf.extended_key_usage_extension();
  if (!eku) {
    return eku.error().WithContext("certificate: " + subject);
  }
  auto ku = leaf.key_usage_extension();
  if (!ku) {
    return ku.error().WithContext("certificate: " + subject);
  }

  // RFC 5280 4.2.1.12: with the extension present, the key may be used only for the purposes
  // it lists. Without it, for any purpose.
  if (eku->has_value()) {
    const std::vector<std::string>& purposes = **eku;
    auto has = [&](std::string_view p) {
      return std::find(purposes.begin(), purposes.end(), p) != purposes.end();
    };
    const bool server = has("serverAuth");
    const bool client = has("clientAuth");
    const NamedCertRole role = RoleOf(name);
    bool ok = false;
    std::string why;
    switch (role) {
      case NamedCertRole::kServer:
        ok = server;
        why = ": " + std::string(name) + " is presented by a TLS server";
        break;
      case NamedCertRole::kServerAndClient:
        ok = server && client;
        why = ": " + std::string(name) +
              " is presented by a TLS server and also when it connects out as a TLS client";
        break;
      case NamedCertRole::kClient:
        ok = client;
        why = ": " + std::string(name) + " is presented by a TLS client";
        break;
      case NamedCertRole::kAny:
        ok = server || client;
        why = ": a named certificate is used for TLS";
        break;
    }
    if (!ok) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        "certificate: " + subject + " has extendedKeyUsage " + JoinNames(purposes) +
                            "; " + RequiredPurposes(role) + " is required" + why);
    }
  }

  // RFC 5280 4.2.1.3. A TLS 1.3 (and ECDHE) peer signs with its key whatever its type; RSA
  // keyEncipherment alone serves only the static-RSA key exchange, which the TLS policy does not
  // offer.
  if (ku->has_value()) {
    const std::vector<std::string>& usages = **ku;
    auto has = [&](std::string_view u) {
      return std::find(usages.begin(), usages.end(), u) != usages.end();
    };
    if (has("keyCertSign") || has("cRLSign")) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        "certificate: " + subject + " has keyUsage " + JoinNames(usages) +
                            ": keyCertSign and cRLSign belong to a CA, not to a TLS certificate");
    }
    if (!has("digitalSignature")) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        "certificate: " + subject + " has keyUsage " + JoinNames(usages) +
                            "; digitalSignature is required: its " + leaf.public_key().Describe() +
                            " key signs the TLS handshake (TLS 1.3 and ECDHE)");
    }
  }
  return {};
}

bool NameMustCoverFqdn(std::string_view name) {
  return name == "cm" || name == "api" || name == "proxy";
}

std::vector<std::string> RedisSanLayout(std::string_view fqdn) {
  std::string f = core::AsciiLower(fqdn);
  return {f, "*." + f, "internal." + f, "*.internal." + f};
}

Result<ValidatedNamedCert> ValidateNamedCert(const NamedCertInput& input,
                                             const NamedCertRules& rules) {
  CTLS_RETURN_IF_ERROR(CheckCertName(input.name));

  auto parsed = pki::Certificate::ParseAll(input.certificate_pem);
  if (!parsed) {
    return parsed.error().WithContext("certificate");
  }
  std::vector<pki::Certificate> chain = std::move(parsed).value();
  if (chain.empty()) {
    return core::Fail(ErrorCode::kParse, "certificate: no certificate found");
  }

  auto key = pki::PrivateKey::Parse(input.key_pem);
  if (!key) {
    return key.error().WithContext("key");
  }

  const pki::Certificate leaf = chain.front();  // a copy: the chain grows below
  if (!key->Matches(leaf.public_key())) {
    return core::Fail(ErrorCode::kKeyMismatch,
                      "key: does not match the certificate's public key (" + leaf.subject() + ", " +
                          leaf.public_key().Describe() + ")");
  }
  if (leaf.is_ca()) {
    // Alone, it is a CA presented as a leaf (`openssl req -x509` makes CA:TRUE by default).
    return core::Fail(ErrorCode::kInvalidArgument,
                      "certificate: the first certificate (" + leaf.subject() +
                          ") is a CA certificate (basicConstraints CA:TRUE); " +
                          (chain.size() == 1 ? "a named certificate must be a leaf"
                                             : "the leaf must come first"));
  }

  CTLS_RETURN_IF_ERROR(CheckNamedCertUsage(input.name, leaf));

  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!chain[i].IsSignedBy(chain[i + 1])) {
      return core::Fail(ErrorCode::kChainIncomplete, "certificate: " + Describe(chain, i + 1) +
                                                         " did not issue " + Describe(chain, i) +
                                                         ": expected leaf -> intermediate -> root");
    }
  }

  // Completion from the cluster CA chain (issuing CA first, root last).
  std::size_t added = 0;
  while (!chain.back().IsSelfIssued()) {
    const pki::Certificate* issuer = nullptr;
    for (const auto& ca : rules.cluster_chain) {
      if (chain.back().IsSignedBy(ca)) {
        issuer = &ca;
        break;
      }
    }
    if (issuer == nullptr || added >= rules.cluster_chain.size()) {
      return core::Fail(ErrorCode::kChainIncomplete,
                        "certificate: the chain stops at " + Describe(chain, chain.size() - 1) +
                            ": its issuer (" + chain.back().issuer() +
                            ") is neither in the bundle nor in the cluster CA chain");
    }
    chain.push_back(*issuer);
    ++added;
  }

  if (!IsSelfSigned(chain.back())) {
    return core::Fail(ErrorCode::kChainIncomplete,
                      "certificate: the root, " + Describe(chain, chain.size() - 1) +
                          ", is self-issued but its signature does not verify with its own key");
  }

  for (std::size_t i = 0; i < chain.size(); ++i) {
    const pki::Certificate& c = chain[i];
    if (rules.now < c.not_before()) {
      return core::Fail(ErrorCode::kExpired, "certificate: " + Describe(chain, i) +
                                                 " is not valid before " +
                                                 core::FormatTime(c.not_before()));
    }
    if (rules.now > c.not_after()) {
      return core::Fail(ErrorCode::kExpired, "certificate: " + Describe(chain, i) + " expired at " +
                                                 core::FormatTime(c.not_after()));
    }
  }

  if (NameMustCoverFqdn(input.name) && !CoversHost(leaf, rules.fqdn)) {
    return core::Fail(ErrorCode::kInvalidName,
                      "certificate: the " + input.name + " certificate's DNS names (" +
                          JoinNames(leaf.sans().dns) + ") do not cover the cluster FQDN " +
                          rules.fqdn + " (required for cm, api and proxy)");
  }

  ValidatedNamedCert out{
      .name = input.name,
      .key = std::move(key).value(),
      .chain = std::move(chain),
      .chain_pem = {},
  };
  out.chain_pem = pki::ToPemBundle(out.chain);
  return out;
}

std::vector<std::string> NamedCertWarnings(const ValidatedNamedCert& cert,
                                           const NamedCertWarningRules& rules) {
  std::vector<std::string> out;
  if (cert.name != "api" && cert.name != "cm") {
    return out;
  }
  const pki::Certificate& leaf = cert.chain.front();
  const pki::Certificate& root = cert.chain.back();
  if (!rules.cluster_chain.empty() && !root.Equals(rules.cluster_chain.back())) {
    out.push_back("certificate \"" + cert.name +
                  "\" does not chain to the cluster CA (its root is " + root.subject() +
                  "): clients that trust the cluster root (curl --cacert, clustertls login with "
                  "the root's fingerprint) refuse it; give them this chain's root");
  }
  if (cert.name != "api") {
    return out;
  }
  for (const std::string& host : rules.api_hosts) {
    if (!host.empty() && !CoversAddress(leaf, host)) {
      out.push_back("certificate \"api\" does not name " + host +
                    ", the address this server listens on: clients connecting by it refuse the "
                    "certificate");
    }
  }
  const std::vector<std::string> uris = leaf.sans().uris;
  if (std::find(uris.begin(), uris.end(), kControlPlaneUri) == uris.end()) {
    out.push_back(
        "certificate \"api\" lacks the control-plane identity URI:" +
        std::string(kControlPlaneUri) +
        ": clustertls login accepts this server only when pinned to this certificate itself "
        "(--ca-fingerprint " +
        leaf.fingerprint().colon +
        "); `clustertls cluster certificate renew api` makes one from "
        "the cluster CA that has it");
  }
  return out;
}

nlohmann::json NamedVersionDetails(std::int64_t version, const pki::Certificate& leaf) {
  return {{"version", version},
          {"serial", leaf.serial_hex()},
          {"subject", leaf.subject()},
          {"not_after", core::FormatTime(leaf.not_after())},
          {"fingerprint_sha256", leaf.fingerprint().colon}};
}

core::Result<std::vector<std::int64_t>> StoreNamedCerts(
    store::Store& store, const SealingKey& sealing_key,
    const std::vector<ValidatedNamedCert>& certs, const ChangeBy& by, const core::Clock& clock,
    core::Rng& rng) {
  const core::TimePoint now = clock.Now();
  // Sealed before the transaction, which may run more than once.
  std::vector<store::NamedCert> sealed;
  sealed.reserve(certs.size());
  for (const ValidatedNamedCert& cert : certs) {
    CTLS_ASSIGN_OR_RETURN(store::NamedCert one, SealNamedCert(sealing_key, cert.name, cert.key,
                                                              cert.chain_pem, now, by.actor, rng));
    sealed.push_back(std::move(one));
  }
  std::vector<std::int64_t> versions;
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    versions.clear();
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      CTLS_ASSIGN_OR_RETURN(std::int64_t version, tx.PutNamedCert(sealed[i]));
      versions.push_back(version);
      CTLS_RETURN_IF_ERROR(AuditIn(tx, by, now, "named_cert.update", sealed[i].name,
                                   NamedVersionDetails(version, certs[i].chain.front())));
    }
    return {};
  });
  if (!done) {
    return done.error();
  }
  return versions;
}

core::Result<void> DeleteNamedCert(store::Store& store, const std::string& name, const ChangeBy& by,
                                   const core::Clock& clock) {
  if (name == "api") {
    return core::Fail(
        ErrorCode::kConflict,
        "certificate \"api\": this server presents it and it cannot be deleted (replace "
        "it with PUT /v1/cluster/update_cert)");
  }
  const core::TimePoint now = clock.Now();
  return store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    if (auto r = tx.DeleteNamedCert(name); !r) {
      if (r.error().code == ErrorCode::kNotFound) {
        return core::Fail(ErrorCode::kNotFound, "certificate \"" + name + "\": no such name");
      }
      return r.error();
    }
    return AuditIn(tx, by, now, "named_cert.delete", name, nlohmann::json::object());
  });
}

}  // namespace clustertls::authority
