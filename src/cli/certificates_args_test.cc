// `clustertls certificates list|show` without a server: --expiring-in, the query, following the
// pages of GET /v1/certificates (canned pages in the server's documented shape), the table, and
// usage errors found before any request (the commands run against a client config that does not
// exist, so reaching the network would fail differently).
#include "cli/certificates_args.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/cli_testutil.h"
#include "cli/common.h"
#include "ossl/csprng.h"

namespace clustertls::cli {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const core::TimePoint kNow = core::ParseTime("2026-11-24T12:00:00Z").value();

TEST(ExpiringInTest, DaysHoursMinutes) {
  EXPECT_EQ(*ParseExpiringIn("30d"), std::chrono::seconds(30 * 86400));
  EXPECT_EQ(*ParseExpiringIn("12h"), std::chrono::seconds(12 * 3600));
  EXPECT_EQ(*ParseExpiringIn("90m"), std::chrono::seconds(90 * 60));
  EXPECT_EQ(*ParseExpiringIn("1m"), std::chrono::seconds(60));
  EXPECT_EQ(*ParseExpiringIn("007d"), std::chrono::seconds(7 * 86400));
  EXPECT_EQ(*ParseExpiringIn("36500d"), std::chrono::seconds(std::int64_t{36500} * 86400));
}

TEST(ExpiringInTest, StrictUsageErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "give a whole number and a unit"},
      {"d", "give a whole number and a unit"},
      {"30", "give a whole number and a unit"},
      {"30 d", "give a whole number and a unit"},
      {" 30d", "give a whole number and a unit"},
      {"30d ", "give a whole number and a unit"},
      {"30D", "give a whole number and a unit"},
      {"30s", "give a whole number and a unit"},
      {"30w", "give a whole number and a unit"},
      {"-3d", "give a whole number and a unit"},
      {"+3d", "give a whole number and a unit"},
      {"3.5d", "give a whole number and a unit"},
      {"1e3d", "give a whole number and a unit"},
      {"3dd", "give a whole number and a unit"},
      {"1d12h", "give a whole number and a unit"},
      {"0d", "must be at least 1d"},
      {"0m", "must be at least 1m"},
      {"36501d", "at most 100 years"},
      {"876001h", "at most 100 years"},
      {"99999999999999999999d", "at most 100 years"},
      {std::string("3\0d", 3), "give a whole number and a unit"},
  };
  for (const auto& [text, expect] : cases) {
    auto r = ParseExpiringIn(text);
    ASSERT_FALSE(r) << text;
    EXPECT_TRUE(IsUsageError(r.error())) << r.error().message;
    EXPECT_EQ(r.error().message.rfind("--expiring-in \"", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST(CertListPlanTest, BuildsTheQuery) {
  auto all = CheckCertListArguments({}, kNow);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->query, "");
  EXPECT_FALSE(all->not_expired_at);
  EXPECT_EQ(all->limit, 0);

  auto plan = CheckCertListArguments(
      {.name = "a b&c=d", .profile = "peer", .expiring_in = "10d", .limit = 5}, kNow);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->query,
            "name=a%20b%26c%3Dd&profile=peer&expiring_before=2026-12-04T12%3A00%3A00Z"
            "&revoked=false");
  EXPECT_EQ(plan->not_expired_at, kNow);
  EXPECT_EQ(plan->limit, 5);

  auto revoked = CheckCertListArguments({.revoked = true}, kNow);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->query, "revoked=true");
  EXPECT_FALSE(revoked->not_expired_at);  // revoked certificates, expired or not

  // --expiring-in with --revoked: the revoked ones whose notAfter falls in the window.
  auto revoked_soon = CheckCertListArguments({.expiring_in = "90m", .revoked = true}, kNow);
  ASSERT_TRUE(revoked_soon);
  EXPECT_EQ(revoked_soon->query, "expiring_before=2026-11-24T13%3A30%3A00Z&revoked=true");
  EXPECT_EQ(revoked_soon->not_expired_at, kNow);

  auto valid = CheckCertListArguments({.valid = true}, kNow);
  ASSERT_TRUE(valid);
  EXPECT_EQ(valid->query, "revoked=false");
  EXPECT_EQ(valid->not_expired_at, kNow);
}

