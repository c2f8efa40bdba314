#include "authority/name_policy.h"

#include <gtest/gtest.h>

namespace clustertls::authority {
namespace {

pki::SubjectAltNames Dns(std::vector<std::string> names) { return {.dns = std::move(names)}; }

NamePolicy Policy(std::string_view json) {
  auto p = ParseNamePolicy(json, "name_policy");
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : NamePolicy{};
}

core::Result<void> Check(const pki::SubjectAltNames& names, const NamePolicy& policy) {
  return CheckRequestedNames(names, {.policies = {{.owner = "user \"op\"", .policy = policy}}});
}

TEST(NamePolicyTest, ParsesCanonicalisesAndPrintsBack) {
  NamePolicy p = Policy(
      R"({"allowed_dns":["DB.Example.COM.","*.svc.example.com",".x.example.com"],)"
      R"("denied_ips":["10.9.0.0/16","192.0.2.7"],"allowed_uris":["spiffe://cluster/ns/db/"]})");
  ASSERT_EQ(p.allowed_dns.size(), 3u);
  EXPECT_EQ(p.allowed_dns[0].text, "db.example.com");
  EXPECT_FALSE(p.allowed_dns[0].subdomains_only);
  EXPECT_EQ(p.allowed_dns[1].text, "*.svc.example.com");
  EXPECT_EQ(p.allowed_dns[2].text, "*.x.example.com");
  EXPECT_EQ(p.denied_ips[1].text, "192.0.2.7/32");
  EXPECT_EQ(
      NamePolicyToJson(p),
      R"({"allowed_dns":["db.example.com","*.svc.example.com","*.x.example.com"],)"
      R"("denied_ips":["10.9.0.0/16","192.0.2.7/32"],"allowed_uris":["spiffe://cluster/ns/db/"]})");
  // The canonical text parses to the same policy.
  EXPECT_EQ(Policy(NamePolicyToJson(p)), p);
  EXPECT_EQ(DescribeNamePolicy(p),
            "allowed DNS: db.example.com, *.svc.example.com, *.x.example.com; denied IP: "
            "10.9.0.0/16, 192.0.2.7/32; allowed URI: spiffe://cluster/ns/db/");
}

TEST(NamePolicyTest, EmptyForms) {
  for (std::string_view text : {"", "null", "{}", R"({"allowed_dns":[]})"}) {
    NamePolicy p = Policy(text);
    EXPECT_TRUE(p.empty()) << text;
    EXPECT_EQ(NamePolicyToJson(p), "") << text;
  }
  EXPECT_EQ(DescribeNamePolicy(NamePolicy{}), "none");
}

TEST(NamePolicyTest, RefusesBadPoliciesNamingTheField) {
  struct Case {
    std::string_view json;
    std::string_view message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"[1]", "name_policy: must be an object"},
           {"{", "name_policy: not valid JSON"},
           {R"({"allow_dns":["a.com"]})", "name_policy: unknown field \"allow_dns\""},
           {R"({"allowed_dns":"a.com"})", "name_policy.allowed_dns: must be an array of strings"},
           {R"({"allowed_dns":[7]})", "name_policy.allowed_dns[0]: must be a string"},
           {R"({"denied_dns":["ok.com","bad name"]})", "name_policy.denied_dns[1]: "},
           {R"({"allowed_dns":["*.*.x.com"]})", "name_policy.allowed_dns[0]: "},
           {R"({"allowed_ips":["10.0.0.1/8"]})", "name_policy.allowed_ips[0]: "},
           {R"({"allowed_ips":["300.1.1.1"]})", "name_policy.allowed_ips[0]: "},
           {R"({"denied_uris":["not a uri"]})", "name_policy.denied_uris[0]: "},
           {R"({"denied_uris":[""]})", "name_policy.denied_uris[0]: must be 1..1024 characters"},
       }) {
    auto p = ParseNamePolicy(c.json, "name_policy");
    ASSERT_FALSE(p) << c.json;
    EXPECT_EQ(p.error().code, core::ErrorCode::kInvalidArgument) << c.json;
    EXPECT_TRUE(p.error().message.starts_with(c.message)) << c.json << " -> " << p.error().message;
  }
  std::string many = R"({"allowed_dns":[)";
  for (int i = 0; i < 101; ++i) {
    many += std::string(i ? "," : "") + "\"h" + std::to_string(i) + ".example.com\"";
  }
  many += "]}";
  auto p = ParseNamePolicy(many, "name_policy");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "name_policy.allowed_dns: at most 100 entries (got 101)");
}

TEST(NamePolicyTest, AllowedDnsSuffixes) {
  NamePolicy p = Policy(R"({"allowed_dns":["db.example.com","*.svc.example.com"]})");
  for (const char* ok :
       {"db.example.com", "a.db.example.com", "x.y.db.example.com", "*.db.example.com",
        "*.a.db.example.com", "a.svc.example.com", "*.svc.example.com"}) {
    EXPECT_TRUE(Check(Dns({ok}), p)) << ok;
  }
  for (const char* bad : {"example.com", "xdb.example.com", "db.example.com.evil.com",
                          "svc.example.com", "*.example.com", "localhost"}) {
    auto r = Check(Dns({bad}), p);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::kPermissionDenied);
    EXPECT_NE(r.error().message.find(std::string("DNS:") + bad + " (not within the allowed DNS"),
              std::string::npos)
        << r.error().message;
  }
}

