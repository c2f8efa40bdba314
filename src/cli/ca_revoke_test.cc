// `clustertls ca revoke` and `ca crl` (an offline CA's revocation list and CRLs), run in-process
// through cli::Run at a fixed time. The CRL is
// judged by pki::Crl here and by openssl and nginx in tests/integration/test_offline_crl.sh.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/cli_testutil.h"
#include "cli/offline_ca.h"
#include "core/files.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/issuer.h"
#include "pki/key.h"

namespace clustertls::cli {
namespace {

using testing::TempDir;

const core::TimePoint kNow = core::ParseTime("2026-01-15T10:00:00Z").value();

using Outcome = testing::CliOutcome;

using testing::OneErrorLine;

class CaRevokeTest : public ::testing::Test {
 protected:
  Outcome Cli(std::vector<std::string> args) {
    return testing::RunCli(std::move(args), clock_, rng_);
  }
  std::string P(const std::string& name) { return dir_ / name; }
  // quickstart into P("qs"), then a second client certificate P("qs/client2/client2.crt").
  void MakeQuickstart() {
    auto qs = Cli({"quickstart", "--out", P("qs")});
    ASSERT_EQ(qs.code, 0) << qs.err;
    auto issue =
        Cli({"cert", "issue", "--ca-cert", P("qs/ca/ca.crt"), "--ca-key", P("qs/ca/ca.key"),
             "--name", "client2", "--profile", "client", "--out", P("qs/client2")});
    ASSERT_EQ(issue.code, 0) << issue.err;
  }
  pki::Certificate Cert(const std::string& path) {
    return pki::Certificate::ParseAll(*core::ReadFile(path)).value().front();
  }
  std::string Serial(const std::string& path) {
    return CanonicalSerialHex(Cert(path).serial_hex()).value();
  }
  pki::Crl Crl(const std::string& path) { return pki::Crl::Parse(*core::ReadFile(path)).value(); }
  mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  TempDir dir_;
  core::FixedClock clock_{kNow};
  ossl::Csprng rng_;
};

TEST_F(CaRevokeTest, RevokeThenCrlListsTheSerialWithItsReasonAndNumbersIncrease) {
  MakeQuickstart();
  const std::string serial = Serial(P("qs/client2/client2.crt"));
  auto revoke = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), P("qs/client2/client2.crt"),
                     "--reason", "keyCompromise"});
  ASSERT_EQ(revoke.code, 0) << revoke.err;
  EXPECT_EQ(revoke.out.substr(0, revoke.out.find('\n') + 1),
            "revoked " + serial + " (keyCompromise) at 2026-01-15T10:00:00Z, CN=client2\n");
  EXPECT_NE(revoke.out.find("clustertls ca crl --ca-dir " + P("qs/ca")), std::string::npos);
  EXPECT_EQ(Mode(P("qs/ca/revoked.json")), 0644u);
  auto list = ParseRevocationList(*core::ReadFile(P("qs/ca/revoked.json")), "revoked.json",
                                  Cert(P("qs/ca/ca.crt")));
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->revoked.size(), 1u);
  EXPECT_EQ(list->revoked[0].serial, serial);
  EXPECT_EQ(list->revoked[0].reason, pki::RevocationReason::kKeyCompromise);
  EXPECT_EQ(list->revoked[0].subject, "CN=client2");
  EXPECT_FALSE(core::PathExists(P("qs/ca/crlnumber")));  // revoke signs nothing

  clock_.Set(kNow + std::chrono::hours(1));
  auto crl = Cli({"ca", "crl", "--ca-dir", P("qs/ca"), "--out", P("ca.crl")});
  ASSERT_EQ(crl.code, 0) << crl.err;
  EXPECT_NE(crl.out.find("CRL 1 of CN=clustertls CA: 1 revoked, next update "
                         "2026-07-14T11:00:00Z, written to " +
                         P("ca.crl") + " (PEM)"),
            std::string::npos)
      << crl.out;
  EXPECT_EQ(Mode(P("ca.crl")), 0644u);
  pki::Crl first = Crl(P("ca.crl"));
  EXPECT_TRUE(first.IsSignedBy(Cert(P("qs/ca/ca.crt"))));
  EXPECT_EQ(first.crl_number(), "1");
  EXPECT_EQ(first.this_update(), kNow + std::chrono::hours(1));
  EXPECT_EQ(first.next_update(), kNow + std::chrono::hours(1) + std::chrono::days(180));
  auto entries = first.entries();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].serial_hex, serial);
  EXPECT_EQ((*entries)[0].revoked_at, kNow);
  EXPECT_EQ((*entries)[0].reason, pki::RevocationReason::kKeyCompromise);
  EXPECT_EQ(*core::ReadFile(P("qs/ca/crlnumber")), "02\n");

  // Without --force the CRL is not replaced, and the number is not used up.
  auto again = Cli({"ca", "crl", "--ca-dir", P("qs/ca"), "--out", P("ca.crl")});
  EXPECT_EQ(again.code, 1);
  EXPECT_TRUE(OneErrorLine(again.err)) << again.err;
  EXPECT_NE(again.err.find("already exists (use --force"), std::string::npos);
  EXPECT_EQ(*core::ReadFile(P("qs/ca/crlnumber")), "02\n");

  // The original client revoked by serial; a new CRL lists both, with a higher number.
  const std::string serial1 = Serial(P("qs/client/client.crt"));
  ASSERT_EQ(Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), serial1}).code, 0);
  auto forced =
      Cli({"ca", "crl", "--ca-dir", P("qs/ca"), "--out", P("ca.crl"), "--force", "--days", "7"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  pki::Crl second = Crl(P("ca.crl"));
  EXPECT_EQ(second.crl_number(), "2");
  EXPECT_EQ(second.next_update(), kNow + std::chrono::hours(1) + std::chrono::days(7));
  ASSERT_EQ(second.revoked_count(), 2u);
  EXPECT_EQ((*second.entries())[1].serial_hex, serial1);
  EXPECT_EQ((*second.entries())[1].reason, pki::RevocationReason::kUnspecified);
  EXPECT_EQ(*core::ReadFile(P("qs/ca/crlnumber")), "03\n");

  // DER on request.
  ASSERT_EQ(Cli({"ca", "crl", "--ca-dir", P("qs/ca"), "--out", P("ca.der"), "--der"}).code, 0);
  std::string der = *core::ReadFile(P("ca.der"));
  ASSERT_FALSE(der.empty());
  EXPECT_EQ(static_cast<unsigned char>(der[0]), 0x30);
  EXPECT_EQ(pki::Crl::Parse(der)->crl_number(), "3");
}

TEST_F(CaRevokeTest, RevokingTwiceKeepsTheFirstTimeAndReason) {
  MakeQuickstart();
  const std::string serial = Serial(P("qs/client2/client2.crt"));
  ASSERT_EQ(Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), P("qs/client2/client2.crt"), "--reason",
                 "superseded"})
                .code,
            0);
  const std::string before = *core::ReadFile(P("qs/ca/revoked.json"));
  clock_.Set(kNow + std::chrono::hours(5));
  // The same certificate by its serial as openssl prints it: "serial=" prefix, lower case,
  // colons, a leading zero octet.
  std::string spelled = "serial=00";
  for (std::size_t i = 0; i < serial.size(); i += 2) {
    spelled += ":" + std::string(1, static_cast<char>(std::tolower(serial[i]))) +
               std::string(1, static_cast<char>(std::tolower(serial[i + 1])));
  }
  auto twice = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), spelled, "--reason", "keyCompromise"});
  ASSERT_EQ(twice.code, 0) << twice.err;
  EXPECT_EQ(twice.out, "already revoked " + serial +
                           " (superseded) at 2026-01-15T10:00:00Z, CN=client2; nothing changed\n");
  EXPECT_EQ(*core::ReadFile(P("qs/ca/revoked.json")), before);
}

