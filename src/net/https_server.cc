#include "net/https_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ossl/ptr.h"

namespace clustertls::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kReadChunk = 4096;
// Closing: how long to wait for the peer's close_notify (TLS) or end of stream (plain TCP).
constexpr auto kShutdownTimeout = std::chrono::milliseconds(500);
constexpr auto kForceCloseWait = std::chrono::seconds(1);
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// What the listener, Stop() and a ResponseSlot need of a session, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Stop(): closes the connection if no request is in flight (on the strand).
  virtual void Interrupt() = 0;
  // Stop() after the grace period: closes the connection whatever it is doing.
  virtual void ForceClose() = 0;
  // A ResponseSlot's delivery: hands `response` to the session's strand.
  virtual void PostResponse(std::shared_ptr<SessionBase> self, std::uint64_t generation,
                            Response response) = 0;
};

// State shared by the listener and every session; outlives both.
struct Shared {
  HttpsServerOptions options;
  std::shared_ptr<const CredentialStore> credentials;  // null: plain HTTP (StartPlain)
  AsyncHandler handler;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> handshakes_failed{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::mutex mu;
  std::condition_variable drained;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  // Respond closures may outlive the server: they post to a session only while the io_context
  // still exists (shared lock), and Stop() sets io_gone under the exclusive lock once the io
  // threads are joined, so nothing reaches a session's socket after its io_context is gone.
  std::shared_mutex respond_mu;
  bool io_gone = false;  // guarded by respond_mu
};

// One request's answer slot, shared by the copies of its Respond closure. The first call (or,
// when the closure is dropped without a call, its destruction: a 500) hands the response to the
// session's strand; later calls are ignored.
class ResponseSlot {
 public:
  ResponseSlot(std::shared_ptr<Shared> shared, std::weak_ptr<SessionBase> session,
               std::uint64_t generation)
      : shared_(std::move(shared)), session_(std::move(session)), generation_(generation) {}
  ~ResponseSlot();
  ResponseSlot(const ResponseSlot&) = delete;
  ResponseSlot& operator=(const ResponseSlot&) = delete;

  void Deliver(Response response);

 private:
  std::shared_ptr<Shared> shared_;
  std::weak_ptr<SessionBase> session_;
  std::uint64_t generation_;
  std::atomic<bool> done_{false};
};

Response InternalError() {
  return Response{.status = 500,
                  .body = R"({"error":{"code":"internal","message":"internal error"}})",
                  .close = true};
}

using TlsStream = asio::ssl::stream<tcp::socket>;
using PlainStream = tcp::socket;

// One connection: handshake (TLS only), then request/response cycles until close. Every member
// is used only on the session's strand (the socket's executor). `Stream` is TlsStream or
// PlainStream; the difference is resolved at compile time (handshake, connection info, close).
template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  static_assert(kTls || std::is_same_v<Stream, PlainStream>);

  // `stream_args`: the accepted socket, and for TLS the SSL* the stream adopts.
  template <typename... StreamArgs>
  Session(std::shared_ptr<Shared> shared, std::uint64_t id, StreamArgs&&... stream_args)
      : shared_(std::move(shared)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()),
        buffer_(shared_->options.max_header_bytes + kReadChunk) {
    info_.id = id;
    error_code ec;
    tcp::endpoint remote = Socket().remote_endpoint(ec);
    if (!ec) {
      info_.remote_address = remote.address().to_string();
      info_.remote_port = remote.port();
    }
  }

  ~Session() override {
    std::lock_guard lock(shared_->mu);
    shared_->sessions.erase(info_.id);
    shared_->drained.notify_all();
  }

  void Start() {
    {
      std::lock_guard lock(shared_->mu);
      shared_->sessions[info_.id] = std::weak_ptr<SessionBase>(weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoHandshake(); });
  }

