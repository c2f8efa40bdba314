#pragma once

// What every audited change shares: who made it, and its audit entry written inside the
// change's own store transaction (store::Store::Transact), so that a change is never committed
// without its entry.

#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

// Who makes a change: the actor (a user or "user (token ID)") and where the request came from.
struct ChangeBy {
  std::string actor;
  std::string source;
};

// The text of audit details: compact JSON with invalid UTF-8 replaced (names may be any bytes).
std::string AuditDetailsText(const nlohmann::json& details);

// Appends the entry `action` on `target` by `by` at `at` inside `tx` (hashed with AuditHash).
// A failure is the change's failure: the caller returns it and the transaction rolls back.
core::Result<void> AuditIn(store::Transaction& tx, const ChangeBy& by, core::TimePoint at,
                           const std::string& action, const std::string& target,
                           const nlohmann::json& details);

// A stored name policy (canonical JSON text, "" for none) as a JSON value: null for none.
nlohmann::json StoredNamePolicyValue(const std::string& stored);

}  // namespace clustertls::authority
