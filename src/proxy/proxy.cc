#include "proxy/proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>

#include "pki/certificate.h"

namespace clustertls::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;
using core::ErrorCode;

// Typed executors: no any_io_executor indirection on the relay's hot path.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<SteadyClock, asio::wait_traits<SteadyClock>, Executor>;
using TlsStream = asio::ssl::stream<Socket>;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// One relay buffer per direction: a full TLS record's plaintext (RFC 8446 section 5.1).
constexpr std::size_t kBufferBytes = 16 * 1024;
// How long the client may take to answer our close_notify (sent at once) after the backend
// closed; the connection is closed then whatever it does.
constexpr std::chrono::milliseconds kTlsShutdownTimeout{250};
// The first byte of a TLS handshake record (RFC 8446 section 5.1, ContentType handshake(22)).
constexpr unsigned char kTlsHandshakeRecord = 0x16;

class Connection;

// Per-thread byte counters, on their own cache line: only their worker writes them.
struct alignas(64) WorkerCounters {
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
};

struct Worker {
  asio::io_context ioc{1};
  asio::executor_work_guard<Executor> work = asio::make_work_guard(ioc);
  std::optional<Acceptor> acceptor;
  std::optional<Timer> retry;  // re-arms accept after an error (EMFILE)
  // The open connections of this worker; used only on its thread.
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
  WorkerCounters counters;
  std::thread thread;
};

struct Shared {
  ProxyOptions options;
  tcp::endpoint backend;
  std::string listen_text;
  std::string backend_text;

  mutable std::mutex mu;  // guards the fields below
  std::shared_ptr<const DirConfig> config;
  bool last_reload_ok = true;
  std::string last_reload_error;
  std::string last_reload_at;

  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> total{0};
  std::atomic<std::uint64_t> handshakes_ok{0};
  std::atomic<std::uint64_t> handshakes_failed{0};
  std::atomic<std::uint64_t> handshakes_revoked{0};
  std::atomic<std::uint64_t> handshakes_not_allowed{0};
  std::atomic<std::uint64_t> plain{0};
  std::atomic<std::uint64_t> refused_limit{0};
  std::atomic<std::uint64_t> refused_revoked{0};
  std::atomic<std::uint64_t> backend_failures{0};
  std::atomic<std::uint64_t> reloads_ok{0};
  std::atomic<std::uint64_t> reloads_failed{0};

  std::shared_ptr<const DirConfig> Config() const {
    std::lock_guard lock(mu);
    return config;
  }

  void Log(const std::string& line) const {
    if (options.log) {
      options.log(line);
      return;
    }
    std::string out = "clustertls proxy: " + line + "\n";
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
};

std::string SslErrorText(const error_code& ec, SSL* ssl) {
  std::string text = ec.message();
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      text += " (certificate: ";
      text += X509_verify_cert_error_string(verify);
      text += ")";
    }
  }
  return text;
}

