#include "server/test_http_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

namespace clustertls::server {

std::string Base64(std::string_view data) {
  std::vector<unsigned char> out(4 * ((data.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), n > 0 ? n : 0);
}

std::string BasicAuthorization(std::string_view user, std::string_view password) {
  return "Basic " + Base64(std::string(user) + ":" + std::string(password));
}

namespace {

std::string RequestText(std::string_view method, std::string_view target, std::string_view body,
                        const TestHeaders& headers, std::string_view connection) {
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: " + std::string(connection) +
                        "\r\n";
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    has_type = has_type || lower == "content-type";
    request += name + ": " + value + "\r\n";
  }
  if (!body.empty() && !has_type) {
    request += "Content-Type: application/json\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  return request;
}

}  // namespace

core::Result<net::TestReply> SendPlainRequest(std::uint16_t port, std::string_view method,
                                              std::string_view target, std::string_view body,
                                              const TestHeaders& headers) {
  auto io_error = [](const std::string& what) {
    return core::Fail(core::ErrorCode::kIo, what + ": " + std::strerror(errno));
  };
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return io_error("socket");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return io_error("connect 127.0.0.1:" + std::to_string(port));
  }
  std::string request = RequestText(method, target, body, headers, "close");
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;  // the server may answer (413) and close before reading everything
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int ready = ::poll(&p, 1, 10000);
    if (ready <= 0) {
      return core::Fail(core::ErrorCode::kIo, "no reply within 10 seconds");
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) {
    return core::Fail(core::ErrorCode::kParse, "malformed reply: " + raw.substr(0, 100));
  }
  net::TestReply reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  std::size_t first_line = raw.find("\r\n");
  reply.headers = raw.substr(first_line + 2, end - first_line - 2);
  reply.body = raw.substr(end + 4);
  return reply;
}

core::Result<net::TestReply> SendRequest(net::TestTlsClient& client, std::string_view method,
                                         std::string_view target, std::string_view body,
                                         const TestHeaders& headers) {
  CTLS_RETURN_IF_ERROR(client.Write(RequestText(method, target, body, headers, "keep-alive")));
  return client.ReadReply();
}

std::string ReplyHeader(const net::TestReply& reply, std::string_view name) {
  std::string lower_name(name);
  std::transform(lower_name.begin(), lower_name.end(), lower_name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t pos = 0;
  while (pos < reply.headers.size()) {
    std::size_t end = reply.headers.find("\r\n", pos);
    if (end == std::string::npos) {
      end = reply.headers.size();
    }
    std::string line = reply.headers.substr(pos, end - pos);
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string key = line.substr(0, colon);
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (key == lower_name) {
        std::size_t v = line.find_first_not_of(' ', colon + 1);
        return v == std::string::npos ? "" : line.substr(v);
      }
    }
    pos = end + 2;
  }
  return "";
}

}  // namespace clustertls::server
