// `clustertls nodes ...` (the operator's side, through the API as the logged-in user) and
// `clustertls agent enroll|run` (the node's side). docs/nodes.md.

#include <signal.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "cli/api_client.h"
#include "cli/app.h"
#include "cli/common.h"

namespace clustertls::cli {
namespace {

using json = nlohmann::json;

struct NodesOptions {
  ApiOptions api;
  std::string node;
  std::vector<std::string> assign;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  std::string ttl = "1h";
  bool assign_given = false;
};

std::string HookText(const json& node) {
  if (!node.contains("last_hook") || !node["last_hook"].is_object()) {
    return "-";
  }
  const json& h = node["last_hook"];
  return "exit " + (h.contains("exit_code") ? h["exit_code"].dump() : std::string("?"));
}

void AddNodesCommands(CLI::App& app, Action* action) {
  CLI::App* nodes = app.add_subcommand(
      "nodes",
      "Cluster nodes and their agents: enrollment tokens, what each node applied, assignment\n"
      "and removal (docs/nodes.md)");
  nodes->require_subcommand(1);
  CLI::App* token = nodes->add_subcommand("token", "One-time enrollment tokens");
  token->require_subcommand(1);
  {
    auto o = std::make_shared<NodesOptions>();
    CLI::App* cmd = token->add_subcommand(
        "create",
        "Create a one-time enrollment token for NODE (admin). The node's agent trades it for\n"
        "its node certificate (CN = NODE, the --dns and --ip names) with `clustertls agent\n"
        "enroll`; it then receives the --assign'ed cluster certificates. With --quiet only the\n"
        "token is printed.");
    cmd->add_option("node", o->node, "the node's name (lower-case letters, digits and '-')")
        ->required();
    cmd->add_option("--assign", o->assign,
                    "cluster certificates the node receives, e.g. proxy,syncer (never api)")
        ->delimiter(',');
    cmd->add_option("--dns", o->dns, "DNS names of the node's certificate")->delimiter(',');
    cmd->add_option("--ip", o->ips, "IP addresses of the node's certificate")->delimiter(',');
    cmd->add_option("--ttl", o->ttl, "how long the token can be used: 60s .. 7d")
        ->default_val("1h");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NodesOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(std::chrono::seconds ttl, core::ParseDuration(o.ttl));
      json body = {{"node", o.node},
                   {"assign", o.assign},
                   {"dns", o.dns},
                   {"ip", o.ips},
                   {"ttl_seconds", ttl.count()}};
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("POST", "/v1/nodes/tokens", body));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      if (ctx.quiet) {
        ctx.out << Str(reply, "token") << '\n';
        return 0;
      }
      ctx.out << "token: " << Str(reply, "token") << '\n';
      ctx.out << "node: " << o.node << "  expires: " << Str(reply, "expires_at") << '\n';
      ctx.Info("On the node: clustertls agent enroll --server " + api.server() +
               " --ca-fingerprint <the CA fingerprint> --token <the token> --dir /etc/clustertls");
      ctx.Info("The token is shown only this once and works once.");
      return 0;
    });
  }
  {
    auto o = std::make_shared<NodesOptions>();
    CLI::App* cmd = token->add_subcommand("list", "Unused enrollment tokens (admin)");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NodesOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/nodes/tokens"));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      for (const json& t : reply.value("tokens", json::array())) {
        rows.push_back({Str(t, "id"), Str(t, "node"), Str(t, "assign"), Str(t, "expires_at"),
                        Str(t, "created_by")});
      }
      PrintTable(ctx.out, {"ID", "NODE", "ASSIGN", "EXPIRES", "CREATED BY"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<NodesOptions>();
    CLI::App* cmd = nodes->add_subcommand(
        "list",
        "Every enrolled node: the cluster state version it applied and the one it should have,\n"
        "whether it is stale (not seen for 3 long-poll periods), its certificate's expiry and\n"
        "its last hook's result");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NodesOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/nodes"));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      for (const json& n : reply.value("nodes", json::array())) {
        std::string state = n.value("stale", false)    ? "stale"
                            : n.value("behind", false) ? "behind"
                                                       : "current";
        rows.push_back({Str(n, "name"),
                        std::to_string(n.value("applied_version", 0)) + "/" +
                            std::to_string(n.value("desired_version", 0)),
                        state, Str(n, "last_seen"), Str(n, "cert_not_after"), Str(n, "assign"),
                        HookText(n)});
      }
      PrintTable(ctx.out,
                 {"NODE", "APPLIED", "STATE", "LAST SEEN", "CERT EXPIRES", "ASSIGN", "HOOK"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<NodesOptions>();
    CLI::App* cmd = nodes->add_subcommand(
        "assign",
        "Replace the cluster certificates NODE receives (admin); its agent applies the "
        "change within a second");
    cmd->add_option("node", o->node, "the node")->required();
    cmd->add_option("--names", o->assign, "certificate names, e.g. proxy,syncer (empty: none)")
        ->delimiter(',')
        ->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NodesOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      std::vector<std::string> names;
      for (const std::string& n : o.assign) {
        if (!n.empty()) {
          names.push_back(n);
        }
      }
      CTLS_ASSIGN_OR_RETURN(
          json reply, api.Call("PUT", "/v1/nodes/" + PathSegment(o.node), json{{"assign", names}}));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "node " << o.node << " now receives: " << Str(reply, "assign") << '\n';
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<NodesOptions>();
    CLI::App* cmd = nodes->add_subcommand(
        "remove",
        "Remove NODE (admin): revokes its node certificates (its agent is refused at "
        "once) and drops its assignments");
    cmd->add_option("node", o->node, "the node")->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NodesOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("DELETE", "/v1/nodes/" + PathSegment(o.node)));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "removed node " << o.node << "; revoked: " << Str(reply, "revoked") << '\n';
      }
      return 0;
    });
  }
}

