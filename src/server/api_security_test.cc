// Attacks on the API, each reproduced and shown refused: operators signing the cluster's own
// names, name policies of users and tokens, cross-site writes, duplicate JSON keys, selector
// and SAN limits, tokens that outlive a password change.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/api_testutil.h"

namespace clustertls::server {
namespace {

// A CSR (EC P-256, new key) for `dns` and `ips`; the CN is the first DNS name, else the first IP.
std::string CsrFor(std::vector<std::string> dns, std::vector<std::string> ips = {}) {
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  pki::CsrOptions options;
  options.common_name = dns.empty() ? ips.front() : dns.front();
  options.sans.dns = std::move(dns);
  options.sans.ips = std::move(ips);
  return Must(pki::Csr::Create(key, options), "csr").ToPem();
}

std::string SignBody(const std::string& csr, json extra = json::object()) {
  json body = {{"csr", csr}, {"profile", "server"}, {"days", 30}};
  body.update(extra);
  return body.dump();
}

class ApiSecurityTest : public ApiTest {
 protected:
  static bool UserExists(const std::string& name) {
    auto users = Call("GET", "/v1/users", {}, Admin());
    EXPECT_EQ(users.status, 200);
    const json list = Body(users);  // a named value: the loop must not range over a temporary
    for (const auto& u : list["users"]) {
      if (u["name"] == name) {
        return true;
      }
    }
    return false;
  }
};

// Finding 1: an operator got a certificate for localhost, 127.0.0.1 and the cluster FQDN and
// served it as the API.
TEST_F(ApiSecurityTest, OnlyAnAdminAskingExplicitlySignsTheClusterOwnNames) {
  const std::string op = MakeUser("sec.operator", "operator");
  struct Case {
    std::vector<std::string> dns;
    std::vector<std::string> ips;
    std::string named;  // the name the refusal must name
  };
  for (const Case& c : std::vector<Case>{
           {{"localhost"}, {}, "DNS:localhost"},
           {{}, {"127.0.0.1"}, "IP:127.0.0.1"},
           {{}, {"::1"}, "IP:::1"},
           {{kFqdn}, {}, std::string("DNS:") + kFqdn},
           {{std::string("*.") + kFqdn}, {}, std::string("DNS:*.") + kFqdn},
           {{std::string("internal.") + kFqdn}, {}, std::string("DNS:internal.") + kFqdn},
           {{"*.example.com"}, {}, std::string("DNS:*.example.com (covers ") + kFqdn + ")"},
           {{"node1.example.org", "localhost"}, {"10.0.0.1"}, "DNS:localhost"},
       }) {
    auto reply = Call("POST", "/v1/ca/sign", SignBody(CsrFor(c.dns, c.ips)), op);
    EXPECT_EQ(reply.status, 403) << c.named << ": " << reply.body;
    const std::string message = Body(reply)["error"]["message"].get<std::string>();
    EXPECT_NE(message.find("reserved for the cluster's own certificates: " + c.named),
              std::string::npos)
        << message;
    // The admin gets the same refusal unless asking explicitly.
    EXPECT_EQ(Call("POST", "/v1/ca/sign", SignBody(CsrFor(c.dns, c.ips)), Admin()).status, 403);
  }
  // Names beside the reserved ones are fine.
  auto node = Call("POST", "/v1/ca/sign", SignBody(CsrFor({std::string("node1.") + kFqdn})), op);
  EXPECT_EQ(node.status, 201) << node.body;

  // Only an admin may ask, and the entry says it was asked.
  auto op_asks =
      Call("POST", "/v1/ca/sign", SignBody(CsrFor({"localhost"}), {{"allow_reserved", true}}), op);
  EXPECT_EQ(op_asks.status, 403);
  EXPECT_NE(op_asks.body.find("allow_reserved: only an admin"), std::string::npos);
  EXPECT_EQ(
      Call("POST", "/v1/ca/sign", SignBody(CsrFor({"localhost"}), {{"allow_reserved", 1}}), Admin())
          .status,
      400);
  auto admin_asks =
      Call("POST", "/v1/ca/sign",
           SignBody(CsrFor({"localhost"}, {"127.0.0.1"}), {{"allow_reserved", true}}), Admin());
  ASSERT_EQ(admin_asks.status, 201) << admin_asks.body;
  const std::string serial = Body(admin_asks)["serial"].get<std::string>();
  bool audited = false;
  for (const json& e : AuditEntries("cert.sign")) {
    if (e["target"] == serial) {
      audited = e["details"].value("allow_reserved", false);
    }
  }
  EXPECT_TRUE(audited) << "the cert.sign entry of " << serial << " records allow_reserved";
}

TEST_F(ApiSecurityTest, NamePoliciesOfUsersAndTokensLimitWhatTheySign) {
  // An operator that may sign only under db.example.com (and never vault.db.example.com).
  auto created = Call("POST", "/v1/users",
                      json{{"name", "db.operator"},
                           {"role", "operator"},
                           {"password", "db-operator-password"},
                           {"name_policy",
                            {{"allowed_dns", {"DB.example.com"}},
                             {"denied_dns", {"vault.db.example.com"}},
                             {"allowed_ips", {"10.1.0.0/16"}}}}}
                          .dump(),
                      Admin());
  ASSERT_EQ(created.status, 201) << created.body;
  const json canonical = {{"allowed_dns", {"db.example.com"}},
                          {"denied_dns", {"vault.db.example.com"}},
                          {"allowed_ips", {"10.1.0.0/16"}}};
  EXPECT_EQ(Body(created)["name_policy"], canonical);
  const std::string op = BasicAuthorization("db.operator", "db-operator-password");

  EXPECT_EQ(
      Call("POST", "/v1/ca/sign", SignBody(CsrFor({"a.db.example.com"}, {"10.1.2.3"})), op).status,
      201);
  struct Case {
    std::vector<std::string> dns;
    std::vector<std::string> ips;
    std::string refused;
  };
  for (const Case& c : std::vector<Case>{
           {{"web.example.com"}, {}, "DNS:web.example.com (not within the allowed DNS entries"},
           {{"x.vault.db.example.com"}, {}, "DNS:x.vault.db.example.com (denied DNS entry"},
           {{"*.db.example.com"}, {}, "DNS:*.db.example.com (denied DNS entry"},
           {{"a.db.example.com"}, {"10.2.0.1"}, "IP:10.2.0.1 (not within the allowed IP"},
       }) {
    auto reply = Call("POST", "/v1/ca/sign", SignBody(CsrFor(c.dns, c.ips)), op);
    EXPECT_EQ(reply.status, 403) << reply.body;
    EXPECT_NE(reply.body.find("not allowed by the name policy of user \\\"db.operator\\\": "),
              std::string::npos)
        << reply.body;
    EXPECT_NE(reply.body.find(c.refused), std::string::npos) << reply.body;
  }

  // Shown in the users list, audited on creation.
  bool listed = false;
  const json users = Body(Call("GET", "/v1/users", {}, Admin()));
  for (const auto& u : users["users"]) {
    if (u["name"] == "db.operator") {
      listed = u["name_policy"] == canonical;
    }
  }
  EXPECT_TRUE(listed) << users.dump();
  bool audited = false;
  for (const json& e : AuditEntries("user.create")) {
    audited = audited || (e["target"] == "db.operator" &&
                          e["details"].value("name_policy", json()) == canonical);
  }
  EXPECT_TRUE(audited);

  // A token narrows further: both the user's and the token's policy must allow.
  auto token =
      Call("POST", "/v1/tokens", R"({"name_policy":{"allowed_dns":["cache.db.example.com"]}})", op);
  ASSERT_EQ(token.status, 201) << token.body;
  const json t = Body(token);
  EXPECT_EQ(t["name_policy"], json({{"allowed_dns", {"cache.db.example.com"}}}));
  const std::string bearer = "Bearer " + t["token"].get<std::string>();
  EXPECT_EQ(
      Call("POST", "/v1/ca/sign", SignBody(CsrFor({"n1.cache.db.example.com"})), bearer).status,
      201);
  auto narrowed = Call("POST", "/v1/ca/sign", SignBody(CsrFor({"a.db.example.com"})), bearer);
  EXPECT_EQ(narrowed.status, 403);
  EXPECT_NE(narrowed.body.find("name policy of token " + t["id"].get<std::string>()),
            std::string::npos)
      << narrowed.body;
  bool token_listed = false;
  const json tokens = Body(Call("GET", "/v1/tokens", {}, op));
  for (const auto& listed_token : tokens["tokens"]) {
    token_listed = token_listed || listed_token["name_policy"] == t["name_policy"];
  }
  EXPECT_TRUE(token_listed);

  // Bad policies are refused naming the field; nothing changes.
  for (const char* bad : {R"({"name_policy":{"allowed_dns":["bad name"]}})",
                          R"({"name_policy":{"allowed_ips":["10.0.0.1/8"]}})",
                          R"({"name_policy":{"allow":["x"]}})", R"({"name_policy":"db"})"}) {
    auto reply = Call("PUT", "/v1/users/db.operator", bad, Admin());
    EXPECT_EQ(reply.status, 400) << bad << " " << reply.body;
    EXPECT_NE(reply.body.find("name_policy"), std::string::npos) << reply.body;
  }
  // Removing the user's policy: the token's still applies, Basic signs anything else.
  auto cleared = Call("PUT", "/v1/users/db.operator", R"({"name_policy":null})", Admin());
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_TRUE(Body(cleared)["name_policy"].is_null());
  EXPECT_EQ(Call("POST", "/v1/ca/sign", SignBody(CsrFor({"web.example.com"})), op).status, 201);
  EXPECT_EQ(Call("POST", "/v1/ca/sign", SignBody(CsrFor({"web.example.com"})), bearer).status, 403);
  bool update_audited = false;
  for (const json& e : AuditEntries("user.update")) {
    update_audited =
        update_audited || (e["target"] == "db.operator" && e["details"].contains("name_policy") &&
                           e["details"]["name_policy"].is_null());
  }
  EXPECT_TRUE(update_audited);
}

TEST_F(ApiSecurityTest, AtMostAHundredNamesPerCertificate) {
  std::vector<std::string> names;
  for (int i = 0; i < 101; ++i) {
    names.push_back("n" + std::to_string(i) + ".many.example.com");
  }
  auto reply = Call("POST", "/v1/ca/sign", SignBody(CsrFor(names)), Admin());
  EXPECT_EQ(reply.status, 400) << reply.body;
  EXPECT_NE(reply.body.find("101 subject alternative names: at most 100 per certificate"),
            std::string::npos)
      << reply.body;
  names.resize(100);
  EXPECT_EQ(Call("POST", "/v1/ca/sign", SignBody(CsrFor(names)), Admin()).status, 201);
}

// Finding 4: a form on another site could create an admin where Basic credentials are cached.
TEST_F(ApiSecurityTest, CrossSiteWritesAreRefused) {
  const std::string body = R"({"name":"csrf.admin","role":"admin","password":"csrf-password-1"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonx"}) {
    auto reply = Call("POST", "/v1/users", body, Admin(), {{"Content-Type", type}});
    EXPECT_EQ(reply.status, 415) << type << ": " << reply.body;
  }
  // An empty Content-Type (as good as none: a no-cors fetch with a Blob body sends none).
  auto untyped = Call("POST", "/v1/users", body, Admin(), {{"Content-Type", ""}});
  EXPECT_EQ(untyped.status, 415) << untyped.body;
  // Another origin, with the right type (a CORS request a browser would send after a preflight).
  auto cross = Call("POST", "/v1/users", body, Admin(), {{"Origin", "https://evil.example"}});
  EXPECT_EQ(cross.status, 403) << cross.body;
  EXPECT_NE(cross.body.find("Origin https://evil.example"), std::string::npos);
  EXPECT_EQ(Call("POST", "/v1/users", body, Admin(), {{"Origin", "null"}}).status, 403);
  EXPECT_EQ(
      Call("DELETE", "/v1/users/admin", {}, Admin(), {{"Sec-Fetch-Site", "cross-site"}}).status,
      403);
  // A CORS preflight is refused and allows nothing.
  auto preflight = Call("OPTIONS", "/v1/users", {}, "",
                        {{"Origin", "https://evil.example"},
                         {"Access-Control-Request-Method", "POST"},
                         {"Access-Control-Request-Headers", "authorization,content-type"}});
  EXPECT_EQ(preflight.status, 403) << preflight.body;
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Allow-Origin"), "");
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Allow-Methods"), "");
  EXPECT_FALSE(UserExists("csrf.admin"));

