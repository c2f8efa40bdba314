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
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <future>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
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
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 4096;
// Closing: how long to wait for the peer's close_notify (TLS) or end of stream (plain TCP).
constexpr auto kShutdownTimeout = std::chrono::milliseconds(500);
// After an error the server answered before reading the whole request (413, 431, 400, 408):
// how long it goes on reading and discarding what the client still sends, so that closing does
// not reset the connection before the client has read the answer (RFC 9112 section 9.6). One
// deadline for the whole drain: a trickling client cannot extend it.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr auto kForceCloseWait = std::chrono::seconds(1);
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// A request the session refuses once its header is parsed: the status, the error code and a
// fixed message (no client input in it: SendError does not escape).
struct HeaderProblem {
  int status;
  std::string_view code;
  std::string message;
};

// The fields a request may carry once (RFC 9110 section 5.3: a repeated field is a list, which
// these are not). Beast already refuses two Content-Lengths that differ; two equal ones are
// refused here too.
constexpr http::field kOnceOnlyFields[] = {http::field::host, http::field::content_length,
                                           http::field::content_type, http::field::authorization,
                                           http::field::origin};

// Checks the message framing and the once-only fields of a parsed request header, before its
// body is read: the request-smuggling shapes a proxy in front of the server could read
// differently (RFC 9112 section 11.2).
std::optional<HeaderProblem> CheckRequestHeader(const http::fields& fields) {
  bool content_length = false;
  std::vector<std::string_view> codings;
  std::size_t transfer_encoding_fields = 0;
  for (const auto& field : fields) {
    if (field.name() == http::field::content_length) {
      content_length = true;
    } else if (field.name() == http::field::transfer_encoding) {
      ++transfer_encoding_fields;
      // A comma-separated list; empty elements are allowed (RFC 9110 section 5.6.1).
      std::string_view rest = field.value();
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        const std::size_t begin = item.find_first_not_of(" \t");
        if (begin == std::string_view::npos) {
          continue;
        }
        item = item.substr(begin, item.find_last_not_of(" \t") - begin + 1);
        codings.push_back(item);
      }
    }
  }
  // RFC 9112 section 6.3 (3): both framings in one request may be an attempt at smuggling;
  // the server may process it as chunked but must then close: it refuses it and closes.
  if (transfer_encoding_fields > 0 && content_length) {
    return HeaderProblem{400, "bad_request",
                         "a request with both Transfer-Encoding and Content-Length is refused "
                         "(RFC 9112 section 6.3)"};
  }
  // RFC 9112 section 6.1: a transfer coding the server does not understand gets 501. The only
  // one it decodes is chunked, applied once (not twice, not after another coding).
  if (transfer_encoding_fields > 0 &&
      (codings.size() != 1 || !EqualsIgnoreCase(codings.front(), "chunked"))) {
    return HeaderProblem{501, "not_implemented",
                         "Transfer-Encoding: only chunked (alone, once) is supported (RFC 9112 "
                         "section 6.1)"};
  }
  for (http::field once : kOnceOnlyFields) {
    if (fields.count(once) > 1) {
      return HeaderProblem{
          400, "bad_request",
          "the request has more than one " + std::string(http::to_string(once)) + " header field"};
    }
  }
  return std::nullopt;
}

// Every connection runs on its own strand of the shared io_context (typed executors: no
// any_io_executor). Pinning plain connections to one single-threaded io_context per thread
// (no strand) was measured: the same CPU per request at 64 connections and a worse p99 on a
// busy machine (a descheduled io thread stalls all its connections), so it was not kept.
using LoopExecutor = asio::io_context::executor_type;
using StrandExecutor = asio::strand<LoopExecutor>;
using Socket = asio::basic_stream_socket<tcp, StrandExecutor>;
using PlainStream = Socket;
using TlsStream = asio::ssl::stream<Socket>;
using Acceptor = asio::basic_socket_acceptor<tcp, StrandExecutor>;