bool IsEof(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

// One client connection and its backend connection, on one worker's thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Shared& shared, Worker& worker, std::uint64_t id, Socket socket)
      : s_(shared),
        w_(worker),
        id_(id),
        client_(std::move(socket)),
        backend_(worker.ioc.get_executor()),
        timer_(worker.ioc.get_executor()) {
    error_code ec;
    tcp::endpoint remote = client_.remote_endpoint(ec);
    remote_ =
        ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
    client_.set_option(tcp::no_delay(true), ec);
    opened_ = SteadyClock::now();
  }

  void Start() {
    config_ = s_.Config();
    switch (config_->mode) {
      case net::SentinelSsl::kDisabled:
        return StartPlain();
      case net::SentinelSsl::kRequired:
        return StartTls();
      case net::SentinelSsl::kAllowed:
        break;
    }
    // TLS and plain on one port: a TLS client speaks first with a handshake record.
    Arm(s_.options.handshake_timeout, Phase::kHandshake);
    client_.async_receive(
        asio::buffer(peek_), asio::socket_base::message_peek,
        [self = shared_from_this()](error_code ec, std::size_t n) {
          if (self->closed_) {
            return;
          }
          if (ec || n == 0) {
            return self->Close(ec ? "closed before the first byte: " + ec.message()
                                  : std::string("closed before the first byte"));
          }
          if (static_cast<unsigned char>(self->peek_[0]) == kTlsHandshakeRecord) {
            self->StartTls();
          } else {
            self->StartPlain();
          }
        });
  }

  // Closes the connection if the verified client certificate is on `config`'s CRLs.
  void CloseIfRevoked(const DirConfig& config) {
    if (closed_ || peer_serial_.empty() || !IsRevoked(config.revoked, peer_issuer_, peer_serial_)) {
      return;
    }
    s_.refused_revoked.fetch_add(1, std::memory_order_relaxed);
    Close("client certificate revoked (new CRL)");
  }

  // Closes whatever the connection is doing.
  void Close(const std::string& reason) {
    if (closed_) {
      return;
    }
    closed_ = true;
    error_code ignored;
    timer_.cancel();
    Client().close(ignored);
    backend_.close(ignored);
    w_.connections.erase(id_);
    s_.active.fetch_sub(1, std::memory_order_relaxed);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - opened_);
    s_.Log("conn " + std::to_string(id_) + " from " + remote_ + Identity() + ": closed (" + reason +
           ") in=" + std::to_string(in_) + " out=" + std::to_string(out_) +
           " duration=" + std::to_string(ms.count()) + "ms");
  }

 private:
  enum class Phase { kHandshake, kConnect, kRelay, kShutdown };

  Socket& Client() { return tls_ ? tls_->next_layer() : client_; }

  std::string Identity() const {
    std::string out;
    if (!tls_version_.empty()) {
      out += " " + tls_version_;
    } else if (started_plain_) {
      out += " plain";
    }
    if (!peer_serial_.empty()) {
      out += " peer CN=" + peer_cn_ + " serial=" + peer_serial_;
    }
    return out;
  }

  // One timer per connection; a new Arm supersedes the previous one.
  void Arm(std::chrono::milliseconds timeout, Phase phase) {
    phase_ = phase;
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (ec || self->closed_ || generation != self->timer_generation_) {
        return;
      }
      self->OnTimer();
    });
  }

  void Disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  void OnTimer() {
    switch (phase_) {
      case Phase::kHandshake:
        s_.handshakes_failed.fetch_add(1, std::memory_order_relaxed);
        return Close("handshake timeout");
      case Phase::kConnect:
        s_.backend_failures.fetch_add(1, std::memory_order_relaxed);
        return Close("backend connect timeout");
      case Phase::kShutdown:
        return Close("backend closed");
      case Phase::kRelay: {
        const auto idle = s_.options.idle_timeout;
        const auto quiet = SteadyClock::now() - last_activity_;
        if (quiet >= idle) {
          return Close("idle timeout");
        }
        return Arm(std::chrono::duration_cast<std::chrono::milliseconds>(idle - quiet) +
                       std::chrono::milliseconds(1),
                   Phase::kRelay);
      }
    }
  }

  void StartPlain() {
    started_plain_ = true;
    s_.plain.fetch_add(1, std::memory_order_relaxed);
    ConnectBackend();
  }

  void StartTls() {
    SSL* ssl = SSL_new(config_->ctx.get());  // holds its own reference to the context
    if (ssl == nullptr) {
      return Close("SSL_new failed");
    }
    tls_.emplace(std::move(client_), ssl);  // the stream owns `ssl` now
    Arm(s_.options.handshake_timeout, Phase::kHandshake);
    tls_->async_handshake(asio::ssl::stream_base::server,
                          [self = shared_from_this()](error_code ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(error_code ec) {
    if (closed_) {
      return;
    }
    SSL* ssl = tls_->native_handle();
    if (ec) {
      Disarm();
      if (SSL_get_verify_result(ssl) == X509_V_ERR_CERT_REVOKED) {
        s_.handshakes_revoked.fetch_add(1, std::memory_order_relaxed);
        return Close("handshake refused: client certificate revoked");
      }
      s_.handshakes_failed.fetch_add(1, std::memory_order_relaxed);
      return Close("handshake failed: " + SslErrorText(ec, ssl));
    }
    tls_version_ = SSL_get_version(ssl);
    std::optional<pki::Certificate> peer;
    if (auto x509 = ossl::Own(SSL_get1_peer_certificate(ssl));
        x509 && SSL_get_verify_result(ssl) == X509_V_OK) {
      peer = pki::Certificate::Adopt(std::move(x509));
      peer_cn_ = peer->common_name();
      peer_serial_ = peer->serial_hex();
      peer_issuer_ = peer->issuer();
    }
    if (!Allowed(peer)) {
      Disarm();
      s_.handshakes_not_allowed.fetch_add(1, std::memory_order_relaxed);
      return Close(peer ? "client identity not on --allow-cn/--allow-san"
                        : "no verified client certificate (--allow-cn/--allow-san given)");
    }
    // A CRL that arrived during the handshake (the context snapshot predates it).
    if (!peer_serial_.empty() && IsRevoked(s_.Config()->revoked, peer_issuer_, peer_serial_)) {
      Disarm();
      s_.handshakes_revoked.fetch_add(1, std::memory_order_relaxed);
      return Close("handshake refused: client certificate revoked");
    }
    s_.handshakes_ok.fetch_add(1, std::memory_order_relaxed);
    ConnectBackend();
  }

  bool Allowed(const std::optional<pki::Certificate>& peer) const {
    const ProxyOptions& o = s_.options;
    if (o.allow_cn.empty() && o.allow_san.empty()) {
      return true;
    }
    if (!peer) {
      return false;
    }
    for (const std::string& cn : o.allow_cn) {
      if (cn == peer_cn_) {
        return true;
      }
    }
    if (!o.allow_san.empty()) {
      pki::SubjectAltNames sans = peer->sans();
      for (const std::string& want : o.allow_san) {
        for (const auto* names : {&sans.dns, &sans.uris}) {
          for (const std::string& name : *names) {
            if (name == want) {
              return true;
            }
          }
        }
      }
    }
    return false;
  }

  void ConnectBackend() {
    Arm(s_.options.connect_timeout, Phase::kConnect);
    backend_.async_connect(s_.backend, [self = shared_from_this()](error_code ec) {
      if (self->closed_) {
        return;
      }
      if (ec) {
        self->s_.backend_failures.fetch_add(1, std::memory_order_relaxed);
        return self->Close("backend " + self->s_.backend_text + ": " + ec.message());
      }
      self->StartRelay();
    });
  }

  void StartRelay() {
    error_code ignored;
    backend_.set_option(tcp::no_delay(true), ignored);
    if (s_.options.idle_timeout.count() > 0) {
      last_activity_ = SteadyClock::now();
      Arm(s_.options.idle_timeout, Phase::kRelay);
    } else {
      Disarm();
      phase_ = Phase::kRelay;
    }
    ReadClient();
    ReadBackend();
  }

  void Touch() {
    if (s_.options.idle_timeout.count() > 0) {
      last_activity_ = SteadyClock::now();
    }
  }

  // ---- client -> backend ----
  void ReadClient() {
    if (shutting_down_) {
      return DoTlsShutdown();
    }
    up_reading_ = true;
    auto handler = [self = shared_from_this()](error_code ec, std::size_t n) {
      self->up_reading_ = false;
      self->OnClientRead(ec, n);
    };
    if (tls_) {
      tls_->async_read_some(asio::buffer(up_), std::move(handler));
    } else {
      client_.async_read_some(asio::buffer(up_), std::move(handler));
    }
  }

  void OnClientRead(error_code ec, std::size_t n) {
    if (closed_) {
      return;
    }
    if (shutting_down_) {
      return DoTlsShutdown();
    }
    if (ec) {
      if (IsEof(ec)) {
        // Client EOF: half-close towards the backend, let the answer come back.
        up_done_ = true;
        error_code ignored;
        backend_.shutdown(tcp::socket::shutdown_send, ignored);
        if (down_done_) {
          Close("closed");
        }
        return;
      }
      return Close("client: " + ec.message());
    }
    in_ += n;
    w_.counters.bytes_in.fetch_add(n, std::memory_order_relaxed);
    Touch();
    asio::async_write(backend_, asio::buffer(up_.data(), n),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->closed_) {
                          return;
                        }
                        if (ec) {
                          return self->Close("backend: " + ec.message());
                        }
                        self->ReadClient();
                      });
  }

  // ---- backend -> client ----
  void ReadBackend() {
    backend_.async_read_some(
        asio::buffer(down_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnBackendRead(ec, n); });
  }

  void OnBackendRead(error_code ec, std::size_t n) {
    if (closed_) {
      return;
    }
    if (ec) {
      if (!IsEof(ec)) {
        return Close("backend: " + ec.message());
      }
      down_done_ = true;
      if (up_done_) {
        return Close("closed");
      }
      if (!tls_) {
        error_code ignored;
        client_.shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      // TLS: send close_notify once the client's pending read is out of the way.
      shutting_down_ = true;
      if (up_reading_) {
        error_code ignored;
        tls_->next_layer().cancel(ignored);  // OnClientRead then starts the shutdown
      }
      return;  // or ReadClient() does, after the write to the backend in flight
    }
    out_ += n;
    w_.counters.bytes_out.fetch_add(n, std::memory_order_relaxed);
    Touch();
    auto handler = [self = shared_from_this()](error_code ec, std::size_t) {
      if (self->closed_) {
        return;
      }
      if (ec) {
        return self->Close("client: " + ec.message());
      }
      self->ReadBackend();
    };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(down_.data(), n), std::move(handler));
    } else {
      asio::async_write(client_, asio::buffer(down_.data(), n), std::move(handler));
    }
  }

  void DoTlsShutdown() {
    if (tls_shutdown_started_) {
      return;
    }
    tls_shutdown_started_ = true;
    Arm(kTlsShutdownTimeout, Phase::kShutdown);
    tls_->async_shutdown(
        [self = shared_from_this()](error_code) { self->Close("backend closed"); });
  }

  Shared& s_;
  Worker& w_;
  const std::uint64_t id_;
  Socket client_;                 // the client's socket until TLS takes it
  std::optional<TlsStream> tls_;  // owns the client's socket once TLS starts
  Socket backend_;
  Timer timer_;
  std::uint64_t timer_generation_ = 0;
  Phase phase_ = Phase::kHandshake;
  std::shared_ptr<const DirConfig> config_;
  SteadyClock::time_point opened_{};
  SteadyClock::time_point last_activity_{};
  std::string remote_;
  std::string tls_version_;
  std::string peer_cn_;
  std::string peer_serial_;
  std::string peer_issuer_;
  std::uint64_t in_ = 0;
  std::uint64_t out_ = 0;
  bool closed_ = false;
  bool started_plain_ = false;
  bool up_done_ = false;
  bool down_done_ = false;
  bool up_reading_ = false;
  bool shutting_down_ = false;
  bool tls_shutdown_started_ = false;
  std::array<char, 1> peek_{};
  std::array<char, kBufferBytes> up_;
  std::array<char, kBufferBytes> down_;
};