  // The same origin (what a page served by this API would send) and charset are fine.
  auto same = Call("POST", "/v1/users", body, Admin(),
                   {{"Origin", "https://127.0.0.1"},
                    {"Sec-Fetch-Site", "same-origin"},
                    {"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(same.status, 201) << same.body;
  EXPECT_EQ(Call("DELETE", "/v1/users/csrf.admin", {}, Admin()).status, 200);
  // An empty body where the route allows one needs no type.
  auto revoke_untyped = Call("POST", "/v1/certificates/00/revoke", {}, Admin());
  EXPECT_EQ(revoke_untyped.status, 404) << revoke_untyped.body;
}

TEST_F(ApiSecurityTest, DuplicateJsonKeysAreRefused) {
  auto dup = Call(
      "POST", "/v1/users",
      R"({"name":"dup.user","role":"reader","password":"dup-password-1","role":"admin"})", Admin());
  EXPECT_EQ(dup.status, 400) << dup.body;
  EXPECT_NE(dup.body.find("the key \\\"role\\\" appears twice"), std::string::npos) << dup.body;
  auto nested = Call("POST", "/v1/users",
                     R"({"name":"dup.user","role":"reader","password":"dup-password-1",)"
                     R"("name_policy":{"allowed_dns":["a.com"],"allowed_dns":["b.com"]}})",
                     Admin());
  EXPECT_EQ(nested.status, 400) << nested.body;
  EXPECT_FALSE(UserExists("dup.user"));
  // The same key in different objects is fine.
  auto ok = Call("POST", "/v1/users",
                 R"({"name":"dup.user","role":"reader","password":"dup-password-1",)"
                 R"("name_policy":{"allowed_dns":["name.example.com"]}})",
                 Admin());
  EXPECT_EQ(ok.status, 201) << ok.body;
}

TEST_F(ApiSecurityTest, SelectorsAndFiltersHaveLengthLimits) {
  const std::string long_name(50001, 'a');
  for (const char* field : {"name", "san"}) {
    auto reply = Call("POST", "/v1/certificates/revoke",
                      json{{field, long_name}, {"dry_run", true}}.dump(), Admin());
    EXPECT_EQ(reply.status, 400) << field << ": " << reply.body;
    EXPECT_NE(reply.body.find(std::string(field) + ": 50001 characters; at most 1024"),
              std::string::npos)
        << reply.body;
  }
  auto listed = Call("GET", "/v1/certificates?name=" + std::string(2000, 'b'), {}, Admin());
  EXPECT_EQ(listed.status, 400) << listed.body;
  EXPECT_EQ(Call("GET", "/health").status, 200);
}

TEST_F(ApiSecurityTest, ANewPasswordEndsTheUserTokens) {
  const std::string basic = MakeUser("pw.user", "operator");
  auto token = Call("POST", "/v1/tokens", "{}", basic);
  ASSERT_EQ(token.status, 201);
  const std::string id = Body(token)["id"].get<std::string>();
  const std::string bearer = "Bearer " + Body(token)["token"].get<std::string>();
  ASSERT_EQ(Call("GET", "/v1/cluster/policy", {}, bearer).status, 200);

  // Asked to keep them: they keep working.
  auto kept = Call("PUT", "/v1/users/pw.user",
                   R"({"password":"pw-user-password-2","revoke_tokens":false})", Admin());
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(Body(kept)["tokens_revoked"], json::array());
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, bearer).status, 200);
  // By default an admin setting another user's password ends them.
  auto changed = Call("PUT", "/v1/users/pw.user", R"({"password":"pw-user-password-3"})", Admin());
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(Body(changed)["tokens_revoked"], json::array({id}));
  EXPECT_EQ(Call("GET", "/v1/cluster/policy", {}, bearer).status, 401);
  bool audited = false;
  for (const json& e : AuditEntries("user.update")) {
    audited = audited || (e["target"] == "pw.user" &&
                          e["details"].value("tokens_revoked", json()) == json({id}));
  }
  EXPECT_TRUE(audited);
  EXPECT_EQ(Call("PUT", "/v1/users/pw.user", R"({"revoke_tokens":true})", Admin()).status, 400);
}

}  // namespace
}  // namespace clustertls::server