  void Interrupt() override {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kHandshake || self->phase_ == Phase::kIdle) {
        error_code ignored;
        self->Socket().cancel(ignored);
      }
    });
  }

  void ForceClose() override {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

  // Runs OnRespond on the strand (inline when already on it). `self` is this session.
  void PostResponse(std::shared_ptr<SessionBase> self, std::uint64_t generation,
                    Response response) override {
    asio::dispatch(stream_.get_executor(),
                   [self = std::static_pointer_cast<Session>(std::move(self)), generation,
                    response = std::move(response)]() mutable {
                     self->OnRespond(generation, std::move(response));
                   });
  }

  // On the strand: the handler's answer to the request numbered `generation`. Ignored when the
  // connection was closed meanwhile (Stop() after its grace period).
  void OnRespond(std::uint64_t generation, Response response) {
    if (phase_ != Phase::kHandling || generation != handling_generation_) {
      return;
    }
    // The slot's delivery holds a reference to this session from here on.
    std::shared_ptr<Session> keep = std::move(self_hold_);
    shared_->requests.fetch_add(1, std::memory_order_relaxed);
    Send(response, handling_version_, !handling_keep_alive_ || response.close);
  }

 private:
  enum class Phase { kHandshake, kIdle, kHeader, kBody, kHandling, kWriting, kShutdown, kClosed };

  using std::enable_shared_from_this<Session>::shared_from_this;
  using std::enable_shared_from_this<Session>::weak_from_this;

  const HttpsServerOptions& options() const { return shared_->options; }

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }

  // Arms the timer for the next read or write; on expiry the pending operation is cancelled
  // (not the socket closed), so a 408 can still be written.
  void Arm(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (!ec && generation == self->timer_generation_) {
        self->timed_out_ = true;
        error_code ignored;
        self->Socket().cancel(ignored);
      }
    });
  }

  void Disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  void DoHandshake() {
    if (shared_->stopping) {
      return Close();
    }
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      Arm(options().handshake_timeout);
      stream_.async_handshake(
          asio::ssl::stream_base::server,
          [self = shared_from_this()](error_code ec) { self->OnHandshake(ec); });
    } else {
      DoWaitForRequest();  // plain HTTP: no handshake, no TLS fields in info_
    }
  }

  void OnHandshake(error_code ec) requires kTls {
    Disarm();
    if (ec) {
      shared_->handshakes_failed.fetch_add(1, std::memory_order_relaxed);
      return Close();
    }
    SSL* ssl = stream_.native_handle();
    info_.tls_version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl); cipher != nullptr) {
      info_.cipher = SSL_CIPHER_get_name(cipher);
    }
    auto peer = ossl::Own(SSL_get1_peer_certificate(ssl));
    if (peer && SSL_get_verify_result(ssl) == X509_V_OK) {
      info_.peer_certificate = pki::Certificate::Adopt(std::move(peer));
    }
    DoWaitForRequest();
  }

  // Waits for the first byte of the next request under the idle timeout (the header timeout
  // for the first request), so that an idle keep-alive connection is closed silently.
  void DoWaitForRequest() {
    if (shared_->stopping) {
      return DoShutdown();
    }
    if (buffer_.size() > 0) {  // a pipelined request is already buffered
      return DoReadHeader();
    }
    phase_ = Phase::kIdle;
    Arm(first_request_ ? options().header_timeout : options().idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnFirstBytes(ec, n); });
  }

  void OnFirstBytes(error_code ec, std::size_t n) {
    Disarm();
    if (ec) {
      return Close();
    }
    buffer_.commit(n);
    first_request_ = false;
    DoReadHeader();
  }

  void DoReadHeader() {
    phase_ = Phase::kHeader;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    Arm(options().header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    Disarm();
    if (ec) {
      return OnReadError(ec);
    }
    phase_ = Phase::kBody;
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && EqualsIgnoreCase(expect->value(), "100-continue") &&
        !parser_->is_done()) {
      Arm(options().write_timeout);
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](error_code ec, std::size_t) {
                                 self->Disarm();
                                 if (ec) {
                                   return self->Close();
                                 }
                                 self->DoReadBody();
                               });
    }
    DoReadBody();
  }

  void DoReadBody() {
    Arm(options().body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) { self->OnBody(ec); });
  }

  void OnReadError(error_code ec) {
    const bool got_some = buffer_.size() > 0 || (parser_ && parser_->got_some());
    if (timed_out_) {
      return got_some ? SendError(408, "request_timeout", "the request was not received in time")
                      : Close();
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return SendError(431, "header_too_large", "the request header is too large");
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "body_too_large", "the request body is too large");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_method).category()) {
      return Close();  // the peer went away (or a transport error)
    }
    SendError(400, "bad_request", "malformed HTTP request");
  }

  void SendError(int status, std::string_view code, std::string_view message) {
    shared_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response response{.status = status,
                      .body = "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
                              std::string(message) + "\"}}",
                      .close = true};
    buffer_.clear();
    Send(response, 11, true);
  }

  void OnBody(error_code ec) {
    Disarm();
    if (ec) {
      return OnReadError(ec);
    }
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());

    // No further read until the handler responds: the session keeps itself alive meanwhile
    // (Close() drops that reference), and the slot holds it only weakly, so a Respond closure
    // that outlives the server keeps no socket alive.
    phase_ = Phase::kHandling;
    handling_version_ = message.version();
    handling_keep_alive_ = message.keep_alive();
    const std::uint64_t generation = ++handling_generation_;
    self_hold_ = shared_from_this();
    auto slot = std::make_shared<ResponseSlot>(shared_, weak_from_this(), generation);
    try {
      shared_->handler(std::move(request), info_,
                       [slot](Response response) { slot->Deliver(std::move(response)); });
    } catch (const std::exception&) {
      slot->Deliver(InternalError());  // ignored if the handler responded before throwing
    } catch (...) {
      slot->Deliver(InternalError());
    }
  }

  void Send(const Response& response, unsigned version, bool close) {
    close = close || shared_->stopping;
    response_.emplace();
    response_->version(version);
    response_->result(static_cast<unsigned>(response.status));
    response_->set(http::field::server, options().server_name);
    if (!response.body.empty() || !response.content_type.empty()) {
      response_->set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      response_->insert(name, value);
    }
    response_->body() = response.body;
    response_->keep_alive(!close);
    response_->prepare_payload();
    close_after_write_ = close;
    phase_ = Phase::kWriting;
    Arm(options().write_timeout);
    http::async_write(stream_, *response_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(error_code ec) {
    Disarm();
    response_.reset();
    if (ec) {
      return Close();
    }
    if (close_after_write_ || shared_->stopping) {
      return DoShutdown();
    }
    DoWaitForRequest();
  }

  // TLS: sends close_notify (RFC 8446 section 6.1) and waits briefly for the peer's. Plain:
  // half-closes and discards what the peer still sends until its end of stream (briefly), so
  // that closing with unread input (a 413 before the body) does not reset the connection
  // before the client has read the response (RFC 9112 section 9.6).
  void DoShutdown() {
    phase_ = Phase::kShutdown;
    Arm(kShutdownTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown([self = shared_from_this()](error_code) {
        self->Disarm();
        self->Close();
      });
    } else {
      error_code ec;
      Socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) {
        return Close();
      }
      DoDrain();
    }
  }

  void DoDrain() requires(!kTls) {
    buffer_.clear();
    Socket().async_read_some(buffer_.prepare(kReadChunk),
                             [self = shared_from_this()](error_code ec, std::size_t) {
                               if (ec || self->phase_ != Phase::kShutdown) {
                                 return self->Close();  // EOF, timeout (cancel) or error
                               }
                               self->DoDrain();
                             });
  }

  void Close() {
    if (phase_ == Phase::kClosed) {
      return;
    }
    std::shared_ptr<Session> keep = std::move(self_hold_);  // released after the socket closes
    phase_ = Phase::kClosed;
    Disarm();
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  std::shared_ptr<Shared> shared_;
  Stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  ConnectionInfo info_;
  Phase phase_ = Phase::kHandshake;
  std::uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  bool first_request_ = true;
  bool close_after_write_ = false;
  // While a request is with the handler (kHandling): what Send needs and the self-reference.
  std::uint64_t handling_generation_ = 0;
  unsigned handling_version_ = 11;
  bool handling_keep_alive_ = true;
  std::shared_ptr<Session> self_hold_;
};

void ResponseSlot::Deliver(Response response) {
  if (done_.exchange(true)) {
    return;
  }
  std::shared_lock lock(shared_->respond_mu);
  if (shared_->io_gone) {
    return;
  }
  std::shared_ptr<SessionBase> session = session_.lock();
  if (!session) {
    return;
  }
  SessionBase* raw = session.get();
  raw->PostResponse(std::move(session), generation_, std::move(response));
}

ResponseSlot::~ResponseSlot() {
  // A handler that dropped its Respond without calling it: answer 500 rather than leave the
  // connection waiting for ever.
  if (!done_.load()) {
    Deliver(InternalError());
  }
}

}  // namespace

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

