// The API client: `clustertls login` (pin the CA by fingerprint, create a token, save the client
// config) and the commands that use the saved config: `cluster certificate|config`, `users`,
// `tokens`, `audit` and `sign`. docs/api.md is the contract with the server.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "authority/audit_head.h"
#include "authority/cluster.h"
#include "authority/data_dir.h"
#include "authority/name_policy.h"
#include "authority/secrets.h"
#include "cli/api_client.h"
#include "cli/client_config.h"
#include "cli/common.h"
#include "core/encoding.h"
#include "core/files.h"
#include "net/https_client.h"
#include "store/store.h"

namespace clustertls::cli {

namespace {

using core::ErrorCode;
using json = nlohmann::json;

void PrintPolicy(Context& ctx, const json& policy) {
  for (const char* key : {"min_control_tls_version", "min_data_tls_version", "cipher_suites",
                          "tls13_ciphersuites", "client_auth", "sentinel_ssl_policy",
                          "min_sentinel_tls_version", "version"}) {
    ctx.out << key << ": " << Str(policy, key) << '\n';
  }
}

// --- login ----------------------------------------------------------------------------------

struct LoginOptions {
  std::string server;
  std::string ca_fingerprint;
  std::string user;
  std::string password_file;
  std::string client_config;
  int expires_in_days = 0;
};

core::Result<int> RunLogin(const LoginOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(net::HttpsUrl url, net::ParseHttpsUrl(o.server));
  CTLS_RETURN_IF_ERROR(NormalizeSha256Fingerprint(o.ca_fingerprint));
  CTLS_ASSIGN_OR_RETURN(std::string path, ClientConfigPath(o.client_config));

  // First contact, unverified: fetch the CA chain, then trust only the certificate whose
  // fingerprint is the pin: one of that chain or of the chain the server presented (its own
  // certificate included, as Elastic's ca_trusted_fingerprint accepts it).
  std::vector<pki::Certificate> chain;
  {
    CTLS_ASSIGN_OR_RETURN(
        auto first,
        net::HttpsClient::Connect({.url = url, .ca_pem = {}, .unverified_for_pinning = true}));
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse response, first->Send({.target = "/v1/ca/chain"}));
    if (response.status != 200) {
      return ServerError(response);
    }
    auto parsed = pki::Certificate::ParseAll(response.body);
    if (!parsed) {
      return parsed.error().WithContext(url.ToString() + "/v1/ca/chain");
    }
    chain = std::move(*parsed);
    for (const pki::Certificate& presented : first->peer_chain()) {
      if (std::none_of(chain.begin(), chain.end(),
                       [&](const pki::Certificate& c) { return c.Equals(presented); })) {
        chain.push_back(presented);
      }
    }
  }
  CTLS_ASSIGN_OR_RETURN(pki::Certificate pinned, FindPinnedCertificate(chain, o.ca_fingerprint));
  ClientConfig config{.server = url.ToString(), .ca_pem = pinned.ToPem()};

  // Verified from here on: the server must chain to the pinned CA, carry the URL's name and be
  // the cluster's api certificate (CheckClusterApiServer) before the password is sent.
  CTLS_ASSIGN_OR_RETURN(
      auto client,
      net::HttpsClient::Connect(
          {.url = url, .ca_pem = config.ca_pem, .check_peer = ClusterApiCheck(config.ca_pem)}));
  CTLS_ASSIGN_OR_RETURN(config.user, ResolveUser(o.user, "--user"));
  CTLS_ASSIGN_OR_RETURN(std::string password,
                        ResolvePassword(o.password_file, config.user, "--password-file"));
  json body = json::object();
  if (o.expires_in_days > 0) {
    body["expires_in_days"] = o.expires_in_days;
  }
  CTLS_ASSIGN_OR_RETURN(
      net::ClientResponse response,
      client->Send({.method = "POST",
                    .target = "/v1/tokens",
                    .headers = {{"Authorization", BasicAuth(config.user, password)}},
                    .body = body.dump()}));
  if (response.status != 201 && response.status != 200) {
    return ServerError(response);
  }
  json token = json::parse(response.body, nullptr, false);
  if (token.is_discarded() || !token.is_object() || !token.contains("token") ||
      !token["token"].is_string()) {
    return core::Fail(ErrorCode::kParse, "server: the response to POST /v1/tokens has no token");
  }
  config.token = token["token"].get<std::string>();
  CTLS_RETURN_IF_ERROR(SaveClientConfig(path, config));
  ctx.out << "logged in to " << config.server << " as " << config.user << " (CA "
          << pinned.fingerprint().colon << ")\n";
  ctx.Info("token " + Str(token, "id") + " expires " + Str(token, "expires_at") +
           "; client config saved to " + path);
  return 0;
}

// --- audit verify from the store ------------------------------------------------------------

// A signed head the log must reach, checked before any entry is read.
struct ExpectedHead {
  authority::AuditHead head;
  std::string label;  // for the summary: "signed head", "head recorded in FILE"
};

int ReportAudit(Context& ctx, const authority::AuditCheck& check,
                const std::vector<ExpectedHead>& heads) {
  if (!check.ok) {
    if (check.truncated) {
      ctx.out << check.problem << '\n';
    } else {
      ctx.out << "audit chain broken at entry " << check.first_bad_seq << ": " << check.problem
              << '\n';
    }
    return 1;
  }
  ctx.out << "audit chain intact: " << check.entries << " entries";
  for (std::size_t i = 0; i < heads.size(); ++i) {
    ctx.out << (i == 0 ? " (" : "; ") << heads[i].label << " at entry " << heads[i].head.seq;
  }
  ctx.out << (heads.empty() ? "\n" : ")\n");
  return 0;
}

// Reads a head a verifier recorded earlier (`clustertls audit head --out FILE`) and checks its
// signature against `anchors`. Errors name the file.
core::Result<ExpectedHead> RecordedHead(const std::string& file,
                                        const std::vector<pki::Certificate>& anchors) {
  CTLS_ASSIGN_OR_RETURN(std::optional<authority::AuditHead> head,
                        authority::ReadAuditHeadFile(file));
  if (!head) {
    return core::Fail(ErrorCode::kNotFound, file + ": no such file");
  }
  if (auto ok = authority::VerifyAuditHead(*head, anchors); !ok) {
    return ok.error().WithContext(file);
  }
  return ExpectedHead{.head = *std::move(head), .label = "head recorded in " + file};
}

// Pages through a log with `verifier`; `page(after)` returns the entries after `after`.
template <typename PageFn>
core::Result<authority::AuditCheck> VerifyPages(authority::AuditVerifier& verifier,
                                                const std::vector<ExpectedHead>& heads,
                                                const std::vector<std::string>& where,
                                                PageFn page) {
  for (std::size_t i = 0; i < heads.size(); ++i) {
    verifier.ExpectHead(heads[i].head.seq, heads[i].head.hash,
                        authority::DescribeAuditHead(heads[i].head, where[i]));
  }
  std::int64_t after = 0;
  for (;;) {
    CTLS_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> entries, page(after));
    if (entries.empty()) {
      break;
    }
    for (const store::AuditEntry& entry : entries) {
      verifier.Add(entry);
    }
    after = entries.back().seq;
    if (!verifier.result().ok) {
      break;
    }
  }
  return verifier.Finish();
}