void DoAccept(Shared& s, Worker& w);

void OnAccept(Shared& s, Worker& w, error_code ec, Socket socket) {
  if (s.stopping.load() || !w.acceptor || !w.acceptor->is_open()) {
    return;
  }
  if (ec) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    // EMFILE and the like: try again shortly rather than spin.
    s.Log("accept: " + ec.message());
    w.retry->expires_after(std::chrono::milliseconds(100));
    w.retry->async_wait([&s, &w](error_code wait_ec) {
      if (!wait_ec) {
        DoAccept(s, w);
      }
    });
    return;
  }
  s.total.fetch_add(1, std::memory_order_relaxed);
  if (s.active.load(std::memory_order_relaxed) >= s.options.max_connections) {
    s.refused_limit.fetch_add(1, std::memory_order_relaxed);
    error_code ignored;
    tcp::endpoint remote = socket.remote_endpoint(ignored);
    socket.close(ignored);
    s.Log("refused a connection from " + remote.address().to_string() + ": " +
          std::to_string(s.options.max_connections) + " connections open (--max-connections)");
  } else {
    s.active.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t id = s.next_id.fetch_add(1, std::memory_order_relaxed);
    auto connection = std::make_shared<Connection>(s, w, id, std::move(socket));
    w.connections.emplace(id, connection);
    connection->Start();
  }
  DoAccept(s, w);
}

