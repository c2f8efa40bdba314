// The request target as the server reads it (server/router.cc): percent-decoding (RFC 3986
// section 2.1), path splitting, route matching with {param} and rest segments, and the query
// string, on bytes the HTTP parser passed through.

#include "server/router.h"

#include "fuzz_check.h"
#include "server/api.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(fuzz::AsView(data, size));
  for (bool plus : {false, true}) {
    if (auto decoded = server::internal::PercentDecode(in, plus)) {
      FUZZ_CHECK(decoded->size() <= in.size(), "decoding grew the text");
    }
  }
  const std::string path = server::Router::PathOf(in);
  FUZZ_CHECK(path.find('?') == std::string::npos, "PathOf kept a '?'");
  if (!path.empty() && path[0] == '/') {
    std::string joined;
    for (std::string_view part : server::internal::SplitPath(path)) {
      joined += "/";
      joined += part;
    }
    FUZZ_CHECK(joined == path, "SplitPath lost characters of " + path);
  }
  (void)server::Api::RoutePattern(in);
  server::Call call;
  call.request.target = in;
  if (server::internal::ParseQuery(call)) {
    for (const auto& [key, value] : call.query) {
      FUZZ_CHECK(key.size() + value.size() <= in.size(), "query grew");
    }
  }
  return 0;
}