struct HttpsServer::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  asio::io_context ioc;
  // Keeps the io threads running while a session only waits for its handler's Respond (no
  // operation pending, the acceptor closed by Stop()).
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::atomic<bool> stopped{false};

  // Binds, listens and starts the io threads; `credentials` null serves plain HTTP.
  static core::Result<std::unique_ptr<Impl>> Listen(
      const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
      AsyncHandler handler);

  void DoAccept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (shared->stopping || !acceptor.is_open()) {
      return;
    }
    if (!ec) {
      shared->accepted.fetch_add(1, std::memory_order_relaxed);
      if (shared->credentials) {
        ossl::SharedSslCtx ctx = shared->credentials->Snapshot();
        SSL* ssl = SSL_new(ctx.get());  // holds its own reference to ctx
        if (ssl != nullptr) {
          const std::uint64_t id = shared->next_id.fetch_add(1, std::memory_order_relaxed);
          std::make_shared<Session<TlsStream>>(shared, id, std::move(socket), ssl)->Start();
        }
      } else {
        const std::uint64_t id = shared->next_id.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<Session<PlainStream>>(shared, id, std::move(socket))->Start();
      }
    }
    DoAccept();
  }

  std::vector<std::shared_ptr<SessionBase>> LiveSessions() {
    std::vector<std::shared_ptr<SessionBase>> out;
    std::lock_guard lock(shared->mu);
    for (auto& [id, weak] : shared->sessions) {
      if (auto session = weak.lock()) {
        out.push_back(std::move(session));
      }
    }
    return out;
  }

  bool WaitDrained(std::chrono::milliseconds timeout) {
    std::unique_lock lock(shared->mu);
    return shared->drained.wait_for(lock, timeout, [this] { return shared->sessions.empty(); });
  }

  void Stop() {
    if (stopped.exchange(true)) {
      return;
    }
    shared->stopping = true;
    std::promise<void> closed;
    asio::post(acceptor.get_executor(), [this, &closed] {
      error_code ignored;
      acceptor.close(ignored);
      closed.set_value();
    });
    closed.get_future().wait_for(kForceCloseWait);
    for (auto& session : LiveSessions()) {
      session->Interrupt();
    }
    if (!WaitDrained(shared->options.shutdown_grace)) {
      for (auto& session : LiveSessions()) {
        session->ForceClose();
      }
      WaitDrained(kForceCloseWait);
    }
    work.reset();
    ioc.stop();
    for (std::thread& thread : threads) {
      if (thread.joinable()) {
        thread.join();
      }
    }
    std::unique_lock lock(shared->respond_mu);
    shared->io_gone = true;
  }
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() { Stop(); }

