#pragma once

// The node agent (issue 14; docs/nodes.md): `clustertls agent enroll` and `clustertls agent run`.
//
// Enroll: fetch the control plane's CA chain over an unverified connection, find in it the CA
// whose SHA-256 fingerprint the operator pinned (nothing else is sent before that matched), then
// over a connection verified against that CA send the one-time token and a CSR for a key made
// here (the key never leaves the node). Writes the node's set into D (NodeDir): node_cert.pem,
// node_key.pem, ca.pem and agent.json (the server's URL and the node's name).
//
// Run: long-polls GET /v1/agent/state with the node certificate (mutual TLS); each answer that
// changes the files is installed atomically (NodeDir::Install), then the --on-change hook runs
// with the changed names, and the applied version and the hook's result are reported. Errors
// (server down, network cut) back off (capped, jittered) and resume. The node certificate is
// renewed at 2/3 of its lifetime (+-10%) with a new key; the old one stays in use until the new
// one is written.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"

namespace clustertls::agent {

// The files of D the agent owns itself (never taken from the server's set).
inline constexpr const char* kNodeCertFile = "node_cert.pem";
inline constexpr const char* kNodeKeyFile = "node_key.pem";
inline constexpr const char* kAgentConfigFile = "agent.json";

struct EnrollOptions {
  std::string server_url;      // https://host:port
  std::string ca_fingerprint;  // SHA-256, with or without colons, any case
  std::string token;
  std::string dir;
  std::optional<core::FileOwner> owner{};
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct EnrollResult {
  std::string node;
  std::string serial_hex;
  core::TimePoint not_after{};
  std::vector<std::string> assign;
};

// kVerifyFailed when no CA of the server matches the fingerprint ("... the token was not sent");
// kPermissionDenied when the server refuses the token; kAlreadyExists when D already holds an
// enrolled node (remove D's files first, or use another D); kIo for the network or D.
core::Result<EnrollResult> Enroll(const EnrollOptions& options, core::Rng& rng);

// What the agent exports (--metrics-file, Prometheus text; and the tests read it).
struct AgentStatus {
  std::int64_t applied_version = -1;
  std::uint64_t applies = 0;         // changed sets installed
  std::uint64_t apply_failures = 0;  // installs that failed (old set kept)
  std::uint64_t errors = 0;          // failed contacts with the server
  std::uint64_t renewals = 0;
  std::uint64_t renewal_failures = 0;
  core::TimePoint cert_not_after{};
  core::TimePoint renew_at{};
  std::optional<int> last_hook_exit{};
};

struct RunOptions {
  std::string dir;
  std::string on_change{};  // shell command; empty: none
  std::chrono::seconds hook_timeout = std::chrono::seconds(60);
  std::optional<core::FileOwner> owner{};
  std::string agent_version{};
  // The longest a state request waits on the server (it answers sooner on a change).
  std::chrono::seconds long_poll = std::chrono::seconds(30);
  std::chrono::milliseconds backoff_initial = std::chrono::milliseconds(500);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(30);
  std::string metrics_file{};  // written after every round when set
  // Log lines (without a trailing newline); default: stderr with a "clustertls agent: " prefix.
  std::function<void(const std::string&)> log{};
  // Called after each installed change with the version and the changed names (benchmarks).
  std::function<void(std::int64_t, const std::vector<std::string>&)> on_applied{};
  const core::Clock* clock = nullptr;  // default: the system clock
};

// Runs until `stop` becomes true (checked between requests; a long-poll in flight ends within
// the long-poll period, or at once if the server closes it). kAlreadyExists if another agent
// holds D; kNotFound if D was never enrolled. Returns once stopped.
core::Result<void> Run(const RunOptions& options, core::Rng& rng, const std::atomic<bool>& stop,
                       AgentStatus* status = nullptr);

}  // namespace clustertls::agent