TEST_F(CaRevokeTest, RefusesTheCaItselfAnotherCasCertificateAndBadArguments) {
  MakeQuickstart();
  ASSERT_EQ(Cli({"ca", "init", "--out", P("other")}).code, 0);
  ASSERT_EQ(Cli({"cert", "issue", "--ca-cert", P("other/ca.crt"), "--ca-key", P("other/ca.key"),
                 "--name", "stranger", "--profile", "client", "--out", P("other")})
                .code,
            0);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::string ca_serial = Serial(P("qs/ca/ca.crt"));
  const std::vector<Case> cases{
      {{"--ca-dir", P("qs/ca"), P("qs/ca/ca.crt")}, 1, "is the CA certificate itself"},
      {{"--ca-dir", P("qs/ca"), ca_serial},
       1,
       "serial " + ca_serial + " is the CA certificate's own"},
      {{"--ca-dir", P("qs/ca"), P("other/stranger.crt")},
       1,
       P("other/stranger.crt") +
           ": issued by another CA named \"CN=clustertls CA\" (its signature does not verify "
           "with the key of " +
           P("qs/ca/ca.crt")},
      {{"--ca-dir", P("qs/ca"), "not-a-serial.crt"},
       2,
       "\"not-a-serial.crt\": no such certificate file, and not a serial"},
      {{"--ca-dir", P("qs/ca"), "0A1B", "--reason", "stolen"},
       2,
       "--reason: unknown revocation "
       "reason \"stolen\""},
      {{"--ca-dir", P("qs/ca"), "0A1B", "--reason", "removeFromCRL"}, 2, "only used in delta CRLs"},
      {{"--ca-dir", P("qs/ca"), "--ca-cert", P("qs/ca/ca.crt"), "0A1B"}, 2, "--ca-dir"},
      {{"0A1B"}, 2, "which CA?"},
      {{"--ca-dir", P("qs"), "0A1B"}, 1, "whose CA is --ca-dir " + P("qs/ca")},
      {{"--ca-dir", P("missing"), "0A1B"}, 1, P("missing/ca.crt") + ": no such file"},
      {{"--ca-dir", P("qs/server"), "0A1B"}, 1, P("qs/server/ca.crt") + ": no such file"},
      {{"--ca-cert", P("qs/server/server.crt"), "0A1B"}, 1, "is not a CA certificate"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"ca", "revoke"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = Cli(args);
    EXPECT_EQ(r.code, c.code) << c.message << ": " << r.err;
    EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  // The other CA's certificates appear in the stranger's file only: nothing was recorded.
  EXPECT_FALSE(core::PathExists(P("qs/ca/revoked.json")));
  EXPECT_FALSE(core::PathExists(P("other/revoked.json")));
}

TEST_F(CaRevokeTest, CrlErrorsWriteNothing) {
  ASSERT_TRUE(core::WriteFileAtomic(P("ca.pass"), "ca secret\n"));
  ASSERT_TRUE(core::WriteFileAtomic(P("wrong.pass"), "not it\n"));
  ASSERT_EQ(Cli({"ca", "init", "--out", P("ca"), "--passphrase-file", P("ca.pass")}).code, 0);
  ASSERT_EQ(Cli({"ca", "revoke", "--ca-dir", P("ca"), "0A1B", "--unrecorded"}).code, 0);
  const std::string list = *core::ReadFile(P("ca/revoked.json"));

  auto no_pass = Cli({"ca", "crl", "--ca-dir", P("ca"), "--out", P("x.crl")});
  EXPECT_EQ(no_pass.code, 1);
  EXPECT_TRUE(OneErrorLine(no_pass.err)) << no_pass.err;
  EXPECT_NE(no_pass.err.find(P("ca/ca.key")), std::string::npos) << no_pass.err;
  EXPECT_NE(no_pass.err.find("--ca-passphrase-file"), std::string::npos) << no_pass.err;
  auto wrong = Cli({"ca", "crl", "--ca-dir", P("ca"), "--ca-passphrase-file", P("wrong.pass"),
                    "--out", P("x.crl")});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_TRUE(OneErrorLine(wrong.err)) << wrong.err;
  EXPECT_NE(wrong.err.find(P("ca/ca.key")), std::string::npos) << wrong.err;

  for (const char* days : {"0", "36501", "-3", "ten", "1.5"}) {
    auto bad_days = Cli({"ca", "crl", "--ca-dir", P("ca"), "--ca-passphrase-file", P("ca.pass"),
                         "--out", P("x.crl"), "--days", days});
    EXPECT_EQ(bad_days.code, 2) << days << ": " << bad_days.err;
    EXPECT_TRUE(OneErrorLine(bad_days.err)) << bad_days.err;
    EXPECT_NE(bad_days.err.find("--days"), std::string::npos) << bad_days.err;
  }
  EXPECT_FALSE(core::PathExists(P("ca/crlnumber")));

  ASSERT_TRUE(core::WriteFileAtomic(P("ca/crlnumber"), "zz\n"));
  auto bad_number = Cli({"ca", "crl", "--ca-dir", P("ca"), "--ca-passphrase-file", P("ca.pass"),
                         "--out", P("x.crl")});
  EXPECT_EQ(bad_number.code, 1);
  EXPECT_TRUE(OneErrorLine(bad_number.err)) << bad_number.err;
  EXPECT_NE(bad_number.err.find(P("ca/crlnumber") + ": expected the next CRL number in hex"),
            std::string::npos)
      << bad_number.err;
  ASSERT_TRUE(core::WriteFileAtomic(P("ca/crlnumber"), "0a\n", {.overwrite = true}));

  ASSERT_TRUE(core::WriteFileAtomic(P("ca/revoked.json"), "{\"ca\": {}, \"revoked\": []}",
                                    {.overwrite = true}));
  auto bad_list = Cli({"ca", "crl", "--ca-dir", P("ca"), "--ca-passphrase-file", P("ca.pass"),
                       "--out", P("x.crl")});
  EXPECT_EQ(bad_list.code, 1);
  EXPECT_TRUE(OneErrorLine(bad_list.err)) << bad_list.err;
  EXPECT_NE(bad_list.err.find(P("ca/revoked.json") + ": ca.subject: missing"), std::string::npos)
      << bad_list.err;

  // Another CA's list (ca init --force made a new key in the same directory).
  ASSERT_TRUE(core::WriteFileAtomic(P("ca/revoked.json"), list, {.overwrite = true}));
  ASSERT_EQ(Cli({"ca", "init", "--out", P("ca"), "--force", "--name", "New CA"}).code, 0);
  auto other = Cli({"ca", "crl", "--ca-dir", P("ca"), "--out", P("x.crl")});
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(OneErrorLine(other.err)) << other.err;
  EXPECT_NE(other.err.find(P("ca/revoked.json") + ": belongs to another CA (\"CN=clustertls CA\""),
            std::string::npos)
      << other.err;
  auto other_revoke = Cli({"ca", "revoke", "--ca-dir", P("ca"), "0C"});
  EXPECT_EQ(other_revoke.code, 1);
  EXPECT_EQ(*core::ReadFile(P("ca/revoked.json")), list);

  EXPECT_FALSE(core::PathExists(P("x.crl")));
  EXPECT_EQ(*core::ReadFile(P("ca/crlnumber")), "0a\n");
  // The next good one (no list: nothing revoked yet for the new CA) uses that number.
  ASSERT_EQ(::unlink(P("ca/revoked.json").c_str()), 0);
  auto good = Cli(
      {"ca", "crl", "--ca-cert", P("ca/ca.crt"), "--ca-key", P("ca/ca.key"), "--out", P("x.crl")});
  ASSERT_EQ(good.code, 0) << good.err;
  EXPECT_EQ(Crl(P("x.crl")).crl_number(), "10");
  EXPECT_EQ(Crl(P("x.crl")).revoked_count(), 0u);
  EXPECT_EQ(*core::ReadFile(P("ca/crlnumber")), "0B\n");
}

TEST_F(CaRevokeTest, NextUpdateNeverOutlivesTheCaAndAnIntermediateKeepsItsOwnList) {
  ASSERT_EQ(Cli({"ca", "init", "--out", P("root"), "--days", "100"}).code, 0);
  ASSERT_EQ(Cli({"ca", "intermediate", "--ca-cert", P("root/ca.crt"), "--ca-key", P("root/ca.key"),
                 "--out", P("int"), "--days", "10"})
                .code,
            0);
  ASSERT_EQ(Cli({"cert", "issue", "--ca-cert", P("int/chain.crt"), "--ca-key", P("int/ca.key"),
                 "--name", "leaf", "--days", "5", "--out", P("leaf")})
                .code,
            0);
  // The leaf's file holds leaf + intermediate + root: the leaf is what is revoked.
  auto revoke = Cli({"ca", "revoke", "--ca-cert", P("int/chain.crt"), P("leaf/leaf.crt")});
  ASSERT_EQ(revoke.code, 0) << revoke.err;
  EXPECT_TRUE(core::PathExists(P("int/revoked.json")));
  EXPECT_FALSE(core::PathExists(P("root/revoked.json")));
  // The root CA did not issue the leaf.
  auto wrong_ca = Cli({"ca", "revoke", "--ca-dir", P("root"), P("leaf/leaf.crt")});
  EXPECT_EQ(wrong_ca.code, 1);
  EXPECT_NE(wrong_ca.err.find("not by this CA \"CN=clustertls CA\""), std::string::npos)
      << wrong_ca.err;

  auto crl = Cli({"ca", "crl", "--ca-cert", P("int/chain.crt"), "--ca-key", P("int/ca.key"),
                  "--out", P("int.crl"), "--days", "30"});
  ASSERT_EQ(crl.code, 0) << crl.err;
  EXPECT_NE(crl.err.find("warning: nextUpdate is the CA's notAfter"), std::string::npos) << crl.err;
  pki::Crl made = Crl(P("int.crl"));
  const pki::Certificate intermediate = Cert(P("int/ca.crt"));
  EXPECT_EQ(made.next_update(), intermediate.not_after());
  EXPECT_TRUE(made.IsSignedBy(intermediate));
  EXPECT_EQ(made.revoked_count(), 1u);
  auto needs_key = Cli({"ca", "crl", "--ca-cert", P("int/chain.crt"), "--out", P("y.crl")});
  EXPECT_EQ(needs_key.code, 2);
  EXPECT_NE(needs_key.err.find("--ca-cert needs --ca-key"), std::string::npos) << needs_key.err;

  clock_.Set(kNow + std::chrono::days(11));
  auto expired = Cli({"ca", "crl", "--ca-dir", P("int"), "--out", P("late.crl")});
  EXPECT_EQ(expired.code, 1);
  EXPECT_TRUE(OneErrorLine(expired.err)) << expired.err;
  EXPECT_NE(expired.err.find("the CA expired at"), std::string::npos) << expired.err;
  EXPECT_FALSE(core::PathExists(P("late.crl")));
}

TEST_F(CaRevokeTest, IssuingCommandsRecordWhatTheySignAndASerialMustBeRecorded) {
  MakeQuickstart();  // quickstart's server and client, then cert issue's client2
  const std::string ca_crt = P("qs/ca/ca.crt");
  const std::string ca_key = P("qs/ca/ca.key");
  ASSERT_TRUE(
      core::WriteFileAtomic(P("instances.yml"), "instances:\n  - name: node1\n  - name: node2\n"));
  ASSERT_EQ(Cli({"cert", "bulk", "--in", P("instances.yml"), "--ca-cert", ca_crt, "--ca-key",
                 ca_key, "--out", P("bulk")})
                .code,
            0);
  ASSERT_EQ(Cli({"cert", "generate", "--fqdn", "redis.example.com", "--type", "proxy", "--ca-cert",
                 ca_crt, "--ca-key", ca_key, "--out", P("gen")})
                .code,
            0);
  ASSERT_EQ(Cli({"csr", "create", "--name", "app", "--out", P("csr")}).code, 0);
  ASSERT_EQ(Cli({"csr", "sign", "--csr", P("csr/app.csr"), "--ca-cert", ca_crt, "--ca-key", ca_key,
                 "--out", P("csr/app.crt")})
                .code,
            0);
  ASSERT_EQ(
      Cli({"ca", "intermediate", "--ca-cert", ca_crt, "--ca-key", ca_key, "--out", P("int")}).code,
      0);
  // A self-signed `cert generate` has no CA: nothing to record.
  ASSERT_EQ(Cli({"cert", "generate", "--fqdn", "self.example.com", "--out", P("self")}).code, 0);

  auto issued =
      ParseIssuedList(*core::ReadFile(P("qs/ca/issued.json")), "issued.json", Cert(ca_crt));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(Mode(P("qs/ca/issued.json")), 0644u);
  std::vector<std::string> names;
  for (const auto& e : issued->issued) {
    names.push_back(e.common_name);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"localhost", "client", "client2", "node1", "node2",
                                      "redis.example.com", "app", "clustertls Intermediate CA"}));
  for (const char* file : {"qs/server/server.crt", "qs/client2/client2.crt", "bulk/node2/node2.crt",
                           "gen/proxy_cert.pem", "csr/app.crt", "int/ca.crt"}) {
    const OfflineIssued* entry = issued->Find(Serial(P(file)));
    ASSERT_NE(entry, nullptr) << file;
    EXPECT_EQ(entry->not_after, Cert(P(file)).not_after()) << file;
  }
  EXPECT_FALSE(core::PathExists(P("self/issued.json")));
  EXPECT_FALSE(core::PathExists(P("int/issued.json")));  // the intermediate has issued nothing

  // A recorded serial is revoked, naming whom it was issued to.
  const std::string node2 = Serial(P("bulk/node2/node2.crt"));
  auto known = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), node2, "--reason", "superseded"});
  ASSERT_EQ(known.code, 0) << known.err;
  EXPECT_EQ(known.out.substr(0, known.out.find('\n') + 1),
            "revoked " + node2 + " (superseded) at 2026-01-15T10:00:00Z, issued to node2\n");

  // An unrecorded serial (a typo, another CA's) is refused, nothing recorded; --unrecorded
  // takes it.
  const std::string before = *core::ReadFile(P("qs/ca/revoked.json"));
  auto typo = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), "0A1B"});
  EXPECT_EQ(typo.code, 1);
  EXPECT_TRUE(OneErrorLine(typo.err)) << typo.err;
  EXPECT_NE(typo.err.find("serial 0A1B: not a certificate of this CA: " + P("qs/ca/issued.json") +
                          " lists the 8 it issued"),
            std::string::npos)
      << typo.err;
  EXPECT_EQ(*core::ReadFile(P("qs/ca/revoked.json")), before);
  auto forced = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), "0A1B", "--unrecorded"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(forced.out.substr(0, forced.out.find('\n') + 1),
            "revoked 0A1B (unspecified) at 2026-01-15T10:00:00Z (unrecorded)\n");
  auto file_unrecorded =
      Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), P("csr/app.crt"), "--unrecorded"});
  EXPECT_EQ(file_unrecorded.code, 2);
  EXPECT_NE(file_unrecorded.err.find("--unrecorded is for a SERIAL"), std::string::npos)
      << file_unrecorded.err;
  // The intermediate, by the root that issued it.
  ASSERT_EQ(Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), Serial(P("int/ca.crt")), "--reason",
                 "cACompromise"})
                .code,
            0);
  ASSERT_EQ(Cli({"ca", "crl", "--ca-dir", P("qs/ca"), "--out", P("root.crl")}).code, 0);
  EXPECT_EQ(Crl(P("root.crl")).revoked_count(), 3u);
}