std::uint16_t HttpsServer::port() const { return impl_->port; }

void HttpsServer::Stop() { impl_->Stop(); }

HttpsServerStats HttpsServer::stats() const {
  const Shared& s = *impl_->shared;
  HttpsServerStats stats{.connections_accepted = s.accepted.load(),
                         .handshakes_failed = s.handshakes_failed.load(),
                         .requests = s.requests.load(),
                         .bad_requests = s.bad_requests.load()};
  std::lock_guard lock(impl_->shared->mu);
  stats.open_connections = impl_->shared->sessions.size();
  return stats;
}

core::Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(
    const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
    Handler handler) {
  if (!handler) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "an HTTPS server needs credentials and a handler");
  }
  // The synchronous handler is the asynchronous one answering at once (on the strand, so its
  // Respond runs inline).
  return Start(options, std::move(credentials),
               AsyncHandler([handler = std::move(handler)](
                                Request request, const ConnectionInfo& info, Respond respond) {
                 respond(handler(request, info));
               }));
}

core::Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(
    const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
    AsyncHandler handler) {
  if (!credentials || !handler) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      "an HTTPS server needs credentials and a handler");
  }
  auto impl = Impl::Listen(options, std::move(credentials), std::move(handler));
  if (!impl) {
    return impl.error();
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(*impl)));
}

core::Result<std::unique_ptr<HttpsServer>> HttpsServer::StartPlain(
    const HttpsServerOptions& options, AsyncHandler handler) {
  if (!handler) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "an HTTP server needs a handler");
  }
  auto impl = Impl::Listen(options, nullptr, std::move(handler));
  if (!impl) {
    return impl.error();
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(*impl)));
}

core::Result<std::unique_ptr<HttpsServer::Impl>> HttpsServer::Impl::Listen(
    const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
    AsyncHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->shared->options = options;
  impl->shared->credentials = std::move(credentials);
  impl->shared->handler = std::move(handler);
  const std::string where = options.host + ":" + std::to_string(options.port);

  error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(impl->ioc);
    auto results =
        resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "cannot resolve listen host '" + options.host + "'");
    }
    endpoint = results.begin()->endpoint();
  }
  tcp::acceptor& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return core::Fail(core::ErrorCode::kIo, "cannot listen on " + where + ": " + ec.message());
  }
  impl->port = acceptor.local_endpoint(ec).port();
  impl->DoAccept();

  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  Impl* raw = impl.get();
  for (int i = 0; i < threads; ++i) {
    raw->threads.emplace_back([raw] {
      // Exceptions stop at each connection's top level: a throwing handler is dropped and the
      // loop goes on.
      for (;;) {
        try {
          raw->ioc.run();
          return;
        } catch (const std::exception&) {
        }
      }
    });
  }
  return impl;
}

}  // namespace clustertls::net
