// The control plane's commands: `clustertls init` (make a data directory and its cluster) and
// `clustertls serve` (run the HTTPS REST API until SIGTERM/SIGINT).
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>

#include "authority/cluster.h"
#include "authority/data_dir.h"
#include "cli/common.h"
#include "server/control_plane.h"

namespace clustertls::cli {

namespace {

struct InitCmdOptions {
  std::string data_dir;
  std::string fqdn;
  std::string store_url;
  std::string ca_passphrase_file;
  std::string listen;
  std::string public_listen;
  std::string public_url;
};

core::Result<int> RunInit(const InitCmdOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(std::optional<std::string> passphrase,
                        ReadOptionalPassphrase(o.ca_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(server::InitDataDirResult made,
                        server::InitDataDir({.data_dir = o.data_dir,
                                             .fqdn = o.fqdn,
                                             .store_url = o.store_url,
                                             .listen = o.listen,
                                             .public_listen = o.public_listen,
                                             .public_url = o.public_url,
                                             .root_passphrase = passphrase},
                                            ctx.clock, ctx.rng));
  // Secrets and the data a script needs are printed even with --quiet: they are shown once.
  ctx.Info("clustertls: initialised cluster " + made.fqdn + " in " + made.data_dir);
  ctx.out << "CA SHA-256 fingerprint: " << made.ca_fingerprint << '\n';
  ctx.out << "URL: " << made.url << '\n';
  if (!made.root_passphrase.empty()) {
    ctx.out << "root CA passphrase: " << made.root_passphrase << '\n';
    ctx.out << "  Keep the root CA passphrase offline (a password manager or a safe): it is "
               "stored nowhere and shown only this once; serve does not need it.\n";
  }
  ctx.out << made.admin_user << " password: " << made.admin_password << '\n';
  ctx.Info("Start the control plane: clustertls serve --data-dir " + made.data_dir);
  ctx.out.flush();
  return 0;
}

struct ServeCmdOptions {
  std::string data_dir;
  std::string listen;
  int threads = 0;
  std::string public_listen;
  std::string public_url;
  int crl_days = 7;
  bool reset_tls_policy = false;
  std::string node_cert_validity = "30d";
  std::string agent_long_poll = "30s";
};

// The host part of the public listener's HOST:PORT (the flag, else the data directory's
// config), for the line that tells where it listens.
std::string PublicHost(const ServeCmdOptions& o) {
  std::string listen = o.public_listen;
  if (listen.empty()) {
    auto config = authority::LoadDataDirConfig(o.data_dir);
    listen = config ? config->public_listen : std::string(authority::kDefaultPublicListen);
  }
  const std::size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

core::Result<int> RunServe(const ServeCmdOptions& o, Context& ctx) {
  auto node_validity = core::ParseDuration(o.node_cert_validity);
  if (!node_validity) {
    return node_validity.error().WithContext("--node-cert-validity");
  }
  auto long_poll = core::ParseDuration(o.agent_long_poll);
  if (!long_poll) {
    return long_poll.error().WithContext("--agent-long-poll");
  }
  if (*node_validity < std::chrono::seconds(30)) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "--node-cert-validity: at least 30s (agents renew at 2/3 of it)");
  }
  if (*long_poll > std::chrono::minutes(5)) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "--agent-long-poll: at most 5m");
  }
  // Signals are taken by sigwait in this thread only: block them before any thread starts so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &signals, &old_mask);
  auto plane = server::ControlPlane::Start({.data_dir = o.data_dir,
                                            .listen = o.listen,
                                            .threads = o.threads,
                                            .public_listen = o.public_listen,
                                            .public_url = o.public_url,
                                            .crl_validity = std::chrono::days(o.crl_days),
                                            .reset_tls_policy = o.reset_tls_policy,
                                            .node_cert_validity = *node_validity,
                                            .agent_long_poll = *long_poll},
                                           ctx.clock);
  if (!plane) {
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    return plane.error();
  }
  ctx.out << "clustertls: serving " << (*plane)->url() << '\n';
  if ((*plane)->public_port() != 0) {
    ctx.out << "clustertls: public listener http://" << PublicHost(o) << ':'
            << (*plane)->public_port() << " (OCSP, CRL, CA chain; no authentication)\n";
  }
  if (!(*plane)->public_url().empty()) {
    ctx.out << "clustertls: certificates point at " << authority::CrlUrlOf((*plane)->public_url())
            << " and " << authority::OcspUrlOf((*plane)->public_url()) << '\n';
  }
  ctx.out.flush();
  int received = 0;
  sigwait(&signals, &received);
  ctx.err << "clustertls: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
          << ": draining in-flight requests and stopping\n";
  (*plane)->Stop();
  ctx.err << "clustertls: stopped\n";
  return 0;
}

}  // namespace