core::Result<int> VerifyAuditInDataDir(const std::string& dir, const std::string& expect_head,
                                       Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(authority::DataDirConfig config, authority::LoadDataDirConfig(dir));
  CTLS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::Open(config.store_url));
  CTLS_ASSIGN_OR_RETURN(pki::Certificate root, authority::LoadClusterRoot(*store));
  std::vector<ExpectedHead> heads;
  std::vector<std::string> where;
  // The head `serve` keeps beside the store, where an edit of the database does not reach.
  const std::string file = (std::filesystem::path(dir) / authority::kAuditHeadFileName).string();
  CTLS_ASSIGN_OR_RETURN(std::optional<authority::AuditHead> kept,
                        authority::ReadAuditHeadFile(file));
  if (kept) {
    if (auto ok = authority::VerifyAuditHead(*kept, {root}); !ok) {
      return ok.error().WithContext(file);
    }
    heads.push_back({.head = *std::move(kept), .label = "signed head"});
    where.emplace_back();
  } else {
    ctx.Info("note: " + file +
             " does not exist (no serve of this version has run on this data directory yet): "
             "the chain is checked, but not whether its last entries were removed");
  }
  if (!expect_head.empty()) {
    CTLS_ASSIGN_OR_RETURN(ExpectedHead recorded, RecordedHead(expect_head, {root}));
    heads.push_back(std::move(recorded));
    where.push_back(expect_head);
  }
  authority::AuditVerifier verifier;
  CTLS_ASSIGN_OR_RETURN(authority::AuditCheck check,
                        VerifyPages(verifier, heads, where, [&](std::int64_t after) {
                          return store->ListAudit(after, 1000);
                        }));
  return ReportAudit(ctx, check, heads);
}

