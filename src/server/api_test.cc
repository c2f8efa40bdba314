// The REST API over real TLS: an in-process ControlPlane on 127.0.0.1:0 on a data directory
// made by InitDataDir, requests through the independent libssl test client.

#include "server/api.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/time.h"
#include "net/test_client_testutil.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_pki_testutil.h"
#include "pki/verify.h"
#include "server/cluster_policy.h"
#include "server/control_plane.h"
#include "server/test_http_testutil.h"
#include "store/store.h"

namespace clustertls::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pki::Must;

constexpr const char* kFqdn = "cluster.example.com";

class ApiTest : public ::testing::Test {
 protected:
  // One cluster for the suite: init (scrypt, key generation) is the slow part.
  static void SetUpTestSuite() {
    clock_ = new core::FixedClock(pki::kTestReferenceTime);
    dir_ = new std::string(fs::temp_directory_path() /
                           ("ctls-api-test-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    ossl::Csprng rng;
    InitDataDirResult made =
        Must(InitDataDir({.data_dir = *dir_, .fqdn = kFqdn, .listen = "127.0.0.1:0"}, *clock_, rng),
             "InitDataDir");
    admin_password_ = new std::string(made.admin_password);
    fingerprint_ = new std::string(made.ca_fingerprint);
    plane_ = Must(ControlPlane::Start({.data_dir = *dir_,
                                       .listen = "127.0.0.1:0",
                                       .threads = 2,
                                       .poll_interval = std::chrono::milliseconds(200)},
                                      *clock_),
                  "ControlPlane::Start")
                 .release();
  }

  static void TearDownTestSuite() {
    delete plane_;
    plane_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
    delete admin_password_;
    delete fingerprint_;
    delete clock_;
  }

  static std::unique_ptr<net::TestTlsClient> Connect(net::TestClientOptions options = {}) {
    return Must(net::TestTlsClient::Connect(plane_->port(), options), "connect");
  }

  static std::string Admin() { return BasicAuthorization("admin", *admin_password_); }

  // One request on a new connection.
  static net::TestReply Call(std::string_view method, std::string_view target,
                             std::string_view body = {}, const std::string& authorization = "",
                             TestHeaders headers = {}) {
    auto client = Connect();
    if (!authorization.empty()) {
      headers.emplace_back("Authorization", authorization);
    }
    return Must(SendRequest(*client, method, target, body, headers), "request");
  }

  static json Body(const net::TestReply& reply) {
    json j = json::parse(reply.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << reply.body;
    return j;
  }

  // Creates a user (admin) and returns its Authorization header value.
  static std::string MakeUser(const std::string& name, const std::string& role) {
    std::string password = name + "-password-123";
    auto reply = Call("POST", "/v1/users",
                      json{{"name", name}, {"role", role}, {"password", password}}.dump(), Admin());
    EXPECT_TRUE(reply.status == 201 || reply.status == 409) << reply.body;
    return BasicAuthorization(name, password);
  }

  static std::vector<std::string> AuditActions() {
    std::vector<std::string> actions;
    std::int64_t after = 0;
    for (int pages = 0; pages < 100; ++pages) {
      auto reply = Call("GET", "/v1/audit?limit=1000&after=" + std::to_string(after), {}, Admin());
      EXPECT_EQ(reply.status, 200) << reply.body;
      json j = Body(reply);
      if (j["entries"].empty()) {
        break;
      }
      for (const auto& e : j["entries"]) {
        actions.push_back(e["action"].get<std::string>());
      }
      after = j["next_after"].get<std::int64_t>();
    }
    return actions;
  }

  static std::int64_t NamedVersion(const std::string& name) {
    auto reply = Call("GET", "/v1/cluster/certificates", {}, Admin());
    EXPECT_EQ(reply.status, 200) << reply.body;
    json list = Body(reply);
    for (const auto& c : list["certificates"]) {
      if (c["name"] == name) {
        return c["version"].get<std::int64_t>();
      }
    }
    return -1;
  }

  // A key and a certificate signed by the cluster CA through POST /v1/ca/sign.
  struct Signed {
    pki::PrivateKey key;
    std::string certificate_pem;
    std::string chain_pem;
    std::string serial;
  };
  static Signed SignThroughApi(std::vector<std::string> dns, const std::string& profile) {
    pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
    pki::CsrOptions options;
    options.common_name = dns.front();
    options.sans.dns = dns;
    pki::Csr csr = Must(pki::Csr::Create(key, options), "csr");
    auto reply =
        Call("POST", "/v1/ca/sign",
             json{{"csr", csr.ToPem()}, {"profile", profile}, {"days", 30}}.dump(), Admin());
    EXPECT_EQ(reply.status, 201) << reply.body;
    json j = Body(reply);
    return Signed{key, j.value("certificate", ""), j.value("chain", ""), j.value("serial", "")};
  }

  static core::FixedClock* clock_;
  static std::string* dir_;
  static std::string* admin_password_;
  static std::string* fingerprint_;
  static ControlPlane* plane_;
};

core::FixedClock* ApiTest::clock_ = nullptr;
std::string* ApiTest::dir_ = nullptr;
std::string* ApiTest::admin_password_ = nullptr;
std::string* ApiTest::fingerprint_ = nullptr;
ControlPlane* ApiTest::plane_ = nullptr;

TEST_F(ApiTest, PublicRoutesNeedNoCredentials) {
  auto health = Call("GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(Body(health)["status"], "ok");

  auto chain = Call("GET", "/v1/ca/chain");
  ASSERT_EQ(chain.status, 200);
  EXPECT_NE(ReplyHeader(chain, "Content-Type").find("application/x-pem-file"), std::string::npos);
  auto certs = Must(pki::Certificate::ParseAll(chain.body), "chain");
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_TRUE(certs[1].IsSelfIssued());
  EXPECT_TRUE(certs[0].IsSignedBy(certs[1]));
  EXPECT_EQ(certs[1].fingerprint().colon, *fingerprint_);
}

TEST_F(ApiTest, EveryOtherRouteNeeds401WithoutCredentials) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/metrics"},
      {"PUT", "/v1/cluster/update_cert"},
      {"PUT", "/v1/cluster/certificates"},
      {"GET", "/v1/cluster/certificates"},
      {"DELETE", "/v1/cluster/certificates/cm"},
      {"GET", "/v1/cluster/policy"},
      {"PUT", "/v1/cluster/policy"},
      {"POST", "/v1/ca/sign"},
      {"GET", "/v1/certificates"},
      {"GET", "/v1/certificates/01AB"},
      {"POST", "/v1/users"},
      {"GET", "/v1/users"},
      {"PUT", "/v1/users/admin"},
      {"DELETE", "/v1/users/admin"},
      {"POST", "/v1/tokens"},
      {"GET", "/v1/tokens"},
      {"DELETE", "/v1/tokens/0123456789abcdef"},
      {"GET", "/v1/audit"},
  };
  for (const auto& [method, target] : routes) {
    auto reply = Call(method, target, method == "GET" || method == "DELETE" ? "" : "{}");
    EXPECT_EQ(reply.status, 401) << method << " " << target << ": " << reply.body;
    EXPECT_NE(ReplyHeader(reply, "WWW-Authenticate").find("Basic"), std::string::npos)
        << method << " " << target;
    EXPECT_EQ(Body(reply)["error"]["code"], "unauthorized") << method << " " << target;
  }
  // A wrong password is 401 as well (once: failures from one address are throttled).
  auto wrong = Call("GET", "/v1/audit", "", BasicAuthorization("admin", "not-the-password"));
  EXPECT_EQ(wrong.status, 401);
}

TEST_F(ApiTest, ReaderGets403OnAdminAndOperatorRoutes) {
  std::string reader = MakeUser("reader1", "reader");
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, reader).status, 200);
  EXPECT_EQ(Call("GET", "/v1/cluster/certificates", {}, reader).status, 200);
  EXPECT_EQ(Call("GET", "/v1/audit", {}, reader).status, 200);
  EXPECT_EQ(Call("GET", "/metrics", {}, reader).status, 200);
  const std::vector<std::pair<std::string, std::string>> forbidden = {
      {"PUT", "/v1/cluster/update_cert"},
      {"PUT", "/v1/cluster/certificates"},
      {"DELETE", "/v1/cluster/certificates/cm"},
      {"PUT", "/v1/cluster/policy"},
      {"POST", "/v1/ca/sign"},
      {"POST", "/v1/users"},
      {"GET", "/v1/users"},
      {"PUT", "/v1/users/admin"},
      {"DELETE", "/v1/users/admin"},
  };
  for (const auto& [method, target] : forbidden) {
    auto reply = Call(method, target, method == "GET" || method == "DELETE" ? "" : "{}", reader);
    EXPECT_EQ(reply.status, 403) << method << " " << target << ": " << reply.body;
    EXPECT_EQ(Body(reply)["error"]["code"], "forbidden");
  }
  // Nothing was deleted by the refused calls.
  EXPECT_GT(NamedVersion("cm"), 0);
}