TEST_F(CaRevokeTest, AnUnwritableIssuedListWarnsAndIssuesAnyway) {
  MakeQuickstart();
  const std::string list = P("qs/ca/issued.json");
  // Damaged: issuing still succeeds, warns, and leaves the file as it was.
  ASSERT_TRUE(core::WriteFileAtomic(list, "{\"ca\": ", {.overwrite = true}));
  auto issue = Cli({"cert", "issue", "--ca-cert", P("qs/ca/ca.crt"), "--ca-key", P("qs/ca/ca.key"),
                    "--name", "c3", "--profile", "client", "--out", P("c3")});
  ASSERT_EQ(issue.code, 0) << issue.err;
  EXPECT_TRUE(core::PathExists(P("c3/c3.crt")));
  EXPECT_NE(issue.err.find("warning: the certificate is not recorded as issued by this CA: " +
                           list + ": not a JSON object"),
            std::string::npos)
      << issue.err;
  EXPECT_NE(issue.err.find("by its serial with --unrecorded"), std::string::npos) << issue.err;
  EXPECT_EQ(*core::ReadFile(list), "{\"ca\": ");
  // ca revoke by serial names the damaged file; by file it needs no list.
  auto by_serial = Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), Serial(P("c3/c3.crt"))});
  EXPECT_EQ(by_serial.code, 1);
  EXPECT_NE(by_serial.err.find(list + ": not a JSON object"), std::string::npos) << by_serial.err;
  EXPECT_EQ(Cli({"ca", "revoke", "--ca-dir", P("qs/ca"), P("c3/c3.crt")}).code, 0);
  // Another CA's list is not touched.
  ASSERT_EQ(Cli({"ca", "init", "--out", P("other")}).code, 0);
  ASSERT_EQ(::unlink(list.c_str()), 0);
  ASSERT_EQ(Cli({"cert", "issue", "--ca-cert", P("other/ca.crt"), "--ca-key", P("other/ca.key"),
                 "--name", "x", "--out", P("x")})
                .code,
            0);
  ASSERT_EQ(::rename(P("other/issued.json").c_str(), list.c_str()), 0);
  const std::string others = *core::ReadFile(list);
  auto mixed = Cli({"cert", "issue", "--ca-cert", P("qs/ca/ca.crt"), "--ca-key", P("qs/ca/ca.key"),
                    "--name", "c4", "--out", P("c4")});
  ASSERT_EQ(mixed.code, 0) << mixed.err;
  EXPECT_NE(mixed.err.find(list + ": belongs to another CA"), std::string::npos) << mixed.err;
  EXPECT_EQ(*core::ReadFile(list), others);
}

