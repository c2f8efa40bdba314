#include "server/control_plane.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "authority/audit_head.h"
#include "authority/authority.h"
#include "authority/cluster.h"
#include "authority/crl_publisher.h"
#include "authority/data_dir.h"
#include "authority/ocsp_responder.h"
#include "authority/revocation.h"
#include "authority/root_crl.h"
#include "authority/secrets.h"
#include "core/encoding.h"
#include "net/credentials.h"
#include "net/https_server.h"
#include "ossl/csprng.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/cluster_policy.h"
#include "server/http_error.h"
#include "server/metrics.h"
#include "store/store.h"

namespace clustertls::server {

namespace {

namespace fs = std::filesystem;

void Log(const std::string& line) { std::cerr << "clustertls: " + line + "\n" << std::flush; }

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// "HOST:PORT" or "[v6]:PORT".
core::Result<HostPort> ParseListen(const std::string& listen) {
  auto bad = [&](const std::string& why) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "listen address \"" + listen + "\": " + why + " (expected HOST:PORT)");
  };
  std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return bad("no port");
  }
  HostPort hp;
  hp.host = listen.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  std::string port = listen.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return bad("bad port");
  }
  hp.port = static_cast<std::uint16_t>(value);
  return hp;
}

std::string UrlFor(const std::string& host, std::uint16_t port,
                   const std::string& scheme = "https") {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

constexpr std::string_view kOff = "off";
// docs/api.md: an OCSP request is a few hundred bytes; bodies over 64 KiB get 413.
constexpr std::size_t kPublicMaxBodyBytes = 64 * 1024;

// The host a URL for a listener bound to `host` names: a wildcard address is no URL a client
// can use, so the cluster's name instead.
std::string UrlHost(const std::string& host, const std::string& fqdn) {
  if (host == "0.0.0.0" || host == "::" || host.empty()) {
    return core::AsciiLower(fqdn);
  }
  return host;
}

// The base URL put into issued certificates: http:// or https://, a host, no query or fragment.
// Returns it without a trailing '/'.
core::Result<std::string> CheckPublicUrl(const std::string& url, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return core::Fail(core::ErrorCode::kInvalidArgument, what + " \"" + url + "\": " + why);
  };
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return bad("must start with http:// or https://");
  }
  std::string scheme = core::AsciiLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return bad("must start with http:// or https://");
  }
  std::string rest = url.substr(scheme_end + 3);
  std::size_t host_end = rest.find('/');
  std::string authority = rest.substr(0, host_end);
  if (authority.empty() || authority.front() == ':') {
    return bad("names no host");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '?' || c == '#' || c == '"' || c == '\\' ||
        static_cast<unsigned char>(c) >= 0x7f) {
      return bad("spaces, control characters, '?', '#', '\"' and '\\' are not allowed");
    }
  }
  std::string out = url;
  while (out.size() > scheme_end + 3 && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

// The host of a URL CheckPublicUrl accepted ("http://[::1]:9080/x" -> "::1").
std::string HostOfUrl(std::string_view url) {
  std::size_t start = url.find("://");
  std::string_view rest = start == std::string_view::npos ? url : url.substr(start + 3);
  rest = rest.substr(0, rest.find('/'));
  if (rest.starts_with("[")) {
    return std::string(rest.substr(1, rest.find(']') - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

// "off" or a valid HOST:PORT (empty: the default).
core::Result<std::string> CheckPublicListen(const std::string& listen) {
  std::string value = listen.empty() ? std::string(authority::kDefaultPublicListen) : listen;
  if (value != kOff) {
    if (auto hp = ParseListen(value); !hp) {
      return hp.error().WithContext("public listener");
    }
  }
  return value;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// init

core::Result<InitDataDirResult> InitDataDir(const InitDataDirOptions& options,
                                            const core::Clock& clock, core::Rng& rng) {
  const std::string& dir = options.data_dir;
  if (dir.empty()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "--data-dir: empty");
  }
  std::string listen =
      options.listen.empty() ? std::string(authority::kDefaultListen) : options.listen;
  CTLS_ASSIGN_OR_RETURN(HostPort hp, ParseListen(listen));
  CTLS_ASSIGN_OR_RETURN(std::string public_listen, CheckPublicListen(options.public_listen));
  std::string public_url;
  if (!options.public_url.empty()) {
    CTLS_ASSIGN_OR_RETURN(public_url, CheckPublicUrl(options.public_url, "--public-url"));
  }

  std::error_code ec;
  bool created_dir = false;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return core::Fail(core::ErrorCode::kAlreadyExists, dir + ": exists and is not a directory");
    }
    for (std::string_view name : {authority::kConfigFileName, authority::kSealingKeyFileName,
                                  std::string_view("clustertls.db")}) {
      if (fs::exists(fs::path(dir) / name, ec)) {
        return core::Fail(core::ErrorCode::kAlreadyExists,
                          dir + " already holds a clustertls data directory (" + std::string(name) +
                              " exists); refusing to initialise it again");
      }
    }
  } else {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return core::Fail(core::ErrorCode::kIo,
                        dir + ": cannot create directory: " + std::strerror(errno));
    }
    created_dir = true;
  }
  fs::path abs = fs::absolute(dir, ec);
  if (ec) {
    abs = dir;
  }
  authority::DataDirConfig config;
  config.fqdn = options.fqdn;
  // A SQLite file inside the directory is named relative to it: a copy of the directory then
  // opens its own copy of the database.
  config.store_url = options.store_url.empty()
                         ? std::string(authority::kDefaultStoreUrl)
                         : authority::StoreUrlForConfig(dir, options.store_url);
  const std::string store_url = authority::ResolveStoreUrl(dir, config.store_url);
  config.listen = listen;
  config.public_listen = public_listen;
  config.public_url = public_url;

  std::vector<fs::path> created_files;
  auto cleanup = [&]() {
    for (const auto& f : created_files) {
      fs::remove(f, ec);
    }
    if (created_dir) {
      fs::remove(dir, ec);  // only if now empty
    }
  };
  auto result = [&]() -> core::Result<InitDataDirResult> {
    CTLS_ASSIGN_OR_RETURN(authority::SealingKey key, authority::SealingKey::Generate(rng));
    created_files.push_back(fs::path(dir) / config.sealing_key_file);
    CTLS_RETURN_IF_ERROR(authority::SaveSealingKey(dir, config, key));
    if (options.store_url.empty()) {
      fs::path db = abs / "clustertls.db";
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        created_files.push_back(db.string() + suffix);
      }
    }
    CTLS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::Open(store_url));
    authority::InitOptions init;
    init.fqdn = options.fqdn;
    init.root_passphrase = options.root_passphrase;
    // The named certificates point at the CRL and OCSP responder as what serve issues does:
    // the configured base URL, else the public listener (unless it is off or on port 0).
    std::string base_url = public_url;
    if (base_url.empty() && public_listen != kOff) {
      CTLS_ASSIGN_OR_RETURN(HostPort php, ParseListen(public_listen));
      if (php.port != 0) {
        base_url = UrlFor(UrlHost(php.host, options.fqdn), php.port, "http");
      }
    }
    if (!base_url.empty()) {
      init.crl_urls = {authority::CrlUrlOf(base_url)};
      init.ocsp_urls = {authority::OcspUrlOf(base_url)};
    }
    CTLS_ASSIGN_OR_RETURN(authority::InitResult made,
                          authority::InitializeCluster(*store, key, init, clock, rng));
    auto fqdn = store->GetConfig(std::string(authority::kConfigFqdn));
    if (fqdn) {
      config.fqdn = *fqdn;
    }
    store.reset();
    created_files.push_back(fs::path(dir) / authority::kConfigFileName);
    CTLS_RETURN_IF_ERROR(authority::SaveDataDirConfig(dir, config));
    InitDataDirResult out;
    out.data_dir = dir;
    out.fqdn = config.fqdn;
    out.url = UrlFor(hp.host, hp.port);
    out.ca_fingerprint = made.root.fingerprint().colon;
    out.root_passphrase = made.root_passphrase;
    out.admin_user = init.admin_user;
    out.admin_password = made.admin_password;
    return out;
  }();
  if (!result) {
    cleanup();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// serve

struct ControlPlane::Impl {
  ServeOptions options;
  const core::Clock* clock = nullptr;
  ossl::Csprng rng;
  std::unique_ptr<store::Store> store;
  std::optional<authority::SealingKey> sealing_key;
  std::unique_ptr<authority::Authority> authority;
  std::unique_ptr<authority::CrlPublisher> crl;
  std::unique_ptr<authority::OcspResponder> ocsp;
  std::unique_ptr<authority::Revocation> revocation;
  std::unique_ptr<authority::RootCrlCache> root_crl;
  std::unique_ptr<authority::AuditHeadKeeper> audit_head;
  std::string audit_head_problem;  // the last one logged (the poller logs each problem once)
  std::unique_ptr<Authenticator> authenticator;
  Metrics metrics;
  // The node agents' long-polls and routes (nodes_api.h).
  std::unique_ptr<NodeHub> node_hub;
  std::unique_ptr<NodesApi> nodes;
  std::unique_ptr<Api> api;
  // What the public listener's handler calls; null until the Api exists (503 before that).
  std::atomic<Api*> public_api{nullptr};
  std::shared_ptr<net::CredentialStore> credentials;
  std::unique_ptr<net::HttpsServer> server;
  std::string host;
  std::string public_url;
  std::string public_host;  // the public listener's bound address
  // Last: destroyed first, before everything its handler touches.
  std::unique_ptr<net::HttpsServer> public_server;

  // The issuing CA and the root: the client CAs of the control listener (node certificates).
  std::vector<pki::Certificate> cluster_ca_certs;
  // What the listener presents now.
  std::mutex reload_mu;
  std::int64_t api_version = -1;
  std::int64_t policy_version = -1;

  std::mutex poll_mu;
  std::condition_variable poll_cv;
  bool stopping = false;
  std::thread poller;
  std::atomic<bool> stopped{false};

  // The control policy from the store (defaults before the first PutPolicy) and its version.
  core::Result<std::pair<ClusterPolicy, std::int64_t>> LoadPolicy() {
    auto doc = store->GetPolicy();
    if (!doc) {
      if (doc.error().code == core::ErrorCode::kNotFound) {
        return std::make_pair(ClusterPolicy{}, std::int64_t{0});
      }
      return doc.error();
    }
    auto policy = ApplyPolicyJson(ClusterPolicy{}, doc->json);
    if (!policy) {
      return policy.error().WithContext("TLS policy version " + std::to_string(doc->version) +
                                        " in the store");
    }
    return std::make_pair(*policy, doc->version);
  }

  // `serve --reset-tls-policy`: the default policy as the store's next version, audited like a
  // PUT /v1/cluster/policy (a second transaction, as the API does).
  core::Result<void> ResetPolicy() {
    std::int64_t current = 0;
    if (auto doc = store->GetPolicy(); doc) {
      current = doc->version;
    } else if (doc.error().code != core::ErrorCode::kNotFound) {
      return doc.error();
    }
    const std::string json = PolicyToJson(ClusterPolicy{});
    auto version = store->PutPolicy(
        {.json = json, .version = 0, .updated_at = clock->Now(), .updated_by = "local"}, current);
    if (!version) {
      return version.error().WithContext("storing the default TLS policy");
    }
    nlohmann::json details = nlohmann::json::parse(json);
    details["version"] = *version;
    details["reset"] = true;
    auto audit = store->AppendAudit({.time = clock->Now(),
                                     .actor = "local",
                                     .action = "policy.update",
                                     .target = "policy",
                                     .source = "local",
                                     .details_json = details.dump()},
                                    authority::AuditHash);
    if (!audit) {
      return audit.error().WithContext("audit log");
    }
    Log("stored the default TLS policy as version " + std::to_string(*version) +
        " (--reset-tls-policy; it replaces version " + std::to_string(current) + ")");
    return {};
  }

  // At start: the stored policy must pass what PUT /v1/cluster/policy checks today, including
  // that default OpenSSL and GnuTLS clients can connect (a policy stored by an older version
  // may not).
  core::Result<void> CheckStoredPolicy() {
    auto checked = [this]() -> core::Result<void> {
      CTLS_ASSIGN_OR_RETURN(auto policy, LoadPolicy());
      CTLS_ASSIGN_OR_RETURN(DefaultClientCheckOptions check,
                            ClientCheckOptionsFor(*store, clock->Now(), &rng));
      if (auto connects = CheckDefaultClients(policy.first, check); !connects) {
        return connects.error().WithContext("TLS policy version " + std::to_string(policy.second) +
                                            " in the store");
      }
      return {};
    }();
    if (!checked && checked.error().code == core::ErrorCode::kInvalidArgument) {
      return core::Fail(checked.error().code,
                        checked.error().message +
                            " (`clustertls serve --reset-tls-policy` stores the default policy)",
                        checked.error().detail);
    }
    return checked;
  }

  // Builds a new TLS context from the store's current `api` certificate and policy and swaps it
  // in, unless both versions are those already presented (and !force).
  core::Result<void> Reload(bool force) {
    std::lock_guard lock(reload_mu);
    CTLS_ASSIGN_OR_RETURN(auto policy, LoadPolicy());
    if (!force) {
      auto current = store->GetNamedCert("api");
      if (!current) {
        return current.error().WithContext("certificate \"api\"");
      }
      if (current->version == api_version && policy.second == policy_version) {
        return {};
      }
    }
    CTLS_ASSIGN_OR_RETURN(authority::OpenedNamedCert api_cert,
                          authority::GetNamedCert(*store, *sealing_key, "api"));
    if (api_cert.chain.empty()) {
      return core::Fail(core::ErrorCode::kChainIncomplete, "certificate \"api\": empty chain");
    }
    net::TlsCredentials tls{.key = api_cert.key,
                            .certificate = api_cert.chain.front(),
                            .chain = {api_cert.chain.begin() + 1, api_cert.chain.end()},
                            .client_cas = {}};
    // Mutual TLS for the node agents: a client certificate is asked for, never required (a
    // person's curl or browser sends none), and verified against the cluster's CAs; NodesApi
    // then checks it against the store (not revoked, a node's).
    tls.client_cas = {cluster_ca_certs.begin(), cluster_ca_certs.end()};
    net::TlsPolicy control = policy.first.ControlPolicy();
    control.client_auth = net::ClientAuth::kOptional;
    if (credentials == nullptr) {
      CTLS_ASSIGN_OR_RETURN(credentials, net::CredentialStore::Create(control, tls));
    } else {
      CTLS_RETURN_IF_ERROR(credentials->Reload(control, tls));
    }
    if (api_version >= 0 && api_version != api_cert.version) {
      Log("listener now presents certificate \"api\" version " + std::to_string(api_cert.version));
    }
    if (api_version != api_cert.version) {
      const std::vector<std::string> uris = api_cert.chain.front().sans().uris;
      if (std::find(uris.begin(), uris.end(), authority::kControlPlaneUri) == uris.end()) {
        Log("certificate \"api\" version " + std::to_string(api_cert.version) +
            " lacks the control-plane identity URI:" + std::string(authority::kControlPlaneUri) +
            ": `clustertls login` accepts this server only "
            "when pinned to that certificate itself (--ca-fingerprint " +
            api_cert.chain.front().fingerprint().colon +
            "); `clustertls cluster certificate renew api` replaces it with one from the cluster "
            "CA that has it");
      }
    }
    if (policy_version >= 0 && policy_version != policy.second) {
      Log("listener now applies TLS policy version " + std::to_string(policy.second));
    }
    api_version = api_cert.version;
    policy_version = policy.second;
    return {};
  }

  // Signs the audit log's head if its last entry changed and writes DIR/audit-head.json. From
  // the poller and at shutdown only: never on a request's path (signing is group-committed).
  void UpdateAuditHead() {
    auto r = audit_head->Update();
    std::string problem = r ? std::string() : r.error().message;
    if (!problem.empty() && problem != audit_head_problem) {
      if (r.error().code == core::ErrorCode::kVerifyFailed) {
        Log(problem + " (detected while serving; the signed head in " +
            std::string(authority::kAuditHeadFileName) +
            " is kept and no new head is signed: run `clustertls audit verify --data-dir`)");
      } else {
        Log("signing the audit log's head failed (retrying): " + problem);
      }
    }
    audit_head_problem = std::move(problem);
  }

  void Poll() {
    std::unique_lock lock(poll_mu);
    while (!stopping) {
      poll_cv.wait_for(lock, std::max(options.poll_interval, std::chrono::milliseconds(50)),
                       [this] { return stopping; });
      if (stopping) {
        break;
      }
      lock.unlock();
      if (auto r = Reload(false); !r) {
        Log("reloading the listener's TLS settings failed (keeping the current ones): " +
            r.error().message);
      }
      if (auto r = revocation->Refresh(); !r) {
        Log("refreshing the CRL or the OCSP responder failed (serving the current ones): " +
            r.error().message);
      }
      if (auto r = root_crl->Reload(); !r) {
        Log("reloading the root CA's CRL failed (serving the current one): " + r.error().message);
      } else if (*r) {
        Log("now serving root CA CRL number " + std::to_string(root_crl->Current()->number));
      }
      UpdateAuditHead();
      if (auto r = nodes->FlushSeen(false); !r) {
        Log("recording when the nodes were last seen failed (trying again): " + r.error().message);
      }
      lock.lock();
    }
  }

  void Stop() {
    if (stopped.exchange(true)) {
      return;
    }
    if (public_server) {
      public_server->Stop();
    }
    if (server) {
      server->Stop();
    }
    node_hub.reset();  // answers the long-polls still waiting (the server drops the answers)
    {
      std::lock_guard lock(poll_mu);
      stopping = true;
    }
    poll_cv.notify_all();
    if (poller.joinable()) {
      poller.join();
    }
    authority.reset();  // records everything still waiting
    if (nodes) {
      if (auto r = nodes->FlushSeen(true); !r) {
        Log("recording when the nodes were last seen failed: " + r.error().message);
      }
    }
    if (audit_head) {
      UpdateAuditHead();  // the head covers every entry this instance appended
    }
    server.reset();
    public_server.reset();
  }
};

ControlPlane::ControlPlane(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::Stop() {
  if (impl_) {
    impl_->Stop();
  }
}

std::uint16_t ControlPlane::port() const { return impl_->server ? impl_->server->port() : 0; }

std::string ControlPlane::url() const { return UrlFor(impl_->host, port()); }

std::uint16_t ControlPlane::public_port() const {
  return impl_->public_server ? impl_->public_server->port() : 0;
}

std::string ControlPlane::public_url() const { return impl_->public_url; }

Api& ControlPlane::api() const { return *impl_->api; }

core::Result<std::unique_ptr<ControlPlane>> ControlPlane::Start(const ServeOptions& options,
                                                                const core::Clock& clock) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->clock = &clock;
  CTLS_ASSIGN_OR_RETURN(authority::DataDirConfig config,
                        authority::LoadDataDirConfig(options.data_dir));
  CTLS_ASSIGN_OR_RETURN(HostPort hp,
                        ParseListen(options.listen.empty() ? config.listen : options.listen));
  impl->host = hp.host;
  CTLS_ASSIGN_OR_RETURN(authority::SealingKey key,
                        authority::LoadSealingKey(options.data_dir, config));
  impl->sealing_key.emplace(std::move(key));
  CTLS_ASSIGN_OR_RETURN(impl->store, store::Store::Open(config.store_url, options.store_options));
  CTLS_ASSIGN_OR_RETURN(authority::ClusterCa ca,
                        authority::LoadClusterCa(*impl->store, *impl->sealing_key));
  // Before anything else is appended: a log that no longer reaches the head signed before
  // (rows deleted while serve was stopped) stops serve, and the head file stays as evidence.
  CTLS_ASSIGN_OR_RETURN(
      impl->audit_head,
      authority::AuditHeadKeeper::Create(
          ca, {.store = impl->store.get(),
               .clock = &clock,
               .rng = &impl->rng,
               .file = (fs::path(options.data_dir) / authority::kAuditHeadFileName).string(),
               .signer_validity = options.audit_signer_validity}));
  std::string fqdn = config.fqdn;
  if (auto stored = impl->store->GetConfig(std::string(authority::kConfigFqdn)); stored) {
    fqdn = *stored;
  }
  // Data directories made before init recorded the named certificates: record them now. Not
  // fatal: serving matters more; OCSP answers "unknown" for them until a restart records them.
  if (auto late = authority::RecordUnrecordedNamedCerts(*impl->store, ca, clock); !late) {
    Log("recording the named certificates' issuance failed (continuing): " + late.error().message);
  } else if (!late->empty()) {
    std::string names;
    for (const std::string& n : *late) {
      names += (names.empty() ? "" : ", ") + n;
    }
    Log("recorded the issuance of named certificates made before records were kept: " + names);
  }
  Impl* raw = impl.get();

  // The public listener first: the URLs in issued certificates need its bound port.
  CTLS_ASSIGN_OR_RETURN(std::string public_listen,
                        CheckPublicListen(options.public_listen.empty() ? config.public_listen
                                                                        : options.public_listen));
  if (public_listen != kOff) {
    CTLS_ASSIGN_OR_RETURN(HostPort php, ParseListen(public_listen));
    net::HttpsServerOptions public_options;
    public_options.host = php.host;
    public_options.port = php.port;
    public_options.threads = options.threads;
    public_options.idle_timeout = options.idle_timeout;
    public_options.max_body_bytes = kPublicMaxBodyBytes;
    net::AsyncHandler public_handler =
        [raw](net::Request request, const net::ConnectionInfo& connection, net::Respond respond) {
          Api* api = raw->public_api.load(std::memory_order_acquire);
          if (api == nullptr) {
            respond(ErrorResponse(503, "unavailable", "starting up"));
            return;
          }
          api->HandlePublic(std::move(request), connection, std::move(respond));
        };
    auto started = net::HttpsServer::StartPlain(public_options, std::move(public_handler));
    if (!started) {
      std::string cause = started.error().message;
      if (std::size_t at = cause.rfind(": "); at != std::string::npos) {
        cause = cause.substr(at + 2);
      }
      if (!cause.empty()) {
        cause[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(cause[0])));
      }
      return core::Fail(started.error().code, "public listener " + public_listen + ": " + cause,
                        started.error().detail);
    }
    impl->public_server = std::move(started).value();
    impl->public_host = php.host;
    impl->public_url = UrlFor(UrlHost(php.host, fqdn), impl->public_server->port(), "http");
  }
  if (!options.public_url.empty()) {
    CTLS_ASSIGN_OR_RETURN(impl->public_url, CheckPublicUrl(options.public_url, "--public-url"));
  } else if (!config.public_url.empty()) {
    CTLS_ASSIGN_OR_RETURN(impl->public_url,
                          CheckPublicUrl(config.public_url, "public_url in the config"));
  }
  // Only the named certificates may carry the cluster's own names and addresses: an operator
  // with a certificate for them could present it as this server.
  std::vector<std::string> own_hosts = {hp.host, HostOfUrl(impl->public_url)};
  if (public_listen != kOff) {
    own_hosts.push_back(impl->public_host);
  }
  authority::AuthorityOptions authority_options{
      .store = impl->store.get(),
      .clock = &clock,
      .rng = &impl->rng,
      .reserved = authority::ClusterReservedNames(fqdn, own_hosts)};
  if (!impl->public_url.empty()) {
    authority_options.crl_urls = {authority::CrlUrlOf(impl->public_url)};
    authority_options.ocsp_urls = {authority::OcspUrlOf(impl->public_url)};
  }
  // Named certificates made for another public URL (init's, or an earlier --public-url) send
  // relying parties elsewhere for OCSP and the CRL: say so, one line each. Not fatal.
  if (auto stale = authority::NamedCertsNotPointingAt(*impl->store, ca.issuing.certificate(),
                                                      impl->public_url);
      !stale) {
    Log("checking the named certificates' CRL and OCSP URLs failed (continuing): " +
        stale.error().message);
  } else {
    auto urls = [](const std::vector<std::string>& list) {
      std::string out;
      for (const std::string& url : list) {
        out += (out.empty() ? "" : ", ") + url;
      }
      return out.empty() ? std::string("(none)") : out;
    };
    for (const authority::NamedUrlMismatch& m : *stale) {
      Log("named certificate \"" + m.name + "\" points at OCSP " + urls(m.ocsp_urls) + " and CRL " +
          urls(m.crl_urls) + ", not at this server's " + impl->public_url +
          " (renew it: clustertls cluster certificate renew " + m.name + ")");
    }
  }

  // The CRL, the OCSP responder and Revocation each hold their own copy of the CA.
  CTLS_ASSIGN_OR_RETURN(
      impl->crl,
      authority::CrlPublisher::Create(
          ca, {.store = impl->store.get(), .clock = &clock, .validity = options.crl_validity}));
  CTLS_ASSIGN_OR_RETURN(impl->ocsp, authority::OcspResponder::Create(
                                        ca, {.store = impl->store.get(),
                                             .clock = &clock,
                                             .rng = &impl->rng,
                                             .response_validity = options.ocsp_response_validity,
                                             .signer_validity = options.ocsp_signer_validity}));
  CTLS_ASSIGN_OR_RETURN(impl->revocation,
                        authority::Revocation::Create(ca, {.store = impl->store.get(),
                                                           .clock = &clock,
                                                           .crl = impl->crl.get(),
                                                           .ocsp = impl->ocsp.get()}));
  CTLS_ASSIGN_OR_RETURN(impl->root_crl,
                        authority::RootCrlCache::Create(impl->store.get(), ca.root));
  if (!impl->root_crl->Current()) {
    Log("this cluster has no root CA CRL (initialised by an older version): GET /v1/crl.pem "
        "holds only the issuing CA's CRL; clients that check the whole chain (nginx ssl_crl) "
        "need `clustertls crl sign-root`");
  }
  impl->cluster_ca_certs = {ca.issuing.certificate(), ca.root};
  CTLS_ASSIGN_OR_RETURN(impl->authority,
                        authority::Authority::Create(std::move(ca), authority_options));
  CTLS_ASSIGN_OR_RETURN(impl->node_hub,
                        NodeHub::Start({.store = impl->store.get(), .on_change = [raw] {
                                          // A revocation through another instance: the
                                          // CRL the agents receive and this instance's
                                          // OCSP answers list it within the hub's poll.
                                          (void)raw->revocation->Refresh();
                                        }}));
  impl->nodes =
      std::make_unique<NodesApi>(NodesApiOptions{.store = impl->store.get(),
                                                 .ca = &impl->authority->ca(),
                                                 .sealing_key = &*impl->sealing_key,
                                                 .rng = &impl->rng,
                                                 .clock = &clock,
                                                 .crl = impl->crl.get(),
                                                 .root_crl = impl->root_crl.get(),
                                                 .hub = impl->node_hub.get(),
                                                 .node_cert_validity = options.node_cert_validity,
                                                 .long_poll = options.agent_long_poll});
  impl->authenticator = std::make_unique<Authenticator>(impl->store.get(), &clock);
  if (options.reset_tls_policy) {
    CTLS_RETURN_IF_ERROR(impl->ResetPolicy());
  }
  CTLS_RETURN_IF_ERROR(impl->CheckStoredPolicy());
  CTLS_RETURN_IF_ERROR(impl->Reload(true));
  CTLS_ASSIGN_OR_RETURN(
      impl->api,
      Api::Create(
          {.store = raw->store.get(),
           .authority = raw->authority.get(),
           .sealing_key = &*raw->sealing_key,
           .authenticator = raw->authenticator.get(),
           .metrics = &raw->metrics,
           .clock = &clock,
           .rng = &raw->rng,
           .fqdn = fqdn,
           .on_tls_change =
               [raw] {
                 if (auto r = raw->Reload(true); !r) {
                   Log("reloading the listener's TLS "
                       "settings failed (keeping the "
                       "current ones): " +
                       r.error().message);
                 }
               },
           .revocation = raw->revocation.get(),
           .crl = raw->crl.get(),
           .ocsp = raw->ocsp.get(),
           .root_crl = raw->root_crl.get(),
           .audit_head = raw->audit_head.get(),
           .listen_host = (hp.host == "0.0.0.0" || hp.host == "::") ? std::string() : hp.host,
           .on_cluster_change =
               [raw, hook = options.on_cluster_change] {
                 // Wake the node agents' long-polls (this instance's at once, the other
                 // instances' at their next read of the store's version).
                 if (auto r = raw->node_hub->Bump(); !r) {
                   Log("advancing the cluster state version failed (agents see the change at "
                       "their next long-poll): " +
                       r.error().message);
                 }
                 if (hook) {
                   hook();
                 }
               },
           .nodes = raw->nodes.get()}));
  impl->public_api.store(impl->api.get(), std::memory_order_release);
  net::HttpsServerOptions server_options;
  server_options.host = hp.host;
  server_options.port = hp.port;
  server_options.threads = options.threads;
  server_options.idle_timeout = options.idle_timeout;
  server_options.max_body_bytes = options.max_body_bytes;
  Api* api = impl->api.get();
  net::AsyncHandler handler = [api](net::Request request, const net::ConnectionInfo& connection,
                                    net::Respond respond) {
    api->Handle(std::move(request), connection, std::move(respond));
  };
  auto server = net::HttpsServer::Start(server_options, impl->credentials, std::move(handler));
  if (!server) {
    return server.error();
  }
  impl->server = std::move(server).value();
  impl->UpdateAuditHead();  // the first head, before the poller's first round
  if (impl->public_server) {
    Log("public listener " + UrlFor(impl->public_host, impl->public_server->port(), "http") +
        " (OCSP, CRL, CA chain)");
  }
  impl->poller = std::thread([raw] { raw->Poll(); });
  return std::unique_ptr<ControlPlane>(new ControlPlane(std::move(impl)));
}

}  // namespace clustertls::server
