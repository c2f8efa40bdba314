// The REST API over real TLS: an in-process ControlPlane on 127.0.0.1:0 on a data directory
// made by InitDataDir, requests through the independent libssl test client.

#include "server/api.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authority/data_dir.h"
#include "core/encoding.h"
#include "core/time.h"
#include "net/test_client_testutil.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_pki_testutil.h"
#include "pki/verify.h"
#include "server/api_testutil.h"
#include "server/cluster_policy.h"
#include "server/control_plane.h"
#include "server/test_http_testutil.h"
#include "store/store.h"

namespace clustertls::server {
namespace {

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
      {"POST", "/v1/cluster/certificates/cm/renew"},
      {"GET", "/v1/cluster/policy"},
      {"PUT", "/v1/cluster/policy"},
      {"POST", "/v1/ca/sign"},
      {"GET", "/v1/certificates"},
      {"GET", "/v1/certificates/01AB"},
      {"POST", "/v1/certificates/01AB/revoke"},
      {"POST", "/v1/certificates/revoke"},
      {"POST", "/v1/users"},
      {"GET", "/v1/users"},
      {"PUT", "/v1/users/admin"},
      {"DELETE", "/v1/users/admin"},
      {"POST", "/v1/tokens"},
      {"GET", "/v1/tokens"},
      {"DELETE", "/v1/tokens/0123456789abcdef"},
      {"GET", "/v1/audit"},
      {"GET", "/v1/audit/head"},
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
  EXPECT_EQ(Call("GET", "/v1/audit/head", {}, reader).status, 200);
  EXPECT_EQ(Call("GET", "/metrics", {}, reader).status, 200);
  const std::vector<std::pair<std::string, std::string>> forbidden = {
      {"PUT", "/v1/cluster/update_cert"},
      {"PUT", "/v1/cluster/certificates"},
      {"DELETE", "/v1/cluster/certificates/cm"},
      {"POST", "/v1/cluster/certificates/cm/renew"},
      {"PUT", "/v1/cluster/policy"},
      {"POST", "/v1/ca/sign"},
      {"POST", "/v1/certificates/01AB/revoke"},
      {"POST", "/v1/certificates/revoke"},
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

  Signed s = SignThroughApi({kFqdn, std::string("*.") + kFqdn, "localhost"}, "peer",
                            {{"allow_reserved", true}});
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

// Renewing `api` with revoke_previous: a new key and certificate the listener presents, the old
// serial revoked (OCSP says so), audited; refusals change nothing.
TEST_F(ApiTest, RenewApiPresentsTheNewCertificateAndRevokesThePrevious) {
  const std::int64_t before = NamedVersion("api");
  auto old_connection = Connect();
  const pki::Certificate old_leaf = old_connection->PeerCertificate();

  // Refused before anything changes: unknown name, bad reason, days, key type, unknown field.
  EXPECT_EQ(Call("POST", "/v1/cluster/certificates/nosuch/renew", "", Admin()).status, 404);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"revoke_previous":"oops"})", "revoke_previous"},
      {R"({"days":0})", "days"},
      {R"({"days":100000})", "days"},
      {R"({"days":"ten"})", "days"},
      {R"({"key_type":"dsa"})", "key_type"},
      {R"({"colour":"red"})", "colour"},
  };
  for (const auto& [body, field] : bad) {
    auto reply = Call("POST", "/v1/cluster/certificates/api/renew", body, Admin());
    EXPECT_EQ(reply.status, 400) << body << ": " << reply.body;
    EXPECT_NE(Body(reply)["error"]["message"].get<std::string>().find(field), std::string::npos)
        << body << ": " << reply.body;
  }
  EXPECT_EQ(NamedVersion("api"), before);

  auto reply = Call("POST", "/v1/cluster/certificates/api/renew",
                    R"({"revoke_previous":"keyCompromise","days":30})", Admin());
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body.find("PRIVATE KEY"), std::string::npos);
  json j = Body(reply);
  EXPECT_EQ(j["name"], "api");
  EXPECT_EQ(j["version"].get<std::int64_t>(), before + 1);
  EXPECT_EQ(j["previous_serial"], old_leaf.serial_hex());
  EXPECT_EQ(j["previous_revoked"], true);
  EXPECT_EQ(j["reason"], "keyCompromise");
  const std::string serial = j["serial"].get<std::string>();
  pki::Certificate leaf = Must(pki::Certificate::FromPem(j["certificate"].get<std::string>()));
  EXPECT_EQ(leaf.serial_hex(), serial);
  // The same names, then those the control plane is reached by that the replaced one lacked (an
  // earlier test of the suite may have left an api without some of them).
  std::vector<std::string> want_dns = old_leaf.sans().dns;
  const std::string fqdn(kFqdn);
  for (const std::string& name :
       {fqdn, "*." + fqdn, "internal." + fqdn, "*.internal." + fqdn, std::string("localhost")}) {
    if (std::find(want_dns.begin(), want_dns.end(), name) == want_dns.end()) {
      want_dns.push_back(name);
    }
  }
  EXPECT_EQ(leaf.sans().dns, want_dns);
  EXPECT_FALSE(leaf.public_key().Equals(old_leaf.public_key()));
  EXPECT_TRUE(leaf.IsSignedBy(IssuingCa()));

  // New connections see it within a second.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    seen = Connect()->PeerCertificate().serial_hex();
    if (seen == serial) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(seen, serial);
  EXPECT_EQ(Must(SendRequest(*old_connection, "GET", "/health")).status, 200);

  // The records: the old one revoked, the new one issued and not revoked.
  json old_record = Certificate(old_leaf.serial_hex());
  EXPECT_EQ(old_record["revoked"], true);
  EXPECT_EQ(old_record["revocation_reason"], "keyCompromise");
  json new_record = Certificate(serial);
  EXPECT_EQ(new_record["revoked"], false);
  EXPECT_EQ(new_record["profile"], "peer");

  std::vector<std::string> actions = AuditActions();
  ASSERT_GE(actions.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(actions.end() - 3, actions.end()),
            (std::vector<std::string>{"cert.sign", "named_cert.renew", "cert.revoke"}));
}