TEST(OfflineCaTest, ParsesAndFormatsTheListAndTheCounter) {
  EXPECT_EQ(CanonicalSerialHex("00:0a:1B").value(), "0A1B");
  EXPECT_EQ(CanonicalSerialHex("abc").value(), "0ABC");
  EXPECT_EQ(CanonicalSerialHex("000").value(), "00");
  EXPECT_FALSE(CanonicalSerialHex("xyz"));
  EXPECT_FALSE(CanonicalSerialHex(""));
  EXPECT_FALSE(CanonicalSerialHex(std::string(42, 'F')));
  EXPECT_EQ(ParseCrlNumber("01\n", "n").value(), 1);
  EXPECT_EQ(ParseCrlNumber("1000", "n").value(), 4096);
  EXPECT_EQ(ParseCrlNumber("3FFFFFFFFFFFFFF\n", "n").value(), 0x3FFFFFFFFFFFFFF);
  for (const char* bad : {"", "\n", "0", "12 34", "-1", "400000000000000", "0x10"}) {
    auto r = ParseCrlNumber(bad, "dir/crlnumber");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message.rfind("dir/crlnumber: ", 0), 0u) << r.error().message;
  }
  EXPECT_EQ(FormatCrlNumber(1), "01\n");
  EXPECT_EQ(FormatCrlNumber(255), "FF\n");
  EXPECT_EQ(FormatCrlNumber(256), "0100\n");
}