// An entry of GET /v1/audit as the store holds it: `details_json` verbatim when the server sends
// it, else `details` re-serialised compactly in the order the server sent its keys (so the
// server must send them in stored order).
core::Result<store::AuditEntry> AuditEntryFromJson(const nlohmann::ordered_json& e) {
  auto text = [&](const char* key) -> core::Result<std::string> {
    if (!e.contains(key) || !e[key].is_string()) {
      return core::Fail(ErrorCode::kParse,
                        "server: audit entry without a string '" + std::string(key) + "'");
    }
    return e[key].get<std::string>();
  };
  store::AuditEntry entry;
  if (!e.is_object() || !e.contains("seq") || !e["seq"].is_number_integer()) {
    return core::Fail(ErrorCode::kParse, "server: audit entry without a 'seq'");
  }
  entry.seq = e["seq"].get<std::int64_t>();
  CTLS_ASSIGN_OR_RETURN(std::string time, text("time"));
  CTLS_ASSIGN_OR_RETURN(entry.time, core::ParseTime(time));
  CTLS_ASSIGN_OR_RETURN(entry.actor, text("actor"));
  CTLS_ASSIGN_OR_RETURN(entry.action, text("action"));
  CTLS_ASSIGN_OR_RETURN(entry.target, text("target"));
  CTLS_ASSIGN_OR_RETURN(entry.source, text("source"));
  CTLS_ASSIGN_OR_RETURN(entry.prev_hash, text("prev_hash"));
  CTLS_ASSIGN_OR_RETURN(entry.hash, text("hash"));
  if (e.contains("details_json") && e["details_json"].is_string()) {
    entry.details_json = e["details_json"].get<std::string>();
  } else if (e.contains("details")) {
    entry.details_json =
        e["details"].is_string()
            ? e["details"].get<std::string>()
            : e["details"].dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  return entry;
}

// The entries of GET /v1/audit after `after` (one page of up to 1000).
core::Result<std::vector<store::AuditEntry>> AuditPageOverApi(Api& api, std::int64_t after) {
  CTLS_ASSIGN_OR_RETURN(nlohmann::ordered_json page,
                        api.CallAs<nlohmann::ordered_json>(
                            "GET", "/v1/audit?after=" + std::to_string(after) + "&limit=1000"));
  if (!page.contains("entries") || !page["entries"].is_array()) {
    return core::Fail(ErrorCode::kParse, "server: GET /v1/audit returned no 'entries'");
  }
  std::vector<store::AuditEntry> entries;
  for (const auto& e : page["entries"]) {
    CTLS_ASSIGN_OR_RETURN(store::AuditEntry entry, AuditEntryFromJson(e));
    entries.push_back(std::move(entry));
  }
  return entries;
}

// GET /v1/audit/head, parsed and checked against `anchors`; nullopt (with a note) when the
// server has none (404: an older server, or none signed yet). Errors name the route.
core::Result<std::optional<authority::AuditHead>> ServerHead(
    Api& api, const std::vector<pki::Certificate>& anchors, Context& ctx) {
  auto response = api.Raw("GET", "/v1/audit/head");
  if (!response) {
    if (response.error().code == ErrorCode::kNotFound) {
      ctx.Info("note: the server answers no signed audit head (GET /v1/audit/head: " +
               response.error().message + ")");
      return std::optional<authority::AuditHead>();
    }
    return response.error();
  }
  auto head = authority::ParseAuditHead(response->body);
  if (!head) {
    return head.error().WithContext("server: GET /v1/audit/head");
  }
  if (auto ok = authority::VerifyAuditHead(*head, anchors); !ok) {
    return ok.error().WithContext("server: GET /v1/audit/head");
  }
  return std::optional<authority::AuditHead>(*std::move(head));
}

// The certificate login pinned, as the anchor for the cluster's signatures.
core::Result<pki::Certificate> PinnedCa(const Api& api) {
  auto pinned = pki::Certificate::FromPem(api.ca_pem());
  if (!pinned) {
    return pinned.error().WithContext("the client config's pinned certificate");
  }
  return pinned;
}

core::Result<int> VerifyAuditOverApi(Api& api, const std::string& expect_head, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(pki::Certificate pinned, PinnedCa(api));
  std::vector<ExpectedHead> heads;
  std::vector<std::string> where;
  // The server's head first: the log read after it can only be longer.
  if (pinned.is_ca()) {
    CTLS_ASSIGN_OR_RETURN(std::optional<authority::AuditHead> current,
                          ServerHead(api, {pinned}, ctx));
    if (current) {
      heads.push_back({.head = *std::move(current), .label = "signed head"});
      where.emplace_back();
    }
  } else {
    ctx.Info(
        "note: the pinned certificate is not a CA (login pinned the api certificate "
        "itself): the server's signed audit head is not checked");
  }
  if (!expect_head.empty()) {
    CTLS_ASSIGN_OR_RETURN(ExpectedHead recorded, RecordedHead(expect_head, {pinned}));
    heads.push_back(std::move(recorded));
    where.push_back(expect_head);
  }
  authority::AuditVerifier verifier;
  CTLS_ASSIGN_OR_RETURN(authority::AuditCheck check,
                        VerifyPages(verifier, heads, where, [&](std::int64_t after) {
                          return AuditPageOverApi(api, after);
                        }));
  return ReportAudit(ctx, check, heads);
}

struct CertSetOptions {
  ApiOptions api;
  std::string name;
  std::string certificate_file;
  std::string key_file;
  std::vector<std::string> words;  // rladmin's form: certificate_file F key_file K
};
struct NameOptions {
  ApiOptions api;
  std::string name;
};
struct RenewOptions {
  ApiOptions api;
  std::string name;
  int days = 0;
  std::string key_type;
  std::string revoke_previous;
};
struct PolicyOptions {
  ApiOptions api;
  std::string value;
  std::vector<std::string> words;  // sentinel_ssl_policy's rladmin arguments
};

// rladmin's `certificate_file F key_file K` words into the options (beside the --flags).
core::Result<void> ApplyRladminCertWords(CertSetOptions& o) {
  if (o.words.size() % 2 != 0) {
    return UsageError("cluster certificate set: after the name, give `certificate_file FILE "
                      "key_file FILE` (rladmin's form) or --certificate-file/--key-file");
  }
  for (std::size_t i = 0; i < o.words.size(); i += 2) {
    std::string* slot = o.words[i] == "certificate_file" ? &o.certificate_file
                        : o.words[i] == "key_file"       ? &o.key_file
                                                         : nullptr;
    if (slot == nullptr) {
      return UsageError("cluster certificate set: unknown word \"" + o.words[i].substr(0, 40) +
                        "\" (rladmin's form is `certificate_file FILE key_file FILE`)");
    }
    if (!slot->empty()) {
      return UsageError("cluster certificate set: " + o.words[i] + " given twice");
    }
    *slot = o.words[i + 1];
  }
  if (o.certificate_file.empty() || o.key_file.empty()) {
    return UsageError("cluster certificate set: give the certificate and the key "
                      "(--certificate-file F --key-file K, or rladmin's certificate_file F "
                      "key_file K)");
  }
  return {};
}

// rladmin's `sentinel_ssl_policy [allowed|required|disabled] [min_data_TLS_version V]` as the
// policy fields it sets.
core::Result<json> SentinelPolicyBody(const std::vector<std::string>& words) {
  json body = json::object();
  std::size_t i = 0;
  if (i < words.size() && core::AsciiLower(words[i]).find("tls_version") == std::string::npos) {
    body["sentinel_ssl_policy"] = words[i++];
  }
  if (i < words.size()) {
    const std::string keyword = core::AsciiLower(words[i]);
    if (keyword != "min_data_tls_version" && keyword != "min_sentinel_tls_version") {
      return UsageError("cluster config sentinel_ssl_policy: unexpected \"" +
                        words[i].substr(0, 40) +
                        "\" (expected allowed, required or disabled, then optionally "
                        "min_data_TLS_version VERSION)");
    }
    if (i + 1 >= words.size()) {
      return UsageError("cluster config sentinel_ssl_policy: " + words[i] +
                        " needs a version (1.2 or 1.3)");
    }
    body["min_sentinel_tls_version"] = words[i + 1];
    i += 2;
  }
  if (i != words.size() || body.empty()) {
    return UsageError("cluster config sentinel_ssl_policy: give allowed, required or disabled, "
                      "and/or min_data_TLS_version VERSION (as rladmin takes them)");
  }
  return body;
}
// The name policy flags of `users add`, `users set-name-policy` and `tokens create`
// (authority/name_policy.h; docs/api.md "Name policies").
struct NamePolicyFlags {
  std::vector<std::string> allow_dns;
  std::vector<std::string> deny_dns;
  std::vector<std::string> allow_ip;
  std::vector<std::string> deny_ip;
  std::vector<std::string> allow_uri;
  std::vector<std::string> deny_uri;

  // The "name_policy" object of a request, or nullopt when no flag was given.
  std::optional<json> Body() const {
    json policy = json::object();
    auto put = [&](const char* field, const std::vector<std::string>& values) {
      if (!values.empty()) {
        policy[field] = values;
      }
    };
    put("allowed_dns", allow_dns);
    put("denied_dns", deny_dns);
    put("allowed_ips", allow_ip);
    put("denied_ips", deny_ip);
    put("allowed_uris", allow_uri);
    put("denied_uris", deny_uri);
    if (policy.empty()) {
      return std::nullopt;
    }
    return policy;
  }
};

void AddNamePolicyFlags(CLI::App* cmd, NamePolicyFlags& f) {
  cmd->add_option("--allow-dns", f.allow_dns,
                  "may sign only DNS names within this suffix (db.example.com: it and names "
                  "under it; *.db.example.com: only names under it); repeatable")
      ->take_all();
  cmd->add_option("--deny-dns", f.deny_dns, "may never sign DNS names within this suffix")
      ->take_all();
  cmd->add_option("--allow-ip", f.allow_ip, "may sign only IPs in this range (10.1.0.0/16)")
      ->take_all();
  cmd->add_option("--deny-ip", f.deny_ip, "may never sign IPs in this range")->take_all();
  cmd->add_option("--allow-uri", f.allow_uri,
                  "may sign only URIs starting with this prefix (spiffe://cluster/ns/db/)")
      ->take_all();
  cmd->add_option("--deny-uri", f.deny_uri, "may never sign URIs starting with this prefix")
      ->take_all();
}

// A name policy of a JSON reply (null for none) as one line ("-" for none).
std::string PolicyText(const json& object) {
  auto it = object.find("name_policy");
  if (it == object.end() || it->is_null()) {
    return "-";
  }
  auto policy = authority::ParseNamePolicy(it->dump(), "name_policy");
  return policy ? authority::DescribeNamePolicy(*policy) : it->dump();
}

struct UserOptions {
  ApiOptions api;
  std::string name;
  std::string role;
  std::string role_flag;
  std::string password_file;
  NamePolicyFlags policy;
  bool clear_policy = false;
  bool revoke_tokens = false;
  bool keep_tokens = false;
};
struct TokenOptions {
  ApiOptions api;
  std::string user;
  int expires_in_days = 0;
  std::string id;
  NamePolicyFlags policy;
};
struct AuditOptions {
  ApiOptions api;
  std::int64_t after = 0;
  int limit = 100;
  std::string data_dir;
  std::string expect_head;
  std::string out;
  bool force = false;
};
struct SignOptions {
  ApiOptions api;
  std::string csr_file;
  std::string profile = "server";
  int days = 365;
  std::string out;
  bool force = false;
  bool allow_reserved = false;
};

// `audit head`: GET /v1/audit/head, checked against the pinned CA, printed or saved for a later
// `audit verify --expect-head`.
core::Result<int> RunAuditHead(const AuditOptions& o, Api& api, Context& ctx) {
  const std::string& out = o.out;
  if (!out.empty() && !o.force && core::PathExists(out)) {
    return core::Fail(ErrorCode::kAlreadyExists, out + " exists (use --force to replace it)");
  }
  CTLS_ASSIGN_OR_RETURN(pki::Certificate pinned, PinnedCa(api));
  CTLS_ASSIGN_OR_RETURN(net::ClientResponse response, api.Raw("GET", "/v1/audit/head"));
  auto head = authority::ParseAuditHead(response.body);
  if (!head) {
    return head.error().WithContext("server: GET /v1/audit/head");
  }
  if (auto ok = authority::VerifyAuditHead(*head, {pinned}); !ok) {
    return ok.error().WithContext("server: GET /v1/audit/head");
  }
  const std::string text = authority::AuditHeadToJson(*head);
  if (!out.empty()) {
    CTLS_RETURN_IF_ERROR(
        core::WriteFileAtomic(out, text, {.mode = core::kPublicFileMode, .overwrite = o.force}));
  }
  if (o.api.json) {
    ctx.out << text;
    return 0;
  }
  ctx.out << "signed head: entry " << head->seq << ", hash " << head->hash << ", signed at "
          << core::FormatTime(head->signed_at) << " by " << head->chain.front().subject()
          << (out.empty() ? std::string() : ", written to " + out) << '\n';
  return 0;
}

void AddClusterCommands(CLI::App& app, Action* action) {
  CLI::App* cluster =
      app.add_subcommand("cluster", "Manage the cluster through the control plane's API");
  cluster->require_subcommand(1);
  CLI::App* certificate =
      cluster->add_subcommand("certificate", "The cluster's named certificates (cm, api, ...)");
  certificate->require_subcommand(1);
  {
    auto o = std::make_shared<CertSetOptions>();
    CLI::App* cmd = certificate->add_subcommand(
        "set", "Replace a named certificate (PUT /v1/cluster/update_cert); validated first");
    cmd->add_option("name", o->name, "certificate name (cm, api, proxy, syncer, metrics, ...)")
        ->required();
    cmd->add_option("words", o->words,
                    "rladmin's form instead of the flags: certificate_file FILE key_file FILE");
    cmd->add_option("--certificate-file", o->certificate_file,
                    "PEM chain: leaf, then intermediates (root optional)");
    cmd->add_option("--key-file", o->key_file, "the leaf's PEM private key (unencrypted)");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const CertSetOptions& given, Api& api, Context& ctx) -> core::Result<int> {
      CertSetOptions o = given;
      CTLS_RETURN_IF_ERROR(ApplyRladminCertWords(o));
      CTLS_ASSIGN_OR_RETURN(std::string cert, ReadInput(o.certificate_file));
      CTLS_ASSIGN_OR_RETURN(std::string key, ReadInput(o.key_file));
      CTLS_ASSIGN_OR_RETURN(json reply,
                            api.Call("PUT", "/v1/cluster/update_cert",
                                     json{{"name", o.name}, {"key", key}, {"certificate", cert}}));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "certificate " << Str(reply, "name") << " updated: version "
                << Str(reply, "version") << '\n';
        if (reply.contains("warnings") && reply["warnings"].is_array()) {
          for (const json& warning : reply["warnings"]) {
            if (warning.is_string()) {
              ctx.Warn(warning.get<std::string>());
            }
          }
        }
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<NameOptions>();
    CLI::App* cmd = certificate->add_subcommand("list", "List the named certificates");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NameOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/cluster/certificates"));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (reply.contains("certificates") && reply["certificates"].is_array()) {
        for (const json& c : reply["certificates"]) {
          rows.push_back({Str(c, "name"), Str(c, "version"), Str(c, "not_after"), Str(c, "serial"),
                          Str(c, "sans")});
        }
      }
      PrintTable(ctx.out, {"NAME", "VERSION", "NOT AFTER", "SERIAL", "SANS"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<NameOptions>();
    CLI::App* cmd = certificate->add_subcommand("delete", "Delete a named certificate");
    cmd->add_option("name", o->name, "certificate name")->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NameOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply,
                            api.Call("DELETE", "/v1/cluster/certificates/" + PathSegment(o.name)));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "deleted certificate " << o.name << '\n';
      }
      return 0;
    });
  }

  {
    auto o = std::make_shared<RenewOptions>();
    CLI::App* cmd = certificate->add_subcommand(
        "renew",
        "Renew a named certificate from the cluster CA (POST /v1/cluster/certificates/NAME/renew): "
        "a new key made and kept on the server, the same subject CN and SANs, the CRL and OCSP "
        "URLs the server publishes now; stored as the next version (renewing api swaps the "
        "server's certificate at once). With --revoke-previous, the certificate it replaces is "
        "revoked in the same call: what to do when its key leaked.");
    cmd->add_option("name", o->name, "certificate name (cm, api, proxy, syncer, metrics, ...)")
        ->required();
    cmd->add_option("--days", o->days, "validity in days (default: the server's, 365)")
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--key-type", o->key_type,
                    "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519 (default: the "
                    "type of the certificate's current key)");
    cmd->add_option("--revoke-previous", o->revoke_previous,
                    "revoke the replaced certificate with this RFC 5280 reason (keyCompromise, "
                    "superseded, ...); refused, and nothing renewed, if another CA signed it");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const RenewOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      json body = json::object();
      if (o.days != 0) {
        body["days"] = o.days;
      }
      if (!o.key_type.empty()) {
        body["key_type"] = o.key_type;
      }
      if (!o.revoke_previous.empty()) {
        body["revoke_previous"] = o.revoke_previous;
      }
      CTLS_ASSIGN_OR_RETURN(
          json reply,
          api.Call("POST", "/v1/cluster/certificates/" + PathSegment(o.name) + "/renew", body));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      ctx.out << "certificate " << Str(reply, "name") << " renewed: version "
              << Str(reply, "version") << ", serial " << Str(reply, "serial") << ", valid until "
              << Str(reply, "not_after") << '\n';
      ctx.Info("  SHA-256 fingerprint: " + Str(reply, "fingerprint_sha256"));
      if (reply.value("previous_revoked", false)) {
        ctx.out << "revoked the previous certificate " << Str(reply, "previous_serial") << " ("
                << Str(reply, "reason") << ")\n";
      } else {
        ctx.Info("  previous certificate " + Str(reply, "previous_serial") +
                 " not revoked (--revoke-previous REASON does)");
      }
      return 0;
    });
  }

  CLI::App* config = cluster->add_subcommand("config", "The cluster's TLS policy");
  config->require_subcommand(1);
  {
    auto o = std::make_shared<NameOptions>();
    CLI::App* cmd = config->add_subcommand("show", "Print the TLS policy");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const NameOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/cluster/policy"));
      o.api.json ? PrintJson(ctx, reply) : PrintPolicy(ctx, reply);
      return 0;
    });
  }
  struct Setting {
    const char* command;
    const char* rladmin;  // the same command as rladmin spells it (matched in any case)
    const char* field;
    const char* help;
    const char* value_help;
  };
  static constexpr Setting kSettings[] = {
      {"min-control-tls-version", "min_control_TLS_version", "min_control_tls_version",
       "Minimum TLS version of the control plane's listener",
       "1.2 or 1.3 (RFC 8996 refuses 1.0/1.1)"},
      {"min-data-tls-version", "min_data_TLS_version", "min_data_tls_version",
       "Minimum TLS version of the data path", "1.2 or 1.3"},
      {"cipher-suites", "cipher_suites", "cipher_suites",
       "OpenSSL cipher list for TLS 1.2 and below",
       "e.g. 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384'"},
      {"tls13-ciphersuites", "tls13_ciphersuites", "tls13_ciphersuites", "TLS 1.3 cipher suites",
       "e.g. 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256'"},
      {"client-auth", "client_auth", "client_auth",
       "Client certificates on the data path only (the control listener never asks for one)",
       "none, optional or required"},
  };
  {
    auto o = std::make_shared<PolicyOptions>();
    CLI::App* cmd = config->add_subcommand(
        "sentinel-ssl-policy",
        "TLS on the Sentinel discovery path, as rladmin sets it: allowed (TLS and plain), "
        "required (TLS only) or disabled (plain only), optionally followed by "
        "min_data_TLS_version VERSION, its minimum TLS version (PUT /v1/cluster/policy)");
    cmd->alias("sentinel_ssl_policy");
    cmd->ignore_case();
    cmd->add_option("words", o->words, "allowed|required|disabled [min_data_TLS_version 1.2|1.3]")
        ->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const PolicyOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json body, SentinelPolicyBody(o.words));
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("PUT", "/v1/cluster/policy", body));
      o.api.json ? PrintJson(ctx, reply) : PrintPolicy(ctx, reply);
      return 0;
    });
  }
  for (const Setting& setting : kSettings) {
    auto o = std::make_shared<PolicyOptions>();
    CLI::App* cmd = config->add_subcommand(setting.command,
                                           std::string(setting.help) + " (PUT /v1/cluster/policy)");
    if (std::string_view(setting.rladmin) != setting.command) {
      cmd->alias(setting.rladmin);
    }
    cmd->ignore_case();
    cmd->add_option("value", o->value, setting.value_help)->required();
    AddApiOptions(cmd, o->api, true, true);
    const std::string field = setting.field;
    OnApi(cmd, action, o,
          [field](const PolicyOptions& o, Api& api, Context& ctx) -> core::Result<int> {
            CTLS_ASSIGN_OR_RETURN(json reply,
                                  api.Call("PUT", "/v1/cluster/policy", json{{field, o.value}}));
            o.api.json ? PrintJson(ctx, reply) : PrintPolicy(ctx, reply);
            return 0;
          });
  }
}