TEST_F(ApiTest, RejectedUpdateChangesNothing) {
  std::int64_t before = NamedVersion("cm");
  Signed s = SignThroughApi({kFqdn, std::string("*.") + kFqdn}, "peer", {{"allow_reserved", true}});
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

TEST_F(ApiTest, PolicyThatWeakensOrLocksOutClientsIsRefusedAndNothingIsStored) {
  const std::string before = Call("GET", "/v1/cluster/policy", {}, Admin()).body;
  const std::pair<const char*, const char*> attacks[] = {
      {R"({"cipher_suites":"eNULL:@SECLEVEL=0"})", "cipher_suites: enables NULL encryption"},
      {R"({"cipher_suites":"aNULL"})", "anonymous suites, no server authentication"},
      {R"({"tls13_ciphersuites":"TLS_AES_128_CCM_8_SHA256"})",
       "tls13_ciphersuites: control path: a default OpenSSL client could not connect over TLS "
       "1.3"},
  };
  for (const auto& [body, message] : attacks) {
    auto reply = Call("PUT", "/v1/cluster/policy", body, Admin());
    EXPECT_EQ(reply.status, 400) << body << ": " << reply.body;
    EXPECT_EQ(Body(reply)["error"]["code"], "invalid_argument") << reply.body;
    EXPECT_NE(Body(reply)["error"]["message"].get<std::string>().find(message), std::string::npos)
        << reply.body;
  }
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, Admin()).body, before);

  // The check presents a certificate of the `api` certificate's key type: an ECDSA-only TLS 1.2
  // list is refused while `api` has an RSA key, accepted with an EC key.
  const char* ecdsa_only = R"({"cipher_suites":"ECDHE-ECDSA-AES256-GCM-SHA384"})";
  auto rsa =
      Call("POST", "/v1/cluster/certificates/api/renew", R"({"key_type":"rsa-2048"})", Admin());
  ASSERT_EQ(rsa.status, 200) << rsa.body;
  auto refused = Call("PUT", "/v1/cluster/policy", ecdsa_only, Admin());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("cipher_suites: control path: a default OpenSSL client could not "
                              "connect over TLS 1.2 to an RSA 2048 certificate"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, Admin()).body, before);
  auto ec =
      Call("POST", "/v1/cluster/certificates/api/renew", R"({"key_type":"ec-p256"})", Admin());
  ASSERT_EQ(ec.status, 200) << ec.body;
  auto accepted = Call("PUT", "/v1/cluster/policy", ecdsa_only, Admin());
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  auto back =
      Call("PUT", "/v1/cluster/policy",
           json{{"cipher_suites", std::string(net::kIntermediateCipherList)}}.dump(), Admin());
  ASSERT_EQ(back.status, 200) << back.body;
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
  // A JSON body sent as a form (what a cross-site HTML form can send) is refused too.
  auto json_as_form = Call("PUT", "/v1/cluster/policy", R"({"client_auth":"none"})", Admin(),
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(json_as_form.status, 415) << json_as_form.body;

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

// GET /v1/audit/head answers what the poller last signed, which is what DIR/audit-head.json
// holds; it follows the log within a poll interval; openssl verifies the signer and the
// signature on its own.
TEST_F(ApiTest, AuditHeadFollowsTheLogAndOpensslVerifiesIt) {
  auto last_seq = [] {
    std::vector<json> all = AuditEntries();
    return all.empty() ? std::int64_t{0} : all.back()["seq"].get<std::int64_t>();
  };
  auto head_reaches = [&](std::int64_t seq) {
    for (int i = 0; i < 100; ++i) {
      auto reply = Call("GET", "/v1/audit/head", {}, Admin());
      if (reply.status == 200 && Body(reply)["seq"] == seq) {
        return reply;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Call("GET", "/v1/audit/head", {}, Admin());
  };
  SignThroughApi({"head1.cluster.example.com"}, "server");
  const std::int64_t seq = last_seq();
  net::TestReply reply = head_reaches(seq);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(ReplyHeader(reply, "Content-Type").find("application/json"), std::string::npos);
  json head = Body(reply);
  ASSERT_EQ(head["seq"], seq) << "the head did not reach the last entry within 10 s";
  EXPECT_EQ(head["format"], "clustertls-audit-head-v1");
  EXPECT_EQ(head["hash"], AuditEntries().back()["hash"]);
  EXPECT_EQ(head["time"], core::FormatTime(pki::kTestReferenceTime));
  // The file holds the same head (the poller writes it before answering it).
  std::ifstream file(fs::path(*dir_) / "audit-head.json", std::ios::binary);
  std::stringstream kept;
  kept << file.rdbuf();
  EXPECT_EQ(json::parse(kept.str(), nullptr, false), head);

  // openssl: the signer chains to the cluster root at the head's time and has only the audit
  // purpose; its key signed the domain-separated message.
  auto chain = Must(pki::Certificate::ParseAll(head["chain"].get<std::string>()));
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0].common_name(), std::string("audit.") + kFqdn);
  EXPECT_EQ(chain[0].fingerprint().colon, head["signer_fingerprint_sha256"]);
  const std::string signer = WriteTemp("head-signer.pem", chain[0].ToPem());
  const std::string issuing = WriteTemp("head-issuing.pem", chain[1].ToPem());
  const std::string root = WriteTemp("head-root.pem", chain[2].ToPem());
  const std::string attime = std::to_string(pki::kTestReferenceTime.time_since_epoch().count());
  auto [verify_status, verify_out] = Run("openssl verify -attime " + attime + " -CAfile " + root +
                                         " -untrusted " + issuing + " " + signer);
  EXPECT_EQ(verify_status, 0) << verify_out;
  auto [text_status, text] =
      Run("openssl x509 -noout -ext extendedKeyUsage,keyUsage -in " + signer);
  EXPECT_EQ(text_status, 0) << text;
  EXPECT_NE(text.find("2.25.82843726607196379473299414575308803707"), std::string::npos) << text;
  EXPECT_NE(text.find("Digital Signature"), std::string::npos) << text;
  EXPECT_EQ(text.find("TLS Web"), std::string::npos) << text;
  const std::string message = std::string("clustertls audit head v1") + '\0' +
                              "seq=" + std::to_string(seq) + '\0' +
                              "hash=" + head["hash"].get<std::string>() + '\0' + "time=" + attime;
  const std::string message_file = WriteTemp("head-message.bin", message);
  const std::string signature_file =
      WriteTemp("head-signature.der", *core::Base64Decode(head["signature"].get<std::string>()));
  const std::string pubkey = (fs::path(*dir_) / "head-signer-pub.pem").string();
  ASSERT_EQ(Run("openssl x509 -noout -pubkey -in " + signer + " -out " + pubkey).first, 0);
  auto [dgst_status, dgst_out] = Run("openssl dgst -sha256 -verify " + pubkey + " -signature " +
                                     signature_file + " " + message_file);
  EXPECT_EQ(dgst_status, 0) << dgst_out;
  EXPECT_NE(dgst_out.find("Verified OK"), std::string::npos) << dgst_out;
  // The same signature over another seq is refused by openssl too.
  const std::string other_file =
      WriteTemp("head-message-other.bin",
                std::string(message).replace(message.find("seq=") + 4, std::to_string(seq).size(),
                                             std::to_string(seq + 1)));
  EXPECT_NE(Run("openssl dgst -sha256 -verify " + pubkey + " -signature " + signature_file + " " +
                other_file)
                .first,
            0);

  // The signer is in the inventory, like the OCSP signer, and in the audit log.
  auto signers = Call("GET", "/v1/certificates?profile=audit-signer", {}, Admin());
  ASSERT_EQ(signers.status, 200) << signers.body;
  bool listed = false;
  const json listing = Body(signers);  // kept: a temporary's member would dangle in the loop
  for (const json& c : listing["certificates"]) {
    listed = listed || core::AsciiLower(c["serial"].get<std::string>()) ==
                           core::AsciiLower(chain[0].serial_hex());
  }
  EXPECT_TRUE(listed) << chain[0].serial_hex() << " not in " << signers.body;

  // A reader may read it.
  EXPECT_EQ(Call("GET", "/v1/audit/head", {}, MakeUser("headreader", "reader")).status, 200);
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

// The gauge of the issued certificate that expires first: the soonest not_after among the
// inventory's certificates neither revoked nor expired, by serial; revoking it moves the gauge.
TEST_F(ApiTest, MetricsShowTheSoonestExpiringIssuedCertificate) {
  auto gauge = [] {
    auto metrics = Call("GET", "/metrics", {}, Admin());
    EXPECT_EQ(metrics.status, 200);
    const std::string prefix = "clustertls_certificate_expiry_timestamp_seconds{kind=\"issued\",";
    const std::size_t at = metrics.body.find(prefix);
    EXPECT_NE(at, std::string::npos) << metrics.body;
    EXPECT_EQ(metrics.body.find(prefix, at + 1), std::string::npos) << "more than one line";
    const std::string line =
        metrics.body.substr(at, metrics.body.find('\n', at) - at);  // ...{...,name="S"} T
    const std::size_t name = line.find("name=\"") + 6;
    return std::pair<std::string, std::string>(line.substr(name, line.find('"', name) - name),
                                               line.substr(line.rfind(' ') + 1));
  };
  // What the inventory says: the first not_after (then serial) of the unrevoked, unexpired ones.
  auto expected = [] {
    std::pair<std::string, std::string> best;
    std::int64_t best_time = 0;
    const std::int64_t now = clock_->Now().time_since_epoch().count();
    std::string cursor;
    do {
      json page = Body(
          Call("GET", "/v1/certificates?revoked=false&limit=1000&cursor=" + cursor, {}, Admin()));
      for (const json& c : page["certificates"]) {
        const std::int64_t t = Must(core::ParseTime(c["not_after"].get<std::string>()), "time")
                                   .time_since_epoch()
                                   .count();
        const std::string serial = c["serial"].get<std::string>();
        if (t >= now &&
            (best.first.empty() || t < best_time || (t == best_time && serial < best.first))) {
          best = {serial, std::to_string(t)};
          best_time = t;
        }
      }
      cursor = page["next_cursor"].get<std::string>();
    } while (!cursor.empty());
    return best;
  };
  Signed soon = SignThroughApi({"soonest.cluster.example.com"}, "server", json{{"days", 1}});
  EXPECT_EQ(gauge(), expected());
  EXPECT_EQ(gauge().first, soon.serial);
  ASSERT_EQ(Call("POST", "/v1/certificates/" + soon.serial + "/revoke", "", Admin()).status, 200);
  EXPECT_NE(gauge().first, soon.serial);
  EXPECT_EQ(gauge(), expected());
}

// --- issue 4: revocation, CRL, OCSP, public listener ---

TEST_F(ApiTest, RevokeIsIdempotentAuditedAndShownInTheRecord) {
  // Earlier tests of this suite revoke too (the renewal with revoke_previous).
  const auto revokes_before = [] {
    auto actions = AuditActions();
    return std::count(actions.begin(), actions.end(), "cert.revoke");
  }();
  Signed s = SignThroughApi({"revoke1.cluster.example.com"}, "server");
  std::string op = MakeUser("operator1", "operator");
  EXPECT_EQ(Certificate(s.serial)["revoked"], false);

  auto first =
      Call("POST", "/v1/certificates/" + s.serial + "/revoke", R"({"reason":"keyCompromise"})", op);
  ASSERT_EQ(first.status, 200) << first.body;
  json j = Body(first);
  EXPECT_EQ(j["serial"], s.serial);
  EXPECT_EQ(j["revoked"], true);
  EXPECT_EQ(j["reason"], "keyCompromise");
  EXPECT_EQ(j["newly_revoked"], true);
  EXPECT_EQ(j["subject_cn"], "revoke1.cluster.example.com");
  EXPECT_EQ(j["revoked_at"], core::FormatTime(pki::kTestReferenceTime));

  // Again, with another reason and a lower-case serial: nothing changes.
  std::string lower = s.serial;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto again =
      Call("POST", "/v1/certificates/" + lower + "/revoke", R"({"reason":"superseded"})", op);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["newly_revoked"], false);
  EXPECT_EQ(Body(again)["reason"], "keyCompromise");

  json record = Certificate(s.serial);
  EXPECT_EQ(record["revoked"], true);
  EXPECT_EQ(record["revocation_reason"], "keyCompromise");
  EXPECT_EQ(record["revoked_at"], core::FormatTime(pki::kTestReferenceTime));
  auto listed = Call("GET", "/v1/certificates?revoked=true&name=revoke1", {}, Admin());
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(Body(listed)["certificates"].size(), 1u) << listed.body;
  EXPECT_EQ(Body(listed)["certificates"][0]["revocation_reason"], "keyCompromise");

  // An empty body means "unspecified".
  Signed t = SignThroughApi({"revoke2.cluster.example.com"}, "server");
  auto empty = Call("POST", "/v1/certificates/" + t.serial + "/revoke", "", op);
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty)["reason"], "unspecified");

  // The audit log has one cert.revoke per revocation (not for the idempotent repeat).
  auto actions = AuditActions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "cert.revoke") - revokes_before, 2);
  bool found = false;
  std::int64_t after = 0;
  for (int page = 0; page < 100 && !found; ++page) {
    auto audit = Call("GET", "/v1/audit?limit=1000&after=" + std::to_string(after), {}, Admin());
    json entries = Body(audit)["entries"];
    if (entries.empty()) {
      break;
    }
    for (const auto& e : entries) {
      if (e["action"] == "cert.revoke" && e["target"] == s.serial) {
        found = true;
        EXPECT_EQ(e["actor"], "operator1");
        EXPECT_EQ(e["source"], "127.0.0.1");
        EXPECT_EQ(e["details"]["reason"], "keyCompromise");
      }
    }
    after = Body(audit)["next_after"].get<std::int64_t>();
  }
  EXPECT_TRUE(found);
}

