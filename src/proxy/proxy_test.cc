#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "net/cluster_policy.h"
#include "net/test_client_testutil.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"
#include "pki/test_pki_testutil.h"
#include "proxy/dir_watcher.h"

namespace clustertls::proxy {
namespace {

using namespace std::chrono_literals;
using pki::Must;

// TLS peers verify with the wall clock: leaves and CRLs stay valid until the intermediate ends.
constexpr std::chrono::seconds kValidity = std::chrono::days(1820);

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ctls_proxy_test.XXXXXX").string();
  const char* made = ::mkdtemp(tmpl.data());
  return made != nullptr ? made : "";
}

void WriteText(const std::string& path, const std::string& text) {
  // Written to a temporary name, then renamed: as the agent (and an editor) replaces a file.
  {
    std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(path + ".tmp", path);
}

// A plain backend that answers each HTTP request with "backend:<target>" (keep-alive): what
// net::TestTlsClient::Get reads through the proxy.
class HttpBackend {
 public:
  HttpBackend() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 64);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~HttpBackend() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    std::lock_guard lock(mu_);
    for (int fd : clients_) {
      shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) {
      t.join();
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::lock_guard lock(mu_);
      clients_.push_back(c);
      workers_.emplace_back([c] { Serve(c); });
    }
  }
  static void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      std::size_t end = buffer.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t sp1 = buffer.find(' ');
        std::size_t sp2 = buffer.find(' ', sp1 + 1);
        std::string body = "backend:" + buffer.substr(sp1 + 1, sp2 - sp1 - 1);
        buffer.erase(0, end + 4);
        std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        if (send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0 || body == "backend:/close") {
          break;
        }
        continue;
      }
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        break;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    close(fd);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
};

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A test client writing to a connection the proxy refused (closed) must get EPIPE, not die.
    std::signal(SIGPIPE, SIG_IGN);
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    WriteIdentity(server_);
    WriteText(dir_ + "/ca.pem", pki_.intermediate.ToPem() + pki_.root.ToPem());
    WriteCrls({});
    WritePolicy(R"({"client_auth":"required","version":1})");
  }
  void TearDown() override {
    proxy_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void WriteIdentity(const pki::TestLeaf& leaf) {
    WriteText(dir_ + "/proxy_cert.pem", leaf.cert.ToPem() + pki_.intermediate.ToPem());
    WriteText(dir_ + "/proxy_key.pem", Must(leaf.key.ToPem()));
  }
  // crl.pem: the intermediate's CRL listing `revoked`, then the root's (empty).
  void WriteCrls(const std::vector<std::string>& revoked, std::int64_t number = 1) {
    std::vector<pki::CrlEntry> entries;
    for (const std::string& serial : revoked) {
      entries.push_back({.serial_hex = serial, .revoked_at = pki_.now});
    }
    const pki::CrlOptions options{
        .this_update = pki_.now - 24h, .next_update = pki_.now + kValidity, .crl_number = number};
    std::string issuing =
        Must(pki::BuildCrl(pki_.intermediate, pki_.intermediate_key, entries, options));
    std::string root = Must(pki::BuildCrl(pki_.root, pki_.root_key, {}, options));
    WriteText(dir_ + "/crl.pem",
              Must(pki::Crl::Parse(issuing)).ToPem() + Must(pki::Crl::Parse(root)).ToPem());
  }
  void WritePolicy(const std::string& json) { WriteText(dir_ + "/policy.json", json); }

  void StartProxy(ProxyOptions options = {}) {
    options.backend_port = backend_.port();
    options.dir.dir = dir_;
    options.threads = 2;
    options.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_ += line + "\n";
    };
    proxy_ = Must(Proxy::Start(options));
  }

  std::string Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  net::TestClientOptions As(const pki::TestLeaf& leaf) const {
    return {.client_key = leaf.key,
            .client_certificate = leaf.cert,
            .client_chain = {pki_.intermediate},
            .trust_anchor = pki_.root};
  }

  core::Result<std::unique_ptr<net::TestTlsClient>> Connect(const net::TestClientOptions& o) {
    return net::TestTlsClient::Connect(proxy_->port(), o);
  }

  // True once `condition` holds, polling for up to `timeout`.
  template <typename F>
  static bool Eventually(F condition, std::chrono::milliseconds timeout = 3s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (condition()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return condition();
  }

  pki::TestPki pki_ = pki::MakeTestPki();
  pki::TestLeaf server_ =
      pki::IssueLeaf(pki_, "localhost", pki::Profile::kServer, pki::KeyType::kEcP256, kValidity);
  pki::TestLeaf client_ =
      pki::IssueLeaf(pki_, "client-1", pki::Profile::kClient, pki::KeyType::kEcP256, kValidity);
  std::string dir_;
  HttpBackend backend_;
  std::unique_ptr<Proxy> proxy_;
  std::mutex log_mu_;
  std::string log_;
};

