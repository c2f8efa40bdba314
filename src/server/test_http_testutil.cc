#include "server/test_http_testutil.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace clustertls::server {

std::string BasicAuthorization(std::string_view user, std::string_view password) {
  std::string plain = std::string(user) + ":" + std::string(password);
  std::vector<unsigned char> out(4 * ((plain.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size()));
  return "Basic " + std::string(reinterpret_cast<const char*>(out.data()), n > 0 ? n : 0);
}

core::Result<net::TestReply> SendRequest(net::TestTlsClient& client, std::string_view method,
                                         std::string_view target, std::string_view body,
                                         const TestHeaders& headers) {
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n";
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
  CTLS_RETURN_IF_ERROR(client.Write(request));
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
