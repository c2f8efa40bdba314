// `clustertls proxy`: the data-path TLS proxy in front of a plain service (redis, a Sentinel),
// configured from a node's directory that `clustertls agent run` keeps current (docs/cli.md
// "proxy", src/proxy/).

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/common.h"
#include "net/https_server.h"
#include "proxy/dir_watcher.h"
#include "proxy/proxy.h"

namespace clustertls::cli {
namespace {

struct ProxyCmdOptions {
  std::string listen;
  std::string backend;
  std::string dir;
  std::string cert_name = "proxy";
  std::string admin_listen;
  std::string policy_path = "data";
  std::vector<std::string> allow_cn;
  std::vector<std::string> allow_san;
  std::size_t max_connections = 10000;
  std::string handshake_timeout = "10s";
  std::string idle_timeout = "0";
  std::string connect_timeout = "5s";
  std::string drain_grace = "30s";
  int threads = 0;
};

// A duration flag: "0" is none (when `zero_ok`), else core::ParseDuration ("10s", "5m").
core::Result<std::chrono::milliseconds> DurationFlag(const std::string& flag,
                                                     const std::string& text, bool zero_ok) {
  if (zero_ok && (text == "0" || text == "0s")) {
    return std::chrono::milliseconds(0);
  }
  auto parsed = core::ParseDuration(text);
  if (!parsed) {
    return UsageError(flag + ": " + parsed.error().message);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
}

// HOST:PORT; port 0 (an ephemeral port, printed at start) only where `allow_zero`.
core::Result<proxy::HostPort> AddressFlag(const std::string& flag, const std::string& text,
                                          bool allow_zero) {
  auto parsed = proxy::ParseHostPort(text, allow_zero);
  if (!parsed) {
    return UsageError(flag + ": " + parsed.error().message);
  }
  return parsed;
}

core::Result<int> RunProxy(const ProxyCmdOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(proxy::HostPort listen, AddressFlag("--listen", o.listen, true));
  CTLS_ASSIGN_OR_RETURN(proxy::HostPort backend, AddressFlag("--backend", o.backend, false));
  std::optional<proxy::HostPort> admin;
  if (!o.admin_listen.empty()) {
    CTLS_ASSIGN_OR_RETURN(admin, AddressFlag("--admin-listen", o.admin_listen, true));
  }
  auto policy_path = proxy::ParsePolicyPath(o.policy_path);
  if (!policy_path) {
    return UsageError("--policy-path: " + policy_path.error().message);
  }
  CTLS_ASSIGN_OR_RETURN(auto handshake_timeout,
                        DurationFlag("--handshake-timeout", o.handshake_timeout, false));
  CTLS_ASSIGN_OR_RETURN(auto idle_timeout, DurationFlag("--idle-timeout", o.idle_timeout, true));
  CTLS_ASSIGN_OR_RETURN(auto connect_timeout,
                        DurationFlag("--connect-timeout", o.connect_timeout, false));
  CTLS_ASSIGN_OR_RETURN(auto drain_grace, DurationFlag("--drain-grace", o.drain_grace, true));
  if (o.max_connections == 0) {
    return UsageError("--max-connections: must be at least 1");
  }
  if (o.threads < 0) {
    return UsageError("--threads: must be 0 (one per core) or more");
  }

  // Asio sends with MSG_NOSIGNAL; anything else writing to a closed socket gets EPIPE too.
  signal(SIGPIPE, SIG_IGN);
  // The io threads inherit this mask: the signals reach only the sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto started = proxy::Proxy::Start(
      {.listen_host = listen.host,
       .listen_port = listen.port,
       .backend_host = backend.host,
       .backend_port = backend.port,
       .dir = {.dir = o.dir, .cert_name = o.cert_name, .policy_path = *policy_path},
       .threads = o.threads,
       .max_connections = o.max_connections,
       .handshake_timeout = handshake_timeout,
       .idle_timeout = idle_timeout,
       .connect_timeout = connect_timeout,
       .allow_cn = o.allow_cn,
       .allow_san = o.allow_san,
       .clock = &ctx.clock});
  if (!started) {
    const core::Error& e = started.error();
    // Errors about D's files start with the file's name.
    const bool about_file =
        e.message.find(".pem: ") != std::string::npos || e.message.rfind("policy.json: ", 0) == 0;
    return about_file ? core::Fail(e.code, "--dir " + o.dir + ": " + e.message, e.detail) : e;
  }
  std::unique_ptr<proxy::Proxy> p = std::move(started).value();
  proxy::Proxy* raw = p.get();
  CTLS_ASSIGN_OR_RETURN(auto watcher,
                        proxy::DirWatcher::Start(o.dir, std::chrono::milliseconds(50),
                                                 [raw] { (void)raw->Reload("inotify"); }));
  std::unique_ptr<net::HttpsServer> admin_server;
  if (admin) {
    auto admin_started = net::HttpsServer::StartPlain(
        {.host = admin->host, .port = admin->port, .threads = 1},
        [raw](net::Request request, const net::ConnectionInfo&, net::Respond respond) {
          if (request.method != "GET") {
            return respond({.status = 405, .content_type = "text/plain", .body = "GET only\n"});
          }
          const std::string path = request.target.substr(0, request.target.find('?'));
          if (path == "/metrics") {
            return respond({.content_type = "text/plain; version=0.0.4; charset=utf-8",
                            .body = raw->MetricsText()});
          }
          if (path == "/status") {
            return respond({.body = raw->StatusJson()});
          }
          respond({.status = 404, .content_type = "text/plain", .body = "/metrics or /status\n"});
        });
    if (!admin_started) {
      return admin_started.error().WithContext("--admin-listen " + o.admin_listen);
    }
    admin_server = std::move(admin_started).value();
  }
  ctx.err << "clustertls proxy: listening on " << listen.host << ':' << p->port() << ", backend "
          << o.backend << ", --dir " << o.dir << " (" << o.policy_path << " path)";
  if (admin_server) {
    ctx.err << ", admin http://" << admin->host << ':' << admin_server->port();
  }
  ctx.err << '\n' << std::flush;

  for (;;) {
    int received = 0;
    if (sigwait(&signals, &received) != 0) {
      continue;
    }
    if (received == SIGHUP) {
      (void)p->Reload("SIGHUP");
      continue;
    }
    ctx.err << "clustertls proxy: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": draining (up to " << o.drain_grace << ")\n"
            << std::flush;
    watcher.reset();
    p->Drain(drain_grace);
    if (admin_server) {
      admin_server->Stop();
    }
    return 0;
  }
}

}  // namespace

void AddProxyCommands(CLI::App& app, Action* action) {
  auto o = std::make_shared<ProxyCmdOptions>();
  CLI::App* cmd = app.add_subcommand(
      "proxy",
      "Put TLS in front of a plain service (redis, a Sentinel): terminates TLS under the\n"
      "cluster policy and relays to --backend. Its certificate, key, CA bundle, CRL and\n"
      "policy come from --dir, a node's directory kept current by `clustertls agent run` (or\n"
      "filled by hand); a change there (or SIGHUP) is applied to new connections within\n"
      "~50 ms, open connections continue, and those whose client certificate a new CRL lists\n"
      "are closed at once. SIGTERM stops accepting and drains open connections.");
  cmd->add_option("--listen", o->listen, "HOST:PORT to accept TLS connections on")->required();
  cmd->add_option("--backend", o->backend, "HOST:PORT of the plain service to relay to")
      ->required();
  cmd->add_option("--dir", o->dir,
                  "the node's directory: <cert-name>_cert.pem and _key.pem, ca.pem (client CAs), "
                  "crl.pem and policy.json (both optional)")
      ->required();
  cmd->add_option("--cert-name", o->cert_name,
                  "which certificate of --dir to serve (<name>_cert.pem, <name>_key.pem)")
      ->default_val("proxy");
  cmd->add_option("--admin-listen", o->admin_listen,
                  "HOST:PORT of a plain HTTP listener for /metrics (Prometheus) and /status "
                  "(JSON); off by default, keep it on loopback");
  cmd->add_option("--policy-path", o->policy_path,
                  "which part of policy.json applies: data (min_data_tls_version, ciphers, "
                  "client_auth; TLS only) or sentinel (min_sentinel_tls_version, and "
                  "sentinel_ssl_policy: required = TLS only, disabled = plain only, allowed = "
                  "both on one port)")
      ->default_val("data")
      ->check(CLI::IsMember({"data", "sentinel"}));
  AddRepeated(cmd, "--allow-cn", o->allow_cn,
              "let in only verified clients with this subject CN (with --allow-san: "
              "either matches); others are closed after the handshake");
  AddRepeated(cmd, "--allow-san", o->allow_san,
              "let in only verified clients with this DNS or URI subjectAltName");
  cmd->add_option("--max-connections", o->max_connections,
                  "open client connections at most; more are closed at once (counted)")
      ->default_val(10000);
  cmd->add_option("--handshake-timeout", o->handshake_timeout,
                  "how long a TLS handshake (or, for sentinel allowed, the first byte) may take")
      ->default_val("10s");
  cmd->add_option("--idle-timeout", o->idle_timeout,
                  "close a connection with no byte either way for this long; 0: never")
      ->default_val("0");
  cmd->add_option("--connect-timeout", o->connect_timeout,
                  "how long connecting to --backend may take")
      ->default_val("5s");
  cmd->add_option("--drain-grace", o->drain_grace,
                  "on SIGTERM, how long open connections may continue before they are closed")
      ->default_val("30s");
  cmd->add_option("--threads", o->threads,
                  "io threads, each with its own acceptor on the port (SO_REUSEPORT); 0: one per "
                  "core")
      ->default_val(0);
  cmd->callback([o, action] { *action = [o](Context& ctx) { return RunProxy(*o, ctx); }; });
}

}  // namespace clustertls::cli