// What the listener, Stop() and a ResponseSlot need of a session, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Stop(): closes the connection if no request is in flight (on the session's executor).
  virtual void Interrupt() = 0;
  // Stop() after the grace period: closes the connection whatever it is doing.
  virtual void ForceClose() = 0;
  // A ResponseSlot's delivery: hands `response` to the session's executor.
  virtual void PostResponse(std::shared_ptr<SessionBase> self, std::uint64_t generation,
                            Response response) = 0;
};

// State shared by the listener and every session; outlives both.
struct Shared {
  HttpsServerOptions options;
  std::shared_ptr<const CredentialStore> credentials;  // null: plain HTTP (StartPlain)
  AsyncHandler handler;
  // The shortest timeout a request/response cycle arms (see Session::Arm).
  std::chrono::milliseconds min_cycle_timeout{0};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> handshakes_failed{0};
  // Written on every request by every io thread: on its own cache line, away from `stopping`
  // and the options that every request reads.
  alignas(64) std::atomic<std::uint64_t> requests{0};
  alignas(64) std::atomic<std::uint64_t> bad_requests{0};
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
// session's executor; later calls are ignored.
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

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

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

  // Runs OnRespond on the session's executor (inline when already on it). `self` is this
  // session.
  void PostResponse(std::shared_ptr<SessionBase> self, std::uint64_t generation,
                    Response response) override {
    asio::dispatch(stream_.get_executor(),
                   [self = std::static_pointer_cast<Session>(std::move(self)), generation,
                    response = std::move(response)]() mutable {
                     self->OnRespond(generation, std::move(response));
                   });
  }

  // On the session's executor: the handler's answer to the request numbered `generation`.
  // Ignored when the connection was closed meanwhile (Stop() after its grace period).
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
  using Timer = asio::basic_waitable_timer<SteadyClock, asio::wait_traits<SteadyClock>,
                                           typename Stream::executor_type>;
  static constexpr SteadyClock::time_point kNoDeadline = SteadyClock::time_point::max();

  using std::enable_shared_from_this<Session>::shared_from_this;
  using std::enable_shared_from_this<Session>::weak_from_this;

  const HttpsServerOptions& options() const { return shared_->options; }

  auto& Socket() { return beast::get_lowest_layer(stream_); }

  // Sets the deadline of the next read or write; when it passes, the pending operation is
  // cancelled (not the socket closed), so a 408 can still be written. The timer is lazy: it
  // fires at the latest min_cycle_timeout after it was started and then looks at the current
  // deadline (re-arming itself when it is not due yet), so the Arm/Disarm pairs of a request
  // cost a clock read each, not a timer cancel and a new wait.
  void Arm(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    const SteadyClock::time_point now = SteadyClock::now();
    deadline_ = now + timeout;
    if (!timer_running_ || timer_expiry_ > deadline_) {
      StartTimer(now);
    }
  }

  // No deadline until the next Arm (the timer, if running, finds none and stops).
  void Disarm() { deadline_ = kNoDeadline; }

  void StartTimer(SteadyClock::time_point now) {
    timer_expiry_ = std::min(deadline_, now + shared_->min_cycle_timeout);
    timer_.expires_at(timer_expiry_);  // cancels a running wait: its handler sees a newer id
    const std::uint64_t wait = ++timer_wait_;
    timer_running_ = true;
    timer_.async_wait(
        [self = shared_from_this(), wait](error_code ec) { self->OnTimer(ec, wait); });
  }

  void OnTimer(error_code ec, std::uint64_t wait) {
    if (wait != timer_wait_) {
      return;  // replaced by a later wait
    }
    timer_running_ = false;
    if (ec || phase_ == Phase::kClosed || deadline_ == kNoDeadline) {
      return;  // cancelled by Close(), or nothing is timed now (the next Arm restarts it)
    }
    const SteadyClock::time_point now = SteadyClock::now();
    if (now < deadline_) {
      return StartTimer(now);
    }
    deadline_ = kNoDeadline;
    timed_out_ = true;
    error_code ignored;
    Socket().cancel(ignored);
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
    Parse();
  }