TEST_F(ProxyTest, RelaysThroughMutualTlsAndLogsThePeer) {
  StartProxy();
  auto client = Must(Connect(As(client_)));
  EXPECT_EQ(client->PeerCertificate().serial_hex(), server_.cert.serial_hex());
  for (int i = 0; i < 3; ++i) {
    auto reply = Must(client->Get("/hello" + std::to_string(i)));
    EXPECT_EQ(reply.body, "backend:/hello" + std::to_string(i));
  }
  client.reset();
  ASSERT_TRUE(Eventually([&] { return proxy_->stats().connections_active == 0; }));
  ProxyStats stats = proxy_->stats();
  EXPECT_EQ(stats.handshakes_ok, 1u);
  EXPECT_GT(stats.bytes_in, 0u);
  EXPECT_GT(stats.bytes_out, 0u);
  EXPECT_NE(Log().find("CN=client-1 serial=" + client_.cert.serial_hex()), std::string::npos)
      << Log();
  EXPECT_EQ(Log().find("PRIVATE KEY"), std::string::npos);
  const std::string metrics = proxy_->MetricsText();
  EXPECT_NE(metrics.find("clustertls_proxy_handshakes_total{result=\"ok\"} 1"), std::string::npos)
      << metrics;
  auto status = nlohmann::json::parse(proxy_->StatusJson());
  EXPECT_EQ(status["certificate"]["serial"], server_.cert.serial_hex());
  EXPECT_EQ(status["policy"]["document"]["client_auth"], "required");
  EXPECT_EQ(status["crl"]["number"], "1");
}

TEST_F(ProxyTest, RequiredClientAuthRefusesAClientWithoutCertificate) {
  StartProxy();
  // TLS 1.3 reports the refusal after the client's handshake completes: the first read fails.
  auto client = Connect({.trust_anchor = pki_.root});
  if (client) {
    EXPECT_FALSE((*client)->Get("/x"));
  }
  ASSERT_TRUE(Eventually([&] { return proxy_->stats().handshakes_failed == 1; }));
  EXPECT_EQ(proxy_->stats().handshakes_ok, 0u);
}

