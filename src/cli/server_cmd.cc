// The control plane's commands: `clustertls init` (make a data directory and its cluster) and
// `clustertls serve` (run the HTTPS REST API until SIGTERM/SIGINT).
#include <pthread.h>
#include <signal.h>

#include <memory>
#include <string>

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
};

core::Result<int> RunInit(const InitCmdOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(std::optional<std::string> passphrase,
                        ReadOptionalPassphrase(o.ca_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(server::InitDataDirResult made,
                        server::InitDataDir({.data_dir = o.data_dir,
                                             .fqdn = o.fqdn,
                                             .store_url = o.store_url,
                                             .listen = o.listen,
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
};

core::Result<int> RunServe(const ServeCmdOptions& o, Context& ctx) {
  // Signals are taken by sigwait in this thread only: block them before any thread starts so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &signals, &old_mask);
  auto plane = server::ControlPlane::Start(
      {.data_dir = o.data_dir, .listen = o.listen, .threads = o.threads}, ctx.clock);
  if (!plane) {
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    return plane.error();
  }
  ctx.out << "clustertls: serving " << (*plane)->url() << std::endl;
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
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunInit(*o, ctx); }; });
  }
  {
    auto o = std::make_shared<ServeCmdOptions>();
    CLI::App* cmd = app.add_subcommand(
        "serve",
        "Serve the REST API over HTTPS with the cluster's `api` certificate under its "
        "control-path\n"
        "TLS policy, until SIGTERM or SIGINT (in-flight requests are answered first). Prints\n"
        "\"clustertls: serving https://HOST:PORT\" once listening (the real port for :0).");
    cmd->add_option("--data-dir", o->data_dir, "the data directory made by `clustertls init`")
        ->required();
    cmd->add_option("--listen", o->listen,
                    "HOST:PORT to listen on (default: the data directory's config, "
                    "127.0.0.1:9443; port 0 picks a free port)");
    cmd->add_option("--threads", o->threads, "I/O threads (default: one per core)")
        ->check(CLI::Range(0, 256));
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunServe(*o, ctx); }; });
  }
}

}  // namespace clustertls::cli