  // Feeds the buffered bytes to the parser until it has what the phase waits for (kHeader: the
  // header, kBody: the whole message), reading more when it needs it; the bytes of a pipelined
  // request stay in buffer_. What Beast's http::async_read_header / async_read do, without
  // their composed operations.
  void Parse() {
    for (;;) {
      const bool have = phase_ == Phase::kBody ? parser_->is_done() : parser_->is_header_done();
      if (have) {
        break;
      }
      if (buffer_.size() == 0) {
        return ReadMore();
      }
      error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more || (!ec && used == 0)) {
        return ReadMore();
      }
      if (ec) {
        Disarm();
        return OnReadError(ec);
      }
    }
    Disarm();
    if (phase_ == Phase::kBody) {
      return OnBody();
    }
    OnHeader();
  }

  void ReadMore() {
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) {
      Disarm();
      return OnReadError(http::error::buffer_overflow);
    }
    stream_.async_read_some(
        buffer_.prepare(std::min(kReadChunk, room)),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, std::size_t n) {
    if (ec) {
      Disarm();
      if (ec == asio::error::eof) {  // as Beast's read: end of stream, or a cut message
        ec = parser_->got_some() ? error_code(http::error::partial_message)
                                 : error_code(http::error::end_of_stream);
      }
      return OnReadError(ec);
    }
    buffer_.commit(n);
    Parse();
  }

  void OnHeader() {
    if (auto problem = CheckRequestHeader(parser_->get().base())) {
      return SendError(problem->status, problem->code, problem->message);
    }
    phase_ = Phase::kBody;
    parser_->eager(true);
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
    Parse();
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
    linger_ = true;
    Send(response, 11, true);
  }

  void OnBody() {
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.headers.reserve(
        static_cast<std::size_t>(std::distance(message.begin(), message.end())));
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

  // Writes the whole response with one write from one contiguous buffer (out_, kept per
  // connection).
  void Send(const Response& response, unsigned version, bool close) {
    close = close || shared_->stopping;
    out_.clear();
    if (!internal::AppendResponse(response, options().server_name, version, close, out_)) {
      out_ = internal::BeastSerialize(response, options().server_name, version, close);
    }
    close_after_write_ = close;
    phase_ = Phase::kWriting;
    Arm(options().write_timeout);
    asio::async_write(
        stream_, asio::buffer(out_),
        [self = shared_from_this()](error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(error_code ec) {
    Disarm();
    if (out_.capacity() > kKeptOutputBytes) {
      std::string().swap(out_);  // a large answer (a CRL): do not keep its buffer per connection
    }
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
    Arm(linger_ ? kLingerTimeout : kShutdownTimeout);
    if constexpr (kTls) {
      if (linger_) {
        return DoDrainTls();
      }
      SendCloseNotify();
    } else {
      error_code ec;
      Socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) {
        return Close();
      }
      DoDrain();
    }
  }

  void SendCloseNotify() requires(kTls) {
    Arm(kShutdownTimeout);
    stream_.async_shutdown([self = shared_from_this()](error_code) {
      self->Disarm();
      self->Close();
    });
  }

  // TLS after an error answer: the client may still be sending the request's body (curl sends
  // all of it before reading): read and discard application data until it stops (its
  // close_notify or end of stream) or the linger deadline passes, then send close_notify.
  // Closing with unread input would make the kernel reset the connection, and the client could
  // lose the answer it has not read yet.
  void DoDrainTls() requires(kTls) {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (self->phase_ != Phase::kShutdown || self->timed_out_) {
                                return self->Close();  // closed, or the linger deadline passed
                              }
                              if (ec) {
                                return self->SendCloseNotify();  // the client stopped
                              }
                              self->DoDrainTls();
                            });
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
    timer_.cancel();  // its pending wait holds a reference to this session
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  // A response buffer larger than this is released after its write.
  static constexpr std::size_t kKeptOutputBytes = 64 * 1024;

  std::shared_ptr<Shared> shared_;
  Stream stream_;
  Timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;  // the response being written
  ConnectionInfo info_;
  Phase phase_ = Phase::kHandshake;
  // The lazy timer: the current deadline, and the wait in flight (see Arm).
  SteadyClock::time_point deadline_ = kNoDeadline;
  SteadyClock::time_point timer_expiry_{};
  std::uint64_t timer_wait_ = 0;
  bool timer_running_ = false;
  bool timed_out_ = false;
  bool first_request_ = true;
  bool close_after_write_ = false;
  bool linger_ = false;  // the server answered an error with input possibly left unread
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

namespace internal {

std::string BeastSerialize(const Response& response, std::string_view server_name, unsigned version,
                           bool close) {
  http::response<http::string_body> message;
  message.version(version);
  message.result(static_cast<unsigned>(response.status));
  message.set(http::field::server, server_name);
  if (!response.body.empty() || !response.content_type.empty()) {
    message.set(http::field::content_type, response.content_type);
  }
  for (const auto& [name, value] : response.headers) {
    message.insert(name, value);
  }
  message.body() = response.body;
  message.keep_alive(!close);
  message.prepare_payload();
  std::ostringstream out;
  out << message;
  return std::move(out).str();
}

bool AppendResponse(const Response& response, std::string_view server_name, unsigned version,
                    bool close, std::string& out) {
  const int status = response.status;
  if (status < 100 || status > 999) {
    return false;
  }
  if (!response.body.empty() && (status < 200 || status == 204 || status == 304)) {
    return false;
  }
  for (const auto& [name, value] : response.headers) {
    if (EqualsIgnoreCase(name, "Connection") || EqualsIgnoreCase(name, "Content-Length") ||
        EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return false;
    }
  }
  const std::string_view reason =
      http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  std::size_t size =
      64 + server_name.size() + reason.size() + response.content_type.size() + response.body.size();
  for (const auto& [name, value] : response.headers) {
    size += name.size() + value.size() + 4;
  }
  out.reserve(out.size() + size);
  char digits[24];
  // Status line (RFC 9112 section 4).
  out.append("HTTP/");
  out.push_back(static_cast<char>('0' + version / 10 % 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + version % 10));
  out.push_back(' ');
  out.append(digits, std::to_chars(digits, digits + sizeof(digits), status).ptr);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  AppendField(out, "Server", server_name);
  if (!response.body.empty() || !response.content_type.empty()) {
    AppendField(out, "Content-Type", response.content_type);
  }
  for (const auto& [name, value] : response.headers) {
    AppendField(out, name, value);
  }
  if (version < 11) {
    if (!close) {
      AppendField(out, "Connection", "keep-alive");
    }
  } else if (close) {
    AppendField(out, "Connection", "close");
  }
  const char* end = std::to_chars(digits, digits + sizeof(digits), response.body.size()).ptr;
  AppendField(out, "Content-Length",
              std::string_view(digits, static_cast<std::size_t>(end - digits)));
  out.append("\r\n");
  out.append(response.body);
  return true;
}

}  // namespace internal

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
  asio::executor_work_guard<LoopExecutor> work = asio::make_work_guard(ioc);
  Acceptor acceptor{asio::make_strand(ioc.get_executor())};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::atomic<bool> stopped{false};

  // Binds, listens and starts the io threads; `credentials` null serves plain HTTP.
  static core::Result<std::unique_ptr<Impl>> Listen(
      const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
      AsyncHandler handler);

  void DoAccept() {
    acceptor.async_accept(
        asio::make_strand(ioc.get_executor()),
        [this](error_code ec, Socket socket) { OnAccept(ec, std::move(socket)); });
  }

  void OnAccept(error_code ec, Socket socket) {
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
  // Never below 10 ms, so that a tiny timeout cannot make the lazy timer spin.
  impl->shared->min_cycle_timeout =
      std::max({std::min({options.handshake_timeout, options.header_timeout, options.body_timeout,
                          options.idle_timeout, options.write_timeout}),
                std::chrono::milliseconds(10)});
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
  Acceptor& acceptor = impl->acceptor;
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
