#pragma once

// `clustertls serve`: opens the data directory's store, loads the CA, and serves the REST API
// (docs/api.md) over HTTPS with the `api` named certificate under the control-path TLS policy.
// A change of the policy or of `api` (through this instance, or through another instance on
// the same PostgreSQL, seen by polling) rebuilds the TLS context and swaps it in for new
// connections; open connections keep theirs.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::server {

class Api;

struct ServeOptions {
  std::string data_dir;
  std::string listen{};  // HOST:PORT; empty: the data directory's config (default 127.0.0.1:9443)
  int threads = 0;       // 0: one per core
  // How often the store is checked for policy/api changes made by another instance.
  std::chrono::milliseconds poll_interval = std::chrono::seconds(2);
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // The plain-HTTP public listener for OCSP, the CRL and the CA chain (issue 4): HOST:PORT,
  // "off" to disable it; empty: the data directory's config (default 127.0.0.1:9080).
  std::string public_listen{};
  // The base URL put into issued certificates (CRL distribution point <url>/v1/crl, OCSP
  // <url>/ocsp); empty: the config's, else http://<public listen address>.
  std::string public_url{};
  std::chrono::seconds crl_validity = std::chrono::days(7);
  // Store the default TLS policy (as the next version, audited `policy.update` by "local")
  // before starting: the way back from a stored policy that serve refuses to start with.
  bool reset_tls_policy = false;
  std::chrono::seconds ocsp_response_validity = std::chrono::hours(1);
  std::chrono::seconds ocsp_signer_validity = std::chrono::days(2);
  // The certificate that signs the audit log's head (authority/audit_head.h), kept in
  // DIR/audit-head.json by the poller and at shutdown.
  std::chrono::seconds audit_signer_validity = std::chrono::days(2);
  // Node agents (issue 14): the lifetime of the node certificates this server issues, and the
  // longest a state long-poll waits before answering "unchanged".
  std::chrono::seconds node_cert_validity = std::chrono::days(30);
  std::chrono::seconds agent_long_poll = std::chrono::seconds(30);
  // How the store is opened: connections kept, SQLite's wait for another writer.
  store::OpenOptions store_options{};
  // ApiOptions::on_cluster_change: called after every accepted change of what cluster nodes
  // receive (named certificates, the TLS policy, revocations).
  std::function<void()> on_cluster_change{};
};

// `clustertls init`: makes a data directory and the cluster in its store.
struct InitDataDirOptions {
  std::string data_dir;
  std::string fqdn;
  std::string store_url{};                       // empty: SQLite file DIR/clustertls.db
  std::string listen{};                          // empty: 127.0.0.1:9443
  std::string public_listen{};                   // empty: 127.0.0.1:9080; "off": none
  std::string public_url{};                      // empty: http://<public_listen>
  std::optional<std::string> root_passphrase{};  // absent: generated and returned once
};

// What `init` shows once.
struct InitDataDirResult {
  std::string data_dir;
  std::string fqdn;             // as stored (canonical)
  std::string url;              // "https://127.0.0.1:9443"
  std::string ca_fingerprint;   // the root CA's SHA-256, "AB:CD:..." (openssl x509 form)
  std::string root_passphrase;  // generated one; empty when the caller gave it
  std::string admin_user;
  std::string admin_password;
};

// Creates DIR (0700) if missing — an existing directory must not already hold a data directory
// (kAlreadyExists) — writes the sealing key, creates the store and the cluster
// (authority::InitializeCluster), and writes the config last. On failure, the files it created
// (and DIR, if it created it) are removed.
core::Result<InitDataDirResult> InitDataDir(const InitDataDirOptions& options,
                                            const core::Clock& clock, core::Rng& rng);

class ControlPlane {
 public:
  // Everything is checked and bound before this returns. Errors name the file or setting:
  // kNotFound (not a data directory), kIo (cannot bind: "127.0.0.1:9443: address in use"), ...
  static core::Result<std::unique_ptr<ControlPlane>> Start(const ServeOptions& options,
                                                           const core::Clock& clock);
  ~ControlPlane();  // Stop()

  std::uint16_t port() const;
  std::string url() const;            // "https://127.0.0.1:9443"
  std::uint16_t public_port() const;  // 0 when the public listener is off
  std::string public_url() const;     // the base URL in issued certificates; empty when none
  // The Api the listeners call: for in-process callers (tests/fuzz/api_body.cc) that feed it
  // requests without a socket (Api::HandleSync). Lives as long as this object.
  Api& api() const;
  // Drains in-flight requests (their responses are sent), stops the poller and the authority's
  // recorder (every certificate returned was recorded). Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ControlPlane(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::server