struct AgentOptions {
  std::string server;
  std::string ca_fingerprint;
  std::string token;
  std::string token_file;
  std::string dir = "/etc/clustertls";
  std::string owner;
  std::string on_change;
  std::string hook_timeout = "60s";
  std::string metrics_file;
};

core::Result<int> RunEnroll(const AgentOptions& o, Context& ctx) {
  std::string token = o.token;
  if (!o.token_file.empty()) {
    CTLS_ASSIGN_OR_RETURN(token, core::ReadPassphraseFile(o.token_file));
  }
  if (token.empty()) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "--token or --token-file: the enrollment token is required");
  }
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(agent::EnrollResult enrolled,
                        agent::Enroll({.server_url = o.server,
                                       .ca_fingerprint = o.ca_fingerprint,
                                       .token = token,
                                       .dir = o.dir,
                                       .owner = owner},
                                      ctx.rng));
  ctx.out << "enrolled node " << enrolled.node << ": certificate " << enrolled.serial_hex
          << ", valid until " << core::FormatTime(enrolled.not_after) << '\n';
  ctx.Info("Wrote " + o.dir + "/node_cert.pem, node_key.pem (" + KeyModeNote(owner) +
           "), ca.pem. Next: clustertls agent run --dir " + o.dir +
           " --on-change '<reload command>'");
  return 0;
}

core::Result<int> RunAgent(const AgentOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(std::chrono::seconds hook_timeout, core::ParseDuration(o.hook_timeout));
  // SIGTERM / SIGINT stop the loop; a sync in progress (install, hook, report) completes first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> stop{false};
  core::Result<void> result;
  std::atomic<bool> done{false};
  std::thread loop([&] {
    result = agent::Run({.dir = o.dir,
                         .on_change = o.on_change,
                         .hook_timeout = hook_timeout,
                         .owner = owner,
                         .agent_version = kVersion,
                         .metrics_file = o.metrics_file},
                        ctx.rng, stop);
    done = true;
    kill(getpid(), SIGTERM);  // wakes sigwait below
  });
  int received = 0;
  sigwait(&signals, &received);
  if (!done.load()) {
    ctx.err << "clustertls agent: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": stopping\n";
    stop = true;
    // A long-poll in flight is abandoned: the files on disk are always a complete set.
    loop.detach();
    for (int i = 0; i < 100 && !done.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!done.load()) {
      std::_Exit(0);
    }
    return 0;
  }
  loop.join();
  if (!result) {
    return result.error();
  }
  return 0;
}

void AddAgentCommands(CLI::App& app, Action* action) {
  CLI::App* agent_cmd = app.add_subcommand(
      "agent",
      "The node agent: enroll this node once, then keep its certificates, CA bundle, CRL and\n"
      "TLS policy current in a directory and reload its services (docs/nodes.md)");
  agent_cmd->require_subcommand(1);
  {
    auto o = std::make_shared<AgentOptions>();
    CLI::App* cmd = agent_cmd->add_subcommand(
        "enroll",
        "Enroll this node with a one-time token (from `clustertls nodes token create`). The\n"
        "token is sent only to a server whose CA has the pinned SHA-256 fingerprint; the node's\n"
        "key is made here and never leaves it. Writes node_cert.pem, node_key.pem and ca.pem\n"
        "into --dir.");
    cmd->add_option("--server", o->server, "https://HOST:PORT of `clustertls serve`")->required();
    cmd->add_option("--ca-fingerprint", o->ca_fingerprint,
                    "SHA-256 fingerprint of the cluster's CA, as `clustertls init` printed it")
        ->required();
    cmd->add_option("--token", o->token, "the enrollment token");
    cmd->add_option("--token-file", o->token_file,
                    "a file holding the token (keeps it out of the process list)");
    cmd->add_option("--dir", o->dir, "the node's directory")->default_val("/etc/clustertls");
    AddOwnerOption(cmd, o->owner);
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunEnroll(*o, ctx); }; });
  }
  {
    auto o = std::make_shared<AgentOptions>();
    CLI::App* cmd = agent_cmd->add_subcommand(
        "run",
        "Keep --dir current: long-polls the control plane (changes arrive within a second),\n"
        "installs each new set atomically (a versioned directory and one symlink switch, so a\n"
        "reader never sees a new certificate with an old key), runs --on-change with the\n"
        "changed file names in $CLUSTERTLS_CHANGED, reports what it applied, and renews the\n"
        "node certificate at 2/3 of its lifetime. Files: node_cert.pem, node_key.pem, ca.pem,\n"
        "crl.pem, policy.json and <name>_cert.pem / <name>_key.pem per assigned certificate.");
    cmd->add_option("--dir", o->dir, "the node's directory (enrolled)")
        ->default_val("/etc/clustertls");
    cmd->add_option("--on-change", o->on_change,
                    "shell command run after each applied change, e.g. "
                    "'redis-cli ... CONFIG SET tls-cert-file ...' or 'nginx -s reload'");
    cmd->add_option("--hook-timeout", o->hook_timeout, "how long --on-change may run")
        ->default_val("60s");
    cmd->add_option("--metrics-file", o->metrics_file,
                    "write the agent's metrics there (Prometheus text, for node_exporter's "
                    "textfile collector)");
    AddOwnerOption(cmd, o->owner);
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunAgent(*o, ctx); }; });
  }
}

}  // namespace

void AddNodeCommands(CLI::App& app, Action* action) {
  AddNodesCommands(app, action);
  AddAgentCommands(app, action);
}

}  // namespace clustertls::cli
