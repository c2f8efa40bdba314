#include "net/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <utility>

#include "ossl/error.h"
#include "ossl/ptr.h"
#include "pki/key.h"

namespace clustertls::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using core::ErrorCode;

constexpr std::size_t kMaxResponseBody = 64 * 1024 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port" for the Host header (RFC 9110 section 7.2), IPv6 in brackets.
std::string HostHeader(const HttpsUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  return url.port == 443 ? host : host + ":" + std::to_string(url.port);
}

// A network error as one line; timeouts and refusals in plain words.
std::string Describe(const error_code& ec) {
  if (ec == beast::error::timeout) {
    return "timed out";
  }
  if (ec == asio::error::connection_refused) {
    return "connection refused";
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return "connection closed by the server";
  }
  return ec.message();
}

}  // namespace

std::string HttpsUrl::ToString() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "https://" + h + ":" + std::to_string(port);
}

core::Result<HttpsUrl> ParseHttpsUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "server URL '" + std::string(url) + "': " + std::string(why));
  };
  constexpr std::string_view kScheme = "https://";
  if (url.size() < kScheme.size() || !EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return bad("must start with https://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  if (rest.find('/') != std::string_view::npos || rest.find('?') != std::string_view::npos ||
      rest.find('@') != std::string_view::npos) {
    return bad("expected https://host[:port] without a path or user");
  }
  HttpsUrl out;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return bad("unterminated [IPv6] address");
    }
    out.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return bad("expected ':' after ']'");
      }
      port = after.substr(1);
    } else {
      port = "443";
    }
    error_code ec;
    asio::ip::make_address_v6(out.host, ec);
    if (ec) {
      return bad("'" + out.host + "' is not an IPv6 address");
    }
  } else {
    std::size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(':') != colon) {
      return bad("an IPv6 address must be in brackets");
    }
    out.host = std::string(rest.substr(0, colon));
    port = colon == std::string_view::npos ? std::string_view("443") : rest.substr(colon + 1);
  }
  if (out.host.empty()) {
    return bad("no host");
  }
  for (char c : out.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '_';
    if (!ok) {
      return bad("invalid character in host");
    }
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return bad("port must be 1-65535");
  }
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

std::optional<std::string_view> ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

struct HttpsClient::Impl {
  ClientOptions options;
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<ssl::stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  std::vector<pki::Certificate> peer_chain;
  bool connected = false;

  std::string Where() const { return options.url.ToString(); }

  core::Error NetError(const std::string& what, const error_code& ec) const {
    return core::Fail(ErrorCode::kIo, Where() + ": " + what + Describe(ec));
  }

  // Runs the io_context until the operation started before the call completes.
  void RunOne() {
    ioc.restart();
    ioc.run();
  }