TEST_F(ApiTest, RevokeRefusesBadInput) {
  Signed s = SignThroughApi({"revoke-bad.cluster.example.com"}, "server");
  auto unknown = Call("POST", "/v1/certificates/0123456789ABCDEF0123/revoke", "{}", Admin());
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(Body(unknown)["error"]["code"], "not_found");

  auto bad_reason =
      Call("POST", "/v1/certificates/" + s.serial + "/revoke", R"({"reason":"lost it"})", Admin());
  EXPECT_EQ(bad_reason.status, 400) << bad_reason.body;
  EXPECT_NE(Body(bad_reason)["error"]["message"].get<std::string>().find("keyCompromise"),
            std::string::npos);
  auto unknown_field = Call("POST", "/v1/certificates/" + s.serial + "/revoke",
                            R"({"reason":"superseded","why":"x"})", Admin());
  EXPECT_EQ(unknown_field.status, 400) << unknown_field.body;
  auto not_json = Call("POST", "/v1/certificates/" + s.serial + "/revoke", "reason", Admin());
  EXPECT_EQ(not_json.status, 400) << not_json.body;
  auto malformed = Call("POST", "/v1/certificates/XYZ-not-hex/revoke", "{}", Admin());
  EXPECT_EQ(malformed.status, 400) << malformed.body;

  // The issuing CA's own serial, and the root's: leaf certificates only.
  auto chain = Must(pki::Certificate::ParseAll(Call("GET", "/v1/ca/chain").body), "chain");
  for (const auto& ca : chain) {
    auto r = Call("POST", "/v1/certificates/" + ca.serial_hex() + "/revoke", "{}", Admin());
    EXPECT_EQ(r.status, 400) << ca.subject() << ": " << r.body;
  }
  // None of that revoked anything.
  EXPECT_EQ(Certificate(s.serial)["revoked"], false);
  EXPECT_EQ(Call("GET", "/v1/certificates/revoke", {}, Admin()).status, 405);
}