TEST_F(ApiTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  auto missing = Call("GET", "/v1/nothing-here", {}, Admin());
  EXPECT_EQ(missing.status, 404);
  auto wrong = Call("DELETE", "/v1/cluster/policy", {}, Admin());
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(ReplyHeader(wrong, "Allow"), "GET, PUT");
  EXPECT_EQ(Body(wrong)["error"]["code"], "method_not_allowed");
  EXPECT_EQ(Api::RoutePattern("/v1/certificates/ABCD?x=1"), "/v1/certificates/{serial}");
  EXPECT_EQ(Api::RoutePattern("/v1/unknown"), "other");
}

TEST_F(ApiTest, SignEndToEndChainsToTheRoot) {
  Signed s = SignThroughApi({"node1.cluster.example.com"}, "server");
  ASSERT_FALSE(s.certificate_pem.empty());
  pki::Certificate leaf = Must(pki::Certificate::FromPem(s.certificate_pem), "leaf");
  auto chain = Must(pki::Certificate::ParseAll(s.chain_pem), "chain");
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(leaf.serial_hex(), s.serial);
  EXPECT_TRUE(leaf.public_key().Equals(s.key.public_key()));

  auto root_reply = Call("GET", "/v1/ca/chain");
  auto published = Must(pki::Certificate::ParseAll(root_reply.body), "published chain");
  pki::VerifyReport report = pki::Verify(leaf, {.anchors = {published.back()},
                                                .untrusted = {chain[0]},
                                                .host = "node1.cluster.example.com",
                                                .purpose = pki::Purpose::kServer,
                                                .at = pki::kTestReferenceTime});
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0].message);

  // The record is there (committed before the answer) and looks up case-insensitively.
  std::string lower = s.serial;
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto record = Call("GET", "/v1/certificates/" + lower, {}, Admin());
  ASSERT_EQ(record.status, 200) << record.body;
  json r = Body(record);
  EXPECT_EQ(r["serial"], s.serial);
  EXPECT_EQ(r["profile"], "server");
  EXPECT_EQ(r["issued_by"], "admin");
  EXPECT_EQ(Must(pki::Certificate::FromPem(r["certificate"].get<std::string>())).serial_hex(),
            s.serial);
  auto list = Call("GET", "/v1/certificates?name=node1&limit=10", {}, Admin());
  ASSERT_EQ(list.status, 200);
  EXPECT_GE(Body(list)["certificates"].size(), 1u);

  // An operator may sign; refused input is a 400 naming the field.
  std::string op = MakeUser("operator1", "operator");
  auto bad_days = Call("POST", "/v1/ca/sign", json{{"csr", "x"}, {"days", 100000}}.dump(), op);
  EXPECT_EQ(bad_days.status, 400) << bad_days.body;
  auto bad_csr = Call("POST", "/v1/ca/sign", json{{"csr", "not a csr"}}.dump(), op);
  EXPECT_EQ(bad_csr.status, 400) << bad_csr.body;
}

