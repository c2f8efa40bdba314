#pragma once

// The control plane's side of the node agent (issue 14; docs/api.md "Nodes"):
//   - NodeHub: the cluster state version (store::kClusterStateCounter) as this instance sees it,
//     read from the store every `poll` (so a change made through another instance on the same
//     PostgreSQL reaches this one's agents within a poll), and the long-polls waiting for it;
//   - NodesApi: the routes. Admin routes (tokens, list, assign, remove) are authenticated by the
//     Api as any other; the agent routes (enroll with a token; state, report and renew with the
//     node's client certificate, mutual TLS on the control listener) authenticate here.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "authority/cluster.h"
#include "authority/crl_publisher.h"
#include "authority/root_crl.h"
#include "authority/secrets.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "net/https_server.h"
#include "server/metrics.h"
#include "store/store.h"

namespace clustertls::server {

struct NodeHubOptions {
  store::Store* store = nullptr;
  // How often the store's version is read (a change through this instance is seen at once,
  // through Poke()).
  std::chrono::milliseconds poll = std::chrono::milliseconds(200);
  // Called on the hub's thread when the version moved, before the waiters are answered (the
  // server refreshes its CRL there, so that the answers carry a revocation made elsewhere).
  std::function<void()> on_change{};
};

class NodeHub {
 public:
  // Reads the version once, then starts the thread. kInvalidArgument for a null store.
  static core::Result<std::unique_ptr<NodeHub>> Start(const NodeHubOptions& options);
  // Answers every waiter (with the current version), then joins.
  ~NodeHub();
  NodeHub(const NodeHub&) = delete;
  NodeHub& operator=(const NodeHub&) = delete;

  std::int64_t version() const;
  // Calls `fn(version)` exactly once: at once if the version is already past `after`, else on the
  // hub's thread when it moves past `after` or when `timeout` has passed (or at shutdown).
  void WaitAfter(std::int64_t after, std::chrono::milliseconds timeout,
                 std::function<void(std::int64_t)> fn);
  // Advances the store's version (a change through this instance) and wakes the hub.
  core::Result<void> Bump();
  // Wakes the hub to read the store now.
  void Poke();
  std::size_t waiting() const;

 private:
  explicit NodeHub(const NodeHubOptions& options);
  void Run();

  NodeHubOptions o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  std::int64_t version_ = 0;
  std::uint64_t next_id_ = 0;
  struct Waiter {
    std::int64_t after;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(std::int64_t)> fn;
  };
  std::map<std::uint64_t, Waiter> waiters_;
  // The waiters by deadline (a wake visits only the due ones: with 10,000 agents re-polling
  // every long-poll period, a scan of every waiter per deadline made the idle hub quadratic).
  std::set<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> deadlines_;
  // The lowest `after` of the waiters (the version moving past it answers someone).
  std::multiset<std::int64_t> afters_;
  std::thread thread_;
};

struct NodesApiOptions {
  store::Store* store = nullptr;
  const authority::ClusterCa* ca = nullptr;
  const authority::SealingKey* sealing_key = nullptr;
  core::Rng* rng = nullptr;
  const core::Clock* clock = nullptr;
  authority::CrlPublisher* crl = nullptr;
  authority::RootCrlCache* root_crl = nullptr;  // optional
  NodeHub* hub = nullptr;
  std::chrono::seconds node_cert_validity = std::chrono::days(30);
  // The longest a state long-poll waits (an agent asks for less with ?wait=).
  std::chrono::seconds long_poll = std::chrono::seconds(30);
  // How often the nodes' last-seen times are written to the store (FlushSeen); at most the
  // long-poll period, so that another instance never sees a node as stale that is not.
  std::chrono::seconds seen_flush = std::chrono::seconds(15);
};

// Who made an admin request (for the audit log).
struct NodesCaller {
  std::string actor;
  std::string source;
};

class NodesApi {
 public:
  explicit NodesApi(const NodesApiOptions& options);