TEST_F(ApiTest, RevokeBySelectorDryRunChangesNothing) {
  Signed a = SignThroughApi({"sel-a.cluster.example.com", "shared.cluster.example.com"}, "server");
  Signed b = SignThroughApi({"sel-b.cluster.example.com", "shared.cluster.example.com"}, "server");
  Signed other = SignThroughApi({"sel-c.cluster.example.com"}, "server");
  std::string op = MakeUser("operator2", "operator");

  auto dry =
      Call("POST", "/v1/certificates/revoke",
           R"({"san":"DNS:shared.cluster.example.com","dry_run":true,"reason":"superseded"})", op);
  ASSERT_EQ(dry.status, 200) << dry.body;
  json d = Body(dry);
  EXPECT_EQ(d["dry_run"], true);
  EXPECT_EQ(d["count"], 2);
  std::set<std::string> serials;
  for (const auto& c : d["certificates"]) {
    serials.insert(c["serial"].get<std::string>());
    EXPECT_FALSE(c.contains("newly_revoked"));
  }
  EXPECT_EQ(serials, (std::set<std::string>{a.serial, b.serial}));
  EXPECT_EQ(Certificate(a.serial)["revoked"], false);
  EXPECT_EQ(Certificate(b.serial)["revoked"], false);

  auto real = Call("POST", "/v1/certificates/revoke",
                   R"({"san":"shared.cluster.example.com","reason":"superseded"})", op);
  ASSERT_EQ(real.status, 200) << real.body;
  json r = Body(real);
  EXPECT_EQ(r["dry_run"], false);
  EXPECT_EQ(r["count"], 2);
  for (const auto& c : r["certificates"]) {
    EXPECT_EQ(c["newly_revoked"], true);
  }
  EXPECT_EQ(Certificate(a.serial)["revocation_reason"], "superseded");
  EXPECT_EQ(Certificate(b.serial)["revocation_reason"], "superseded");
  EXPECT_EQ(Certificate(other.serial)["revoked"], false);

  // Revoked certificates are no longer selected.
  auto after = Call("POST", "/v1/certificates/revoke",
                    R"({"san":"DNS:shared.cluster.example.com","dry_run":true})", op);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(Body(after)["count"], 0);
  // By name (CN), exactly.
  auto by_name = Call("POST", "/v1/certificates/revoke",
                      R"({"name":"sel-c.cluster.example.com","dry_run":true})", op);
  ASSERT_EQ(by_name.status, 200) << by_name.body;
  EXPECT_EQ(Body(by_name)["count"], 1);

  EXPECT_EQ(Call("POST", "/v1/certificates/revoke", "{}", op).status, 400);
  EXPECT_EQ(Call("POST", "/v1/certificates/revoke", R"({"dry_run":true})", op).status, 400);
  EXPECT_EQ(Call("POST", "/v1/certificates/revoke", R"({"name":"x","extra":1})", op).status, 400);
  EXPECT_EQ(Call("POST", "/v1/certificates/revoke", R"({"issued_before":"yesterday"})", op).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/certificates/revoke", R"({"name":"x","dry_run":"yes"})", op).status,
            400);
  // A bad reason is refused before a dry run too.
  EXPECT_EQ(Call("POST", "/v1/certificates/revoke",
                 R"({"name":"sel-c.cluster.example.com","dry_run":true,"reason":"nope"})", op)
                .status,
            400);
  EXPECT_EQ(
      Call("POST", "/v1/certificates/revoke",
           R"({"name":"sel-c.cluster.example.com","dry_run":true,"reason":"removeFromCRL"})", op)
          .status,
      400);
  EXPECT_EQ(Certificate(other.serial)["revoked"], false);
}