TEST_F(ApiTest, UpdateApiCertificateIsPresentedToNewConnectionsOldOnesContinue) {
  auto old_connection = Connect();
  std::string old_serial = old_connection->PeerCertificate().serial_hex();
  ASSERT_EQ(Must(SendRequest(*old_connection, "GET", "/health")).status, 200);
  std::int64_t before = NamedVersion("api");

  Signed s = SignThroughApi({kFqdn, std::string("*.") + kFqdn, "localhost"}, "peer");
  std::string key_pem = Must(s.key.ToPem(), "key pem");
  auto reply = Call(
      "PUT", "/v1/cluster/update_cert",
      json{{"name", "api"}, {"key", key_pem}, {"certificate", s.certificate_pem}}.dump(), Admin());
  ASSERT_EQ(reply.status, 200) << reply.body;
  json j = Body(reply);
  EXPECT_EQ(j["name"], "api");
  EXPECT_EQ(j["version"].get<std::int64_t>(), before + 1);
  EXPECT_EQ(reply.body.find("PRIVATE KEY"), std::string::npos);

  // A new connection sees the new certificate within a second.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    seen = Connect()->PeerCertificate().serial_hex();
    if (seen == s.serial) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(seen, s.serial);
  EXPECT_NE(seen, old_serial);
  // The old connection still works, with its old certificate.
  EXPECT_EQ(Must(SendRequest(*old_connection, "GET", "/health")).status, 200);
  EXPECT_EQ(old_connection->PeerCertificate().serial_hex(), old_serial);

  // The inventory shows it, never a key.
  auto list = Call("GET", "/v1/cluster/certificates", {}, Admin());
  EXPECT_EQ(list.body.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(NamedVersion("api"), before + 1);
  EXPECT_NE(Body(list)["api_cert"].get<std::string>().find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(ApiTest, RejectedUpdateChangesNothing) {
  std::int64_t before = NamedVersion("cm");
  Signed s = SignThroughApi({kFqdn, std::string("*.") + kFqdn}, "peer");
  pki::PrivateKey other = pki::NewTestKey(pki::KeyType::kEcP256);
  auto mismatch = Call(
      "PUT", "/v1/cluster/update_cert",
      json{{"name", "cm"}, {"key", Must(other.ToPem())}, {"certificate", s.certificate_pem}}.dump(),
      Admin());
  EXPECT_EQ(mismatch.status, 400) << mismatch.body;
  EXPECT_EQ(Body(mismatch)["error"]["code"], "key_mismatch");
  EXPECT_EQ(mismatch.body.find("PRIVATE KEY"), std::string::npos);

  // Names that do not cover the FQDN are refused for cm.
  Signed wrong_name = SignThroughApi({"other.example.org"}, "peer");
  auto uncovered = Call("PUT", "/v1/cluster/update_cert",
                        json{{"name", "cm"},
                             {"key", Must(wrong_name.key.ToPem())},
                             {"certificate", wrong_name.certificate_pem}}
                            .dump(),
                        Admin());
  EXPECT_EQ(uncovered.status, 400) << uncovered.body;

  // A multi-update with one bad entry stores none of them.
  std::int64_t syncer_before = NamedVersion("syncer");
  Signed good = SignThroughApi({"syncer." + std::string(kFqdn)}, "peer");
  auto multi = Call("PUT", "/v1/cluster/certificates",
                    json{{"certificates", json::array({json{{"name", "syncer"},
                                                            {"key", Must(good.key.ToPem())},
                                                            {"certificate", good.certificate_pem}},
                                                       json{{"name", "cm"},
                                                            {"key", Must(other.ToPem())},
                                                            {"certificate", s.certificate_pem}}})}}
                        .dump(),
                    Admin());
  EXPECT_EQ(multi.status, 400) << multi.body;
  EXPECT_EQ(NamedVersion("cm"), before);
  EXPECT_EQ(NamedVersion("syncer"), syncer_before);

  // Both good: both stored.
  auto both = Call("PUT", "/v1/cluster/certificates",
                   json{{"certificates", json::array({json{{"name", "syncer"},
                                                           {"key", Must(good.key.ToPem())},
                                                           {"certificate", good.certificate_pem}},
                                                      json{{"name", "cm"},
                                                           {"key", Must(s.key.ToPem())},
                                                           {"certificate", s.certificate_pem}}})}}
                       .dump(),
                   Admin());
  EXPECT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(NamedVersion("cm"), before + 1);
  EXPECT_EQ(NamedVersion("syncer"), syncer_before + 1);

  // api cannot be deleted; an unknown name is 404; a custom name can be.
  EXPECT_EQ(Call("DELETE", "/v1/cluster/certificates/api", {}, Admin()).status, 409);
  EXPECT_EQ(Call("DELETE", "/v1/cluster/certificates/nope", {}, Admin()).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/cluster/certificates/metrics", {}, Admin()).status, 200);
  EXPECT_EQ(NamedVersion("metrics"), -1);
}

TEST_F(ApiTest, PolicyMinimumTls13RefusesATls12Client) {
  auto get = Call("GET", "/v1/cluster/policy", {}, Admin());
  ASSERT_EQ(get.status, 200);
  std::int64_t version = Body(get)["version"].get<std::int64_t>();
  net::TestClientOptions tls12{.max_version = TLS1_2_VERSION};
  ASSERT_TRUE(net::TestTlsClient::Connect(plane_->port(), tls12).has_value());

  auto refused = Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":"1.1"})", Admin());
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("RFC 8996"), std::string::npos) << refused.body;
  auto with_version = Call("PUT", "/v1/cluster/policy", R"({"version":7})", Admin());
  EXPECT_EQ(with_version.status, 400);

  auto put = Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":"1.3"})", Admin());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Body(put)["version"].get<std::int64_t>(), version + 1);
  EXPECT_EQ(Body(put)["min_control_tls_version"], "1.3");

  EXPECT_FALSE(net::TestTlsClient::Connect(plane_->port(), tls12).has_value());
  auto modern = Connect();
  EXPECT_EQ(modern->Version(), "TLSv1.3");

  // Back to 1.2 (number form) for the other tests.
  auto back = Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":1.2})", Admin());
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_TRUE(net::TestTlsClient::Connect(plane_->port(), tls12).has_value());
}

