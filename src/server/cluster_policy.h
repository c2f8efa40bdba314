#pragma once

// The cluster's TLS policy document as the server reads it from the store. The document itself
// (its fields, JSON, validation, the default-client check) is net/cluster_policy.h, shared with
// the data-path proxy; its names are re-exported here for server/'s routes.

#include "core/result.h"
#include "core/time.h"
#include "net/cluster_policy.h"
#include "store/store.h"

namespace clustertls::server {

using net::ApplyPolicyJson;
using net::CheckDefaultClients;
using net::CheckJsonDepth;
using net::ClusterPolicy;
using net::DefaultClientCheckOptions;
using net::kMaxJsonDepth;
using net::ParseSentinelSsl;
using net::PolicyToJson;
using net::PolicyToRedisJson;
using net::SentinelSsl;
using net::SentinelSslName;

// The check's options for the listeners as the store has them now: the key types of the current
// `api` (required: kNotFound) and `proxy` named certificates (net::IdentityKeyTypeFor).
core::Result<DefaultClientCheckOptions> ClientCheckOptionsFor(store::Store& store,
                                                              core::TimePoint now, core::Rng* rng);

}  // namespace clustertls::server