TEST_F(ApiTest, CrlListsTheRevokedSerial) {
  Signed s = SignThroughApi({"crl1.cluster.example.com"}, "server");
  auto before = Call("GET", "/v1/crl");
  ASSERT_EQ(before.status, 200);
  pki::Crl crl_before = Must(pki::Crl::Parse(before.body), "crl");
  ASSERT_EQ(Call("POST", "/v1/certificates/" + s.serial + "/revoke",
                 R"({"reason":"cessationOfOperation"})", Admin())
                .status,
            200);

  auto der = Call("GET", "/v1/crl");
  ASSERT_EQ(der.status, 200);
  EXPECT_EQ(ReplyHeader(der, "Content-Type"), "application/pkix-crl");
  EXPECT_EQ(ReplyHeader(der, "Cache-Control"), "max-age=60");
  pki::Crl crl = Must(pki::Crl::Parse(der.body), "crl");
  EXPECT_EQ(crl.ToDer(), der.body);
  EXPECT_EQ(crl.issuer(), IssuingCa().subject());
  ASSERT_TRUE(crl.crl_number() && crl_before.crl_number());
  EXPECT_GT(std::stoll(*crl.crl_number()), std::stoll(*crl_before.crl_number()));
  auto entries = Must(crl.entries(), "entries");
  bool listed = false;
  for (const auto& e : entries) {
    if (e.serial_hex == s.serial) {
      listed = true;
      EXPECT_EQ(e.reason, pki::RevocationReason::kCessationOfOperation);
    }
  }
  EXPECT_TRUE(listed) << s.serial;

  auto pem = Call("GET", "/v1/crl.pem");
  ASSERT_EQ(pem.status, 200);
  EXPECT_EQ(ReplyHeader(pem, "Content-Type"), "application/x-pem-file");
  EXPECT_EQ(ReplyHeader(pem, "Cache-Control"), "max-age=60");
  EXPECT_TRUE(pem.body.starts_with("-----BEGIN X509 CRL-----")) << pem.body.substr(0, 40);
  EXPECT_EQ(Must(pki::Crl::Parse(pem.body), "crl pem").ToDer(), der.body);

  // The independent check: openssl verify -crl_check refuses the revoked certificate.
  std::string chain_pem = Call("GET", "/v1/ca/chain").body;
  std::string ca_file = WriteTemp("crl-chain.pem", chain_pem);
  std::string crl_file = WriteTemp("crl.pem", pem.body);
  std::string leaf_file = WriteTemp("crl-leaf.pem", s.certificate_pem);
  auto [status, out] =
      Run("openssl verify -attime " +
          std::to_string(std::chrono::system_clock::to_time_t(pki::kTestReferenceTime +
                                                              std::chrono::hours(1))) +
          " -crl_check -CAfile " + ca_file + " -CRLfile " + crl_file + " " + leaf_file);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("certificate revoked"), std::string::npos) << out;
}

TEST_F(ApiTest, CrlPemHoldsTheIssuingAndTheRootCrl) {
  auto chain = Must(pki::Certificate::ParseAll(Call("GET", "/v1/ca/chain").body), "chain");
  ASSERT_EQ(chain.size(), 2u);
  auto pem = Call("GET", "/v1/crl.pem");
  ASSERT_EQ(pem.status, 200);
  auto crls = Must(pki::Crl::ParseAll(pem.body), "crls");
  ASSERT_EQ(crls.size(), 2u) << pem.body;
  EXPECT_TRUE(crls[0].IsSignedBy(chain[0]));  // the issuing CA's, first
  EXPECT_TRUE(crls[1].IsSignedBy(chain[1]));  // the root CA's (signed at init)
  EXPECT_EQ(crls[1].revoked_count(), 0u);
  EXPECT_EQ(crls[1].next_update(), chain[1].not_after());

  // The root's CRL alone, DER and PEM, on both listeners, without credentials.
  auto root_der = Call("GET", "/v1/crl/root");
  ASSERT_EQ(root_der.status, 200) << root_der.body;
  EXPECT_EQ(ReplyHeader(root_der, "Content-Type"), "application/pkix-crl");
  EXPECT_EQ(root_der.body, crls[1].ToDer());
  auto root_pem = Must(SendPlainRequest(plane_->public_port(), "GET", "/v1/crl/root.pem"), "root");
  ASSERT_EQ(root_pem.status, 200);
  EXPECT_EQ(ReplyHeader(root_pem, "Content-Type"), "application/x-pem-file");
  EXPECT_EQ(Must(pki::Crl::Parse(root_pem.body), "root pem").ToDer(), root_der.body);

  // What nginx's ssl_crl does (CRL_CHECK_ALL), judged by openssl: with the downloaded file a
  // good leaf verifies through the whole chain.
  Signed s = SignThroughApi({"crlall.cluster.example.com"}, "server");
  std::string root_file = WriteTemp("crlall-root.pem", chain[1].ToPem());
  std::string issuing_file = WriteTemp("crlall-issuing.pem", chain[0].ToPem());
  std::string crl_file = WriteTemp("crlall.pem", pem.body);
  std::string leaf_file = WriteTemp("crlall-leaf.pem", s.certificate_pem);
  auto [status, out] = Run("openssl verify -attime " +
                           std::to_string(std::chrono::system_clock::to_time_t(
                               pki::kTestReferenceTime + std::chrono::hours(1))) +
                           " -crl_check_all -CAfile " + root_file + " -untrusted " + issuing_file +
                           " -CRLfile " + crl_file + " " + leaf_file);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find(": OK"), std::string::npos) << out;
}

TEST_F(ApiTest, OcspAnswersGoodThenRevokedByPostAndGet) {
  Signed s = SignThroughApi({"ocsp1.cluster.example.com"}, "server");
  std::string request = OpensslOcspRequest(s, "ocsp1");
  ASSERT_FALSE(request.empty());
  TestHeaders ocsp_type = {{"Content-Type", "application/ocsp-request"}};

  auto good = Call("POST", "/ocsp", request, "", ocsp_type);
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ(ReplyHeader(good, "Content-Type"), "application/ocsp-response");
  std::string good_text = OpensslOcspText(good.body, "ocsp1-good");
  EXPECT_NE(good_text.find("Cert Status: good"), std::string::npos) << good_text;

  auto revoke = Call("POST", "/v1/certificates/" + s.serial + "/revoke",
                     R"({"reason":"keyCompromise"})", Admin());
  ASSERT_EQ(revoke.status, 200) << revoke.body;
  EXPECT_EQ(Body(revoke)["newly_revoked"], true) << revoke.body;
  // The very next request shows it (the cache was dropped before the revoke answered).
  auto revoked = Call("POST", "/ocsp", request, "", ocsp_type);
  ASSERT_EQ(revoked.status, 200);
  std::string text = OpensslOcspText(revoked.body, "ocsp1-revoked");
  EXPECT_NE(text.find("Cert Status: revoked"), std::string::npos) << text;
  EXPECT_NE(text.find("Revocation Reason: keyCompromise"), std::string::npos) << text;

  // GET /ocsp/{url-encoded base64} (RFC 6960 appendix A.1), and unencoded '/' and '+' too.
  std::string b64 = Base64(request);
  auto get = Call("GET", "/ocsp/" + UrlEncode(b64));
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(ReplyHeader(get, "Content-Type"), "application/ocsp-response");
  std::string get_text = OpensslOcspText(get.body, "ocsp1-get");
  EXPECT_NE(get_text.find("Cert Status: revoked"), std::string::npos) << get_text;
  auto raw = Call("GET", "/ocsp/" + b64);
  ASSERT_EQ(raw.status, 200);
  EXPECT_NE(OpensslOcspText(raw.body, "ocsp1-raw").find("Cert Status: revoked"), std::string::npos);

  // A request without a Content-Type is answered too.
  auto untyped = Call("POST", "/ocsp", request, "", {{"Content-Type", ""}});
  EXPECT_EQ(untyped.status, 200);
  EXPECT_NE(OpensslOcspText(untyped.body, "ocsp1-untyped").find("Cert Status: revoked"),
            std::string::npos);
}