void AddUserCommands(CLI::App& app, Action* action) {
  CLI::App* users = app.add_subcommand("users", "Users of the control plane (admin)");
  users->require_subcommand(1);
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand("list", "List users");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/users"));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (reply.contains("users") && reply["users"].is_array()) {
        for (const json& u : reply["users"]) {
          rows.push_back({Str(u, "name"), Str(u, "role"), Str(u, "created_at"), Str(u, "disabled"),
                          PolicyText(u)});
        }
      }
      PrintTable(ctx.out, {"NAME", "ROLE", "CREATED", "DISABLED", "NAME POLICY"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand(
        "add",
        "Create a user; without --password-file the server generates a password and it "
        "is printed once");
    cmd->add_option("name", o->name, "user name ([a-z0-9._-]{1,64})")->required();
    cmd->add_option("--role", o->role, "admin, operator or reader")->required();
    cmd->add_option("--password-file", o->password_file,
                    "the new user's password (at least 12 characters)");
    AddNamePolicyFlags(cmd, o->policy);
    AddApiOptions(cmd, o->api, false, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      json body{{"name", o.name}, {"role", o.role}};
      if (auto policy = o.policy.Body()) {
        body["name_policy"] = *policy;
      }
      if (!o.password_file.empty()) {
        CTLS_ASSIGN_OR_RETURN(std::string password, core::ReadPassphraseFile(o.password_file));
        body["password"] = password;
      }
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("POST", "/v1/users", body));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      ctx.out << "created user " << Str(reply, "name") << " (role " << Str(reply, "role")
              << ", name policy " << PolicyText(reply) << ")\n";
      if (reply.contains("password") && reply["password"].is_string()) {
        ctx.out << Str(reply, "name") << " password: " << reply["password"].get<std::string>()
                << '\n';
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand("delete", "Delete a user (not the last admin)");
    cmd->add_option("name", o->name, "user name")->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("DELETE", "/v1/users/" + PathSegment(o.name)));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "deleted user " << o.name << '\n';
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand("set-role", "Change a user's role");
    cmd->add_option("name", o->name, "user name")->required();
    cmd->add_option("role", o->role, "admin, operator or reader");
    cmd->add_option("--role", o->role_flag, "the same as the positional role");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      const std::string role = o.role.empty() ? o.role_flag : o.role;
      if (role.empty()) {
        return UsageError("users set-role: give the role (admin, operator or reader)");
      }
      CTLS_ASSIGN_OR_RETURN(
          json reply, api.Call("PUT", "/v1/users/" + PathSegment(o.name), json{{"role", role}}));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "user " << Str(reply, "name") << " now has role " << Str(reply, "role") << '\n';
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand("set-password", "Set a user's password");
    cmd->add_option("name", o->name, "user name")->required();
    cmd->add_option("--password-file", o->password_file,
                    "the new password (else a prompt on the terminal)");
    auto* revoke = cmd->add_flag("--revoke-tokens", o->revoke_tokens,
                                 "also delete the user's API tokens (the default when an admin "
                                 "sets another user's password)");
    cmd->add_flag("--keep-tokens", o->keep_tokens, "keep the user's API tokens working")
        ->excludes(revoke);
    AddApiOptions(cmd, o->api, false, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      std::string password;
      if (!o.password_file.empty()) {
        CTLS_ASSIGN_OR_RETURN(password, core::ReadPassphraseFile(o.password_file));
      } else {
        auto typed = Prompt("new password for " + o.name + ": ", true);
        if (!typed || typed->empty()) {
          return UsageError("users set-password: pass --password-file (no terminal to prompt)");
        }
        auto again = Prompt("repeat the password: ", true);
        if (!again || *again != *typed) {
          return UsageError("users set-password: the passwords differ");
        }
        password = *typed;
      }
      json body{{"password", password}};
      if (o.revoke_tokens || o.keep_tokens) {
        body["revoke_tokens"] = o.revoke_tokens;
      }
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("PUT", "/v1/users/" + PathSegment(o.name), body));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        const std::size_t revoked =
            reply.contains("tokens_revoked") && reply["tokens_revoked"].is_array()
                ? reply["tokens_revoked"].size()
                : 0;
        ctx.out << "password of " << o.name << " changed; " << revoked << " API token"
                << (revoked == 1 ? "" : "s") << " deleted\n";
      }
      return 0;
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    CLI::App* cmd = users->add_subcommand(
        "set-name-policy",
        "Set which names the user may sign (POST /v1/ca/sign): replaces the user's name policy\n"
        "with the flags given, or removes it with --clear");
    cmd->add_option("name", o->name, "user name")->required();
    AddNamePolicyFlags(cmd, o->policy);
    cmd->add_flag("--clear", o->clear_policy, "remove the user's name policy");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const UserOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      std::optional<json> policy = o.policy.Body();
      if (policy.has_value() == o.clear_policy) {
        return UsageError("users set-name-policy: give --allow-*/--deny-* flags or --clear");
      }
      CTLS_ASSIGN_OR_RETURN(json reply,
                            api.Call("PUT", "/v1/users/" + PathSegment(o.name),
                                     json{{"name_policy", policy ? *policy : json(nullptr)}}));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "name policy of " << Str(reply, "name") << ": " << PolicyText(reply) << '\n';
      }
      return 0;
    });
  }
}

