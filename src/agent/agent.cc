#include "agent/agent.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "agent/backoff.h"
#include "agent/hook.h"
#include "agent/node_dir.h"
#include "agent/state.h"
#include "core/encoding.h"
#include "net/https_client.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/issuer.h"
#include "pki/key.h"

namespace clustertls::agent {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using json = nlohmann::json;

// "AB:CD:..." or "abcd..." -> lower-case hex without separators.
std::string NormalizeFingerprint(std::string_view fp) {
  std::string out;
  for (char c : fp) {
    if (c != ':' && c != ' ') {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

// The error in a JSON error body ({"error":{"message"}}), else the status.
std::string ServerError(const net::ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    return j["error"]["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(r.status);
}

struct NewNodeKey {
  std::string key_pem;
  std::string csr_pem;
};

Result<NewNodeKey> MakeKeyAndCsr() {
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  // The CSR proves possession of the key only: the server puts the node's bound names in.
  CTLS_ASSIGN_OR_RETURN(pki::Csr csr, pki::Csr::Create(key, {.common_name = "clustertls-node"}));
  CTLS_ASSIGN_OR_RETURN(std::string key_pem, key.ToPem());
  return NewNodeKey{.key_pem = std::move(key_pem), .csr_pem = csr.ToPem()};
}

struct IssuedNodeCert {
  std::string node;
  std::string certificate_pem;
  std::string ca_chain_pem;
  std::string serial;
  std::vector<std::string> assign;
};

Result<IssuedNodeCert> ParseIssued(const net::ClientResponse& r, const char* what) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("certificate") || !j["certificate"].is_string() ||
      !j.contains("node") || !j["node"].is_string()) {
    return Fail(ErrorCode::kParse, std::string(what) + ": the server's answer is not understood");
  }
  IssuedNodeCert out;
  out.node = j["node"].get<std::string>();
  out.certificate_pem = j["certificate"].get<std::string>();
  // Checked first: json::value() throws type_error on a member of another type.
  for (const char* field : {"ca_chain", "serial"}) {
    if (j.contains(field) && !j[field].is_string()) {
      return Fail(ErrorCode::kParse,
                  std::string(what) + ": \"" + field + "\" in the server's answer is not a string");
    }
  }
  out.ca_chain_pem = j.value("ca_chain", "");
  out.serial = j.value("serial", "");
  if (j.contains("assign") && j["assign"].is_array()) {
    for (const auto& a : j["assign"]) {
      if (a.is_string()) {
        out.assign.push_back(a.get<std::string>());
      }
    }
  }
  return out;
}

void DefaultLog(const std::string& line) {
  std::fprintf(stderr, "clustertls agent: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

Result<EnrollResult> Enroll(const EnrollOptions& options, core::Rng& rng) {
  (void)rng;
  CTLS_ASSIGN_OR_RETURN(net::HttpsUrl url, net::ParseHttpsUrl(options.server_url));
  const std::string pin = NormalizeFingerprint(options.ca_fingerprint);
  if (pin.size() != 64 || pin.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "--ca-fingerprint: expected a SHA-256 fingerprint (64 hex digits, colons "
                "allowed), as `clustertls init` prints it");
  }
  // 1. The CA chain, unverified: nothing secret is sent on this connection.
  std::string anchor_pem;
  {
    CTLS_ASSIGN_OR_RETURN(
        auto client, net::HttpsClient::Connect(
                         {.url = url, .unverified_for_pinning = true, .timeout = options.timeout}));
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse r,
                          client->Send({.method = "GET", .target = "/v1/ca/chain"}));
    if (r.status != 200) {
      return Fail(ErrorCode::kIo, url.ToString() + "/v1/ca/chain: " + ServerError(r));
    }
    auto chain = pki::Certificate::ParseAll(r.body);
    if (!chain) {
      return chain.error().WithContext(url.ToString() + "/v1/ca/chain");
    }
    std::string seen;
    for (const pki::Certificate& c : *chain) {
      const pki::Fingerprint fp = c.fingerprint();
      if (fp.hex == pin) {
        anchor_pem = c.ToPem();
      }
      seen += (seen.empty() ? "" : ", ") + fp.colon;
    }
    if (anchor_pem.empty()) {
      return Fail(ErrorCode::kVerifyFailed,
                  url.ToString() +
                      ": no CA of this server matches --ca-fingerprint (the server's "
                      "CAs: " +
                      seen + "); the token was not sent");
    }
  }
  // 2. D must not already hold a node (a second enrollment would replace its identity).
  CTLS_ASSIGN_OR_RETURN(auto dir, NodeDir::Open(options.dir, {.owner = options.owner}));
  CTLS_ASSIGN_OR_RETURN(auto current, dir->ReadCurrent());
  if (current.count(kNodeCertFile) != 0) {
    return Fail(ErrorCode::kAlreadyExists,
                options.dir + ": already holds an enrolled node (" + kNodeCertFile +
                    "); remove the directory's contents to enroll again");
  }
  // 3. The token and a CSR for a key made here, over a connection verified against the pin.
  CTLS_ASSIGN_OR_RETURN(NewNodeKey key, MakeKeyAndCsr());
  CTLS_ASSIGN_OR_RETURN(
      auto client,
      net::HttpsClient::Connect({.url = url, .ca_pem = anchor_pem, .timeout = options.timeout}));
  json body = {{"token", options.token}, {"csr", key.csr_pem}};
  CTLS_ASSIGN_OR_RETURN(
      net::ClientResponse r,
      client->Send({.method = "POST", .target = "/v1/agent/enroll", .body = body.dump()}));
  if (r.status == 403) {
    return Fail(ErrorCode::kPermissionDenied, "enrollment refused: " + ServerError(r));
  }
  if (r.status != 201) {
    return Fail(ErrorCode::kIo, "enrollment failed: " + ServerError(r));
  }
  CTLS_ASSIGN_OR_RETURN(IssuedNodeCert issued, ParseIssued(r, "enrollment"));
  CTLS_ASSIGN_OR_RETURN(pki::Certificate cert, pki::Certificate::FromPem(issued.certificate_pem));
  json config = {{"server", url.ToString()}, {"node", issued.node}};
  std::vector<File> files = {
      {.name = kNodeCertFile, .content = issued.certificate_pem + issued.ca_chain_pem},
      {.name = kNodeKeyFile, .content = key.key_pem, .secret = true},
      {.name = "ca.pem", .content = issued.ca_chain_pem.empty() ? anchor_pem : issued.ca_chain_pem},
      {.name = kAgentConfigFile, .content = config.dump(2) + "\n"}};
  if (auto installed = dir->Install(files, 0); !installed) {
    return installed.error().WithContext("writing the node's certificate into " + options.dir +
                                         " (the token is used: create a new one)");
  }
  return EnrollResult{.node = issued.node,
                      .serial_hex = issued.serial,
                      .not_after = cert.not_after(),
                      .assign = issued.assign};
}

namespace {

// One running agent.
class Runner {
 public:
  Runner(const RunOptions& options, core::Rng& rng, const std::atomic<bool>& stop,
         AgentStatus* status)
      : o_(options),
        rng_(rng),
        stop_(stop),
        status_(status != nullptr ? status : &own_status_),
        backoff_({.initial = options.backoff_initial, .max = options.backoff_max}, rng) {
    if (!o_.log) {
      o_.log = DefaultLog;
    }
    if (o_.clock == nullptr) {
      o_.clock = &system_clock_;
    }
  }

  Result<void> Run() {
    CTLS_ASSIGN_OR_RETURN(dir_, NodeDir::Open(o_.dir, {.owner = o_.owner}));
    CTLS_ASSIGN_OR_RETURN(auto current, dir_->ReadCurrent());
    if (current.count(kNodeCertFile) == 0 || current.count(kAgentConfigFile) == 0) {
      return Fail(ErrorCode::kNotFound, o_.dir +
                                            ": no enrolled node here (run `clustertls agent "
                                            "enroll --dir " +
                                            o_.dir + " ...` first)");
    }
    json config = json::parse(current[kAgentConfigFile], nullptr, false);
    if (!config.is_object() || !config.contains("server") || !config["server"].is_string()) {
      return Fail(ErrorCode::kParse, o_.dir + "/" + kAgentConfigFile + ": no \"server\"");
    }
    CTLS_ASSIGN_OR_RETURN(url_, net::ParseHttpsUrl(config["server"].get<std::string>()));
    node_ = config.contains("node") && config["node"].is_string()
                ? config["node"].get<std::string>()
                : "";
    files_ = std::move(current);
    status_->applied_version = dir_->CurrentVersion().value_or(0);
    CTLS_RETURN_IF_ERROR(LoadCert());
    CTLS_RETURN_IF_ERROR(CheckNotExpired());
    o_.log("node " + node_ + ": syncing " + o_.dir + " from " + url_.ToString() +
           " (applied version " + std::to_string(status_->applied_version) + ")");
    bool reported_version = false;
    while (!stop_.load()) {
      if (auto expired = CheckNotExpired(); !expired) {
        return expired;
      }
      Result<void> round = Round(&reported_version);
      if (!round) {
        ++status_->errors;
        client_.reset();
        const auto delay = backoff_.Next();
        o_.log(round.error().message + " (retrying in " + std::to_string(delay.count()) + " ms)");
        WriteMetrics();
        SleepUnlessStopped(delay);
      } else {
        backoff_.Reset();
      }
    }
    return {};
  }

 private:
  void SleepUnlessStopped(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (!stop_.load() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(50), std::chrono::duration_cast<std::chrono::milliseconds>(
                                             end - std::chrono::steady_clock::now())));
    }
  }

  // Reads the node certificate from the current set and schedules its renewal.
  Result<void> LoadCert() {
    CTLS_ASSIGN_OR_RETURN(pki::Certificate cert, pki::Certificate::FromPem(files_[kNodeCertFile]));
    // The issuer backdates notBefore by pki::kBackdate (clock skew): the lifetime counts from
    // the issuance, else a short-lived certificate would be "due" as soon as it arrives.
    auto not_before = cert.not_before();
    if (cert.not_after() - not_before > pki::kBackdate) {
      not_before += pki::kBackdate;
    }
    const auto lifetime = cert.not_after() - not_before;
    // 2/3 of the lifetime, +-10% of it (jitter spreads a fleet enrolled at once).
    std::uint8_t b[2] = {0, 0};
    double u = 0.5;
    if (rng_.Fill(b)) {
      u = static_cast<double>((b[0] << 8) | b[1]) / 65535.0;
    }
    const double fraction = 2.0 / 3.0 + (u - 0.5) * 0.2;
    status_->cert_not_after = cert.not_after();
    status_->renew_at =
        not_before + std::chrono::duration_cast<core::TimePoint::duration>(lifetime * fraction);
    cert_serial_ = cert.serial_hex();
    return {};
  }

  // An expired node certificate cannot be renewed (the server refuses it): a new enrollment.
  Result<void> CheckNotExpired() const {
    if (o_.clock->Now() >= status_->cert_not_after) {
      return Fail(ErrorCode::kExpired,
                  o_.dir + "/" + kNodeCertFile + ": the node certificate (serial " + cert_serial_ +
                      ") expired at " + core::FormatTime(status_->cert_not_after) +
                      "; enroll the node again with a new token (clustertls nodes token create " +
                      node_ + ") into an empty directory");
    }
    return {};
  }

  Result<net::HttpsClient*> Client() {
    if (client_ == nullptr) {
      CTLS_ASSIGN_OR_RETURN(
          client_, net::HttpsClient::Connect({.url = url_,
                                              .ca_pem = files_["ca.pem"],
                                              .timeout = o_.long_poll + std::chrono::seconds(15),
                                              .client_cert_pem = files_[kNodeCertFile],
                                              .client_key_pem = files_[kNodeKeyFile]}));
    }
    return client_.get();
  }

  Result<net::ClientResponse> Send(const std::string& method, const std::string& target,
                                   const std::string& body = {}) {
    CTLS_ASSIGN_OR_RETURN(net::HttpsClient * client, Client());
    auto r = client->Send({.method = method, .target = target, .body = body});
    if (!r) {
      return r.error().WithContext(url_.ToString());
    }
    if (r->status == 403) {
      return Fail(ErrorCode::kPermissionDenied,
                  url_.ToString() + " refused this node: " + ServerError(*r));
    }
    return r;
  }

  Result<void> Report(std::optional<HookResult> hook) {
    json body = {{"applied_version", status_->applied_version},
                 {"agent_version", o_.agent_version}};
    if (hook) {
      body["hook"] = {{"exit_code", hook->exit_code},
                      {"output_tail", hook->output_tail},
                      {"at", core::FormatTime(hook->at)}};
    }
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse r,
                          Send("POST", "/v1/agent/report",
                               body.dump(-1, ' ', false, json::error_handler_t::replace)));
    if (r.status != 200) {
      return Fail(ErrorCode::kIo, "report: " + ServerError(r));
    }
    return {};
  }

  Result<void> Renew() {
    CTLS_ASSIGN_OR_RETURN(NewNodeKey key, MakeKeyAndCsr());
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse r,
                          Send("POST", "/v1/agent/renew", json{{"csr", key.csr_pem}}.dump()));
    if (r.status != 201) {
      return Fail(ErrorCode::kIo, "renewal: " + ServerError(r));
    }
    CTLS_ASSIGN_OR_RETURN(IssuedNodeCert issued, ParseIssued(r, "renewal"));
    std::map<std::string, std::string> next = files_;
    next[kNodeCertFile] = issued.certificate_pem + issued.ca_chain_pem;
    next[kNodeKeyFile] = key.key_pem;
    if (auto installed = Install(next, status_->applied_version); !installed) {
      return installed.error().WithContext("renewal");
    }
    client_.reset();  // the next request presents the new certificate
    CTLS_RETURN_IF_ERROR(LoadCert());
    ++status_->renewals;
    o_.log("renewed the node certificate: serial " + cert_serial_ + ", valid until " +
           core::FormatTime(status_->cert_not_after));
    return {};
  }