  // POST /v1/nodes/tokens {"node","dns":[],"ip":[],"assign":[],"ttl_seconds"}: 201
  // {"token","id","node","expires_at"}.
  net::Response CreateToken(const nlohmann::json& body, const NodesCaller& caller);
  // GET /v1/nodes/tokens: the unused, unexpired tokens (never their secret).
  net::Response ListTokens();
  // GET /v1/nodes: {"nodes":[{"name","applied_version","desired_version","stale","last_seen",
  // "cert_not_after","cert_serial","assign","dns","ip","agent_version","enrolled_at",
  // "last_hook":{...}|null}], "version"}.
  net::Response List();
  // PUT /v1/nodes/{name} {"assign":[...]}.
  net::Response Assign(const std::string& name, const nlohmann::json& body,
                       const NodesCaller& caller);
  // DELETE /v1/nodes/{name}: removes it and revokes its certificates.
  net::Response Remove(const std::string& name, const NodesCaller& caller);

  // POST /v1/agent/enroll {"token","csr"} (no other authentication): 201 {"node","certificate",
  // "ca_chain","serial","not_after","assign"}.
  net::Response Enroll(const nlohmann::json& body, const net::ConnectionInfo& connection);
  // GET /v1/agent/state?after=V&wait=S&digest=D (node certificate): the node's files once the
  // cluster state version is past V, or after S seconds (at most long_poll); {"version",
  // "node","digest","files":[{"name","content","secret"}]} or, when the files' digest is D,
  // {"version","node","digest","unchanged":true}.
  void State(const net::Request& request, const net::ConnectionInfo& connection,
             net::Respond respond);
  // POST /v1/agent/report {"applied_version","agent_version","hook":{"exit_code",
  // "output_tail","at"}} (node certificate).
  net::Response Report(const nlohmann::json& body, const net::ConnectionInfo& connection);
  // POST /v1/agent/renew {"csr"} (node certificate): 201 like Enroll.
  net::Response Renew(const nlohmann::json& body, const net::ConnectionInfo& connection);

  // For /metrics: adds each node certificate's expiry (kind "node") to `expiries` and returns
  // the clustertls_nodes{state="total"|"stale"|"behind"} gauge lines.
  core::Result<std::string> MetricsText(std::vector<Metrics::Expiry>* expiries);

  // A node is stale when not seen for this long (3 long-poll periods).
  std::chrono::seconds stale_after() const { return o_.long_poll * 3; }

  // Writes the last-seen times of the state long-polls since the last flush, all in one store
  // transaction, when `force` or when `seen_flush` has passed since the last one (the control
  // plane calls it from its poll loop, and with `force` at shutdown). A state long-poll only
  // notes the time in memory: with 10,000 agents re-polling every 30 s, one synced write per
  // poll was most of an idle server's CPU. On failure the times are kept for the next flush.
  core::Result<void> FlushSeen(bool force);

 private:
  struct Bundle {
    std::string files_json;  // the "files" array
    std::string digest;
  };
  core::Result<store::Node> AuthenticateNode(const net::ConnectionInfo& connection);
  core::Result<std::shared_ptr<const Bundle>> BundleFor(const store::Node& node,
                                                        std::int64_t version);
  // AuthenticateNode for the state long-poll, the one route every agent calls every period:
  // a certificate checked while the cluster state version was the current one passes again
  // without reading the store (a revocation, node removal or assignment moves the version; an
  // offline revocation moves the CRL number).
  core::Result<store::Node> AuthenticateNodeCached(const net::ConnectionInfo& connection);
  // The nodes from the store, with the last-seen times not yet flushed applied.
  core::Result<std::vector<store::Node>> NodesSeen();

  NodesApiOptions o_;
  std::mutex cache_mu_;
  // assign_json -> (version, crl number, bundle): nodes with the same assignment share one.
  struct Cached {
    std::int64_t version = -1;
    std::int64_t crl_number = -1;
    std::int64_t root_crl_number = -1;
    std::shared_ptr<const Bundle> bundle;
  };
  std::map<std::string, Cached> cache_;

  struct Authenticated {
    std::string der;  // the certificate checked
    core::TimePoint not_after{};
    std::int64_t version = -1;     // the cluster state version when it was checked
    std::int64_t crl_number = -1;  // and the CRL's (a revocation made offline moves only it)
    store::Node node;
  };
  std::mutex auth_mu_;
  std::unordered_map<std::string, Authenticated> auth_cache_;  // by serial

  std::mutex seen_mu_;
  // Node name -> the last state long-poll, not yet written to the store.
  std::unordered_map<std::string, core::TimePoint> seen_;
  core::TimePoint last_flush_{};
};

}  // namespace clustertls::server