void AddTokenCommands(CLI::App& app, Action* action) {
  CLI::App* tokens = app.add_subcommand("tokens", "API tokens (shown once, stored hashed)");
  tokens->require_subcommand(1);
  {
    auto o = std::make_shared<TokenOptions>();
    CLI::App* cmd = tokens->add_subcommand("create", "Create an API token; it is printed once");
    cmd->add_option("--user", o->user, "the token's user (admin only; default: yourself)");
    cmd->add_option("--expires-in-days", o->expires_in_days, "lifetime in days")
        ->check(CLI::Range(1, 3650));
    AddNamePolicyFlags(cmd, o->policy);
    AddApiOptions(cmd, o->api, false, true);
    OnApi(cmd, action, o, [](const TokenOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      json body = json::object();
      if (!o.user.empty()) {
        body["user"] = o.user;
      }
      if (o.expires_in_days > 0) {
        body["expires_in_days"] = o.expires_in_days;
      }
      if (auto policy = o.policy.Body()) {
        body["name_policy"] = *policy;
      }
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("POST", "/v1/tokens", body));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      ctx.out << "token: " << Str(reply, "token") << '\n';
      ctx.out << "id: " << Str(reply, "id") << "  user: " << Str(reply, "user")
              << "  expires: " << Str(reply, "expires_at") << "  name policy: " << PolicyText(reply)
              << '\n';
      ctx.Info("The token is shown only this once.");
      return 0;
    });
  }
  {
    auto o = std::make_shared<TokenOptions>();
    CLI::App* cmd = tokens->add_subcommand("list", "List tokens (yours; admin: all)");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const TokenOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/tokens"));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (reply.contains("tokens") && reply["tokens"].is_array()) {
        for (const json& t : reply["tokens"]) {
          rows.push_back({Str(t, "id"), Str(t, "user"), Str(t, "created_at"), Str(t, "expires_at"),
                          Str(t, "last_used"), PolicyText(t)});
        }
      }
      PrintTable(ctx.out, {"ID", "USER", "CREATED", "EXPIRES", "LAST USED", "NAME POLICY"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<TokenOptions>();
    CLI::App* cmd = tokens->add_subcommand("delete", "Delete a token");
    cmd->add_option("id", o->id, "token id")->required();
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const TokenOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply, api.Call("DELETE", "/v1/tokens/" + PathSegment(o.id)));
      if (o.api.json) {
        PrintJson(ctx, reply);
      } else {
        ctx.out << "deleted token " << o.id << '\n';
      }
      return 0;
    });
  }
}