void DoAccept(Shared& s, Worker& w) {
  w.acceptor->async_accept(w.ioc.get_executor(), [&s, &w](error_code ec, Socket socket) {
    OnAccept(s, w, ec, std::move(socket));
  });
}

const core::SystemClock kSystemClock;

std::string Now(const ProxyOptions& o) {
  return core::FormatTime((o.clock != nullptr ? *o.clock : kSystemClock).Now());
}

core::Result<tcp::endpoint> Resolve(const std::string& host, std::uint16_t port, const char* what) {
  error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) {
    return tcp::endpoint(address, port);
  }
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      std::string(what) + " " + host + ": " + (ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

}  // namespace

core::Result<HostPort> ParseHostPort(std::string_view text, bool allow_zero) {
  auto bad = [&] {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "expected HOST:PORT, got '" + std::string(text.substr(0, 64)) + "'");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return bad();
  }
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad();  // an IPv6 address needs brackets
  }
  if (host.empty()) {
    host = "0.0.0.0";
  }
  unsigned port = 0;
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) {
    digits = digits && c >= '0' && c <= '9';
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (!digits || port > 65535 || (port == 0 && !allow_zero)) {
    return core::Fail(ErrorCode::kInvalidArgument, "port '" + std::string(port_text.substr(0, 16)) +
                                                       "' is not a number from 1 to 65535");
  }
  return HostPort{.host = std::move(host), .port = static_cast<std::uint16_t>(port)};
}