TEST_F(ProxyTest, PolicyMinimumVersionAndCiphersApply) {
  WritePolicy(R"({"client_auth":"none","min_data_tls_version":"1.3"})");
  StartProxy();
  EXPECT_FALSE(Connect({.max_version = TLS1_2_VERSION}));
  auto ok = Must(Connect({}));
  EXPECT_EQ(ok->Version(), "TLSv1.3");
  // Back to 1.2 with one cipher: a client offering only another one is refused.
  WritePolicy(R"({"client_auth":"none","cipher_suites":"ECDHE-ECDSA-AES256-GCM-SHA384"})");
  Must(proxy_->Reload("test"));
  EXPECT_FALSE(
      Connect({.max_version = TLS1_2_VERSION, .cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256"}));
  auto tls12 = Must(
      Connect({.max_version = TLS1_2_VERSION, .cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"}));
  EXPECT_EQ(tls12->Version(), "TLSv1.2");
  EXPECT_EQ(Must(tls12->Get("/a")).body, "backend:/a");
}

TEST_F(ProxyTest, ReloadSwapsTheCertificateAndOpenConnectionsContinue) {
  StartProxy();
  auto before = Must(Connect(As(client_)));
  EXPECT_EQ(before->PeerCertificate().serial_hex(), server_.cert.serial_hex());
  pki::TestLeaf next =
      pki::IssueLeaf(pki_, "localhost", pki::Profile::kServer, pki::KeyType::kEcP256, kValidity);
  WriteIdentity(next);
  Must(proxy_->Reload("test"));
  auto after = Must(Connect(As(client_)));
  EXPECT_EQ(after->PeerCertificate().serial_hex(), next.cert.serial_hex());
  EXPECT_EQ(Must(before->Get("/old")).body, "backend:/old");
  EXPECT_EQ(Must(after->Get("/new")).body, "backend:/new");
  EXPECT_EQ(proxy_->stats().reloads_ok, 1u);
}

TEST_F(ProxyTest, DirWatcherReloadsOnChange) {
  StartProxy();
  auto watcher = Must(DirWatcher::Start(dir_, 50ms, [this] { (void)proxy_->Reload("inotify"); }));
  pki::TestLeaf next =
      pki::IssueLeaf(pki_, "localhost", pki::Profile::kServer, pki::KeyType::kEcP256, kValidity);
  WriteIdentity(next);
  ASSERT_TRUE(Eventually([&] {
    auto c = Connect(As(client_));
    return c && (*c)->PeerCertificate().serial_hex() == next.cert.serial_hex();
  }));
}

TEST_F(ProxyTest, ABrokenFileKeepsTheOldConfiguration) {
  StartProxy();
  WriteText(dir_ + "/proxy_cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
  auto failed = proxy_->Reload("test");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.rfind("proxy_cert.pem: ", 0), 0u) << failed.error().message;
  // A key that does not match the certificate.
  WriteIdentity(server_);
  WriteText(dir_ + "/proxy_key.pem", Must(client_.key.ToPem()));
  failed = proxy_->Reload("test");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("proxy_key.pem: the private key does not match"),
            std::string::npos)
      << failed.error().message;
  // A policy TLS 1.1.
  WriteText(dir_ + "/proxy_key.pem", Must(server_.key.ToPem()));
  WritePolicy(R"({"min_data_tls_version":"1.1"})");
  failed = proxy_->Reload("test");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("policy.json: min_data_tls_version"), std::string::npos);

  auto client = Must(Connect(As(client_)));
  EXPECT_EQ(client->PeerCertificate().serial_hex(), server_.cert.serial_hex());
  EXPECT_EQ(proxy_->stats().reloads_failed, 3u);
  EXPECT_NE(proxy_->MetricsText().find("clustertls_proxy_reloads_total{result=\"failed\"} 3"),
            std::string::npos);
  auto status = nlohmann::json::parse(proxy_->StatusJson());
  EXPECT_EQ(status["last_reload"]["result"], "failed");
  EXPECT_NE(Log().find("keeping the previous configuration"), std::string::npos);
}

TEST_F(ProxyTest, ANewCrlClosesTheRevokedConnectionAndRefusesItsHandshake) {
  StartProxy();
  pki::TestLeaf other =
      pki::IssueLeaf(pki_, "client-2", pki::Profile::kClient, pki::KeyType::kEcP256, kValidity);
  auto revoked = Must(Connect(As(client_)));
  auto bystander = Must(Connect(As(other)));
  ASSERT_TRUE(revoked->Get("/before"));
  WriteCrls({client_.cert.serial_hex()}, 2);
  const auto start = std::chrono::steady_clock::now();
  Must(proxy_->Reload("test"));
  EXPECT_TRUE(revoked->WaitClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(proxy_->stats().refused_revoked, 1u);
  EXPECT_EQ(Must(bystander->Get("/still")).body, "backend:/still");
  // A new handshake with the revoked certificate fails the CRL check.
  auto again = Connect(As(client_));
  if (again) {
    EXPECT_FALSE((*again)->Get("/x"));
  }
  ASSERT_TRUE(Eventually([&] { return proxy_->stats().handshakes_revoked == 1; }));
  EXPECT_NE(Log().find("revoked"), std::string::npos);
}

TEST_F(ProxyTest, AllowListsRefuseOtherIdentities) {
  ProxyOptions options;
  options.allow_cn = {"client-1"};
  options.allow_san = {"spiffe://cluster/app-2"};
  StartProxy(options);
  auto allowed = Must(Connect(As(client_)));
  EXPECT_EQ(Must(allowed->Get("/a")).body, "backend:/a");
  pki::TestLeaf by_uri =
      pki::IssueLeaf(pki_.issuing, pki::IssueRequest{.profile = pki::Profile::kClient,
                                                     .common_name = "app-2",
                                                     .sans = {.uris = {"spiffe://cluster/app-2"}},
                                                     .validity = kValidity});
  auto uri_client = Must(Connect(As(by_uri)));
  EXPECT_EQ(Must(uri_client->Get("/b")).body, "backend:/b");
  pki::TestLeaf stranger =
      pki::IssueLeaf(pki_, "client-9", pki::Profile::kClient, pki::KeyType::kEcP256, kValidity);
  auto refused = Must(Connect(As(stranger)));
  EXPECT_TRUE(refused->WaitClosed());
  EXPECT_EQ(proxy_->stats().handshakes_not_allowed, 1u);
  EXPECT_TRUE(Eventually([&] { return Log().find("CN=client-9") != std::string::npos; })) << Log();
}

TEST_F(ProxyTest, SentinelAllowedTakesTlsAndPlainOnOnePort) {
  WritePolicy(R"({"client_auth":"optional","sentinel_ssl_policy":"allowed"})");
  ProxyOptions options;
  options.dir.policy_path = PolicyPath::kSentinel;
  StartProxy(options);
  auto tls = Must(Connect({.trust_anchor = pki_.root}));
  EXPECT_EQ(Must(tls->Get("/tls")).body, "backend:/tls");

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(proxy_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET /plain HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string reply;
  char chunk[512];
  while (reply.find("backend:/plain") == std::string::npos) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      break;
    }
    reply.append(chunk, static_cast<std::size_t>(n));
  }
  close(fd);
  EXPECT_NE(reply.find("backend:/plain"), std::string::npos) << reply;
  EXPECT_EQ(proxy_->stats().plain_connections, 1u);

  // required: plain is no longer relayed (it fails as a TLS handshake).
  WritePolicy(R"({"client_auth":"optional","sentinel_ssl_policy":"required"})");
  Must(proxy_->Reload("test"));
  EXPECT_TRUE(net::SendPlainAndWaitClose(proxy_->port(), request));
  EXPECT_EQ(proxy_->stats().plain_connections, 1u);
}

// The backend closes (redis after QUIT): the proxy sends the rest, then ends the TLS session.
TEST_F(ProxyTest, BackendCloseEndsTheClientConnection) {
  StartProxy();
  auto client = Must(Connect(As(client_)));
  EXPECT_EQ(Must(client->Get("/close")).body, "backend:/close");
  EXPECT_TRUE(client->WaitClosed());
  EXPECT_TRUE(Eventually([&] { return proxy_->stats().connections_active == 0; }));
  EXPECT_TRUE(Eventually([&] { return Log().find("(backend closed)") != std::string::npos; }))
      << Log();
}

// A plain client that half-closes after its request still receives the answer (Sentinel path,
// plain only).
TEST_F(ProxyTest, PlainHalfCloseStillGetsTheAnswer) {
  WritePolicy(R"({"sentinel_ssl_policy":"disabled"})");
  ProxyOptions options;
  options.dir.policy_path = PolicyPath::kSentinel;
  StartProxy(options);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(proxy_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET /half HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  shutdown(fd, SHUT_WR);
  std::string reply;
  char chunk[512];
  for (;;) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      break;  // EOF once the backend saw ours and closed
    }
    reply.append(chunk, static_cast<std::size_t>(n));
  }
  close(fd);
  EXPECT_NE(reply.find("backend:/half"), std::string::npos) << reply;
  EXPECT_EQ(proxy_->stats().handshakes_ok, 0u);
  EXPECT_EQ(proxy_->stats().plain_connections, 1u);
}

TEST_F(ProxyTest, MaxConnectionsRefusesBeyondTheLimit) {
  ProxyOptions options;
  options.max_connections = 2;
  StartProxy(options);
  auto a = Must(Connect(As(client_)));
  auto b = Must(Connect(As(client_)));
  ASSERT_TRUE(a->Get("/a"));
  ASSERT_TRUE(b->Get("/b"));
  EXPECT_FALSE(Connect(As(client_)));
  EXPECT_EQ(proxy_->stats().refused_limit, 1u);
  a.reset();
  ASSERT_TRUE(Eventually([&] { return proxy_->stats().connections_active == 1; }));
  auto c = Must(Connect(As(client_)));
  EXPECT_EQ(Must(c->Get("/c")).body, "backend:/c");
}

TEST_F(ProxyTest, HandshakeAndIdleTimeoutsClose) {
  ProxyOptions options;
  options.handshake_timeout = 200ms;
  options.idle_timeout = 300ms;
  StartProxy(options);
  EXPECT_TRUE(net::SendPlainAndWaitClose(proxy_->port(), ""));
  EXPECT_EQ(proxy_->stats().handshakes_failed, 1u);
  auto idle = Must(Connect(As(client_)));
  ASSERT_TRUE(idle->Get("/x"));
  EXPECT_TRUE(idle->WaitClosed());
  EXPECT_TRUE(Eventually([&] { return Log().find("idle timeout") != std::string::npos; }));
}

TEST_F(ProxyTest, StartFailsNamingTheMissingFile) {
  std::filesystem::remove(dir_ + "/proxy_cert.pem");
  ProxyOptions options;
  options.backend_port = backend_.port();
  options.dir.dir = dir_;
  auto started = Proxy::Start(options);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "proxy_cert.pem: no such file");
  std::filesystem::remove(dir_ + "/ca.pem");
  WriteIdentity(server_);
  started = Proxy::Start(options);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "ca.pem: no such file");
}

// SO_REUSEPORT must not let a second proxy share the port of a running one.
TEST_F(ProxyTest, ASecondProxyOnTheSamePortIsRefused) {
  StartProxy();
  ProxyOptions options;
  options.listen_port = proxy_->port();
  options.backend_port = backend_.port();
  options.dir.dir = dir_;
  auto second = Proxy::Start(options);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kIo);
  EXPECT_NE(second.error().message.find("--listen 127.0.0.1:" + std::to_string(proxy_->port())),
            std::string::npos)
      << second.error().message;
}