void AddAuditCommands(CLI::App& app, Action* action) {
  CLI::App* audit = app.add_subcommand("audit", "The append-only, hash-chained audit log");
  audit->require_subcommand(1);
  {
    auto o = std::make_shared<AuditOptions>();
    CLI::App* cmd = audit->add_subcommand("list", "List audit entries (GET /v1/audit)");
    cmd->add_option("--after", o->after, "entries after this sequence number")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--limit", o->limit, "at most this many entries (1-1000)")
        ->check(CLI::Range(1, 1000));
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, [](const AuditOptions& o, Api& api, Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(json reply,
                            api.Call("GET", "/v1/audit?after=" + std::to_string(o.after) +
                                                "&limit=" + std::to_string(o.limit)));
      if (o.api.json) {
        PrintJson(ctx, reply);
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (reply.contains("entries") && reply["entries"].is_array()) {
        for (const json& e : reply["entries"]) {
          rows.push_back({Str(e, "seq"), Str(e, "time"), Str(e, "actor"), Str(e, "action"),
                          Str(e, "target"), Str(e, "source")});
        }
      }
      PrintTable(ctx.out, {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "SOURCE"}, rows);
      return 0;
    });
  }
  {
    auto o = std::make_shared<AuditOptions>();
    CLI::App* cmd = audit->add_subcommand(
        "verify",
        "Check the audit chain: every entry's hash and link to the previous one, and that the\n"
        "log still reaches its signed head (its last entry when serve last signed it), so that\n"
        "removed last entries are detected. Over the API (every page of GET /v1/audit, and GET\n"
        "/v1/audit/head), or with --data-dir straight from the store and DIR/audit-head.json,\n"
        "so an edit made in the database is detected. Exit 1 with \"audit chain broken at entry\n"
        "N: ...\" or \"audit log truncated: ...\".");
    cmd->add_option("--data-dir", o->data_dir,
                    "read the store of this data directory instead of asking the server");
    cmd->add_option("--expect-head", o->expect_head,
                    "a head saved earlier by `clustertls audit head --out FILE`: the log must "
                    "still reach it");
    AddApiOptions(cmd, o->api, true, false);
    cmd->callback([o, action] {
      *action = [o](Context& ctx) -> core::Result<int> {
        if (!o->data_dir.empty()) {
          return VerifyAuditInDataDir(o->data_dir, o->expect_head, ctx);
        }
        CTLS_ASSIGN_OR_RETURN(Api api, Api::Open(o->api));
        return VerifyAuditOverApi(api, o->expect_head, ctx);
      };
    });
  }
  {
    auto o = std::make_shared<AuditOptions>();
    CLI::App* cmd = audit->add_subcommand(
        "head",
        "Fetch the server's signed audit head (GET /v1/audit/head: the last entry's number and\n"
        "hash, signed by the cluster's audit signer), check its signature against the pinned\n"
        "CA, and save it with --out for a later `audit verify --expect-head FILE`, which then\n"
        "detects entries removed in between.");
    cmd->add_option("--out", o->out, "where to save the head (JSON, 0644)");
    cmd->add_flag("--force", o->force, "replace an existing --out file");
    AddApiOptions(cmd, o->api, true, true);
    OnApi(cmd, action, o, RunAuditHead);
  }
}

void AddSignCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<SignOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sign",
      "Have the control plane's CA sign a CSR (POST /v1/ca/sign); writes the leaf and\n"
      "its chain (leaf, issuing CA, root) to --out");
  cmd->add_option("--csr", o->csr_file, "the PEM CSR")->required();
  cmd->add_option("--profile", o->profile, "server, client or peer")
      ->check(CLI::IsMember({"server", "client", "peer"}));
  cmd->add_option("--days", o->days, "validity in days (at most 825)")->check(CLI::Range(1, 825));
  cmd->add_option("--out", o->out, "where to write the certificate chain (PEM, 0644)")->required();
  cmd->add_flag("--force", o->force, "replace an existing --out file");
  cmd->add_flag("--allow-reserved", o->allow_reserved,
                "admin only: allow the names reserved for the cluster's own certificates (its "
                "FQDN, listen and public addresses, localhost, 127.0.0.1, ::1)");
  AddApiOptions(cmd, o->api, true, true);
  OnApi(cmd, action, o, [](const SignOptions& o, Api& api, Context& ctx) -> core::Result<int> {
    if (!o.force && core::PathExists(o.out)) {
      return core::Fail(ErrorCode::kAlreadyExists, o.out + " exists (use --force to replace it)");
    }
    CTLS_ASSIGN_OR_RETURN(std::string csr, ReadInput(o.csr_file));
    json body{{"csr", csr}, {"profile", o.profile}, {"days", o.days}};
    if (o.allow_reserved) {
      body["allow_reserved"] = true;
    }
    CTLS_ASSIGN_OR_RETURN(json reply, api.Call("POST", "/v1/ca/sign", body));
    if (!reply.contains("certificate") || !reply["certificate"].is_string()) {
      return core::Fail(ErrorCode::kParse,
                        "server: the response to POST /v1/ca/sign has no "
                        "certificate");
    }
    std::string pem = reply["certificate"].get<std::string>();
    if (reply.contains("chain") && reply["chain"].is_string()) {
      pem += reply["chain"].get<std::string>();
    }
    CTLS_RETURN_IF_ERROR(
        core::WriteFileAtomic(o.out, pem, {.mode = core::kPublicFileMode, .overwrite = o.force}));
    if (o.api.json) {
      PrintJson(ctx, reply);
    } else {
      ctx.out << "signed serial " << Str(reply, "serial") << ", valid until "
              << Str(reply, "not_after") << ", written to " << o.out << '\n';
    }
    return 0;
  });
}

}  // namespace