TEST_F(ApiTest, OcspGarbageIsMalformedRequestNeverAnHttpError) {
  const std::string malformed("\x30\x03\x0a\x01\x01", 5);
  for (const std::string& body : {std::string("garbage"), std::string(), std::string("\x30\x05", 2),
                                  std::string(5000, '\x30')}) {
    auto reply = Call("POST", "/ocsp", body, "", {{"Content-Type", "application/ocsp-request"}});
    ASSERT_EQ(reply.status, 200) << body.size();
    EXPECT_EQ(ReplyHeader(reply, "Content-Type"), "application/ocsp-response");
    EXPECT_EQ(reply.body, malformed) << body.size();
  }
  const std::vector<std::string> targets = {"/ocsp/!!!not-base64", "/ocsp/%ZZ", "/ocsp/QUJD",
                                            "/ocsp/A", "/ocsp/" + std::string(3000, 'A')};
  for (const std::string& target : targets) {
    auto reply = Call("GET", target);
    if (target == "/ocsp/%ZZ") {
      EXPECT_NE(reply.status, 500) << target;
      continue;
    }
    ASSERT_EQ(reply.status, 200) << target;
    EXPECT_EQ(reply.body, malformed) << target;
  }
  // Over 64 KiB: 413.
  auto big = Call("POST", "/ocsp", std::string(70 * 1024, '\x30'), "",
                  {{"Content-Type", "application/ocsp-request"}});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Call("GET", "/ocsp").status, 405);
}

TEST_F(ApiTest, PublicListenerServesOnlyThePublicRoutesWithoutAuth) {
  ASSERT_NE(plane_->public_port(), 0);
  EXPECT_EQ(plane_->public_url(), "http://127.0.0.1:" + std::to_string(plane_->public_port()));
  std::uint16_t port = plane_->public_port();

  auto health = Must(SendPlainRequest(port, "GET", "/health"), "health");
  EXPECT_EQ(health.status, 200);
  auto chain = Must(SendPlainRequest(port, "GET", "/v1/ca/chain"), "chain");
  ASSERT_EQ(chain.status, 200);
  EXPECT_EQ(Must(pki::Certificate::ParseAll(chain.body), "chain").size(), 2u);
  auto crl = Must(SendPlainRequest(port, "GET", "/v1/crl"), "crl");
  ASSERT_EQ(crl.status, 200);
  EXPECT_EQ(ReplyHeader(crl, "Content-Type"), "application/pkix-crl");
  EXPECT_TRUE(pki::Crl::Parse(crl.body).has_value());
  auto crl_pem = Must(SendPlainRequest(port, "GET", "/v1/crl.pem"), "crl.pem");
  EXPECT_EQ(crl_pem.status, 200);

  Signed s = SignThroughApi({"public1.cluster.example.com"}, "server");
  std::string request = OpensslOcspRequest(s, "public1");
  auto ocsp = Must(SendPlainRequest(port, "POST", "/ocsp", request,
                                    {{"Content-Type", "application/ocsp-request"}}),
                   "ocsp");
  ASSERT_EQ(ocsp.status, 200);
  EXPECT_NE(OpensslOcspText(ocsp.body, "public1").find("Cert Status: good"), std::string::npos);
  auto ocsp_get = Must(SendPlainRequest(port, "GET", "/ocsp/" + UrlEncode(Base64(request))), "get");
  EXPECT_EQ(ocsp_get.status, 200);
  EXPECT_NE(OpensslOcspText(ocsp_get.body, "public1-get").find("Cert Status: good"),
            std::string::npos);

  // Everything else is 404, with or without credentials, and never asks for them.
  const std::vector<std::pair<std::string, std::string>> others = {
      {"GET", "/v1/users"},
      {"GET", "/metrics"},
      {"POST", "/v1/ca/sign"},
      {"GET", "/v1/certificates"},
      {"GET", "/v1/audit"},
      {"GET", "/v1/audit/head"},
      {"GET", "/v1/cluster/policy"},
      {"POST", "/v1/certificates/revoke"},
      {"GET", "/nothing"}};
  for (const auto& [method, target] : others) {
    for (const std::string& auth : {std::string(), Admin()}) {
      TestHeaders headers;
      if (!auth.empty()) {
        headers.emplace_back("Authorization", auth);
      }
      auto reply =
          Must(SendPlainRequest(port, method, target, method == "GET" ? "" : "{}", headers), "req");
      EXPECT_EQ(reply.status, 404) << method << " " << target << ": " << reply.body;
      EXPECT_EQ(ReplyHeader(reply, "WWW-Authenticate"), "") << target;
      EXPECT_EQ(Body(reply)["error"]["code"], "not_found") << target;
    }
  }
  // Over 64 KiB on the public listener: 413 from the HTTP layer.
  auto big = Must(SendPlainRequest(port, "POST", "/ocsp", std::string(70 * 1024, 'x'),
                                   {{"Content-Type", "application/ocsp-request"}}),
                  "big");
  EXPECT_EQ(big.status, 413);
}

TEST_F(ApiTest, IssuedCertificatesPointAtThePublicListener) {
  Signed s = SignThroughApi({"urls1.cluster.example.com"}, "server");
  std::string path = WriteTemp("urls1.pem", s.certificate_pem);
  auto [status, text] = Run("openssl x509 -noout -text -in " + path);
  ASSERT_EQ(status, 0) << text;
  std::string base = "http://127.0.0.1:" + std::to_string(plane_->public_port());
  EXPECT_NE(text.find("X509v3 CRL Distribution Points"), std::string::npos) << text;
  EXPECT_NE(text.find("URI:" + base + "/v1/crl"), std::string::npos) << text;
  EXPECT_NE(text.find("OCSP - URI:" + base + "/ocsp"), std::string::npos) << text;
  auto [ocsp_status, uri] = Run("openssl x509 -noout -ocsp_uri -in " + path);
  EXPECT_EQ(uri, base + "/ocsp\n");
}