struct Proxy::Impl {
  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint16_t port = 0;
  std::mutex reload_mu;  // one reload at a time
  bool joined = false;

  core::Result<void> Listen() {
    const ProxyOptions& o = shared.options;
    CTLS_ASSIGN_OR_RETURN(tcp::endpoint endpoint,
                          Resolve(o.listen_host, o.listen_port, "--listen"));
    // SO_REUSEPORT would let this process share a port another one (a second proxy started
    // by mistake) listens on: a probe without it fails with "Address already in use" then.
    if (endpoint.port() != 0) {
      asio::io_context probe_ioc;
      tcp::acceptor probe(probe_ioc);
      error_code ec;
      probe.open(endpoint.protocol(), ec);
      if (!ec) {
        probe.set_option(asio::socket_base::reuse_address(true), ec);
      }
      if (!ec) {
        probe.bind(endpoint, ec);
      }
      if (ec) {
        return core::Fail(ErrorCode::kIo, "--listen " + o.listen_host + ":" +
                                              std::to_string(endpoint.port()) + ": " +
                                              ec.message());
      }
    }
    int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(threads, 1);
    for (int i = 0; i < threads; ++i) {
      auto w = std::make_unique<Worker>();
      w->acceptor.emplace(w->ioc.get_executor());
      w->retry.emplace(w->ioc.get_executor());
      error_code ec;
      w->acceptor->open(endpoint.protocol(), ec);
      if (!ec) {
        w->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      }
      if (!ec) {
        w->acceptor->set_option(ReusePort(true), ec);
      }
      if (!ec) {
        w->acceptor->bind(endpoint, ec);
      }
      if (!ec) {
        w->acceptor->listen(asio::socket_base::max_listen_connections, ec);
      }
      if (ec) {
        return core::Fail(ErrorCode::kIo, "--listen " + o.listen_host + ":" +
                                              std::to_string(endpoint.port()) + ": " +
                                              ec.message());
      }
      // Every further acceptor binds the port the first one got (an ephemeral one for port 0).
      endpoint.port(w->acceptor->local_endpoint().port());
      workers.push_back(std::move(w));
    }
    port = endpoint.port();
    shared.listen_text = endpoint.address().to_string() + ":" + std::to_string(port);
    for (auto& w : workers) {
      DoAccept(shared, *w);
      Worker* raw = w.get();
      w->thread = std::thread([raw] { raw->ioc.run(); });
    }
    return {};
  }
};

