#pragma once

// Test-side TLS/HTTP client on plain sockets and libssl (independent of the server's Asio/Beast
// code), with every wait bounded by socket timeouts, plus an `openssl s_client` runner.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "ossl/ssl_ptr.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace clustertls::net {

struct TestClientOptions {
  int max_version = 0;        // e.g. TLS1_2_VERSION; 0: no cap
  std::string cipher_list{};  // TLS <= 1.2 cipher list; empty: OpenSSL's default
  std::optional<pki::PrivateKey> client_key{};
  std::optional<pki::Certificate> client_certificate{};
  std::vector<pki::Certificate> client_chain{};    // sent after the client certificate
  std::optional<pki::Certificate> trust_anchor{};  // verify the server against it when set
  int timeout_ms = 5000;                           // bound on every read and write
};

// One HTTP/1.1 response.
struct TestReply {
  int status = 0;
  std::string headers;  // raw header block
  std::string body;
};

class TestTlsClient {
 public:
  // Connects to 127.0.0.1:port and completes the TLS handshake (fails with its error).
  static core::Result<std::unique_ptr<TestTlsClient>> Connect(std::uint16_t port,
                                                              const TestClientOptions& options);
  ~TestTlsClient();

  core::Result<void> Write(std::string_view bytes);
  // Reads one response (Content-Length framed).
  core::Result<TestReply> ReadReply();
  // Sends "GET target" with keep-alive and reads the reply.
  core::Result<TestReply> Get(std::string_view target);
  // True if the server closes the connection (close_notify, EOF or reset) within timeout_ms
  // without sending anything more.
  bool WaitClosed();
  // The certificate the server presented.
  pki::Certificate PeerCertificate() const;
  // Negotiated protocol, e.g. "TLSv1.3".
  std::string Version() const;

 private:
  TestTlsClient(int fd, ossl::Ptr<SSL_CTX> ctx, ossl::Ptr<SSL> ssl)
      : fd_(fd), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}
  int fd_;
  ossl::Ptr<SSL_CTX> ctx_;
  ossl::Ptr<SSL> ssl_;
  std::string pending_;
};

// Sends `bytes` over plain TCP (no TLS) to 127.0.0.1:port and returns true if the server then
// closes the connection within timeout_ms.
bool SendPlainAndWaitClose(std::uint16_t port, std::string_view bytes, int timeout_ms = 5000);

// Result of running the openssl CLI.
struct SClientResult {
  int exit_code = -1;
  std::string output;
};

// Runs `timeout 10 openssl s_client -connect 127.0.0.1:port -brief <args>` with stdin from
// /dev/null and returns its exit code and combined output.
SClientResult RunSClient(std::uint16_t port, std::string_view args);

}  // namespace clustertls::net