TEST(CertListPlanTest, UsageErrors) {
  const std::vector<std::pair<CertListArguments, std::string>> cases = {
      {{.revoked = true, .valid = true}, "--revoked and --valid exclude each other"},
      {{.profile = "servr"}, "--profile: unknown profile \"servr\""},
      {{.expiring_in = "soon"}, "--expiring-in \"soon\""},
      {{.limit = -1}, "--limit -1"},
  };
  for (const auto& [args, expect] : cases) {
    auto r = CheckCertListArguments(args, kNow);
    ASSERT_FALSE(r) << expect;
    EXPECT_TRUE(IsUsageError(r.error())) << r.error().message;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
}

json Cert(const std::string& serial, const std::string& not_after, bool revoked = false) {
  json c = {{"serial", serial},
            {"subject_cn", serial + ".example.com"},
            {"sans", json::array({"DNS:" + serial + ".example.com", "IP:10.0.0.1"})},
            {"profile", "server"},
            {"not_before", "2026-01-01T00:00:00Z"},
            {"not_after", not_after},
            {"issued_at", "2026-01-01T00:00:00Z"},
            {"issued_by", "admin"},
            {"revoked", revoked}};
  if (revoked) {
    c["revoked_at"] = "2026-02-01T00:00:00Z";
    c["revocation_reason"] = "keyCompromise";
  }
  return c;
}

// A server of three pages ("" -> "p2" -> "p3"), recording the targets asked for.
struct PagedServer {
  std::vector<std::string> asked;
  static json Page(json certificates, const std::string& next) {
    return json{{"certificates", std::move(certificates)}, {"next_cursor", next}};
  }
  // 01 expired before kNow, 04 expires at kNow, 03 is revoked.
  std::map<std::string, json> pages = {
      {"",
       Page(json::array({Cert("01", "2026-11-20T00:00:00Z"), Cert("02", "2026-11-30T00:00:00Z")}),
            "p2")},
      {"p2", Page(json::array({Cert("03", "2026-12-01T00:00:00Z", true)}), "p3")},
      {"p3",
       Page(json::array({Cert("04", "2026-11-24T12:00:00Z"), Cert("05", "2027-01-01T00:00:00Z")}),
            "")},
  };
  core::Result<json> operator()(const std::string& target) {
    asked.push_back(target);
    const std::size_t at = target.find("cursor=");
    return pages.at(at == std::string::npos ? "" : target.substr(at + 7));
  }
};

std::vector<std::string> Serials(const json& list) {
  std::vector<std::string> out;
  for (const json& c : list["certificates"]) {
    out.push_back(c["serial"].get<std::string>());
  }
  return out;
}

TEST(CollectCertificatesTest, FollowsEveryPage) {
  PagedServer server;
  auto list = CollectCertificates({.query = "revoked=false"}, std::ref(server));
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(Serials(*list), (std::vector<std::string>{"01", "02", "03", "04", "05"}));
  EXPECT_EQ(server.asked,
            (std::vector<std::string>{"/v1/certificates?revoked=false&limit=1000",
                                      "/v1/certificates?revoked=false&limit=1000&cursor=p2",
                                      "/v1/certificates?revoked=false&limit=1000&cursor=p3"}));
}

TEST(CollectCertificatesTest, LimitStopsEarlyAndAsksForNoMore) {
  PagedServer server;
  auto list = CollectCertificates({.limit = 3}, std::ref(server));
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(Serials(*list), (std::vector<std::string>{"01", "02", "03"}));
  EXPECT_EQ(server.asked, (std::vector<std::string>{"/v1/certificates?limit=3",
                                                    "/v1/certificates?limit=1&cursor=p2"}));
}

// --expiring-in and --valid drop what expired before now (at not_after it is still valid).
TEST(CollectCertificatesTest, DropsExpiredThenLimits) {
  PagedServer server;
  auto list = CollectCertificates({.not_expired_at = kNow}, std::ref(server));
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(Serials(*list), (std::vector<std::string>{"02", "03", "04", "05"}));
  PagedServer limited;
  auto two = CollectCertificates({.not_expired_at = kNow, .limit = 2}, std::ref(limited));
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(Serials(*two), (std::vector<std::string>{"02", "03"}));
  EXPECT_EQ(limited.asked.front(), "/v1/certificates?limit=1000");
}

TEST(CollectCertificatesTest, BadPagesAndErrorsStop) {
  PagedServer looping;
  looping.pages["p3"]["next_cursor"] = "p2";
  auto loop = CollectCertificates({}, std::ref(looping));
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("repeated next_cursor \"p2\""), std::string::npos);
  EXPECT_EQ(looping.asked.size(), 3u);

  for (const json& bad : {json::array(), json{{"certs", json::array()}},
                          json{{"certificates", json::array()}, {"next_cursor", 5}},
                          json{{"certificates", json::array({1})}}}) {
    auto r = CollectCertificates({}, [&](const std::string&) -> core::Result<json> { return bad; });
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(r.error().code, core::ErrorCode::kParse) << r.error().message;
  }
  auto bad_time =
      CollectCertificates({.not_expired_at = kNow}, [](const std::string&) -> core::Result<json> {
        return json{{"certificates", json::array({Cert("0A", "tomorrow")})}, {"next_cursor", ""}};
      });
  ASSERT_FALSE(bad_time);
  EXPECT_NE(bad_time.error().message.find("certificate 0A: not_after"), std::string::npos);

  auto failed = CollectCertificates({}, [](const std::string&) -> core::Result<json> {
    return core::Fail(core::ErrorCode::kInvalidArgument, "server: HTTP 403: forbidden");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "server: HTTP 403: forbidden");
}

TEST(CertificateRowsTest, OneRowPerCertificate) {
  EXPECT_EQ(CertificateTableHeader(),
            (std::vector<std::string>{"SERIAL", "CN", "SANS", "PROFILE", "NOT AFTER", "REVOKED"}));
  auto rows = CertificateRows(
      json::array({Cert("0A", "2027-01-01T00:00:00Z"), Cert("0B", "2027-02-01T00:00:00Z", true)}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"0A", "0A.example.com", "DNS:0A.example.com,IP:10.0.0.1",
                                      "server", "2027-01-01T00:00:00Z", "no"}));
  EXPECT_EQ(rows[1][5], "yes (keyCompromise, 2026-02-01T00:00:00Z)");
}