void AddServerCommands(CLI::App& app, Action* action) {
  {
    auto o = std::make_shared<InitCmdOptions>();
    CLI::App* cmd = app.add_subcommand(
        "init",
        "Create a cluster in a new data directory: a root CA (key encrypted with the root\n"
        "passphrase, generated and printed once unless --ca-passphrase-file is given), an issuing\n"
        "CA, the named certificates cm, api, proxy, syncer and metrics (Redis' SAN layout for\n"
        "--fqdn), an admin user (password printed once), the default TLS policy and the config.\n"
        "Prints the CA's SHA-256 fingerprint and the URL `serve` will listen on.");
    cmd->add_option("--data-dir", o->data_dir,
                    "the data directory to create (mode 0700; an existing empty one is used)")
        ->required();
    cmd->add_option("--fqdn", o->fqdn, "the cluster's fully qualified domain name")->required();
    cmd->add_option("--store", o->store_url,
                    "store URL: postgres://... or sqlite:///path (default: SQLite file "
                    "DIR/clustertls.db)");
    cmd->add_option("--ca-passphrase-file", o->ca_passphrase_file,
                    "encrypt the root CA key with this passphrase (whole content, one trailing "
                    "newline ignored) instead of a generated one");
    cmd->add_option("--listen", o->listen,
                    "HOST:PORT `serve` listens on (default: 127.0.0.1:9443)");
    cmd->add_option("--public-listen", o->public_listen,
                    "HOST:PORT of the plain-HTTP public listener for OCSP, the CRL and the CA "
                    "chain (no authentication), or \"off\" (default: 127.0.0.1:9080); `serve "
                    "--public-listen` overrides it");
    cmd->add_option("--public-url", o->public_url,
                    "base URL put into issued certificates: CRL distribution point <URL>/v1/crl, "
                    "OCSP <URL>/ocsp (default: http://<public-listen>); use the name clients "
                    "reach the public listener by, e.g. http://ca.example.com:9080");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunInit(*o, ctx); }; });
  }
  {
    auto o = std::make_shared<ServeCmdOptions>();
    CLI::App* cmd = app.add_subcommand(
        "serve",
        "Serve the REST API over HTTPS with the cluster's `api` certificate under its "
        "control-path\n"
        "TLS policy, until SIGTERM or SIGINT (in-flight requests are answered first). Prints\n"
        "\"clustertls: serving https://HOST:PORT\" once listening (the real port for :0), then\n"
        "\"clustertls: public listener http://HOST:PORT ...\" for the plain-HTTP OCSP/CRL "
        "listener.");
    cmd->add_option("--data-dir", o->data_dir, "the data directory made by `clustertls init`")
        ->required();
    cmd->add_option("--listen", o->listen,
                    "HOST:PORT to listen on (default: the data directory's config, "
                    "127.0.0.1:9443; port 0 picks a free port)");
    cmd->add_option("--threads", o->threads, "I/O threads (default: one per core)")
        ->check(CLI::Range(0, 256));
    cmd->add_option("--public-listen", o->public_listen,
                    "HOST:PORT of the plain-HTTP public listener (OCSP at /ocsp, the CRL at "
                    "/v1/crl and /v1/crl.pem, the CA chain at /v1/ca/chain; no authentication, as "
                    "TLS clients expect), or \"off\" (default: the data directory's config, "
                    "127.0.0.1:9080; port 0 picks a free port)");
    cmd->add_option("--public-url", o->public_url,
                    "base URL put into the certificates issued from now on (CRL distribution "
                    "point <URL>/v1/crl, OCSP <URL>/ocsp) (default: the config's, else "
                    "http://<public listen address>)");
    cmd->add_option("--crl-days", o->crl_days,
                    "validity of the CRL (nextUpdate - thisUpdate) in days; it is regenerated on "
                    "every revocation and once half of it has passed")
        ->default_val(7)
        ->check(CLI::Range(1, 365));
    cmd->add_flag("--reset-tls-policy", o->reset_tls_policy,
                  "store the default TLS policy (audited) before starting: for a stored policy "
                  "serve refuses (weak ciphers, or one default clients cannot connect under)");
    cmd->add_option("--node-cert-validity", o->node_cert_validity,
                    "lifetime of the node certificates issued to agents (enrollment and renewal; "
                    "agents renew at 2/3 of it), e.g. 30d, 12h")
        ->default_val("30d");
    cmd->add_option("--agent-long-poll", o->agent_long_poll,
                    "the longest an agent's state request waits for a change before the server "
                    "answers \"unchanged\"; nodes not seen for 3 times this are stale")
        ->default_val("30s");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunServe(*o, ctx); }; });
  }
}

}  // namespace clustertls::cli