TEST_F(ApiTest, PolicyChangedByAnotherInstanceIsPickedUpByThePoller) {
  // Another instance on the same store: write the policy behind this server's back.
  auto store = Must(store::Store::Open((fs::path(*dir_) / "clustertls.db").string()), "store");
  store::PolicyDoc current = Must(store->GetPolicy(), "policy");
  ClusterPolicy tls13;
  tls13.min_control_tls_version = net::TlsVersion::kTls13;
  Must(store->PutPolicy({.json = PolicyToJson(tls13),
                         .version = 0,
                         .updated_at = pki::kTestReferenceTime,
                         .updated_by = "other-instance"},
                        current.version),
       "put policy");
  net::TestClientOptions tls12{.max_version = TLS1_2_VERSION};
  bool refused = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    refused = !net::TestTlsClient::Connect(plane_->port(), tls12).has_value();
    if (!refused) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_TRUE(refused) << "the poller did not apply the policy written by another instance";
  auto back = Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":"1.2"})", Admin());
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_TRUE(net::TestTlsClient::Connect(plane_->port(), tls12).has_value());
}

TEST_F(ApiTest, BadJsonIs400AndNonJsonIs415) {
  auto malformed = Call("PUT", "/v1/cluster/policy", "{\"min_control_tls_version\":", Admin());
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Body(malformed)["error"]["code"], "parse_error");

  std::string deep = std::string(33, '[') + std::string(33, ']');
  auto too_deep = Call("POST", "/v1/users", "{\"name\":" + deep + "}", Admin());
  EXPECT_EQ(too_deep.status, 400);
  EXPECT_NE(too_deep.body.find("32"), std::string::npos) << too_deep.body;
  std::string very_deep = std::string(100000, '[');
  EXPECT_EQ(Call("POST", "/v1/users", very_deep, Admin()).status, 400);
  // Brackets inside strings do not count.
  EXPECT_TRUE(CheckJsonDepth("{\"a\":\"" + std::string(100, '[') + "\"}").has_value());
  EXPECT_FALSE(CheckJsonDepth(deep).has_value());

  auto unknown =
      Call("POST", "/v1/users", R"({"name":"x1","role":"reader","colour":"red"})", Admin());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("colour"), std::string::npos);
  auto unknown_policy = Call("PUT", "/v1/cluster/policy", R"({"min_tls":"1.2"})", Admin());
  EXPECT_EQ(unknown_policy.status, 400);

  auto not_json = Call("PUT", "/v1/cluster/policy", "min=1.3", Admin(),
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(not_json.status, 415);
  // curl -d without -H sends form-urlencoded: a JSON body is accepted anyway.
  auto json_as_form = Call("PUT", "/v1/cluster/policy", R"({"client_auth":"none"})", Admin(),
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(json_as_form.status, 200) << json_as_form.body;

  auto not_object = Call("POST", "/v1/users", "[1,2]", Admin());
  EXPECT_EQ(not_object.status, 400);
  auto wrong_type = Call("POST", "/v1/ca/sign", R"({"csr":5})", Admin());
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_NE(wrong_type.body.find("csr"), std::string::npos);
  auto bad_query = Call("GET", "/v1/certificates?limit=0", {}, Admin());
  EXPECT_EQ(bad_query.status, 400);
  // The server is still up.
  EXPECT_EQ(Call("GET", "/health").status, 200);
}

TEST_F(ApiTest, UsersAndTokens) {
  // A generated password is shown once; a short one is refused.
  auto generated = Call("POST", "/v1/users", R"({"name":"gen.user","role":"operator"})", Admin());
  ASSERT_EQ(generated.status, 201) << generated.body;
  std::string password = Body(generated)["password"].get<std::string>();
  EXPECT_GE(password.size(), 12u);
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, BasicAuthorization("gen.user", password)).status,
            200);
  EXPECT_EQ(
      Call("POST", "/v1/users", R"({"name":"short","role":"reader","password":"abc"})", Admin())
          .status,
      400);
  EXPECT_EQ(Call("POST", "/v1/users", R"({"name":"Bad Name","role":"reader"})", Admin()).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/users", R"({"name":"gen.user","role":"reader"})", Admin()).status,
            409);
  auto users = Call("GET", "/v1/users", {}, Admin());
  ASSERT_EQ(users.status, 200);
  EXPECT_EQ(users.body.find("scrypt"), std::string::npos);

  // Tokens: shown once, usable as Bearer, listed without the secret, deletable.
  std::string reader = MakeUser("tokenreader", "reader");
  auto token = Call("POST", "/v1/tokens", R"({"expires_in_days":7})", reader);
  ASSERT_EQ(token.status, 201) << token.body;
  json t = Body(token);
  std::string bearer = "Bearer " + t["token"].get<std::string>();
  EXPECT_EQ(t["user"], "tokenreader");
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, bearer).status, 200);
  EXPECT_EQ(Call("POST", "/v1/tokens", R"({"user":"admin"})", reader).status, 403);
  auto listed = Call("GET", "/v1/tokens", {}, reader);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find(t["token"].get<std::string>()), std::string::npos);
  ASSERT_EQ(Body(listed)["tokens"].size(), 1u);
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + t["id"].get<std::string>(), {}, reader).status, 200);
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, bearer).status, 401);

  // Disabling then deleting a user; the last admin cannot go.
  EXPECT_EQ(Call("PUT", "/v1/users/gen.user", R"({"disabled":true})", Admin()).status, 200);
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, BasicAuthorization("gen.user", password)).status,
            401);
  EXPECT_EQ(Call("DELETE", "/v1/users/gen.user", {}, Admin()).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/users/gen.user", {}, Admin()).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/users/admin", {}, Admin()).status, 409);
  EXPECT_EQ(Call("PUT", "/v1/users/admin", R"({"role":"reader"})", Admin()).status, 409);
}

