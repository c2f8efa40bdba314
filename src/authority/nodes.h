#pragma once

// The control plane's rules for cluster nodes (issue 14, `clustertls agent`): one-time
// enrollment tokens bound to a node's name, names and assigned cluster certificates; enrollment
// (the node's key never leaves the node: it sends a CSR, which only proves possession of the
// key, and the certificate carries the names the token bound, nothing the CSR asks for);
// renewal authenticated by the current node certificate; which node a client certificate
// belongs to; assignment and removal. Every change is committed with its audit entries in one
// store transaction that also advances store::kClusterStateCounter.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authority/cluster.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "store/store.h"

namespace clustertls::authority {

// The prefix of enrollment tokens: "ctlsnode_<id>_<secret>" (256 random bits of secret).
inline constexpr std::string_view kNodeTokenPrefix = "ctlsnode_";
// Named certificates a node may never receive: `api` is the control plane's own identity
// (a node holding its key could impersonate the control plane to every operator); `node` would
// collide with the node's own node_cert.pem / node_key.pem.
inline constexpr std::string_view kNeverAssigned[] = {"api", "node"};

// "node:<name>": the actor of a node's requests, and its certificates' issued_by.
std::string NodeActor(std::string_view node);

// A node name: 1..63 characters of [a-z0-9-], not starting or ending with '-' (a DNS label, so
// it can be the node certificate's CN and a file name). kInvalidArgument naming the cause.
core::Result<void> CheckNodeName(std::string_view name);

struct NodeTokenRequest {
  std::string node{};
  std::vector<std::string> dns{};                    // names the node certificate carries
  std::vector<std::string> ips{};                    // addresses it carries
  std::vector<std::string> assign{};                 // named cluster certificates it receives
  std::chrono::seconds ttl = std::chrono::hours(1);  // 1 minute .. 7 days
  std::string actor{};
  std::string source{};
};

struct NewNodeToken {
  std::string id{};
  std::string token{};  // shown once
  core::TimePoint expires_at{};
};

// Validates the request (node name; DNS names and IPs canonical, at most pki::kMaxSubjectAltNames;
// assigned names existing named certificates, never `api`; ttl in range: kInvalidArgument or
// kNotFound naming the field and value) and stores a new token with a "node.token.create" entry.
core::Result<NewNodeToken> CreateNodeToken(store::Store& store, const NodeTokenRequest& request,
                                           core::TimePoint now, core::Rng& rng);

// Node certificates' lifetime when the server is not told otherwise.
inline constexpr std::chrono::seconds kDefaultNodeCertValidity = std::chrono::days(30);

struct EnrollRequest {
  std::string token{};
  std::string csr_pem{};
  std::string source{};
  std::chrono::seconds validity = kDefaultNodeCertValidity;
};

struct NodeCertificate {
  std::string node{};
  std::string certificate_pem{};
  std::string serial_hex{};
  core::TimePoint not_after{};
  std::vector<std::string> assign{};
};

// Enrolls a node with a one-time token: issues a `peer` certificate (CN = the node's name, the
// token's DNS names and IPs) for the CSR's key, records it, the node and "node.enroll" +
// "cert.sign" entries, and marks the token used, in one transaction. A token that is malformed,
// unknown, used or expired is kPermissionDenied with one message for all ("enrollment token is
// not valid (unknown, used or expired)": nothing tells a guesser which); the server logs the
// precise cause from `*detail` when given. A bad CSR: kParse / kBadSignature / kWeakKey.
core::Result<NodeCertificate> EnrollNode(store::Store& store, const ClusterCa& ca,
                                         const EnrollRequest& request, core::TimePoint now,
                                         core::Rng& rng, std::string* detail = nullptr);

// The node a verified client certificate belongs to: its issuance record must exist, be a
// node's (issued_by "node:<name>"), not be revoked, not have expired, and the node must still
// exist. kPermissionDenied naming the serial and the cause otherwise.
core::Result<store::Node> NodeOfCertificate(store::Store& store, const pki::Certificate& cert,
                                            core::TimePoint now);

// Renews `node`'s certificate for the CSR's key (same names as at enrollment), authenticated by
// the caller with its current certificate. The previous certificate stays valid until it
// expires (the agent switches once the new one is on disk).
core::Result<NodeCertificate> RenewNode(store::Store& store, const ClusterCa& ca,
                                        const store::Node& node, const std::string& csr_pem,
                                        std::chrono::seconds validity, core::TimePoint now,
                                        core::Rng& rng, const std::string& source);

// Replaces the named certificates `node` receives (checked as CreateNodeToken checks them).
core::Result<void> AssignNode(store::Store& store, const std::string& node,
                              const std::vector<std::string>& assign, const std::string& actor,
                              const std::string& source, core::TimePoint now);

// Removes `node` and revokes its certificates (reason cessationOfOperation); returns the
// serials revoked.
core::Result<std::vector<std::string>> RemoveNode(store::Store& store, const std::string& node,
                                                  const std::string& actor,
                                                  const std::string& source, core::TimePoint now);

// The JSON array text of `items` (the store's *_json columns), and its inverse (an unreadable
// value reads as empty).
std::string JsonArray(const std::vector<std::string>& items);
std::vector<std::string> ParseJsonArray(const std::string& text);

}  // namespace clustertls::authority
