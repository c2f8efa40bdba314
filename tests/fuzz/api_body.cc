// Every JSON (or OCSP) body route of the REST API, through the real handler in process: a
// ControlPlane over a fresh data directory (SQLite store, CA, admin user) in a temporary
// directory, called with Api::HandleSync as the HTTPS listener would call it, as the admin. The
// first byte picks the route, the rest is the body. A 500 (an exception or an error that
// should have been a 4xx) is a finding.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/encoding.h"
#include "core/time.h"
#include "fuzz_check.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "server/api.h"
#include "server/control_plane.h"

using namespace clustertls;

namespace {

struct Route {
  const char* method;
  const char* target;
  const char* content_type;
  bool as_node = false;  // the enrolled node's certificate instead of the admin's password
};

// Each POST/PUT route of docs/api.md with a body the admin can send; the {param}s name objects
// that exist (made in Setup) so that the body gets past the lookup.
constexpr Route kRoutes[] = {
    {"POST", "/v1/ca/sign", "application/json"},
    {"POST", "/v1/certificates/revoke", "application/json"},
    {"POST", "/v1/certificates/0123456789ABCDEF/revoke", "application/json"},
    {"PUT", "/v1/cluster/update_cert", "application/json"},
    {"PUT", "/v1/cluster/certificates", "application/json"},
    {"POST", "/v1/cluster/certificates/api/renew", "application/json"},
    {"PUT", "/v1/cluster/policy", "application/json"},
    {"PUT", "/v1/cluster", "application/json"},
    {"POST", "/v1/users", "application/json"},
    {"PUT", "/v1/users/fuzz", "application/json"},
    {"POST", "/v1/tokens", "application/json"},
    {"POST", "/v1/nodes/tokens", "application/json"},
    {"PUT", "/v1/nodes/fuzz", "application/json"},
    {"POST", "/v1/agent/enroll", "application/json"},
    {"POST", "/ocsp", "application/ocsp-request"},
    {"POST", "/v1/agent/report", "application/json", true},
    {"POST", "/v1/agent/renew", "application/json", true},
};

struct World {
  std::string dir;
  std::unique_ptr<core::FixedClock> clock;
  std::unique_ptr<server::ControlPlane> plane;
  std::string authorization;
  std::optional<pki::Certificate> node_certificate;  // of node "fuzz", enrolled in Setup
};

World* world = nullptr;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "api_body set-up: %s\n", what.c_str());
  std::abort();
}

net::Response Send(const char* method, const std::string& target, const char* content_type,
                   std::string body, bool as_node = false) {
  net::Request request{.method = method,
                       .target = target,
                       .headers = {{"Content-Type", content_type}},
                       .body = std::move(body)};
  net::ConnectionInfo connection{.id = 1,
                                 .remote_address = "127.0.0.1",
                                 .remote_port = 40000,
                                 .tls_version = "TLSv1.3",
                                 .cipher = "TLS_AES_256_GCM_SHA384"};
  if (as_node) {
    connection.peer_certificate = world->node_certificate;
  } else {
    request.headers.emplace_back("Authorization", world->authorization);
  }
  return world->plane->api().HandleSync(std::move(request), connection);
}

// Enrolls node "fuzz" (its token was made by Setup) with a CSR for a new key: the identity of
// the agent routes.
void EnrollNode(const std::string& token_answer) {
  auto token = nlohmann::json::parse(token_answer, nullptr, false);
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  if (token.is_discarded() || !token.contains("token") || !key) {
    Die("no enrollment token: " + token_answer);
  }
  auto csr = pki::Csr::Create(*key, {.common_name = "fuzz"});
  if (!csr) {
    Die(csr.error().message);
  }
  net::Response r = Send("POST", "/v1/agent/enroll", "application/json",
                         nlohmann::json{{"token", token["token"]}, {"csr", csr->ToPem()}}.dump(),
                         /*as_node=*/true);
  auto answer = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 201 || !answer.contains("certificate")) {
    Die("enroll: " + std::to_string(r.status) + " " + r.body);
  }
  auto cert = pki::Certificate::FromPem(answer["certificate"].get<std::string>());
  if (!cert) {
    Die(cert.error().message);
  }
  world->node_certificate = *cert;
}

void Setup() {
  world = new World;
  world->dir =
      (std::filesystem::temp_directory_path() / ("ctls-fuzz-api-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(world->dir);
  // Fixed at start-up: the credential cache never expires, so the admin's scrypt runs once.
  world->clock = std::make_unique<core::FixedClock>(core::SystemClock().Now());
  ossl::Csprng rng;
  auto made = server::InitDataDir({.data_dir = world->dir,
                                   .fqdn = "cluster.example.com",
                                   .listen = "127.0.0.1:0",
                                   .public_listen = "off"},
                                  *world->clock, rng);
  if (!made) {
    Die(made.error().message);
  }
  auto plane = server::ControlPlane::Start({.data_dir = world->dir,
                                            .listen = "127.0.0.1:0",
                                            .threads = 1,
                                            .poll_interval = std::chrono::hours(1),
                                            .public_listen = "off"},
                                           *world->clock);
  if (!plane) {
    Die(plane.error().message);
  }
  world->plane = std::move(*plane);
  world->authorization =
      "Basic " + core::Base64Encode(made->admin_user + ":" + made->admin_password);
  // The objects the {param} routes name, and the node of the agent routes.
  for (auto [target, body] : {
           std::pair{"/v1/users", R"({"name":"fuzz","role":"reader"})"},
           std::pair{"/v1/nodes/tokens", R"({"node":"fuzz"})"},
       }) {
    net::Response r = Send("POST", target, "application/json", body);
    std::fprintf(stderr, "api_body set-up: POST %s -> %d\n", target, r.status);
    if (std::string_view(target) == "/v1/nodes/tokens") {
      EnrollNode(r.body);
    }
  }
  std::atexit([] {
    world->plane.reset();
    std::filesystem::remove_all(world->dir);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (world == nullptr) {
    Setup();
  }
  if (size == 0) {
    return 0;
  }
  const Route& route = kRoutes[data[0] % std::size(kRoutes)];
  std::string body(fuzz::AsView(data + 1, size - 1));
  net::Response r = Send(route.method, route.target, route.content_type, body, route.as_node);
  FUZZ_CHECK(r.status != 500,
             std::string(route.method) + " " + route.target + " answered 500: " + r.body);
  FUZZ_CHECK(r.status >= 200 && r.status < 600, "status " + std::to_string(r.status));
  return 0;
}