TEST_F(ApiTest, MetricsShowCrlAndOcspSignerExpiryAndOcspCounts) {
  Call("POST", "/ocsp", "garbage", "", {{"Content-Type", "application/ocsp-request"}});
  auto metrics = Call("GET", "/metrics", {}, Admin());
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("clustertls_certificate_expiry_timestamp_seconds{kind=\"crl\","
                              "name=\"issuing\"}"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("clustertls_certificate_expiry_timestamp_seconds{kind=\"ocsp-"
                              "signer\",name=\"issuing\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("clustertls_ocsp_responses_total{status=\"malformedRequest\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("route=\"/ocsp\""), std::string::npos);
  EXPECT_EQ(Api::RoutePattern("/ocsp/MEIw%2Fabc/def"), "/ocsp/{request}");
  EXPECT_EQ(Api::RoutePattern("/v1/certificates/AB01/revoke"), "/v1/certificates/{serial}/revoke");
  EXPECT_EQ(Api::RoutePattern("/v1/certificates/revoke"), "/v1/certificates/revoke");
  EXPECT_EQ(Api::RoutePattern("/v1/crl"), "/v1/crl");
  EXPECT_EQ(Api::RoutePattern("/v1/crl.pem"), "/v1/crl.pem");
  EXPECT_EQ(Api::RoutePattern("/ocsp"), "/ocsp");
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
  // The database is named relative to the directory: a copy of it opens its own copy.
  std::ifstream config_file(fs::path(dir) / "clustertls.json");
  const std::string config_text((std::istreambuf_iterator<char>(config_file)),
                                std::istreambuf_iterator<char>());
  EXPECT_NE(config_text.find("\"store_url\": \"sqlite://clustertls.db\""), std::string::npos)
      << config_text;
  EXPECT_TRUE(fs::exists(fs::path(dir) / "clustertls.db"));
  auto again = InitDataDir({.data_dir = dir, .fqdn = kFqdn}, clock, rng);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "clustertls.json"));
  fs::remove_all(dir);
}

// The URLs init puts into the named certificates: as serve would put them into what it issues.
TEST(InitDataDirTest, NamedCertificatesPointAtThePublicListenerOrTheGivenUrl) {
  core::FixedClock clock(pki::kTestReferenceTime);
  ossl::Csprng rng;
  const std::string base =
      fs::temp_directory_path() / ("ctls-init-urls-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base);
  // The OCSP URL (openssl x509 -ocsp_uri) of the `api` certificate init made in `dir`.
  auto api_ocsp_uri = [&](const std::string& dir) {
    auto config = Must(authority::LoadDataDirConfig(dir), "config");
    auto store = Must(store::Store::Open(config.store_url), "store");
    const std::string pem = Must(store->GetNamedCert("api"), "api").chain_pem;
    const std::string path = dir + "/api.pem";
    std::ofstream(path) << pem;
    return pki::RunCommand("openssl x509 -noout -ocsp_uri -in " + path + " 2>&1").output;
  };
  const struct {
    std::string name;
    std::string public_listen;
    std::string public_url;
    std::string want;
  } cases[] = {
      {"default", "", "", "http://127.0.0.1:9080/ocsp\n"},
      {"wildcard", "0.0.0.0:8080", "", "http://" + std::string(kFqdn) + ":8080/ocsp\n"},
      {"url", "off", "https://ca.example.com:8443/", "https://ca.example.com:8443/ocsp\n"},
      {"off", "off", "", ""},
      {"port0", "127.0.0.1:0", "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const InitDataDirOptions options{.data_dir = base + "/" + c.name,
                                     .fqdn = std::string(kFqdn),
                                     .public_listen = c.public_listen,
                                     .public_url = c.public_url};
    ASSERT_TRUE(InitDataDir(options, clock, rng));
    EXPECT_EQ(api_ocsp_uri(options.data_dir), c.want);
  }
  fs::remove_all(base);
}

TEST(InitDataDirTest, PublicListenerOffStartsNoListenerAndPutsNoUrls) {
  core::FixedClock clock(pki::kTestReferenceTime);
  ossl::Csprng rng;
  std::string dir = fs::temp_directory_path() / ("ctls-public-off-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  // Bad values are refused before anything is created.
  auto bad_listen =
      InitDataDir({.data_dir = dir, .fqdn = kFqdn, .public_listen = "nowhere"}, clock, rng);
  ASSERT_FALSE(bad_listen);
  EXPECT_NE(bad_listen.error().message.find("public listener"), std::string::npos);
  auto bad_url =
      InitDataDir({.data_dir = dir, .fqdn = kFqdn, .public_listen = "off", .public_url = "ftp://x"},
                  clock, rng);
  ASSERT_FALSE(bad_url);
  EXPECT_NE(bad_url.error().message.find("http:// or https://"), std::string::npos);
  EXPECT_FALSE(
      InitDataDir({.data_dir = dir, .fqdn = kFqdn, .public_listen = "off", .public_url = "http://"},
                  clock, rng));
  EXPECT_FALSE(fs::exists(dir));

  ASSERT_TRUE(InitDataDir({.data_dir = dir, .fqdn = kFqdn, .public_listen = "off"}, clock, rng));
  auto config = Must(authority::LoadDataDirConfig(dir), "config");
  EXPECT_EQ(config.public_listen, "off");
  EXPECT_EQ(config.public_url, "");
  {
    auto plane =
        Must(ControlPlane::Start({.data_dir = dir, .listen = "127.0.0.1:0", .threads = 1}, clock),
             "start");
    EXPECT_EQ(plane->public_port(), 0);
    EXPECT_EQ(plane->public_url(), "");
  }
  {
    // --public-url alone: no listener, but the URL goes into certificates.
    auto plane = Must(ControlPlane::Start({.data_dir = dir,
                                           .listen = "127.0.0.1:0",
                                           .threads = 1,
                                           .public_url = "https://ca.example.com:8443/"},
                                          clock),
                      "start");
    EXPECT_EQ(plane->public_port(), 0);
    EXPECT_EQ(plane->public_url(), "https://ca.example.com:8443");
  }
  {
    // The public listener on, bound to a port that is taken: an error naming it.
    auto first = Must(ControlPlane::Start({.data_dir = dir,
                                           .listen = "127.0.0.1:0",
                                           .threads = 1,
                                           .public_listen = "127.0.0.1:0"},
                                          clock),
                      "start");
    ASSERT_NE(first->public_port(), 0);
    std::string taken = "127.0.0.1:" + std::to_string(first->public_port());
    auto second = ControlPlane::Start(
        {.data_dir = dir, .listen = "127.0.0.1:0", .threads = 1, .public_listen = taken}, clock);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, core::ErrorCode::kIo);
    EXPECT_TRUE(second.error().message.starts_with("public listener " + taken + ": "))
        << second.error().message;
    EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  }
  auto bad = ControlPlane::Start(
      {.data_dir = dir, .listen = "127.0.0.1:0", .public_url = "not a url"}, clock);
  EXPECT_FALSE(bad);
  fs::remove_all(dir);
}

// ApiOptions::on_cluster_change fires once for every accepted change of what nodes receive, and
// never for a refused one, a dry run or a repeated revocation.
TEST_F(ApiTest, ClusterChangeHookFiresForEachAcceptedChangeOnly) {
  int expected = cluster_changes_.load();
  auto fired = [&](const net::TestReply& reply, int want_status, bool changed) {
    EXPECT_EQ(reply.status, want_status) << reply.body;
    expected += changed ? 1 : 0;
    EXPECT_EQ(cluster_changes_.load(), expected) << reply.body;
  };
  Signed s = SignThroughApi({"hook.example.net"}, "server");
  const std::string key_pem = Must(s.key.ToPem(), "key pem");
  const json named = {{"name", "hooktest"}, {"key", key_pem}, {"certificate", s.certificate_pem}};

  // Named certificates.
  fired(Call("PUT", "/v1/cluster/update_cert", named.dump(), Admin()), 200, true);
  fired(Call("PUT", "/v1/cluster/certificates", json{{"certificates", json::array({named})}}.dump(),
             Admin()),
        200, true);
  fired(Call("POST", "/v1/cluster/certificates/hooktest/renew", "", Admin()), 200, true);
  fired(Call("DELETE", "/v1/cluster/certificates/hooktest", "", Admin()), 200, true);
  fired(Call("DELETE", "/v1/cluster/certificates/hooktest", "", Admin()), 404, false);
  fired(Call("DELETE", "/v1/cluster/certificates/api", "", Admin()), 409, false);
  json bad = named;
  bad["certificate"] = "not a certificate";
  fired(Call("PUT", "/v1/cluster/update_cert", bad.dump(), Admin()), 400, false);

  // The TLS policy, under its name and as Redis' cluster object.
  fired(Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":"1.2"})", Admin()), 200,
        true);
  fired(Call("PUT", "/v1/cluster", R"({"min_data_TLS_version":"1.2"})", Admin()), 200, true);
  fired(Call("PUT", "/v1/cluster/policy", R"({"min_control_tls_version":"1.1"})", Admin()), 400,
        false);
  fired(Call("PUT", "/v1/cluster", R"({"name":"renamed"})", Admin()), 400, false);

  // Revocations: only those that revoked something.
  Signed one = SignThroughApi({"hook-revoke-1.example.net"}, "server");
  fired(Call("POST", "/v1/certificates/" + one.serial + "/revoke", "", Admin()), 200, true);
  fired(Call("POST", "/v1/certificates/" + one.serial + "/revoke", "", Admin()), 200, false);
  SignThroughApi({"hook-revoke-2.example.net"}, "server");
  const std::string selector = R"({"name":"hook-revoke-2.example.net")";
  fired(Call("POST", "/v1/certificates/revoke", selector + R"(,"dry_run":true})", Admin()), 200,
        false);
  fired(Call("POST", "/v1/certificates/revoke", selector + "}", Admin()), 200, true);
  fired(Call("POST", "/v1/certificates/revoke", selector + "}", Admin()), 200, false);
}

