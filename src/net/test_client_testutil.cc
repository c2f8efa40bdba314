#include "net/test_client_testutil.h"

#include "pki/test_pki_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <string>

#include "ossl/error.h"

namespace clustertls::net {

using core::ErrorCode;

core::Result<std::unique_ptr<TestTlsClient>> TestTlsClient::Connect(
    std::uint16_t port, const TestClientOptions& options) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return core::Fail(ErrorCode::kIo, "socket failed");
  }
  timeval tv{.tv_sec = options.timeout_ms / 1000, .tv_usec = (options.timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return core::Fail(ErrorCode::kIo, "connect failed");
  }
  auto ctx = ossl::Own(SSL_CTX_new(TLS_client_method()));
  if (options.max_version != 0) {
    SSL_CTX_set_max_proto_version(ctx.get(), options.max_version);
  }
  if (!options.cipher_list.empty()) {
    SSL_CTX_set_cipher_list(ctx.get(), options.cipher_list.c_str());
  }
  if (options.client_key && options.client_certificate) {
    SSL_CTX_use_certificate(ctx.get(), options.client_certificate->get());
    SSL_CTX_use_PrivateKey(ctx.get(), options.client_key->get());
    for (const pki::Certificate& cert : options.client_chain) {
      SSL_CTX_add1_chain_cert(ctx.get(), cert.get());
    }
  }
  if (options.trust_anchor) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), options.trust_anchor->get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  auto ssl = ossl::Own(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  if (SSL_connect(ssl.get()) != 1) {
    auto error = ossl::Failure(ErrorCode::kIo, "TLS handshake failed");
    close(fd);
    return error;
  }
  return std::unique_ptr<TestTlsClient>(new TestTlsClient(fd, std::move(ctx), std::move(ssl)));
}

TestTlsClient::~TestTlsClient() {
  ssl_.reset();
  close(fd_);
}

core::Result<void> TestTlsClient::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) {
      return ossl::Failure(ErrorCode::kIo, "SSL_write failed");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

core::Result<TestReply> TestTlsClient::ReadReply() {
  std::array<char, 4096> chunk{};
  auto fill = [&]() -> bool {
    int n = SSL_read(ssl_.get(), chunk.data(), static_cast<int>(chunk.size()));
    if (n <= 0) {
      ossl::ClearErrors();
      return false;
    }
    pending_.append(chunk.data(), static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      return core::Fail(ErrorCode::kIo, "connection ended before a response header");
    }
  }
  TestReply reply;
  reply.headers = pending_.substr(0, end + 4);
  pending_.erase(0, end + 4);
  if (reply.headers.size() < 12 || !reply.headers.starts_with("HTTP/1.")) {
    return core::Fail(ErrorCode::kParse, "not an HTTP response: " + reply.headers);
  }
  reply.status = std::stoi(reply.headers.substr(9, 3));
  std::size_t length = 0;
  std::string lower = reply.headers;
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (auto pos = lower.find("content-length:"); pos != std::string::npos) {
    length = std::stoul(lower.substr(pos + 15));
  }
  while (pending_.size() < length) {
    if (!fill()) {
      return core::Fail(ErrorCode::kIo, "connection ended inside a response body");
    }
  }
  reply.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return reply;
}

core::Result<TestReply> TestTlsClient::Get(std::string_view target) {
  CTLS_RETURN_IF_ERROR(
      Write("GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  return ReadReply();
}

bool TestTlsClient::WaitClosed() {
  std::array<char, 256> chunk{};
  int n = SSL_read(ssl_.get(), chunk.data(), static_cast<int>(chunk.size()));
  if (n > 0) {
    return false;
  }
  const int error = SSL_get_error(ssl_.get(), n);
  ossl::ClearErrors();
  if (error == SSL_ERROR_ZERO_RETURN) {
    return true;
  }
  // A receive timeout (EAGAIN) means the connection is still open.
  return !(error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
}

pki::Certificate TestTlsClient::PeerCertificate() const {
  return pki::Certificate::Adopt(ossl::Own(SSL_get1_peer_certificate(ssl_.get())));
}

std::string TestTlsClient::Version() const { return SSL_get_version(ssl_.get()); }

bool SendPlainAndWaitClose(std::uint16_t port, std::string_view bytes, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  timeval tv{.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool closed = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    std::array<char, 1024> buf{};
    for (;;) {
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n > 0) {
        continue;  // a TLS alert
      }
      closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
  }
  close(fd);
  return closed;
}

SClientResult RunSClient(std::uint16_t port, std::string_view args) {
  std::string command = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                        " -brief " + std::string(args) + " </dev/null 2>&1";
  pki::CommandResult run = pki::RunCommand(command);
  return SClientResult{.exit_code = run.exit_code, .output = std::move(run.output)};
}

}  // namespace clustertls::net
