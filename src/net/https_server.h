#pragma once

// An HTTPS/1.1 server on Boost.Asio/Beast: a session owns its stream; Beast's parser reads the
// requests, responses are written as one contiguous buffer; the request handler is a pure
// function that never touches the socket; a deadline is set before every read and write (one
// lazily re-armed timer per connection); each connection runs on its own strand of one
// io_context that every io thread runs.
// Beast stays inside https_server.cc: this header is cheap to include.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "net/credentials.h"
#include "pki/certificate.h"

namespace clustertls::net {

// One parsed HTTP request (the body complete).
struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // origin-form, e.g. "/v1/certificates?limit=10"
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};

  // The first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// The handler's answer. Content-Length, Server and Connection are set by the server.
struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers{};  // extra headers
  bool close = false;                                          // close after sending
};

// Who is on the other side of a connection (set once after its TLS handshake; at accept for
// plain HTTP, whose tls_version and cipher stay empty).
struct ConnectionInfo {
  std::uint64_t id = 0;  // unique per server
  std::string remote_address;
  std::uint16_t remote_port = 0;
  std::string tls_version;  // "TLSv1.3"
  std::string cipher;       // "TLS_AES_256_GCM_SHA384"
  // The client's certificate when it sent one that verified against the client CAs.
  std::optional<pki::Certificate> peer_certificate{};
};

// Answers one request. Called on the connection's strand (several connections in parallel);
// must be thread-safe and must not throw (an exception becomes a 500).
using Handler = std::function<Response(const Request&, const ConnectionInfo&)>;

// Sends a handler's response; may be called from any thread, exactly once. The connection reads
// no further request until it has been called (HTTP/1.1 answers in order). A second call is
// ignored; so is a call after the connection was cut (Stop() past its grace period) or after the
// server was destroyed. Dropping every copy without a call answers 500.
using Respond = std::function<void(Response)>;

// Answers one request asynchronously: called on the connection's strand, it must return
// quickly and call `respond` later, from any thread (e.g. after a group commit). An exception
// thrown before `respond` is called becomes a 500.
using AsyncHandler = std::function<void(Request, const ConnectionInfo&, Respond)>;

struct HttpsServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (see HttpsServer::port())
  int threads = 0;         // io_context threads; 0: one per core
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // From the first byte of a request to the end of its header (408 when exceeded).
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  // Reading the body (408 when exceeded).
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  // Waiting for the next request on a keep-alive connection (closed silently when exceeded).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  // Stop(): how long in-flight requests may take before their connections are cut.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(5);
  std::size_t max_header_bytes = 16 * 1024;  // larger: 431 and close (RFC 6585 section 5)
  std::size_t max_body_bytes = 1024 * 1024;  // larger: 413 and close (RFC 9110 section 15.5.14)
  std::string server_name = "clustertls";    // Server header
};

// Counters, readable at any time.
struct HttpsServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t handshakes_failed = 0;
  std::uint64_t requests = 0;
  std::uint64_t bad_requests = 0;  // answered 400/408/413/431/501 by the server itself
  std::uint64_t open_connections = 0;
};

namespace internal {

// Appends to `out` the HTTP/1.x response the server writes for `response` (RFC 9112 section 4
// status line, section 5 fields, section 6.2 Content-Length): the status line, Server, the
// Content-Type (unless the body and the type are both empty), the handler's headers in order,
// "Connection: close" (HTTP/1.1) or "Connection: keep-alive" (HTTP/1.0) as `close` says,
// Content-Length, then the body. Byte for byte what Beast's serializer writes for the same
// message. False (and `out` unchanged) when the response is outside what this writer handles
// (the handler sets Connection, Content-Length or Transfer-Encoding itself; a status outside
// 100..999; a body on a 1xx, 204 or 304): the server then falls back to Beast.
bool AppendResponse(const Response& response, std::string_view server_name, unsigned version,
                    bool close, std::string& out);

// The same response through Beast's serializer: what the server writes for the responses
// AppendResponse leaves to it, and the reference its tests compare AppendResponse with.
std::string BeastSerialize(const Response& response, std::string_view server_name,
                           unsigned version, bool close);

}  // namespace internal

// A running HTTPS server. Start() binds and listens before returning.
class HttpsServer {
 public:
  // Binds options.host:options.port, starts the io threads and accepts connections; each new
  // connection uses credentials->Snapshot() (so a swapped context applies to new connections).
  // Fails with kIo if the address cannot be bound, kInvalidArgument for a bad host.
  static core::Result<std::unique_ptr<HttpsServer>> Start(
      const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
      Handler handler);

  // The same with an asynchronous handler.
  static core::Result<std::unique_ptr<HttpsServer>> Start(
      const HttpsServerOptions& options, std::shared_ptr<const CredentialStore> credentials,
      AsyncHandler handler);

  // The same server over plain HTTP/1.1 (no TLS; every limit and timeout as above): the public
  // listener of `serve`, which answers OCSP, the CRL and the CA chain to clients that fetch them
  // over http:// (RFC 5280 section 4.2.1.13, RFC 6960 appendix A.1). ConnectionInfo carries
  // the address; tls_version and cipher are empty.
  static core::Result<std::unique_ptr<HttpsServer>> StartPlain(const HttpsServerOptions& options,
                                                               AsyncHandler handler);

  // Stop() then joins.
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // The bound port (the ephemeral one when options.port was 0).
  std::uint16_t port() const;

  // Stops accepting, lets in-flight requests finish (up to shutdown_grace; their responses
  // carry "Connection: close"), closes idle sessions, then cuts what is left and joins the
  // threads. Idempotent; blocks for at most about shutdown_grace plus two seconds. Must not be
  // called from a handler (it joins the threads that run handlers).
  void Stop();

  HttpsServerStats stats() const;

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::net