// A store that another process keeps busy beyond every retry (here a second SQLite connection
// holding the write lock) answers 503 with Retry-After: 1 on a change and on signing, and the
// change goes through once the lock is released.
TEST(ApiBusyStoreTest, ContentionBeyondTheRetriesIs503WithRetryAfter) {
  core::FixedClock clock(pki::kTestReferenceTime);
  const std::string dir =
      fs::temp_directory_path() / ("ctls-api-busy-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ossl::Csprng rng;
  InitDataDirResult made = Must(
      InitDataDir(
          {.data_dir = dir, .fqdn = kFqdn, .listen = "127.0.0.1:0", .public_listen = "127.0.0.1:0"},
          clock, rng),
      "InitDataDir");
  std::unique_ptr<ControlPlane> plane =
      Must(ControlPlane::Start({.data_dir = dir,
                                .listen = "127.0.0.1:0",
                                .threads = 2,
                                .poll_interval = std::chrono::seconds(60),
                                .store_options = {.busy_timeout_ms = 20}},
                               clock),
           "ControlPlane::Start");
  const std::string admin = BasicAuthorization("admin", made.admin_password);
  auto call = [&](std::string_view method, std::string_view target, std::string_view body) {
    auto client =
        Must(net::TestTlsClient::Connect(plane->port(), net::TestClientOptions{}), "connect");
    return Must(SendRequest(*client, method, target, body, {{"Authorization", admin}}), "request");
  };

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/clustertls.db").c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  ASSERT_EQ(sqlite3_exec(db.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto deleted = call("DELETE", "/v1/cluster/certificates/syncer", "");
  EXPECT_EQ(deleted.status, 503) << deleted.body;
  EXPECT_NE(deleted.headers.find("Retry-After: 1\r\n"), std::string::npos) << deleted.headers;
  json body = json::parse(deleted.body, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "unavailable") << deleted.body;
  EXPECT_EQ(deleted.body.find("clustertls.db"), std::string::npos) << deleted.body;

  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  pki::CsrOptions options;
  options.common_name = "busy.example.com";
  options.sans.dns = {"busy.example.com"};
  pki::Csr csr = Must(pki::Csr::Create(key, options), "csr");
  auto signed_reply =
      call("POST", "/v1/ca/sign", json{{"csr", csr.ToPem()}, {"profile", "server"}}.dump());
  EXPECT_EQ(signed_reply.status, 503) << signed_reply.body;
  EXPECT_NE(signed_reply.headers.find("Retry-After: 1\r\n"), std::string::npos)
      << signed_reply.headers;

  ASSERT_EQ(sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  auto again = call("DELETE", "/v1/cluster/certificates/syncer", "");
  EXPECT_EQ(again.status, 200) << again.body;
  db.reset();
  plane.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace clustertls::server