  Result<std::vector<std::string>> Install(const std::map<std::string, std::string>& set,
                                           std::int64_t version) {
    std::vector<File> files;
    for (const auto& [name, content] : set) {
      const bool secret = name == kNodeKeyFile || name.ends_with("_key.pem");
      files.push_back({.name = name, .content = content, .secret = secret});
    }
    auto installed = dir_->Install(files, version);
    if (!installed) {
      ++status_->apply_failures;
      return installed.error().WithContext(o_.dir + ": the previous files stay in place");
    }
    files_ = set;
    return installed->changed;
  }

  Result<void> Round(bool* reported_version) {
    const core::TimePoint now = o_.clock->Now();
    if (now >= status_->renew_at) {
      if (auto r = Renew(); !r) {
        ++status_->renewal_failures;
        const auto left = status_->cert_not_after - now;
        if (left < (status_->cert_not_after - status_->renew_at) / 2) {
          o_.log("WARNING: the node certificate expires at " +
                 core::FormatTime(status_->cert_not_after) +
                 " and renewing it keeps failing; once it has expired the node needs a new "
                 "enrollment token");
        }
        return r;
      }
    }
    if (!*reported_version) {
      CTLS_RETURN_IF_ERROR(Report(std::nullopt));
      *reported_version = true;
    }
    // Wait no longer than the renewal time.
    auto wait = o_.long_poll;
    const auto until_renewal =
        std::chrono::duration_cast<std::chrono::seconds>(status_->renew_at - now);
    wait = std::max(std::chrono::seconds(1), std::min(wait, until_renewal));
    const std::string target = "/v1/agent/state?after=" + std::to_string(status_->applied_version) +
                               "&wait=" + std::to_string(wait.count()) + "&digest=" + digest_;
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse r, Send("GET", target));
    if (r.status != 200) {
      return Fail(ErrorCode::kIo, "state: " + ServerError(r));
    }
    CTLS_ASSIGN_OR_RETURN(StateAnswer state, ParseStateAnswer(r.body));
    const std::int64_t version = state.version;
    const std::string& digest = state.digest;
    if (state.unchanged) {
      if (version != status_->applied_version) {
        status_->applied_version = version;
        CTLS_RETURN_IF_ERROR(Report(std::nullopt));
      }
      WriteMetrics();
      return {};
    }
    // The server's files, plus the agent's own.
    std::map<std::string, std::string> next = std::move(state.files);
    for (const char* own : {kNodeCertFile, kNodeKeyFile, kAgentConfigFile}) {
      next[own] = files_[own];
    }
    CTLS_ASSIGN_OR_RETURN(std::vector<std::string> changed, Install(next, version));
    digest_ = digest;
    status_->applied_version = version;
    std::optional<HookResult> hook;
    if (!changed.empty()) {
      ++status_->applies;
      std::string names;
      for (const std::string& n : changed) {
        names += (names.empty() ? "" : " ") + n;
      }
      o_.log("applied version " + std::to_string(version) + ": " + names);
      if (o_.on_applied) {
        o_.on_applied(version, changed);
      }
      if (!o_.on_change.empty()) {
        auto ran = RunHook({.command = o_.on_change,
                            .changed = changed,
                            .dir = o_.dir,
                            .timeout = o_.hook_timeout});
        if (ran) {
          hook = *ran;
          status_->last_hook_exit = ran->exit_code;
          if (ran->exit_code != 0) {
            o_.log("--on-change exited with " + std::to_string(ran->exit_code) +
                   (ran->timed_out ? " (timed out)" : "") + ": " + ran->output_tail);
          }
        } else {
          hook = HookResult{
              .exit_code = -1, .output_tail = ran.error().message, .at = o_.clock->Now()};
          o_.log("--on-change could not run: " + ran.error().message);
        }
      }
    }
    CTLS_RETURN_IF_ERROR(Report(hook));
    WriteMetrics();
    return {};
  }

  void WriteMetrics() {
    if (o_.metrics_file.empty()) {
      return;
    }
    auto secs = [](core::TimePoint t) {
      return std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    };
    std::string text =
        "# HELP clustertls_agent_applied_version The cluster state version applied.\n"
        "# TYPE clustertls_agent_applied_version gauge\n"
        "clustertls_agent_applied_version " +
        std::to_string(status_->applied_version) +
        "\n# TYPE clustertls_agent_applies_total counter\nclustertls_agent_applies_total " +
        std::to_string(status_->applies) +
        "\n# TYPE clustertls_agent_apply_failures_total counter\n"
        "clustertls_agent_apply_failures_total " +
        std::to_string(status_->apply_failures) +
        "\n# TYPE clustertls_agent_errors_total counter\nclustertls_agent_errors_total " +
        std::to_string(status_->errors) +
        "\n# TYPE clustertls_agent_renewal_failures_total counter\n"
        "clustertls_agent_renewal_failures_total " +
        std::to_string(status_->renewal_failures) +
        "\n# HELP clustertls_agent_node_cert_expiry_timestamp_seconds When the node certificate "
        "expires.\n# TYPE clustertls_agent_node_cert_expiry_timestamp_seconds gauge\n"
        "clustertls_agent_node_cert_expiry_timestamp_seconds " +
        secs(status_->cert_not_after) +
        "\n# TYPE clustertls_agent_node_cert_renew_timestamp_seconds gauge\n"
        "clustertls_agent_node_cert_renew_timestamp_seconds " +
        secs(status_->renew_at) + "\n";
    if (auto w = core::WriteFileAtomic(o_.metrics_file, text, {.mode = 0644, .overwrite = true});
        !w) {
      o_.log("--metrics-file: " + w.error().message);
    }
  }

  RunOptions o_;
  core::Rng& rng_;
  const std::atomic<bool>& stop_;
  AgentStatus own_status_;
  AgentStatus* status_;
  Backoff backoff_;
  core::SystemClock system_clock_;
  std::unique_ptr<NodeDir> dir_;
  net::HttpsUrl url_;
  std::string node_;
  std::string cert_serial_;
  std::string digest_;
  std::map<std::string, std::string> files_;
  std::unique_ptr<net::HttpsClient> client_;
};

}  // namespace

Result<void> Run(const RunOptions& options, core::Rng& rng, const std::atomic<bool>& stop,
                 AgentStatus* status) {
  Runner runner(options, rng, stop, status);
  return runner.Run();
}

}  // namespace clustertls::agent