core::Result<std::unique_ptr<Proxy>> Proxy::Start(const ProxyOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->shared.options = options;
  CTLS_ASSIGN_OR_RETURN(DirConfig config, LoadDir(options.dir));
  impl->shared.config = std::make_shared<const DirConfig>(std::move(config));
  impl->shared.last_reload_at = Now(options);
  CTLS_ASSIGN_OR_RETURN(impl->shared.backend,
                        Resolve(options.backend_host, options.backend_port, "--backend"));
  impl->shared.backend_text = options.backend_host + ":" + std::to_string(options.backend_port);
  CTLS_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Proxy::~Proxy() { Drain(std::chrono::milliseconds(0)); }

std::uint16_t Proxy::port() const { return impl_->port; }

core::Result<void> Proxy::Reload(const std::string& why) {
  std::lock_guard reload_lock(impl_->reload_mu);
  Shared& s = impl_->shared;
  auto loaded = LoadDir(s.options.dir);
  if (!loaded) {
    s.reloads_failed.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(s.mu);
      s.last_reload_ok = false;
      s.last_reload_error = loaded.error().message;
      s.last_reload_at = Now(s.options);
    }
    s.Log("reload (" + why + ") failed, keeping the previous configuration: --dir " +
          s.options.dir.dir + ": " + loaded.error().message);
    return loaded.error();
  }
  auto config = std::make_shared<const DirConfig>(std::move(loaded).value());
  std::string crl_changed;
  {
    std::lock_guard lock(s.mu);
    if (s.config->revoked != config->revoked) {
      crl_changed = " (new CRL)";
    }
    s.config = config;
    s.last_reload_ok = true;
    s.last_reload_error.clear();
    s.last_reload_at = Now(s.options);
  }
  s.reloads_ok.fetch_add(1, std::memory_order_relaxed);
  s.Log("reloaded (" + why + ")" + crl_changed + ": certificate " + config->cert_serial +
        ", policy version " + std::to_string(config->policy_version) +
        (config->crl_number ? ", CRL number " + *config->crl_number : std::string()));
  if (!crl_changed.empty()) {
    // Every worker checks its own open connections against the new CRLs.
    for (auto& w : impl_->workers) {
      Worker* raw = w.get();
      asio::post(raw->ioc, [raw, config] {
        std::vector<std::shared_ptr<Connection>> open;
        for (auto& [id, weak] : raw->connections) {
          if (auto c = weak.lock()) {
            open.push_back(std::move(c));
          }
        }
        for (auto& c : open) {
          c->CloseIfRevoked(*config);
        }
      });
    }
  }
  return {};
}

