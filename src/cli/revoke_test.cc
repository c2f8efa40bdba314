// `clustertls revoke` argument handling and `clustertls crl show`, in process at a fixed
// reference time. Every usage error must be found before a request is sent: the commands run
// with a client config that does not exist, so reaching the network would fail differently.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/cli_testutil.h"
#include "cli/common.h"
#include "cli/revoke_args.h"
#include "core/files.h"
#include "ossl/csprng.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"

namespace clustertls::cli {
namespace {

using nlohmann::json;
using testing::TempDir;

const core::TimePoint kNow = core::ParseTime("2026-11-24T12:00:00Z").value();

using Outcome = testing::CliOutcome;

using testing::OneErrorLine;

// Standard input replaced by /dev/null while alive: "no terminal to ask on".
class NoTerminal {
 public:
  NoTerminal() : saved_(::dup(STDIN_FILENO)) {
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::dup2(null, STDIN_FILENO);
    ::close(null);
  }
  ~NoTerminal() {
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
  }
  NoTerminal(const NoTerminal&) = delete;
  NoTerminal& operator=(const NoTerminal&) = delete;

 private:
  int saved_;
};

class RevokeCliTest : public ::testing::Test {
 protected:
  Outcome Cli(std::vector<std::string> args) {
    return testing::RunCli(std::move(args), clock_, rng_);
  }
  // `revoke ARGS` against a client config that does not exist.
  Outcome Revoke(std::vector<std::string> args) {
    args.insert(args.begin(), "revoke");
    args.push_back("--client-config");
    args.push_back(dir_ / "missing-client.json");
    return Cli(args);
  }
  std::string P(const std::string& name) { return dir_ / name; }