  core::Result<void> UseClientCertificate(SSL_CTX* native) {
    auto chain = pki::Certificate::ParseAll(options.client_cert_pem);
    if (!chain) {
      return chain.error().WithContext("client certificate");
    }
    if (chain->empty()) {
      return core::Fail(ErrorCode::kInvalidArgument, "client certificate: none given");
    }
    auto key = pki::PrivateKey::Parse(options.client_key_pem);
    if (!key) {
      return key.error().WithContext("client key");
    }
    if (SSL_CTX_use_certificate(native, chain->front().get()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "client certificate: cannot use it");
    }
    for (std::size_t i = 1; i < chain->size(); ++i) {
      if (SSL_CTX_add1_chain_cert(native, (*chain)[i].get()) != 1) {
        return ossl::Failure(ErrorCode::kCrypto, "client certificate: cannot add its chain");
      }
    }
    if (SSL_CTX_use_PrivateKey(native, key->get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
      return ossl::Failure(ErrorCode::kKeyMismatch,
                           "client key does not match the client certificate");
    }
    return {};
  }

  core::Result<void> Configure() {
    SSL_CTX* native = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot set the minimum TLS version");
    }
    if (!options.client_cert_pem.empty() || !options.client_key_pem.empty()) {
      CTLS_RETURN_IF_ERROR(UseClientCertificate(native));
    }
    if (options.unverified_for_pinning) {
      SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
      return {};
    }
    if (options.ca_pem.empty()) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        Where() + ": no CA certificate to verify the server against");
    }
    auto anchors = pki::Certificate::ParseAll(options.ca_pem);
    if (!anchors) {
      return anchors.error().WithContext("CA certificates for " + Where());
    }
    if (anchors->empty()) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        Where() + ": no CA certificate to verify the server against");
    }
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const pki::Certificate& anchor : *anchors) {
      if (X509_STORE_add_cert(store, anchor.get()) != 1) {
        return ossl::Failure(ErrorCode::kCrypto, "cannot add a CA certificate to the trust store");
      }
    }
    // Every certificate given is a trust anchor, whether a root or an issuing CA.
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    return {};
  }

  core::Result<void> Open() {
    Close();
    stream.emplace(ioc, ctx);
    buffer.clear();
    SSL* ssl = stream->native_handle();
    const std::string& host = options.url.host;
    const bool ip = IsIpLiteral(host);
    if (!options.unverified_for_pinning) {
      // RFC 6125 name check against the URL's host: an IP literal must match an IP SAN.
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
      if (ok != 1) {
        return ossl::Failure(ErrorCode::kInvalidArgument, "cannot verify host name '" + host + "'");
      }
    }
    // SNI carries DNS names only (RFC 6066 section 3).
    if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
      return ossl::Failure(ErrorCode::kInvalidArgument, "cannot send SNI '" + host + "'");
    }

    error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, std::to_string(options.url.port), ec);
    if (ec) {
      return core::Fail(ErrorCode::kIo,
                        Where() + ": cannot resolve '" + host + "': " + ec.message());
    }
    beast::tcp_stream& tcp_layer = stream->next_layer();
    tcp_layer.expires_after(options.timeout);
    tcp_layer.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    RunOne();
    if (ec) {
      return NetError("", ec);
    }
    tcp_layer.expires_after(options.timeout);
    stream->async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
    RunOne();
    if (ec) {
      const long verify = SSL_get_verify_result(ssl);
      ossl::ClearErrors();
      if (!options.unverified_for_pinning && verify != X509_V_OK) {
        return core::Fail(ErrorCode::kVerifyFailed, Where() +
                                                        ": server certificate does not verify: " +
                                                        X509_verify_cert_error_string(verify));
      }
      return NetError("TLS handshake failed: ", ec);
    }
    tcp_layer.expires_never();
    peer_chain.clear();
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain != nullptr) {
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* cert = sk_X509_value(chain, i);
        X509_up_ref(cert);
        peer_chain.push_back(pki::Certificate::Adopt(ossl::Own(cert)));
      }
    }
    if (options.check_peer) {
      if (auto checked = options.check_peer(peer_chain); !checked) {
        Close();
        return checked.error().WithContext(Where());
      }
    }
    connected = true;
    return {};
  }

  void Close() {
    if (stream) {
      error_code ignored;
      stream->next_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->next_layer().socket().close(ignored);
      stream.reset();
    }
    connected = false;
  }

  // One exchange on the open connection. `idle_closed` is set when the server had closed the
  // connection before any byte of the response arrived (safe to retry on a new connection).
  core::Result<ClientResponse> Exchange(const http::request<http::string_body>& message,
                                        bool& idle_closed) {
    idle_closed = false;
    error_code ec;
    beast::tcp_stream& tcp_layer = stream->next_layer();
    tcp_layer.expires_after(options.timeout);
    http::async_write(*stream, message, [&](error_code e, std::size_t) { ec = e; });
    RunOne();
    if (ec) {
      idle_closed = ec != beast::error::timeout;
      connected = false;
      return NetError("sending the request: ", ec);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    tcp_layer.expires_after(options.timeout);
    http::async_read(*stream, buffer, parser, [&](error_code e, std::size_t) { ec = e; });
    RunOne();
    if (ec) {
      idle_closed = !parser.got_some() && ec != beast::error::timeout;
      connected = false;
      return NetError("reading the response: ", ec);
    }
    tcp_layer.expires_never();
    http::response<http::string_body> reply = parser.release();
    ClientResponse response;
    response.status = static_cast<int>(reply.result_int());
    for (const auto& field : reply) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    if (auto it = reply.find(http::field::content_type); it != reply.end()) {
      response.content_type = std::string(it->value());
    }
    response.body = std::move(reply.body());
    if (!reply.keep_alive()) {
      connected = false;
    }
    return response;
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsClient::~HttpsClient() {
  if (impl_) {
    impl_->Close();
  }
}

core::Result<std::unique_ptr<HttpsClient>> HttpsClient::Connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  CTLS_RETURN_IF_ERROR(impl->Configure());
  CTLS_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

core::Result<ClientResponse> HttpsClient::Send(const ClientRequest& request) {
  Impl& impl = *impl_;
  if (impl.options.unverified_for_pinning) {
    for (const auto& [name, value] : request.headers) {
      if (EqualsIgnoreCase(name, "Authorization")) {
        return core::Fail(ErrorCode::kInvalidArgument,
                          impl.Where() + ": refusing to send credentials to an unverified server");
      }
    }
  }
  http::request<http::string_body> message;
  message.version(11);
  message.method_string(request.method);
  message.target(request.target);
  message.set(http::field::host, HostHeader(impl.options.url));
  message.set(http::field::user_agent, "clustertls");
  message.set(http::field::accept, "application/json, application/x-pem-file, text/plain");
  for (const auto& [name, value] : request.headers) {
    message.insert(name, value);
  }
  if (!request.body.empty()) {
    message.set(http::field::content_type, request.content_type);
  }
  message.body() = request.body;
  message.keep_alive(true);
  message.prepare_payload();

  const bool reused = impl.connected;
  if (!impl.connected) {
    CTLS_RETURN_IF_ERROR(impl.Open());
  }
  bool idle_closed = false;
  auto response = impl.Exchange(message, idle_closed);
  if (!response && reused && idle_closed) {
    // The kept-alive connection had been closed by the server (idle timeout, restart): once
    // more on a fresh connection.
    CTLS_RETURN_IF_ERROR(impl.Open());
    response = impl.Exchange(message, idle_closed);
  }
  if (!impl.connected) {
    impl.Close();
  }
  return response;
}

const std::vector<pki::Certificate>& HttpsClient::peer_chain() const { return impl_->peer_chain; }

}  // namespace clustertls::net
