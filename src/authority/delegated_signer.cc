#include "authority/delegated_signer.h"

#include <algorithm>
#include <span>
#include <utility>

#include "authority/cert_summary.h"
#include "authority/secrets.h"

namespace clustertls::authority {

core::Result<DelegatedSigner> IssueDelegatedSigner(store::Store& store, const ClusterCa& ca,
                                                   const DelegatedSignerRequest& request,
                                                   core::TimePoint now, core::Rng& rng) {
  // Never longer than the issuing CA lives (the issuer refuses that).
  const core::TimePoint ca_not_after = ca.issuing.certificate().not_after();
  const std::chrono::seconds validity = std::min(
      request.validity, std::chrono::duration_cast<std::chrono::seconds>(ca_not_after - now));
  if (validity < std::chrono::minutes(1)) {
    return core::Fail(core::ErrorCode::kExpired, request.what + ": the issuing CA expires on " +
                                                     core::FormatTime(ca_not_after) +
                                                     "; it cannot issue " +
                                                     request.certificate_noun);
  }
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  auto cert = ca.issuing.Issue(
      pki::IssueRequest{
          .profile = request.profile, .common_name = request.common_name, .validity = validity},
      key.public_key(), now, rng);
  if (!cert) {
    return cert.error().WithContext(request.what + " certificate");
  }
  std::string der = cert->ToDer();
  auto made = IssuedRecordFromDer(der, ca.issuer_id, request.record_profile, now, request.actor);
  if (!made) {
    return made.error().WithContext(request.what + " certificate");
  }
  const store::IssuedCert record = *std::move(made);
  const store::AuditInput audit = CertSignAudit(record, request.actor, "");
  auto recorded =
      store.RecordIssuedAudited(std::span<const store::IssuedCert>(&record, 1),
                                std::span<const store::AuditInput>(&audit, 1), AuditHash);
  if (!recorded) {
    return recorded.error().WithContext(request.what + " certificate " + record.serial_hex +
                                        " was not recorded");
  }
  return DelegatedSigner{.key = std::move(key),
                         .certificate = *std::move(cert),
                         .der = std::move(der),
                         .not_after = record.not_after,
                         .renew_at = now + validity / 2};
}

}  // namespace clustertls::authority
