#include "server/control_plane.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "authority/authority.h"
#include "authority/cluster.h"
#include "authority/data_dir.h"
#include "authority/secrets.h"
#include "net/credentials.h"
#include "net/https_server.h"
#include "ossl/csprng.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/cluster_policy.h"
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

std::string UrlFor(const std::string& host, std::uint16_t port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "https://" + h + ":" + std::to_string(port);
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
  config.store_url = options.store_url.empty()
                         ? "sqlite://" + (abs / "clustertls.db").lexically_normal().string()
                         : options.store_url;
  config.listen = listen;

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
    CTLS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                          store::Store::Open(config.store_url));
    authority::InitOptions init;
    init.fqdn = options.fqdn;
    init.root_passphrase = options.root_passphrase;
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
  std::unique_ptr<Authenticator> authenticator;
  Metrics metrics;
  std::unique_ptr<Api> api;
  std::shared_ptr<net::CredentialStore> credentials;
  std::unique_ptr<net::HttpsServer> server;
  std::string host;

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
    CTLS_ASSIGN_OR_RETURN(ClusterPolicy policy, ApplyPolicyJson(ClusterPolicy{}, doc->json));
    return std::make_pair(policy, doc->version);
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
    net::TlsPolicy control = policy.first.ControlPolicy();
    if (credentials == nullptr) {
      CTLS_ASSIGN_OR_RETURN(credentials, net::CredentialStore::Create(control, tls));
    } else {
      CTLS_RETURN_IF_ERROR(credentials->Reload(control, tls));
    }
    if (api_version >= 0 && api_version != api_cert.version) {
      Log("listener now presents certificate \"api\" version " + std::to_string(api_cert.version));
    }
    if (policy_version >= 0 && policy_version != policy.second) {
      Log("listener now applies TLS policy version " + std::to_string(policy.second));
    }
    api_version = api_cert.version;
    policy_version = policy.second;
    return {};
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
      lock.lock();
    }
  }

  void Stop() {
    if (stopped.exchange(true)) {
      return;
    }
    if (server) {
      server->Stop();
    }
    {
      std::lock_guard lock(poll_mu);
      stopping = true;
    }
    poll_cv.notify_all();
    if (poller.joinable()) {
      poller.join();
    }
    authority.reset();  // records everything still waiting
    server.reset();
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
  CTLS_ASSIGN_OR_RETURN(impl->store, store::Store::Open(config.store_url));
  CTLS_ASSIGN_OR_RETURN(authority::ClusterCa ca,
                        authority::LoadClusterCa(*impl->store, *impl->sealing_key));
  std::string fqdn = config.fqdn;
  if (auto stored = impl->store->GetConfig(std::string(authority::kConfigFqdn)); stored) {
    fqdn = *stored;
  }
  CTLS_ASSIGN_OR_RETURN(
      impl->authority,
      authority::Authority::Create(
          std::move(ca), {.store = impl->store.get(), .clock = &clock, .rng = &impl->rng}));
  impl->authenticator = std::make_unique<Authenticator>(impl->store.get(), &clock);
  CTLS_RETURN_IF_ERROR(impl->Reload(true));
  Impl* raw = impl.get();
  CTLS_ASSIGN_OR_RETURN(impl->api, Api::Create({.store = raw->store.get(),
                                                .authority = raw->authority.get(),
                                                .sealing_key = &*raw->sealing_key,
                                                .authenticator = raw->authenticator.get(),
                                                .metrics = &raw->metrics,
                                                .clock = &clock,
                                                .rng = &raw->rng,
                                                .fqdn = fqdn,
                                                .on_tls_change = [raw] {
                                                  if (auto r = raw->Reload(true); !r) {
                                                    Log("reloading the listener's TLS "
                                                        "settings failed (keeping the "
                                                        "current ones): " +
                                                        r.error().message);
                                                  }
                                                }}));
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
  impl->poller = std::thread([raw] { raw->Poll(); });
  return std::unique_ptr<ControlPlane>(new ControlPlane(std::move(impl)));
}

}  // namespace clustertls::server
