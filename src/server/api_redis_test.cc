// Redis Enterprise's calls as its documentation shows them: update_cert with PEMs escaped by the
// page's `sed -z 's/\n/\\\n/g'`, the cluster object's TLS fields (GET/PUT /v1/cluster), and the
// warnings an accepted api/cm certificate gets.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "authority/name_policy.h"
#include "server/api_testutil.h"

namespace clustertls::server {
namespace {

// What `"$(sed -z 's/\n/\\\n/g' file)"` puts between the quotes: every line break preceded by a
// backslash, and the file's last line break dropped by the shell's $(...), leaving a backslash.
std::string SedEscaped(std::string pem) {
  std::string out;
  for (char c : pem) {
    if (c == '\n') {
      out += "\\\n";
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return out;
}

// The page's -d '{ "name": "<cert_name>", "key": "<key>", "certificate": "<cert>" }'.
std::string PageBody(const std::string& name, const std::string& key, const std::string& cert) {
  return "{ \"name\": \"" + name + "\", \"key\": \"" + SedEscaped(key) + "\", \"certificate\": \"" +
         SedEscaped(cert) + "\" }";
}

TEST_F(ApiTest, UpdateCertTakesThePemsAsTheRedisPageEscapesThem) {
  const std::int64_t before = NamedVersion("syncer");
  Signed s = SignThroughApi({"syncer." + std::string(kFqdn)}, "peer");
  const std::string key = Must(s.key.ToPem(), "key pem");
  const std::string body = PageBody("syncer", key, s.certificate_pem);
  ASSERT_NE(body.find("-----\\\""), std::string::npos) << "the body ends a PEM with a backslash";
  auto reply = Call("PUT", "/v1/cluster/update_cert", body, Admin());
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(NamedVersion("syncer"), before + 1);
  // The stored chain is the PEM as the file had it.
  auto listed = Body(Call("GET", "/v1/cluster/certificates", {}, Admin()));
  EXPECT_EQ(listed["syncer_cert"].get<std::string>().substr(0, s.certificate_pem.size()),
            s.certificate_pem);

  // PUT /v1/cluster/certificates takes the same escaping.
  const std::string many =
      "{\"certificates\": [" + PageBody("syncer", key, s.certificate_pem) + "]}";
  EXPECT_EQ(Call("PUT", "/v1/cluster/certificates", many, Admin()).status, 200);
  // Every other route stays strict JSON.
  auto users = Call("POST", "/v1/users", "{\"name\": \"x\\\ny\", \"role\": \"reader\"}", Admin());
  EXPECT_EQ(users.status, 400) << users.body;
  EXPECT_EQ(Body(users)["error"]["code"], "parse_error");
  // A body broken in another way is still refused.
  auto broken =
      Call("PUT", "/v1/cluster/update_cert", "{ \"name\": \"syncer\", \"key\": \"a\\", Admin());
  EXPECT_EQ(broken.status, 400) << broken.body;
}

TEST_F(ApiTest, AcceptedApiAndCmCertificatesComeWithWarnings) {
  // cm from another root (made at the fixture's reference time): stored, with the warning that
  // clients trusting the cluster root refuse it.
  const pki::TestPki other =
      pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other CA"});
  const pki::TestLeaf foreign =
      pki::IssueLeaf(other.issuing, pki::IssueRequest{.profile = pki::Profile::kServer,
                                                      .common_name = kFqdn,
                                                      .sans = {.dns = {kFqdn}}});
  auto cm = Call(
      "PUT", "/v1/cluster/update_cert",
      json{{"name", "cm"},
           {"key", Must(foreign.key.ToPem(), "key")},
           {"certificate", foreign.cert.ToPem() + other.intermediate.ToPem() + other.root.ToPem()}}
          .dump(),
      Admin());
  ASSERT_EQ(cm.status, 200) << cm.body;
  ASSERT_EQ(Body(cm)["warnings"].size(), 1u) << cm.body;
  EXPECT_NE(Body(cm)["warnings"][0].get<std::string>().find("does not chain to the cluster CA"),
            std::string::npos);

  // api from the cluster CA but through the signing route: no control-plane identity, and not
  // naming 127.0.0.1, which the server listens on.
  Signed s = SignThroughApi({kFqdn, "localhost"}, "peer", {{"allow_reserved", true}});
  auto api = Call(
      "PUT", "/v1/cluster/update_cert",
      json{{"name", "api"}, {"key", Must(s.key.ToPem(), "key")}, {"certificate", s.certificate_pem}}
          .dump(),
      Admin());
  ASSERT_EQ(api.status, 200) << api.body;
  const json warnings = Body(api)["warnings"];
  ASSERT_EQ(warnings.size(), 2u) << api.body;
  EXPECT_NE(warnings[0].get<std::string>().find("does not name 127.0.0.1"), std::string::npos);
  EXPECT_NE(warnings[1].get<std::string>().find("lacks the control-plane identity"),
            std::string::npos);
  EXPECT_NE(warnings[1].get<std::string>().find(
                Must(pki::Certificate::FromPem(s.certificate_pem), "leaf").fingerprint().colon),
            std::string::npos);
  // A renewal from the cluster CA gives none of these: the api certificate is whole again, with
  // the names the server is reached by beside the ones it had.
  auto renewed = Call("POST", "/v1/cluster/certificates/api/renew", {}, Admin());
  ASSERT_EQ(renewed.status, 200) << renewed.body;
  const pki::Certificate leaf =
      Must(pki::Certificate::FromPem(Body(renewed)["certificate"].get<std::string>()), "renewed");
  const pki::SubjectAltNames sans = leaf.sans();
  for (const std::string& dns :
       {std::string(kFqdn), "*." + std::string(kFqdn), std::string("localhost")}) {
    EXPECT_NE(std::find(sans.dns.begin(), sans.dns.end(), dns), sans.dns.end()) << dns;
  }
  for (const char* ip : {"127.0.0.1", "::1"}) {
    EXPECT_NE(std::find(sans.ips.begin(), sans.ips.end(), ip), sans.ips.end()) << ip;
  }
  EXPECT_NE(std::find(sans.uris.begin(), sans.uris.end(), authority::kControlPlaneUri),
            sans.uris.end());
}

TEST_F(ApiTest, TheClusterObjectCarriesThePolicyUnderRedisNames) {
  auto got = Call("GET", "/v1/cluster", {}, Admin());
  ASSERT_EQ(got.status, 200) << got.body;
  json cluster = Body(got);
  EXPECT_EQ(cluster["name"], kFqdn);
  EXPECT_EQ(cluster["min_control_TLS_version"], "1.2");
  EXPECT_EQ(cluster["sentinel_ssl_policy"], "required");

  // What a Redis script PUTs: the page's minimum versions and Sentinel policy.
  auto put = Call("PUT", "/v1/cluster",
                  R"({"min_data_TLS_version":"1.2","min_control_TLS_version":"1.2",)"
                  R"("sentinel_ssl_policy":"allowed","min_sentinel_TLS_version":"1.3"})",
                  Admin());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Body(put)["sentinel_ssl_policy"], "allowed");
  EXPECT_EQ(Body(put)["min_sentinel_TLS_version"], "1.3");
  auto policy = Body(Call("GET", "/v1/cluster/policy", {}, Admin()));
  EXPECT_EQ(policy["sentinel_ssl_policy"], "allowed");
  EXPECT_EQ(policy["min_sentinel_tls_version"], "1.3");

  // RFC 8996 under Redis' names; other cluster fields; a reader may not write.
  auto old = Call("PUT", "/v1/cluster", R"({"min_control_TLS_version":"1.1"})", Admin());
  EXPECT_EQ(old.status, 400);
  EXPECT_NE(old.body.find("min_control_TLS_version: "), std::string::npos) << old.body;
  EXPECT_NE(old.body.find("RFC 8996"), std::string::npos) << old.body;
  EXPECT_EQ(Call("PUT", "/v1/cluster", R"({"name":"renamed"})", Admin()).status, 400);
  const std::string reader = MakeUser("cluster.reader", "reader");
  EXPECT_EQ(Call("GET", "/v1/cluster", {}, reader).status, 200);
  EXPECT_EQ(Call("PUT", "/v1/cluster", R"({"sentinel_ssl_policy":"disabled"})", reader).status,
            403);
  // Back to the default for the other tests.
  EXPECT_EQ(Call("PUT", "/v1/cluster",
                 R"({"sentinel_ssl_policy":"required","min_sentinel_TLS_version":"1.2"})", Admin())
                .status,
            200);
}

}  // namespace
}  // namespace clustertls::server