void Proxy::Drain(std::chrono::milliseconds grace) {
  Impl& impl = *impl_;
  if (impl.joined) {
    return;
  }
  Shared& s = impl.shared;
  s.stopping = true;
  for (auto& w : impl.workers) {
    Worker* raw = w.get();
    asio::post(raw->ioc, [raw] {
      error_code ignored;
      raw->acceptor->close(ignored);
      raw->retry->cancel();
    });
  }
  const auto until = SteadyClock::now() + grace;
  while (s.active.load() > 0 && SteadyClock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (s.active.load() > 0) {
    s.Log("drain: closing " + std::to_string(s.active.load()) +
          " connection(s) still open after the grace period");
  }
  for (auto& w : impl.workers) {
    Worker* raw = w.get();
    asio::post(raw->ioc, [raw] {
      std::vector<std::shared_ptr<Connection>> open;
      for (auto& [id, weak] : raw->connections) {
        if (auto c = weak.lock()) {
          open.push_back(std::move(c));
        }
      }
      for (auto& c : open) {
        c->Close("proxy stopping");
      }
      raw->work.reset();
    });
  }
  for (auto& w : impl.workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  impl.joined = true;
}

ProxyStats Proxy::stats() const {
  const Shared& s = impl_->shared;
  ProxyStats out{.handshakes_ok = s.handshakes_ok.load(),
                 .handshakes_failed = s.handshakes_failed.load(),
                 .handshakes_revoked = s.handshakes_revoked.load(),
                 .handshakes_not_allowed = s.handshakes_not_allowed.load(),
                 .plain_connections = s.plain.load(),
                 .connections_active = s.active.load(),
                 .connections_total = s.total.load(),
                 .refused_limit = s.refused_limit.load(),
                 .refused_revoked = s.refused_revoked.load(),
                 .backend_failures = s.backend_failures.load(),
                 .reloads_ok = s.reloads_ok.load(),
                 .reloads_failed = s.reloads_failed.load()};
  for (const auto& w : impl_->workers) {
    out.bytes_in += w->counters.bytes_in.load(std::memory_order_relaxed);
    out.bytes_out += w->counters.bytes_out.load(std::memory_order_relaxed);
  }
  return out;
}

std::string Proxy::MetricsText() const {
  const ProxyStats st = stats();
  auto config = impl_->shared.Config();
  std::ostringstream m;
  auto family = [&m](const char* name, const char* type, const char* help) {
    m << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  family("clustertls_proxy_handshakes_total", "counter",
         "TLS handshakes by result (revoked: refused by the CRL; not_allowed: not on the "
         "allow-lists)");
  m << "clustertls_proxy_handshakes_total{result=\"ok\"} " << st.handshakes_ok << '\n'
    << "clustertls_proxy_handshakes_total{result=\"failed\"} " << st.handshakes_failed << '\n'
    << "clustertls_proxy_handshakes_total{result=\"revoked\"} " << st.handshakes_revoked << '\n'
    << "clustertls_proxy_handshakes_total{result=\"not_allowed\"} " << st.handshakes_not_allowed
    << '\n';
  family("clustertls_proxy_plain_connections_total", "counter",
         "Connections relayed without TLS (Sentinel path allowed or disabled)");
  m << "clustertls_proxy_plain_connections_total " << st.plain_connections << '\n';
  family("clustertls_proxy_connections_active", "gauge", "Open client connections");
  m << "clustertls_proxy_connections_active " << st.connections_active << '\n';
  family("clustertls_proxy_connections_total", "counter", "Accepted client connections");
  m << "clustertls_proxy_connections_total " << st.connections_total << '\n';
  family("clustertls_proxy_refused_limit_total", "counter",
         "Connections refused over --max-connections");
  m << "clustertls_proxy_refused_limit_total " << st.refused_limit << '\n';
  family("clustertls_proxy_refused_revoked_total", "counter",
         "Open connections closed because a new CRL lists their client certificate");
  m << "clustertls_proxy_refused_revoked_total " << st.refused_revoked << '\n';
  family("clustertls_proxy_backend_failures_total", "counter",
         "Backend connections that failed or timed out");
  m << "clustertls_proxy_backend_failures_total " << st.backend_failures << '\n';
  family("clustertls_proxy_bytes_total", "counter",
         "Bytes relayed (in: client to backend, out: backend to client)");
  m << "clustertls_proxy_bytes_total{direction=\"in\"} " << st.bytes_in << '\n'
    << "clustertls_proxy_bytes_total{direction=\"out\"} " << st.bytes_out << '\n';
  family("clustertls_proxy_reloads_total", "counter", "Reloads of --dir by result");
  m << "clustertls_proxy_reloads_total{result=\"ok\"} " << st.reloads_ok << '\n'
    << "clustertls_proxy_reloads_total{result=\"failed\"} " << st.reloads_failed << '\n';
  family("clustertls_proxy_cert_not_after_seconds", "gauge",
         "notAfter of the served certificate (Unix seconds)");
  m << "clustertls_proxy_cert_not_after_seconds "
    << std::chrono::duration_cast<std::chrono::seconds>(config->cert_not_after.time_since_epoch())
           .count()
    << '\n';
  return m.str();
}

std::string Proxy::StatusJson() const {
  const Shared& s = impl_->shared;
  const ProxyStats st = stats();
  nlohmann::ordered_json doc;
  std::shared_ptr<const DirConfig> config;
  {
    std::lock_guard lock(s.mu);
    config = s.config;
    doc["listen"] = s.listen_text;
    doc["backend"] = s.backend_text;
    doc["dir"] = s.options.dir.dir;
    doc["certificate"] = {{"name", s.options.dir.cert_name},
                          {"serial", config->cert_serial},
                          {"subject", config->cert_subject},
                          {"not_after", core::FormatTime(config->cert_not_after)}};
    nlohmann::ordered_json policy =
        nlohmann::ordered_json::parse(net::PolicyToJson(config->policy));
    policy["version"] = config->policy_version;
    doc["policy"] = {{"path", PolicyPathName(s.options.dir.policy_path)},
                     {"from_file", config->has_policy_file},
                     {"mode", s.options.dir.policy_path == PolicyPath::kSentinel
                                  ? net::SentinelSslName(config->mode)
                                  : "required"},
                     {"document", policy}};
    doc["crl"] = {{"present", config->has_crl},
                  {"number", config->crl_number ? nlohmann::ordered_json(*config->crl_number)
                                                : nlohmann::ordered_json(nullptr)}};
    doc["last_reload"] = {{"result", s.last_reload_ok ? "ok" : "failed"},
                          {"error", s.last_reload_error},
                          {"at", s.last_reload_at}};
  }
  doc["connections"] = {{"active", st.connections_active},
                        {"total", st.connections_total},
                        {"refused_limit", st.refused_limit},
                        {"refused_revoked", st.refused_revoked}};
  doc["reloads"] = {{"ok", st.reloads_ok}, {"failed", st.reloads_failed}};
  return doc.dump(2) + "\n";
}

}  // namespace clustertls::proxy