TEST_F(ProxyTest, DrainLetsOpenConnectionsFinish) {
  StartProxy();
  auto client = Must(Connect(As(client_)));
  ASSERT_TRUE(client->Get("/a"));
  std::thread drainer([&] { proxy_->Drain(400ms); });
  // New connections are refused once accepting stopped; the open one still works.
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(Connect(As(client_)));
  EXPECT_EQ(Must(client->Get("/b")).body, "backend:/b");
  drainer.join();
  EXPECT_TRUE(client->WaitClosed());
}

TEST(ParseHostPortTest, AcceptsHostPortFormsAndNamesTheFault) {
  auto v4 = Must(ParseHostPort("127.0.0.1:6380"));
  EXPECT_EQ(v4.host, "127.0.0.1");
  EXPECT_EQ(v4.port, 6380);
  auto v6 = Must(ParseHostPort("[::1]:443"));
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(Must(ParseHostPort(":7000")).host, "0.0.0.0");
  EXPECT_EQ(Must(ParseHostPort("localhost:0", true)).port, 0);
  EXPECT_NE(ParseHostPort("6380").error().message.find("expected HOST:PORT"), std::string::npos);
  EXPECT_NE(ParseHostPort("::1:80").error().message.find("expected HOST:PORT"), std::string::npos);
  EXPECT_NE(ParseHostPort("h:0").error().message.find("port '0'"), std::string::npos);
  EXPECT_NE(ParseHostPort("h:70000").error().message.find("port '70000'"), std::string::npos);
  EXPECT_NE(ParseHostPort("h:x").error().message.find("port 'x'"), std::string::npos);
}

}  // namespace
}  // namespace clustertls::proxy
