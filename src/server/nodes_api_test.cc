// NodesApi's agent routes through the real handler in process (ControlPlane::api(), as
// tests/fuzz/api_body calls it), with a node enrolled by its one-time token.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/encoding.h"
#include "core/time.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_pki_testutil.h"
#include "server/api.h"
#include "server/control_plane.h"

namespace clustertls::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pki::Must;

class NodesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ctls-nodes-api-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    ossl::Csprng rng;
    auto made = Must(InitDataDir({.data_dir = dir_,
                                  .fqdn = "cluster.example.com",
                                  .listen = "127.0.0.1:0",
                                  .public_listen = "off"},
                                 clock_, rng),
                     "InitDataDir");
    admin_ = "Basic " + core::Base64Encode(made.admin_user + ":" + made.admin_password);
    plane_ =
        Must(ControlPlane::Start(
                 {.data_dir = dir_, .listen = "127.0.0.1:0", .threads = 1, .public_listen = "off"},
                 clock_),
             "ControlPlane::Start");
    net::Response token = Send("/v1/nodes/tokens", R"({"node":"n1"})", /*as_node=*/false);
    ASSERT_EQ(token.status, 201) << token.body;
    auto key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP256), "key");
    auto csr = Must(pki::Csr::Create(key, {.common_name = "n1"}), "csr");
    net::Response enrolled =
        Send("/v1/agent/enroll",
             json{{"token", json::parse(token.body)["token"]}, {"csr", csr.ToPem()}}.dump(),
             /*as_node=*/true);
    ASSERT_EQ(enrolled.status, 201) << enrolled.body;
    node_cert_ = Must(
        pki::Certificate::FromPem(json::parse(enrolled.body)["certificate"].get<std::string>()),
        "node certificate");
  }

  void TearDown() override {
    plane_.reset();
    fs::remove_all(dir_);
  }

  // A POST as the admin, or with the node's certificate (as_node).
  net::Response Send(const std::string& target, std::string body, bool as_node) {
    return Call("POST", target, std::move(body), as_node);
  }

  net::Response Call(const std::string& method, const std::string& target, std::string body,
                     bool as_node) {
    net::Request request{.method = method,
                         .target = target,
                         .headers = {{"Content-Type", "application/json"}},
                         .body = std::move(body)};
    net::ConnectionInfo connection{.id = 1,
                                   .remote_address = "127.0.0.1",
                                   .remote_port = 40000,
                                   .tls_version = "TLSv1.3",
                                   .cipher = "TLS_AES_256_GCM_SHA384"};
    if (as_node) {
      connection.peer_certificate = node_cert_;
    } else {
      request.headers.emplace_back("Authorization", admin_);
    }
    return plane_->api().HandleSync(std::move(request), connection);
  }

  core::FixedClock clock_{pki::kTestReferenceTime};
  std::string dir_;
  std::string admin_;
  std::unique_ptr<ControlPlane> plane_;
  std::optional<pki::Certificate> node_cert_;
};

// Found with tests/fuzz/api_body (corpus/api_body/report-hook-tail-number.bin): an output_tail
// that is not a string made json::value() throw, and the report got a 500.
TEST_F(NodesApiTest, ReportRefusesAHookOutputTailThatIsNotAString) {
  net::Response r =
      Send("/v1/agent/report", R"({"hook":{"exit_code":0,"output_tail":5}})", /*as_node=*/true);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("hook.output_tail: must be a string"), std::string::npos) << r.body;

  r = Send("/v1/agent/report", R"({"applied_version":1,"hook":{"exit_code":3,"output_tail":"x"}})",
           /*as_node=*/true);
  EXPECT_EQ(r.status, 200) << r.body;
}

// A state long-poll only notes the node's last-seen time: GET /v1/nodes shows it at once, and
// the store has it after the control plane stops (the flush at shutdown).
TEST_F(NodesApiTest, StatePollIsSeenAtOnceAndRecordedAtShutdown) {
  auto last_seen = [&] {
    net::Response nodes = Call("GET", "/v1/nodes", "", /*as_node=*/false);
    EXPECT_EQ(nodes.status, 200) << nodes.body;
    return json::parse(nodes.body)["nodes"][0]["last_seen"];
  };
  EXPECT_TRUE(last_seen().is_null());
  net::Response state = Call("GET", "/v1/agent/state?after=0&wait=0", "", /*as_node=*/true);
  ASSERT_EQ(state.status, 200) << state.body;
  EXPECT_EQ(last_seen(), core::FormatTime(clock_.Now()));

  plane_.reset();
  plane_ =
      Must(ControlPlane::Start(
               {.data_dir = dir_, .listen = "127.0.0.1:0", .threads = 1, .public_listen = "off"},
               clock_),
           "ControlPlane::Start again");
  EXPECT_EQ(last_seen(), core::FormatTime(clock_.Now()));
}

// The state long-poll's authentication is cached while the cluster state version stands still:
// removing the node (which revokes its certificate) moves it, and the next poll is refused.
TEST_F(NodesApiTest, StatePollIsRefusedAtOnceAfterTheNodeIsRemoved) {
  for (int i = 0; i < 2; ++i) {  // the second one from the cache
    net::Response state = Call("GET", "/v1/agent/state?after=0&wait=0", "", /*as_node=*/true);
    ASSERT_EQ(state.status, 200) << state.body;
  }
  net::Response removed = Call("DELETE", "/v1/nodes/n1", "", /*as_node=*/false);
  ASSERT_EQ(removed.status, 200) << removed.body;
  net::Response state = Call("GET", "/v1/agent/state?after=0&wait=0", "", /*as_node=*/true);
  EXPECT_EQ(state.status, 403) << state.body;
}

}  // namespace
}  // namespace clustertls::server
