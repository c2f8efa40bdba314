#include "authority/tls_policy.h"

#include <nlohmann/json.hpp>

namespace clustertls::authority {

core::Result<std::int64_t> PutTlsPolicy(store::Store& store, const std::string& document_json,
                                        std::int64_t expected_version, const ChangeBy& by,
                                        const core::Clock& clock) {
  nlohmann::json details = nlohmann::json::parse(document_json, nullptr, false);
  if (!details.is_object()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "policy: the document is not a JSON object");
  }
  const core::TimePoint now = clock.Now();
  store::PolicyDoc doc{
      .json = document_json, .version = 0, .updated_at = now, .updated_by = by.actor};
  std::int64_t version = 0;
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    auto put = tx.PutPolicy(doc, expected_version);
    if (!put) {
      if (put.error().code == core::ErrorCode::kAlreadyExists) {
        return core::Fail(core::ErrorCode::kConflict,
                          "policy: changed by someone else at the same time; read it and retry");
      }
      return put.error();
    }
    version = *put;
    nlohmann::json audited = details;
    audited["version"] = version;
    return AuditIn(tx, by, now, "policy.update", "policy", audited);
  });
  if (!done) {
    return done.error();
  }
  return version;
}

}  // namespace clustertls::authority
