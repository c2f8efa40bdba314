#pragma once

// A small blocking HTTPS/1.1 client (Beast) for the CLI and tests: one keep-alive connection,
// reconnected when the server closed it. It verifies the server's chain against the given
// trust anchors and its name against the host (RFC 6125 via X509_VERIFY_PARAM_set1_host /
// set1_ip). There is no "-k": the one unverified mode exists only for `login`'s first contact,
// whose result is trusted only after its CA fingerprint matched the pin.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"

namespace clustertls::net {

// "https://host:port" (port defaults to 443; IPv6 as [::1]). kInvalidArgument otherwise.
struct HttpsUrl {
  std::string host;
  std::uint16_t port = 443;
  std::string ToString() const;  // "https://host:port"
};
core::Result<HttpsUrl> ParseHttpsUrl(std::string_view url);

// Checks the chain a server presented (leaf first) after it verified, before anything is sent.
using PeerCheck = std::function<core::Result<void>(const std::vector<pki::Certificate>&)>;

struct ClientOptions {
  HttpsUrl url{};
  std::string ca_pem{};  // trust anchors (PEM bundle); required unless unverified_for_pinning
  // Connect without verifying the server (no credentials may be sent then): only for fetching
  // the CA chain whose fingerprint the caller then checks against a pin.
  bool unverified_for_pinning = false;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // per connect/read/write
  // Run after every handshake, reconnections included; its failure closes the connection and is
  // what Connect or Send returns, so no request (no credential) reaches a refused server.
  PeerCheck check_peer{};
  // A client certificate for mutual TLS (the node agent's): the certificate (chain: leaf first)
  // and its private key, PEM. Both or neither; a key that does not match is kKeyMismatch.
  std::string client_cert_pem{};
  std::string client_key_pem{};
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers{};  // e.g. Authorization
  std::string body{};
  std::string content_type = "application/json";  // sent when body is not empty
};

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body;
  std::optional<std::string_view> Header(std::string_view name) const;
};

class HttpsClient {
 public:
  // Connects and handshakes. kIo ("https://h:p: connection refused"), kVerifyFailed ("server
  // certificate does not verify: <reason>"), kInvalidArgument (no ca_pem).
  static core::Result<std::unique_ptr<HttpsClient>> Connect(const ClientOptions& options);
  ~HttpsClient();

  // Sends one request and reads the response (reconnecting once if the kept-alive connection
  // was closed). kIo on network errors and timeouts.
  core::Result<ClientResponse> Send(const ClientRequest& request);

  // The chain the server presented in the last handshake (leaf first).
  const std::vector<pki::Certificate>& peer_chain() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::net