TEST(NamePolicyTest, DeniedWinsAndWildcardsThatCouldCoverADeniedName) {
  NamePolicy p = Policy(
      R"({"allowed_dns":["example.com"],"denied_dns":["secret.example.com","*.vault.example.com"]})");
  EXPECT_TRUE(Check(Dns({"www.example.com"}), p));
  EXPECT_TRUE(Check(Dns({"vault.example.com"}), p));  // only names under it are denied
  // *.example.com covers secret.example.com; *.vault.example.com is all denied names.
  for (const char* bad : {"secret.example.com", "a.secret.example.com", "*.example.com",
                          "*.secret.example.com", "x.vault.example.com", "*.vault.example.com"}) {
    auto r = Check(Dns({bad}), p);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("(denied DNS entry"), std::string::npos) << r.error().message;
  }
}

TEST(NamePolicyTest, DenyOnlyPolicyAllowsEverythingElseEmailsIncluded) {
  NamePolicy p = Policy(R"({"denied_dns":["corp.example.com"],"denied_ips":["10.0.0.0/8"]})");
  EXPECT_TRUE(
      Check({.dns = {"a.example.org"}, .ips = {"192.0.2.1"}, .emails = {"a@b.example"}}, p));
  EXPECT_FALSE(Check({.ips = {"10.2.3.4"}}, p));
  EXPECT_TRUE(Check({.ips = {"11.0.0.1"}}, p));
}

TEST(NamePolicyTest, IpRangesAndUriPrefixesAndOtherTypesUnderAnAllowList) {
  NamePolicy p = Policy(
      R"({"allowed_ips":["10.1.0.0/16","2001:db8::/32"],"allowed_uris":["spiffe://cluster/ns/db/"]})");
  EXPECT_TRUE(Check({.ips = {"10.1.255.3", "2001:db8::7"}}, p));
  EXPECT_TRUE(Check({.uris = {"spiffe://cluster/ns/db/sa/x"}}, p));
  auto r = Check({.dns = {"db1.example.com"},
                  .ips = {"10.2.0.1", "2001:db9::1"},
                  .uris = {"spiffe://cluster/ns/web/x"},
                  .emails = {"ops@example.com"}},
                 p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "not allowed by the name policy of user \"op\": DNS:db1.example.com (no DNS names are "
            "allowed), IP:10.2.0.1 (not within the allowed IP entries (10.1.0.0/16, "
            "2001:db8::/32)), IP:2001:db9::1 (not within the allowed IP entries (10.1.0.0/16, "
            "2001:db8::/32)), URI:spiffe://cluster/ns/web/x (not within the allowed URI entries "
            "(spiffe://cluster/ns/db/)), email:ops@example.com (no email names are allowed)");
}

TEST(NamePolicyTest, ReservedNamesOfTheCluster) {
  ReservedNames reserved =
      ClusterReservedNames("Cluster.Example.com", {"0.0.0.0", "192.0.2.10", "ca.example.com", ""});
  EXPECT_EQ(reserved.dns,
            (std::vector<std::string>{
                "cluster.example.com", "*.cluster.example.com", "internal.cluster.example.com",
                "*.internal.cluster.example.com", "ca.example.com", "localhost"}));
  EXPECT_EQ(reserved.ips, (std::vector<std::string>{"192.0.2.10", "127.0.0.1", "::1"}));
  EXPECT_EQ(reserved.uris, std::vector<std::string>{std::string(kControlPlaneUri)});

  NameCheck check{.reserved = &reserved};
  for (const pki::SubjectAltNames& bad : std::initializer_list<pki::SubjectAltNames>{
           Dns({"localhost"}),
           Dns({"cluster.example.com"}),
           Dns({"*.cluster.example.com"}),
           Dns({"internal.cluster.example.com"}),
           Dns({"*.example.com"}),  // covers the FQDN
           {.ips = {"127.0.0.1"}},
           {.ips = {"::1"}},
           {.ips = {"192.0.2.10"}},
           {.dns = {"node1.example.org"}, .uris = {std::string(kControlPlaneUri)}}}) {
    auto r = CheckRequestedNames(bad, check);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::ErrorCode::kPermissionDenied);
    EXPECT_TRUE(r.error().message.starts_with("reserved for the cluster's own certificates: "))
        << r.error().message;
  }
  auto r = CheckRequestedNames(
      {.dns = {"node1.cluster.example.com", "*.example.com"}, .ips = {"127.0.0.1", "10.0.0.1"}},
      check);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "reserved for the cluster's own certificates: DNS:*.example.com (covers "
            "cluster.example.com), IP:127.0.0.1 (only an admin may sign them, asking with "
            "allow_reserved)");
  // Names beside the reserved ones, and every name once an admin allows them.
  EXPECT_TRUE(CheckRequestedNames(
      Dns({"node1.cluster.example.com", "a.internal.cluster.example.com"}), check));
  check.allow_reserved = true;
  EXPECT_TRUE(CheckRequestedNames(Dns({"localhost", "cluster.example.com"}), check));
}

TEST(NamePolicyTest, EveryPolicyMustAllowAndEachRefusalIsNamed) {
  NamePolicy user = Policy(R"({"allowed_dns":["example.com"]})");
  NamePolicy token = Policy(R"({"allowed_dns":["db.example.com"]})");
  NameCheck check{.policies = {{.owner = "user \"op\"", .policy = user},
                               {.owner = "token t1", .policy = token}}};
  EXPECT_TRUE(CheckRequestedNames(Dns({"a.db.example.com"}), check));
  auto r = CheckRequestedNames(Dns({"www.example.com"}), check);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "not allowed by the name policy of token t1: DNS:www.example.com (not within the "
            "allowed DNS entries (db.example.com))");
}

}  // namespace
}  // namespace clustertls::authority