TEST_F(ApiTest, EveryChangeIsAudited) {
  MakeUser("audited", "reader");
  Call("PUT", "/v1/cluster/policy", R"({"client_auth":"optional"})", Admin());
  SignThroughApi({"audit.cluster.example.com"}, "client");
  auto token = Call("POST", "/v1/tokens", "{}", Admin());
  ASSERT_EQ(token.status, 201);
  Call("DELETE", "/v1/tokens/" + Body(token)["id"].get<std::string>(), {}, Admin());
  Call("PUT", "/v1/users/audited", R"({"role":"operator"})", Admin());
  Call("DELETE", "/v1/users/audited", {}, Admin());

  std::vector<std::string> actions = AuditActions();
  for (const char* want : {"cluster.init", "user.create", "policy.update", "cert.sign",
                           "token.create", "token.delete", "user.update", "user.delete"}) {
    EXPECT_NE(std::find(actions.begin(), actions.end(), want), actions.end()) << want;
  }
  auto page = Call("GET", "/v1/audit?limit=1000", {}, Admin());
  EXPECT_EQ(page.body.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(page.body.find(*admin_password_), std::string::npos);
  json last = Body(page)["entries"].back();
  EXPECT_EQ(last["actor"], "admin");
  EXPECT_EQ(last["source"], "127.0.0.1");
}

TEST_F(ApiTest, MetricsCountRequestsAndShowExpiries) {
  Call("GET", "/health");
  auto metrics = Call("GET", "/metrics", {}, Admin());
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(ReplyHeader(metrics, "Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(metrics.body.find("clustertls_http_requests_total"), std::string::npos);
  EXPECT_NE(metrics.body.find("route=\"/health\""), std::string::npos);
  EXPECT_NE(metrics.body.find("clustertls_certificate_expiry_timestamp_seconds{kind=\"ca\""),
            std::string::npos);
  EXPECT_NE(metrics.body.find("name=\"api\""), std::string::npos);
}

TEST(InitDataDirTest, RefusesAnInitialisedDirectoryAndCleansUpAFailedInit) {
  core::FixedClock clock(pki::kTestReferenceTime);
  ossl::Csprng rng;
  std::string dir = fs::temp_directory_path() / ("ctls-init-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto bad = InitDataDir({.data_dir = dir, .fqdn = "not a name!"}, clock, rng);
  EXPECT_FALSE(bad.has_value());
  EXPECT_FALSE(fs::exists(dir)) << "a failed init left " << dir;

  auto made = InitDataDir({.data_dir = dir, .fqdn = kFqdn}, clock, rng);
  ASSERT_TRUE(made.has_value()) << made.error().message;
  EXPECT_EQ(made->url, "https://127.0.0.1:9443");
  EXPECT_EQ(made->ca_fingerprint.size(), 95u);
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
  auto again = InitDataDir({.data_dir = dir, .fqdn = kFqdn}, clock, rng);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "clustertls.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace clustertls::server
