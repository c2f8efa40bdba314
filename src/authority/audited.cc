#include "authority/audited.h"

#include "authority/secrets.h"

namespace clustertls::authority {

std::string AuditDetailsText(const nlohmann::json& details) {
  return details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

core::Result<void> AuditIn(store::Transaction& tx, const ChangeBy& by, core::TimePoint at,
                           const std::string& action, const std::string& target,
                           const nlohmann::json& details) {
  store::AuditInput input{.time = at,
                          .actor = by.actor,
                          .action = action,
                          .target = target,
                          .source = by.source,
                          .details_json = AuditDetailsText(details)};
  auto entry = tx.AppendAudit(input, [](const store::AuditEntry& e) { return AuditHash(e); });
  if (!entry) {
    return entry.error().WithContext("audit log");
  }
  return {};
}

nlohmann::json StoredNamePolicyValue(const std::string& stored) {
  if (stored.empty()) {
    return nullptr;
  }
  nlohmann::json j = nlohmann::json::parse(stored, nullptr, false);
  return j.is_discarded() ? nlohmann::json(stored) : j;
}

}  // namespace clustertls::authority