class CertificatesCliTest : public ::testing::Test {
 protected:
  struct Outcome {
    int code;
    std::string out;
    std::string err;
  };
  // `certificates ARGS` against a client config that does not exist.
  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"clustertls", "certificates"});
    args.push_back("--client-config");
    args.push_back(dir_ / "missing-client.json");
    std::vector<const char*> argv;
    for (const auto& a : args) {
      argv.push_back(a.c_str());
    }
    std::ostringstream out, err;
    int code = cli::Run(static_cast<int>(argv.size()), argv.data(), out, err, clock_, rng_);
    return {code, out.str(), err.str()};
  }

  testing::TempDir dir_;
  core::FixedClock clock_{kNow};
  ossl::Csprng rng_;
};

TEST_F(CertificatesCliTest, UsageErrorsExitTwoBeforeAnyRequest) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"list", "--expiring-in", "30"}, "--expiring-in \"30\""},
      {{"list", "--expiring-in", "1w"}, "30d (days), 12h (hours) or 90m (minutes)"},
      {{"list", "--profile", "web"}, "unknown profile"},
      {{"list", "--revoked", "--valid"}, "excludes"},
      {{"list", "--limit", "0"}, "--limit"},
      {{"show", "zz"}, "hexadecimal"},
      {{"show"}, "serial is required"},
      {{"show", "0A", "--pem", "--json"}, "excludes"},
  };
  for (const auto& [args, expect] : cases) {
    Outcome r = Run(args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("missing-client.json"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  // Valid arguments get as far as the client config.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"list", "--expiring-in", "12h", "--valid", "--name", "web", "--limit", "3"},
           {"show", "serial=0A:1B", "--pem"}}) {
    Outcome r = Run(args);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("missing-client.json"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace clustertls::cli