void AddClientCommands(CLI::App& app, Action* action) {
  {
    auto o = std::make_shared<LoginOptions>();
    CLI::App* cmd = app.add_subcommand(
        "login",
        "Log in to a control plane: fetch its CA chain, trust it only if a certificate of it\n"
        "has the SHA-256 fingerprint given (as `clustertls init` printed it; colons optional),\n"
        "then, verified against that CA, create an API token and save the client config\n"
        "(mode 0600). Credentials from --user/--password-file, CLUSTERTLS_USER/\n"
        "CLUSTERTLS_PASSWORD, or a prompt on the terminal.");
    cmd->add_option("--server", o->server, "https://HOST:PORT of `clustertls serve`")->required();
    cmd->add_option("--ca-fingerprint", o->ca_fingerprint,
                    "SHA-256 fingerprint of the cluster's CA (AB:CD:... or abcd...)")
        ->required();
    cmd->add_option("--user", o->user, "user name (else CLUSTERTLS_USER or a prompt)");
    cmd->add_option("--password-file", o->password_file,
                    "file holding the password (else CLUSTERTLS_PASSWORD or a no-echo prompt)");
    cmd->add_option("--client-config", o->client_config,
                    "where to save the client config (default: $CLUSTERTLS_CLIENT_CONFIG, else "
                    "$XDG_CONFIG_HOME/clustertls/client.json or ~/.config/clustertls/client.json)");
    cmd->add_option("--expires-in-days", o->expires_in_days,
                    "lifetime of the token (default: the server's)")
        ->check(CLI::Range(1, 3650));
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunLogin(*o, ctx); }; });
  }
  AddClusterCommands(app, action);
  AddUserCommands(app, action);
  AddTokenCommands(app, action);
  AddAuditCommands(app, action);
  AddSignCommand(app, action);
}

}  // namespace clustertls::cli
