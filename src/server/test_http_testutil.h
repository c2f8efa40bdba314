#pragma once

// Test-side HTTP requests with any method, body and headers over net::TestTlsClient (whose own
// helper only sends GET), and HTTP Basic credentials (RFC 7617 section 2).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "net/test_client_testutil.h"

namespace clustertls::server {

using TestHeaders = std::vector<std::pair<std::string, std::string>>;

// "Basic base64(user:password)".
std::string BasicAuthorization(std::string_view user, std::string_view password);

// Sends one keep-alive request (Content-Length framed; Content-Type: application/json when a
// body is given and `headers` has no Content-Type) and reads the reply.
core::Result<net::TestReply> SendRequest(net::TestTlsClient& client, std::string_view method,
                                         std::string_view target, std::string_view body = {},
                                         const TestHeaders& headers = {});

// Sends one request over plain HTTP/1.1 to 127.0.0.1:port (a new connection, "Connection:
// close"; Content-Type as SendRequest) and reads the reply until the server closes. Bounded:
// fails after 10 seconds without progress.
core::Result<net::TestReply> SendPlainRequest(std::uint16_t port, std::string_view method,
                                              std::string_view target, std::string_view body = {},
                                              const TestHeaders& headers = {});

// Standard base64 (RFC 4648 section 4) with padding.
std::string Base64(std::string_view data);

// The value of header `name` (case-insensitive) in a raw header block, or "".
std::string ReplyHeader(const net::TestReply& reply, std::string_view name);

}  // namespace clustertls::server