TEST(OfflineCaTest, RefusesMalformedEntries) {
  ossl::Csprng rng;
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256).value();
  auto ca = pki::SelfSign(key, {.profile = pki::Profile::kRootCa, .common_name = "T CA"}, kNow, rng)
                .value();
  OfflineRevocationList list = EmptyRevocationList(ca);
  list.revoked.push_back(
      {.serial = "0A", .revoked_at = kNow, .reason = pki::RevocationReason::kCessationOfOperation});
  const std::string good = FormatRevocationList(list);
  auto back = ParseRevocationList(good, "r.json", ca);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(FormatRevocationList(*back), good);
  EXPECT_NE(good.find("\"reason\": \"cessationOfOperation\""), std::string::npos);

  OfflineIssuedList issued = EmptyIssuedList(ca);
  EXPECT_EQ(FormatIssuedList(issued), "{\"ca\": {\"key_sha256\":\"" + list.ca_key_sha256 +
                                          "\",\"subject\":\"CN=T CA\"},\n \"issued\": []}\n");
  issued.issued = {{.serial = "0A", .not_after = kNow, .common_name = "a"},
                   {.serial = "0B", .not_after = kNow, .common_name = "b"}};
  const std::string issued_text = FormatIssuedList(issued);
  EXPECT_NE(issued_text.find("\n  {\"common_name\":\"b\",\"not_after\":\"2026-01-15T10:00:00Z\","
                             "\"serial\":\"0B\"}\n]}\n"),
            std::string::npos)
      << issued_text;
  auto issued_back = ParseIssuedList(issued_text, "i.json", ca);
  ASSERT_TRUE(issued_back) << issued_back.error().message;
  EXPECT_EQ(FormatIssuedList(*issued_back), issued_text);
  auto issued_bad = ParseIssuedList(
      "{\"ca\": {\"subject\": \"CN=T CA\", \"key_sha256\": \"" + list.ca_key_sha256 +
          "\"}, \"issued\": [{\"serial\": \"0A\", \"not_after\": \"soon\"}]}",
      "i.json", ca);
  ASSERT_FALSE(issued_bad);
  EXPECT_EQ(issued_bad.error().message,
            "i.json: issued[0].not_after: \"soon\" is not an RFC 3339 time");

  const std::string head = "{\"ca\": {\"subject\": \"CN=T CA\", \"key_sha256\": \"" +
                           list.ca_key_sha256 + "\"}, \"revoked\": [";
  struct Case {
    std::string body;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"not json", "r.json: not a JSON object"},
           {"{\"revoked\": []}", "r.json: expected {\"ca\""},
           {head + "1]}", "r.json: revoked[0]: must be an object"},
           {head + "{}]}", "r.json: revoked[0].serial: missing"},
           {head + "{\"serial\": \"zz\", \"revoked_at\": \"2026-01-01T00:00:00Z\", \"reason\": "
                   "\"superseded\"}]}",
            "r.json: revoked[0].serial: serial \"zz\": must be hexadecimal"},
           {head + "{\"serial\": \"0A\", \"revoked_at\": \"yesterday\", \"reason\": "
                   "\"superseded\"}]}",
            "r.json: revoked[0].revoked_at: \"yesterday\" is not an RFC 3339 time"},
           {head + "{\"serial\": \"0A\", \"revoked_at\": \"2026-01-01T00:00:00Z\", \"reason\": "
                   "\"removeFromCRL\"}]}",
            "r.json: revoked[0].reason: \"removeFromCRL\" is not a reason"},
           {head + "{\"serial\": \"0A\", \"revoked_at\": \"2026-01-01T00:00:00Z\", \"reason\": "
                   "\"superseded\"}, {\"serial\": \"000a\", \"revoked_at\": "
                   "\"2026-01-01T00:00:00Z\", \"reason\": \"superseded\"}]}",
            "r.json: revoked[1].serial: 0A is listed twice"},
       }) {
    auto r = ParseRevocationList(c.body, "r.json", ca);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().message.rfind(c.message, 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace clustertls::cli