  TempDir dir_;
  core::FixedClock clock_{kNow};
  ossl::Csprng rng_;
};

TEST(RevokeArgsTest, SerialAsOpensslPrintsIt) {
  EXPECT_EQ(*NormalizeSerialArgument("serial=7C2D9E0F1122"), "7C2D9E0F1122");
  EXPECT_EQ(*NormalizeSerialArgument("SERIAL= 0a1b "), "0A1B");
  EXPECT_EQ(*NormalizeSerialArgument("7c:2d:9e:0f"), "7C2D9E0F");
  EXPECT_EQ(*NormalizeSerialArgument("  03\n"), "03");
  EXPECT_EQ(*NormalizeSerialArgument(std::string(42, 'A')), std::string(42, 'A'));
  for (const char* bad : {"", "serial=", "xyz", "0A-1B", "0A 1B", "0x0A", "../etc"}) {
    auto r = NormalizeSerialArgument(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(IsUsageError(r.error())) << bad;
  }
  auto long_one = NormalizeSerialArgument(std::string(43, 'A'));
  ASSERT_FALSE(long_one);
  EXPECT_NE(long_one.error().message.find("20 octets"), std::string::npos);
}

TEST(RevokeArgsTest, ReasonListIsEveryRfc5280NameAndEachParses) {
  const std::string list = RevocationReasonList();
  EXPECT_EQ(list,
            "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
            "cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn, "
            "aACompromise");
  std::istringstream names(list);
  std::string name;
  while (std::getline(names, name, ',')) {
    if (name.front() == ' ') {
      name.erase(0, 1);
    }
    EXPECT_TRUE(pki::ParseRevocationReason(name)) << name;
  }
}

TEST(RevokeArgsTest, BuildsTheRequest) {
  auto one = CheckRevokeArguments({.serial = "serial=0a1b", .reason = "KEYCOMPROMISE"});
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->serial, "0A1B");
  EXPECT_EQ(one->reason, "keyCompromise");  // canonical name sent

  auto by_date = CheckRevokeArguments({.issued_before = "2026-11-01", .dry_run = true});
  ASSERT_TRUE(by_date) << by_date.error().message;
  EXPECT_EQ(by_date->issued_before, "2026-11-01T00:00:00Z");
  EXPECT_EQ(by_date->reason, "");  // the server's default

  auto by_rfc3339 = CheckRevokeArguments(
      {.name = "node1", .issued_before = "2026-11-01T12:00:00+02:00", .yes = true});
  ASSERT_TRUE(by_rfc3339) << by_rfc3339.error().message;
  EXPECT_EQ(by_rfc3339->issued_before, "2026-11-01T10:00:00Z");
  EXPECT_EQ(by_rfc3339->name, "node1");

  auto asked = CheckRevokeArguments({.san = "DNS:node1.example.com", .interactive = true});
  ASSERT_TRUE(asked) << asked.error().message;
  EXPECT_EQ(asked->san, "DNS:node1.example.com");
}

TEST(RevokeArgsTest, UsageErrors) {
  struct Case {
    RevokeArguments args;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {{.serial = "0A", .name = "n"}, "not both"},
      {{.serial = "0A", .issued_before = "2026-01-01"}, "not both"},
      {{.serial = "0A", .san = "DNS:x"}, "not both"},
      {{}, "nothing to revoke"},
      {{.reason = "keyCompromise", .dry_run = true}, "nothing to revoke"},
      {{.serial = "0A", .reason = "stolen"}, "--reason: unknown revocation reason \"stolen\""},
      {{.reason = "stolen", .name = "n", .yes = true}, "keyCompromise"},
      {{.issued_before = "yesterday", .dry_run = true}, "--issued-before \"yesterday\""},
      {{.issued_before = "2026-13-45", .dry_run = true}, "RFC 3339"},
      {{.name = "n"}, "pass --yes"},
      {{.reason = "superseded", .san = "IP:10.0.0.5"}, "no terminal"},
      {{.serial = "zz"}, "hexadecimal"},
  };
  for (const Case& c : cases) {
    auto r = CheckRevokeArguments(c.args);
    ASSERT_FALSE(r) << c.expect;
    EXPECT_TRUE(IsUsageError(r.error())) << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST_F(RevokeCliTest, UsageErrorsExitTwoBeforeAnyRequest) {
  NoTerminal no_terminal;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"0A1B", "--name", "node1"}, "not both"},
      {{}, "nothing to revoke"},
      {{"0A1B", "--reason", "stolen"}, "unknown revocation reason"},
      {{"--name", "node1", "--issued-before", "last week", "--dry-run"}, "--issued-before"},
      {{"--san", "DNS:node1.example.com"}, "pass --yes"},
      {{"serial=XYZ"}, "hexadecimal"},
  };
  for (const auto& [args, expect] : cases) {
    Outcome r = Revoke(args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("missing-client.json"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  // Valid arguments get as far as the client config.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"serial=0A:1B", "--reason", "superseded"},
           {"--name", "node1", "--dry-run"},
           {"--issued-before", "2026-11-01", "--yes", "--reason", "cessationOfOperation"}}) {
    Outcome r = Revoke(args);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("missing-client.json"), std::string::npos) << r.err;
  }
}

TEST_F(RevokeCliTest, HelpListsTheReasonsAndSelectors) {
  Outcome h = Cli({"revoke", "--help"});
  EXPECT_EQ(h.code, 0);
  for (const char* want :
       {"keyCompromise", "cessationOfOperation", "aACompromise", "--dry-run", "--yes",
        "--issued-before", "--san", "--name", "--reason", "openssl x509"}) {
    EXPECT_NE(h.out.find(want), std::string::npos) << want;
  }
  Outcome crl = Cli({"crl", "show", "--help"});
  EXPECT_EQ(crl.code, 0);
  EXPECT_NE(crl.out.find("EXPIRED"), std::string::npos);
  Outcome serve = Cli({"serve", "--help"});
  EXPECT_EQ(serve.code, 0);
  for (const char* want : {"--public-listen", "--public-url", "--crl-days", "/ocsp", "off"}) {
    EXPECT_NE(serve.out.find(want), std::string::npos) << want;
  }
  Outcome init = Cli({"init", "--help"});
  EXPECT_NE(init.out.find("--public-listen"), std::string::npos);
  EXPECT_NE(init.out.find("--public-url"), std::string::npos);
  Outcome bad_days = Cli({"serve", "--data-dir", P("none"), "--crl-days", "0"});
  EXPECT_EQ(bad_days.code, 2) << bad_days.err;
}

// --- crl show ---------------------------------------------------------------------------------

class CrlShowTest : public RevokeCliTest {
 protected:
  // A CA made by `clustertls ca init`, and a CRL it signs with pki::BuildCrl.
  void MakeCrl(const std::string& file, core::TimePoint this_update, core::TimePoint next_update,
               std::int64_t number, bool pem) {
    if (!core::PathExists(P("ca/ca.crt"))) {
      ASSERT_TRUE(core::WriteFileAtomic(P("ca.pass"), "ca secret\n"));
      Outcome ca = Cli({"ca", "init", "--out", P("ca"), "--passphrase-file", P("ca.pass"), "--name",
                        "Revoking CA"});
      ASSERT_EQ(ca.code, 0) << ca.err;
    }
    auto issuer = LoadIssuer(P("ca/ca.crt"), P("ca/ca.key"), P("ca.pass"));
    ASSERT_TRUE(issuer) << issuer.error().message;
    std::vector<pki::CrlEntry> entries = {
        {.serial_hex = "0A1B2C",
         .revoked_at = core::ParseTime("2026-11-20T08:00:00Z").value(),
         .reason = pki::RevocationReason::kKeyCompromise},
        {.serial_hex = "7C2D9E0F11223344556677889900AABBCCDDEEFF",
         .revoked_at = core::ParseTime("2026-11-21T09:30:00Z").value()},
    };
    auto der = pki::BuildCrl(
        issuer->certificate(), issuer->key(), entries,
        {.this_update = this_update, .next_update = next_update, .crl_number = number});
    ASSERT_TRUE(der) << der.error().message;
    std::string bytes = *der;
    if (pem) {
      bytes = pki::Crl::Parse(*der)->ToPem();
    }
    ASSERT_TRUE(core::WriteFileAtomic(file, bytes));
  }
};

TEST_F(CrlShowTest, TextAndJsonOfABuiltCrl) {
  MakeCrl(P("ca.crl"), kNow - std::chrono::hours(1), kNow + std::chrono::days(7), 42, false);
  Outcome text = Cli({"crl", "show", P("ca.crl")});
  ASSERT_EQ(text.code, 0) << text.err;
  for (const char* want : {"Issuer:             CN=Revoking CA", "CRL number:         42",
                           "This update:        2026-11-24T11:00:00Z",
                           "Next update:        2026-12-01T12:00:00Z (expires in 7 days)",
                           "Signature:          ecdsa-with-SHA256", "Revoked:            2",
                           "0A1B2C  ", "2026-11-20T08:00:00Z  keyCompromise",
                           "7C2D9E0F11223344556677889900AABBCCDDEEFF  2026-11-21T09:30:00Z  "
                           "unspecified"}) {
    EXPECT_NE(text.out.find(want), std::string::npos) << want << "\n" << text.out;
  }
  EXPECT_EQ(text.out.find("EXPIRED"), std::string::npos);

  MakeCrl(P("ca.pem"), kNow - std::chrono::hours(1), kNow + std::chrono::days(7), 42, true);
  Outcome js = Cli({"crl", "show", P("ca.pem"), "--json"});
  ASSERT_EQ(js.code, 0) << js.err;
  json j = json::parse(js.out);
  EXPECT_EQ(j["file"], P("ca.pem"));
  EXPECT_EQ(j["issuer"], "CN=Revoking CA");
  EXPECT_EQ(j["crl_number"], 42);
  EXPECT_EQ(j["this_update"], "2026-11-24T11:00:00Z");
  EXPECT_EQ(j["next_update"], "2026-12-01T12:00:00Z");
  EXPECT_EQ(j["expired"], false);
  EXPECT_EQ(j["signature_algorithm"], "ecdsa-with-SHA256");
  EXPECT_EQ(j["count"], 2);
  ASSERT_EQ(j["entries"].size(), 2u);
  EXPECT_EQ(j["entries"][0], (json{{"serial", "0A1B2C"},
                                   {"revoked_at", "2026-11-20T08:00:00Z"},
                                   {"reason", "keyCompromise"}}));
  EXPECT_EQ(j["entries"][1]["reason"], "unspecified");

  // inspect shows a CRL with the same fields.
  Outcome inspect = Cli({"inspect", P("ca.pem"), "--json"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  json ij = json::parse(inspect.out);
  EXPECT_EQ(ij["type"], "crl");
  for (const char* key : {"issuer", "crl_number", "this_update", "next_update", "expired",
                          "signature_algorithm", "count", "entries"}) {
    EXPECT_EQ(ij[key], j[key]) << key;
  }
  Outcome inspect_text = Cli({"inspect", P("ca.crl")});
  EXPECT_NE(inspect_text.out.find("CRL number:         42"), std::string::npos);
}

TEST_F(CrlShowTest, ExpiredCrlIsFlagged) {
  MakeCrl(P("old.crl"), kNow - std::chrono::days(10), kNow - std::chrono::days(3), 7, true);
  Outcome text = Cli({"crl", "show", P("old.crl")});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Next update:        2026-11-21T12:00:00Z (EXPIRED 3 days ago)"),
            std::string::npos)
      << text.out;
  Outcome js = Cli({"crl", "show", P("old.crl"), "--json"});
  ASSERT_EQ(js.code, 0) << js.err;
  EXPECT_EQ(json::parse(js.out)["expired"], true);
}

TEST_F(CrlShowTest, OpensslCaCrlFixture) {
  // tests/fixtures/keys/gen.sh: `openssl ca -gencrl`, crlnumber 01, 30 days, serial 03 revoked
  // for keyCompromise.
  for (const char* name : {"crl-int.pem", "crl-int.der"}) {
    const std::string file = std::string(CTLS_TESTDATA_DIR) + "/keys/" + name;
    Outcome js = Cli({"crl", "show", file, "--json"});
    ASSERT_EQ(js.code, 0) << js.err;
    json j = json::parse(js.out);
    EXPECT_EQ(j["issuer"], "CN=Fixture Intermediate CA,O=Fixture");
    EXPECT_EQ(j["crl_number"], 1);
    EXPECT_EQ(j["signature_algorithm"], "ecdsa-with-SHA384");
    EXPECT_EQ(j["count"], 1);
    EXPECT_EQ(j["entries"][0]["serial"], "03");
    EXPECT_EQ(j["entries"][0]["reason"], "keyCompromise");
    // Made on 2026-11-24 with 30 days: not expired at the reference time.
    EXPECT_EQ(j["expired"], false);
    Outcome text = Cli({"crl", "show", file});
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("keyCompromise"), std::string::npos);
  }
}

TEST_F(CrlShowTest, BadFilesNameTheFileAndTheCause) {
  ASSERT_TRUE(core::WriteFileAtomic(P("garbage.crl"), "this is not a CRL\n"));
  ASSERT_TRUE(core::WriteFileAtomic(
      P("truncated.crl"),
      "-----BEGIN X509 CRL-----\nMIIBzjCBtwIBATANBgkqhkiG9w0BAQsFADA=\n-----END X509 CRL-----\n"));
  ASSERT_TRUE(core::WriteFileAtomic(P("empty.crl"), ""));
  const std::string cert = std::string(CTLS_TESTDATA_DIR) + "/keys/chain-leaf.pem";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {P("garbage.crl"), "not a PEM or DER CRL"}, {P("truncated.crl"), "not a PEM or DER CRL"},
      {P("empty.crl"), "not a PEM or DER CRL"},   {P("missing.crl"), "missing.crl"},
      {cert, "holds a certificate, not a CRL"},
  };
  for (const auto& [file, cause] : cases) {
    for (bool as_json : {false, true}) {
      std::vector<std::string> args{"crl", "show", file};
      if (as_json) {
        args.push_back("--json");
      }
      Outcome r = Cli(args);
      EXPECT_EQ(r.code, 1) << file;
      EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
      EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
  Outcome no_file = Cli({"crl", "show"});
  EXPECT_EQ(no_file.code, 2);
}

}  // namespace
}  // namespace clustertls::cli
