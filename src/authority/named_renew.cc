#include "authority/named_renew.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "authority/named_cert.h"
#include "pki/issuer.h"

namespace clustertls::authority {

using core::ErrorCode;
using core::Fail;

core::Result<RenewedNamedCert> RenewNamedCert(store::Store& store, const SealingKey& sealing_key,
                                              const ClusterCa& ca, const RenewNamedRequest& request,
                                              const core::Clock& clock, core::Rng& rng) {
  CTLS_RETURN_IF_ERROR(CheckCertName(request.name));
  const std::string what = "certificate \"" + request.name + "\"";
  if (request.validity.count() < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "days: must be at least 1 (got " + std::to_string(request.validity.count()) + ")");
  }
  auto current = store.GetNamedCert(request.name);
  if (!current) {
    if (current.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, what + ": no such name");
    }
    return current.error().WithContext("reading " + what);
  }
  auto old_leaf = pki::Certificate::FromPem(current->chain_pem);
  if (!old_leaf) {
    return old_leaf.error().WithContext(what + " (stored version " +
                                        std::to_string(current->version) + ")");
  }

  const pki::Certificate& issuing = ca.issuing.certificate();
  const bool previous_ours = old_leaf->IsSignedBy(issuing);
  if (request.require_previous_ours && !previous_ours) {
    return Fail(ErrorCode::kInvalidArgument,
                what + " (" + old_leaf->subject() + ") was signed by another CA (" +
                    old_leaf->issuer() +
                    "): the cluster CA cannot revoke it (renew without revoking)");
  }

  // The same names as the certificate it replaces; the issuer adds the CN to the SANs again and
  // keeps one of each.
  pki::IssueRequest issue{.profile = pki::Profile::kPeer,
                          .common_name = old_leaf->common_name(),
                          .sans = old_leaf->sans(),
                          .validity = request.validity,
                          .crl_urls = request.crl_urls,
                          .ocsp_urls = request.ocsp_urls};
  auto add_new = [](const std::vector<std::string>& from, std::vector<std::string>& to) {
    for (const auto& name : from) {
      if (std::find(to.begin(), to.end(), name) == to.end()) {
        to.push_back(name);
      }
    }
  };
  add_new(request.add_sans.dns, issue.sans.dns);
  add_new(request.add_sans.ips, issue.sans.ips);
  add_new(request.add_sans.uris, issue.sans.uris);
  AddNamedIdentity(request.name, issue.sans);
  const pki::KeyType key_type =
      request.key_type.value_or(old_leaf->public_key().type().value_or(pki::KeyType::kEcP256));
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(key_type));
  const core::TimePoint now = clock.Now();
  auto leaf = ca.issuing.Issue(issue, key.public_key(), now, rng);
  if (!leaf) {
    return leaf.error().WithContext("renewing " + what);
  }

  RenewedNamedCert out{.name = request.name,
                       .version = 0,
                       .leaf = *leaf,
                       .chain_pem = leaf->ToPem() + ca.chain_pem,
                       .previous_serial = old_leaf->serial_hex(),
                       .previous_ours = previous_ours};

  // Recorded first: a certificate that exists is always on record (and revocable), even if
  // storing it as the new version then fails.
  CTLS_ASSIGN_OR_RETURN(
      NamedRecord made,
      MakeNamedRecord(leaf->ToDer(), request.name, now, request.actor, request.source,
                      nlohmann::ordered_json{{"renews", out.previous_serial}}));
  if (auto r =
          store.RecordIssuedAudited(std::span<const store::IssuedCert>(&made.record, 1),
                                    std::span<const store::AuditInput>(&made.audit, 1), AuditHash);
      !r) {
    return r.error().WithContext("recording the renewed " + what + " (nothing was changed)");
  }
  auto sealed =
      SealNamedCert(sealing_key, request.name, key, out.chain_pem, now, request.actor, rng);
  if (!sealed) {
    return sealed.error().WithContext("storing the renewed " + what);
  }
  const ChangeBy by{.actor = request.actor, .source = request.source};
  std::int64_t version = 0;
  auto stored = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    CTLS_ASSIGN_OR_RETURN(version, tx.PutNamedCert(*sealed));
    nlohmann::json details = NamedVersionDetails(version, out.leaf);
    details["previous_serial"] = out.previous_serial;
    return AuditIn(tx, by, now, "named_cert.renew", request.name, details);
  });
  if (!stored) {
    return stored.error().WithContext("storing the renewed " + what + " (certificate " +
                                      out.leaf.serial_hex() +
                                      " is recorded but not in use; the current version is "
                                      "unchanged)");
  }
  out.version = version;
  return out;
}

}  // namespace clustertls::authority
