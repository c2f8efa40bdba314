#pragma once

// Storing the cluster's TLS policy document: a versioned compare-and-set committed with its
// "policy.update" audit entry in one store transaction. The document's own checks (its fields,
// the cipher lists, that default clients still connect) need libssl and are made before, by
// server/cluster_policy.h (docs/architecture.md "Where the code deviates today").

#include <cstdint>
#include <string>

#include "authority/audited.h"
#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

// Stores `document_json` (a checked policy document) as the next version if the stored one is
// still `expected_version` (0: none stored yet), with its "policy.update" audit entry (details:
// the document's fields and "version"), and returns the new version. kConflict ("policy:
// changed by someone else at the same time; read it and retry") if another change came first.
core::Result<std::int64_t> PutTlsPolicy(store::Store& store, const std::string& document_json,
                                        std::int64_t expected_version, const ChangeBy& by,
                                        const core::Clock& clock);

}  // namespace clustertls::authority
