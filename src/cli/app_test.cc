// In-process tests of the command tree (argument handling, exit codes, outputs), at a fixed
// reference time. End-to-end tests of the binary judged by openssl live in tests/integration.
#include "cli/app.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/bundle.h"
#include "cli/cli_testutil.h"
#include "core/files.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"

namespace clustertls::cli {
namespace {

using testing::TempDir;

const core::TimePoint kNow = core::ParseTime("2026-01-15T10:00:00Z").value();

using Outcome = testing::CliOutcome;

class AppTest : public ::testing::Test {
 protected:
  Outcome Cli(std::vector<std::string> args) {
    return testing::RunCli(std::move(args), clock_, rng_);
  }
  std::string P(const std::string& name) { return dir_ / name; }
  void MakeCa() {
    ASSERT_TRUE(core::WriteFileAtomic(P("ca.pass"), "ca secret\n"));
    auto r = Cli({"ca", "init", "--out", P("ca"), "--passphrase-file", P("ca.pass")});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  std::vector<std::string> CaFlags() {
    return {"--ca-cert",    P("ca/ca.crt"),         "--ca-key",
            P("ca/ca.key"), "--ca-passphrase-file", P("ca.pass")};
  }
  std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  TempDir dir_;
  core::FixedClock clock_{kNow};
  ossl::Csprng rng_;
};

using testing::OneErrorLine;

TEST_F(AppTest, VersionHelpAndUsageErrors) {
  auto v = Cli({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find(std::string("clustertls ") + kVersion), std::string::npos);
  // The OpenSSL in use, as `openssl version` (Sensu's check) prints it.
  EXPECT_NE(v.out.find("(OpenSSL 3."), std::string::npos) << v.out;
  auto h = Cli({"cert", "issue", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("--p12-passphrase-file"), std::string::npos);
  EXPECT_NE(h.out.find("default: 365"), std::string::npos);

  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"bogus"},
           {"cert", "bogus"},
           {"ca", "init"},                                        // --out missing
           {"ca", "init", "--out", P("x"), "--key-type", "dsa"},  // bad value
           {"ca", "init", "--out", P("x"), "--days", "0"},
           {"verify", P("c.crt"), "--ca", P("ca.crt"), "--host", "a.example", "--ip", "1.2.3.4"},
       }) {
    auto r = Cli(args);
    EXPECT_EQ(r.code, 2) << (args.empty() ? "" : args[0]) << ": " << r.err;
    EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
  }
  EXPECT_FALSE(core::PathExists(P("x")));
}

TEST_F(AppTest, CaInitWritesModesAndRefusesOverwrite) {
  MakeCa();
  struct stat st {};
  ASSERT_EQ(::stat(P("ca/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(P("ca/ca.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  std::string key_pem = *core::ReadFile(P("ca/ca.key"));
  EXPECT_NE(key_pem.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  // The passphrase is the file content without its one trailing newline.
  EXPECT_TRUE(pki::PrivateKey::Parse(key_pem, std::string_view("ca secret")));
  auto cert = pki::Certificate::FromPem(*core::ReadFile(P("ca/ca.crt")));
  ASSERT_TRUE(cert);
  EXPECT_TRUE(cert->is_ca());
  EXPECT_EQ(cert->common_name(), "clustertls CA");
  EXPECT_EQ(cert->not_after(), kNow + std::chrono::days(3650));

  auto again = Cli({"ca", "init", "--out", P("ca")});
  EXPECT_EQ(again.code, 1);
  EXPECT_TRUE(OneErrorLine(again.err));
  EXPECT_NE(again.err.find("already exists (use --force"), std::string::npos);
  EXPECT_EQ(*core::ReadFile(P("ca/ca.key")), key_pem);

  auto forced = Cli({"ca", "init", "--out", P("ca"), "--force", "--days", "30"});
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_NE(forced.err.find("warning"), std::string::npos);  // unencrypted key
  EXPECT_NE(*core::ReadFile(P("ca/ca.key")), key_pem);
}

TEST_F(AppTest, CertIssueFormatsAndFingerprint) {
  MakeCa();
  auto pem = Cli(With({"cert", "issue", "--name", "web.example.com", "--dns", "www.example.com",
                       "--ip", "10.0.0.1", "--out", P("out")},
                      CaFlags()));
  ASSERT_EQ(pem.code, 0) << pem.err;
  auto chain = pki::Certificate::ParseAll(*core::ReadFile(P("out/web.example.com.crt")));
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 2u);  // leaf then CA
  EXPECT_EQ((*chain)[0].common_name(), "web.example.com");
  EXPECT_TRUE((*chain)[1].is_ca());
  auto key = pki::PrivateKey::Parse(*core::ReadFile(P("out/web.example.com.key")));
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->Matches((*chain)[0].public_key()));

  auto fp = Cli({"fingerprint", P("ca/ca.crt")});
  ASSERT_EQ(fp.code, 0);
  pki::Fingerprint want = (*chain)[1].fingerprint();
  EXPECT_EQ(fp.out, want.colon + "\n" + want.hex + "\n");

  auto match = Cli({"key", "match", "--cert", P("out/web.example.com.crt"), "--key",
                    P("out/web.example.com.key")});
  EXPECT_EQ(match.code, 0);
  EXPECT_EQ(match.out, "match\n");
  auto mismatch =
      Cli({"key", "match", "--cert", P("ca/ca.crt"), "--key", P("out/web.example.com.key")});
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_NE(mismatch.err.find("key does not match certificate"), std::string::npos);

  auto zip = Cli(
      With({"cert", "issue", "--name", "kibana", "--out", P("out"), "--format", "zip"}, CaFlags()));
  ASSERT_EQ(zip.code, 0) << zip.err;
  auto entries = ReadZip(*core::ReadFile(P("out/kibana.zip")));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "ca/ca.crt");
  EXPECT_EQ((*entries)[1].name, "kibana/kibana.crt");
  EXPECT_EQ((*entries)[2].name, "kibana/kibana.key");
  EXPECT_EQ((*entries)[2].mode, 0600u);
  EXPECT_EQ((*entries)[0].data, *core::ReadFile(P("ca/ca.crt")));

  auto p12_usage =
      Cli(With({"cert", "issue", "--name", "es", "--out", P("out"), "--format", "p12"}, CaFlags()));
  EXPECT_EQ(p12_usage.code, 2);
  EXPECT_FALSE(core::PathExists(P("out/es.p12")));
}

TEST_F(AppTest, FailuresLeaveNoOutputAndNameTheFile) {
  MakeCa();
  // Validity past the issuer's.
  auto too_long = Cli(With(
      {"cert", "issue", "--name", "a.example.com", "--days", "4000", "--out", P("o1")}, CaFlags()));
  EXPECT_EQ(too_long.code, 1);
  EXPECT_TRUE(OneErrorLine(too_long.err)) << too_long.err;
  EXPECT_FALSE(core::PathExists(P("o1")));
  // Wrong passphrase.
  ASSERT_TRUE(core::WriteFileAtomic(P("wrong.pass"), "nope"));
  auto wrong =
      Cli({"cert", "issue", "--name", "a.example.com", "--out", P("o2"), "--ca-cert",
           P("ca/ca.crt"), "--ca-key", P("ca/ca.key"), "--ca-passphrase-file", P("wrong.pass")});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find(P("ca/ca.key") + ": "), std::string::npos) << wrong.err;
  EXPECT_FALSE(core::PathExists(P("o2")));
  // Not a PEM file.
  ASSERT_TRUE(core::WriteFileAtomic(P("garbage.crt"), "hello\n"));
  auto garbage = Cli({"cert", "issue", "--name", "a.example.com", "--out", P("o3"), "--ca-cert",
                      P("garbage.crt"), "--ca-key", P("ca/ca.key")});
  EXPECT_EQ(garbage.code, 1);
  EXPECT_EQ(garbage.err,
            "clustertls: error: " + P("garbage.crt") + ": not a PEM or DER certificate file\n");
  // Invalid name.
  auto bad_name = Cli(With(
      {"cert", "issue", "--name", "a.example.com", "--dns", "*.*.x", "--out", P("o4")}, CaFlags()));
  EXPECT_EQ(bad_name.code, 1);
  EXPECT_NE(bad_name.err.find("*.*.x"), std::string::npos);
  EXPECT_FALSE(core::PathExists(P("o4")));
  // Issuer is not a CA.
  ASSERT_EQ(
      Cli(With({"cert", "issue", "--name", "leaf.example.com", "--out", P("leaf")}, CaFlags()))
          .code,
      0);
  auto not_ca = Cli({"cert", "issue", "--name", "x.example.com", "--out", P("o5"), "--ca-cert",
                     P("leaf/leaf.example.com.crt"), "--ca-key", P("leaf/leaf.example.com.key")});
  EXPECT_EQ(not_ca.code, 1);
  EXPECT_NE(not_ca.err.find("not a CA"), std::string::npos) << not_ca.err;
  EXPECT_FALSE(core::PathExists(P("o5")));
}

TEST_F(AppTest, GenerateMakesRedisFiles) {
  auto r = Cli({"cert", "generate", "-f", "mycluster.example.com other.example.com", "-d", "730",
                "-t", "cm", "--out", P("redis")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Self signed cert generated successfully"), std::string::npos);
  auto cert = pki::Certificate::FromPem(*core::ReadFile(P("redis/cm_cert.pem")));
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->common_name(), "mycluster.example.com");
  EXPECT_TRUE(cert->IsSelfIssued());
  EXPECT_EQ(
      cert->sans().dns,
      (std::vector<std::string>{
          "mycluster.example.com", "*.mycluster.example.com", "internal.mycluster.example.com",
          "*.internal.mycluster.example.com", "other.example.com", "*.other.example.com",
          "internal.other.example.com", "*.internal.other.example.com"}));
  auto ekus = cert->extended_key_usages();
  EXPECT_NE(std::find(ekus.begin(), ekus.end(), "serverAuth"), ekus.end());
  EXPECT_NE(std::find(ekus.begin(), ekus.end(), "clientAuth"), ekus.end());
  EXPECT_EQ(cert->not_after(), kNow + std::chrono::days(730));
  EXPECT_TRUE(core::PathExists(P("redis/cm_key.pem")));
  EXPECT_FALSE(core::PathExists(P("redis/api_cert.pem")));
}

TEST_F(AppTest, BulkValidatesFirstAndWritesCertutilLayout) {
  MakeCa();
  ASSERT_TRUE(core::WriteFileAtomic(P("bad.yml"),
                                    "instances:\n  - name: n1\n    dns: n1.example.com\n"
                                    "  - name: n2\n    dns: '*.*.x'\n"));
  auto bad = Cli(With({"cert", "bulk", "--in", P("bad.yml"), "--out", P("bulk")}, CaFlags()));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("instances[1] (name \"n2\"): dns[0]"), std::string::npos) << bad.err;
  EXPECT_FALSE(core::PathExists(P("bulk")));

  std::string yml = "instances:\n";
  for (int i = 0; i < 20; ++i) {
    yml += "  - name: n" + std::to_string(i) + "\n    dns: [n" + std::to_string(i) +
           ".example.com]\n    ip: 10.0.0." + std::to_string(i) + "\n";
  }
  ASSERT_TRUE(core::WriteFileAtomic(P("in.yml"), yml));
  auto dir = Cli(
      With({"cert", "bulk", "--in", P("in.yml"), "--out", P("bulk"), "--threads", "2"}, CaFlags()));
  ASSERT_EQ(dir.code, 0) << dir.err;
  EXPECT_TRUE(core::PathExists(P("bulk/ca/ca.crt")));
  auto n7 = pki::Certificate::ParseAll(*core::ReadFile(P("bulk/n7/n7.crt")));
  ASSERT_TRUE(n7);
  EXPECT_EQ(n7->front().sans().ips, (std::vector<std::string>{"10.0.0.7"}));
  auto k7 = pki::PrivateKey::Parse(*core::ReadFile(P("bulk/n7/n7.key")));
  ASSERT_TRUE(k7);
  EXPECT_TRUE(k7->Matches(n7->front().public_key()));

  auto zip = Cli(With({"cert", "bulk", "--in", P("in.yml"), "--out", P("bulk.zip")}, CaFlags()));
  ASSERT_EQ(zip.code, 0) << zip.err;
  auto entries = ReadZip(*core::ReadFile(P("bulk.zip")));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 41u);
  EXPECT_EQ((*entries)[0].name, "ca/ca.crt");
  EXPECT_EQ((*entries)[1].name, "n0/n0.crt");
  EXPECT_EQ((*entries)[2].name, "n0/n0.key");
  for (const auto& e : *entries) {
    EXPECT_EQ(e.data.find("CA PRIVATE"), std::string::npos);
    EXPECT_FALSE(e.name.ends_with("ca.key"));
  }
}

// Redis' CSRs and RabbitMQ's EXTERNAL authentication: --subject sets C, ST, L, O, OU.
TEST_F(AppTest, SubjectOptionOnCsrCreateAndCertIssue) {
  MakeCa();
  auto csr = Cli({"csr", "create", "--name", "client1.example.com", "--subject",
                  "/C=US/ST=California/L=San Francisco/O=Example/OU=ops/CN=Client1.Example.com",
                  "--out", P("csr")});
  ASSERT_EQ(csr.code, 0) << csr.err;
  auto parsed = pki::Csr::Parse(*core::ReadFile(P("csr/client1.example.com.csr")));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->subject(),
            "CN=client1.example.com,OU=ops,O=Example,L=San Francisco,ST=California,C=US");
  auto signed_csr = Cli(With({"csr", "sign", "--csr", P("csr/client1.example.com.csr"), "--profile",
                              "client", "--out", P("csr/client1.crt")},
                             CaFlags()));
  ASSERT_EQ(signed_csr.code, 0) << signed_csr.err;
  auto cert = pki::Certificate::FromPem(*core::ReadFile(P("csr/client1.crt")));
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->subject(), parsed->subject());

  // The RFC 4514 form, most significant last.
  auto issued = Cli(With({"cert", "issue", "--name", "web.example.com", "--subject",
                          "OU=ops, O=Example\\, Inc., C=DE", "--out", P("out")},
                         CaFlags()));
  ASSERT_EQ(issued.code, 0) << issued.err;
  cert = pki::Certificate::FromPem(*core::ReadFile(P("out/web.example.com.crt")));
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->subject(), "CN=web.example.com,OU=ops,O=Example\\, Inc.,C=DE");
}

TEST_F(AppTest, SubjectOptionRefusesBadInputNamingTheAttribute) {
  MakeCa();
  struct Case {
    std::string subject;
    int code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"/C=USA/O=Example", 1,
            "--subject: subject attribute C \"USA\": a country must be 2 letters"},
           {"/emailAddress=ops@example.com", 1, "unknown subject attribute \"emailAddress\""},
           {"/O=", 1, "subject attribute O is empty"},
           {"/O=" + std::string(65, 'x'), 1, "65 characters, more than 64"},
           {"/O=a+OU=b", 1, "multi-valued"},
           {"/C=US/Example", 1, "has no '='"},
           {"/O=Example/CN=other.example.com", 2,
            "--subject names CN=other.example.com, but the common name is web.example.com"},
       }) {
    SCOPED_TRACE(c.subject);
    auto r = Cli(With(
        {"cert", "issue", "--name", "web.example.com", "--subject", c.subject, "--out", P("bad")},
        CaFlags()));
    EXPECT_EQ(r.code, c.code);
    EXPECT_TRUE(OneErrorLine(r.err)) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    auto csr = Cli(
        {"csr", "create", "--name", "web.example.com", "--subject", c.subject, "--out", P("bad")});
    EXPECT_EQ(csr.code, c.code);
    EXPECT_NE(csr.err.find(c.message), std::string::npos) << csr.err;
    EXPECT_FALSE(core::PathExists(P("bad")));
  }
}

TEST_F(AppTest, SubjectOptionOnGenerateAndQuickstart) {
  auto gen = Cli({"cert", "generate", "-f", "cluster.example.com", "-t", "proxy", "--subject",
                  "/C=US/O=Redis/OU=ops", "--out", P("redis")});
  ASSERT_EQ(gen.code, 0) << gen.err;
  auto cert = pki::Certificate::FromPem(*core::ReadFile(P("redis/proxy_cert.pem")));
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->subject(), "CN=cluster.example.com,OU=ops,O=Redis,C=US");
  auto gen_cn = Cli({"cert", "generate", "-f", "cluster.example.com", "-t", "proxy", "--subject",
                     "/CN=other.example.com", "--out", P("redis2")});
  EXPECT_EQ(gen_cn.code, 2);
  EXPECT_NE(gen_cn.err.find("the first --fqdn"), std::string::npos) << gen_cn.err;
  EXPECT_FALSE(core::PathExists(P("redis2")));

  auto qs = Cli({"quickstart", "--subject", "/O=Sensu/OU=monitoring", "--out", P("qs")});
  ASSERT_EQ(qs.code, 0) << qs.err;
  for (const auto& [file, cn] :
       std::vector<std::pair<std::string, std::string>>{{"qs/ca/ca.crt", "clustertls CA"},
                                                        {"qs/server/server.crt", "localhost"},
                                                        {"qs/client/client.crt", "client"}}) {
    auto c = pki::Certificate::FromPem(*core::ReadFile(P(file)));
    ASSERT_TRUE(c) << file;
    EXPECT_EQ(c->subject(), "CN=" + cn + ",OU=monitoring,O=Sensu") << file;
  }
  auto qs_cn = Cli({"quickstart", "--subject", "/CN=x", "--out", P("qs2")});
  EXPECT_EQ(qs_cn.code, 2);
  EXPECT_NE(qs_cn.err.find("quickstart sets the CNs itself"), std::string::npos) << qs_cn.err;
  EXPECT_FALSE(core::PathExists(P("qs2")));
}

// An intermediate limited to example.com and 127.0.0.0/8 issues nothing outside them.
TEST_F(AppTest, IssuanceRespectsNameConstraints) {
  MakeCa();
  auto ca = Cli(With({"ca", "intermediate", "--out", P("int"), "--name", "Int CA",
                      "--permitted-dns", "example.com", "--permitted-ip", "127.0.0.0/8"},
                     CaFlags()));
  ASSERT_EQ(ca.code, 0) << ca.err;
  std::vector<std::string> int_flags = {"--ca-cert", P("int/chain.crt"), "--ca-key",
                                        P("int/ca.key")};
  auto evil = Cli(With({"cert", "issue", "--name", "evil.org", "--out", P("evil")}, int_flags));
  EXPECT_EQ(evil.code, 1);
  EXPECT_EQ(evil.err,
            "clustertls: error: DNS:evil.org is outside the name constraints of \"CN=Int CA\" "
            "(permitted DNS: example.com)\n");
  EXPECT_FALSE(core::PathExists(P("evil")));
  auto ip =
      Cli(With({"cert", "issue", "--name", "a.example.com", "--ip", "10.1.2.3", "--out", P("ip")},
               int_flags));
  EXPECT_EQ(ip.code, 1);
  EXPECT_NE(ip.err.find("IP:10.1.2.3 is outside the name constraints of \"CN=Int CA\" "
                        "(permitted IP: 127.0.0.0/8)"),
            std::string::npos)
      << ip.err;
  EXPECT_FALSE(core::PathExists(P("ip")));
  auto ok =
      Cli(With({"cert", "issue", "--name", "a.example.com", "--ip", "127.0.0.5", "--out", P("ok")},
               int_flags));
  EXPECT_EQ(ok.code, 0) << ok.err;

  // csr sign applies the same rule, naming the CSR.
  ASSERT_EQ(Cli({"csr", "create", "--name", "evil.org", "--out", P("csr")}).code, 0);
  auto sign = Cli(
      With({"csr", "sign", "--csr", P("csr/evil.org.csr"), "--out", P("csr/x.crt")}, int_flags));
  EXPECT_EQ(sign.code, 1);
  EXPECT_NE(sign.err.find(P("csr/evil.org.csr") + ": DNS:evil.org is outside"), std::string::npos)
      << sign.err;
  EXPECT_FALSE(core::PathExists(P("csr/x.crt")));
}

TEST_F(AppTest, InspectJsonNeverShowsKeyMaterial) {
  MakeCa();
  auto j = Cli({"inspect", P("ca/ca.crt"), "--json"});
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["type"], "certificates");
  EXPECT_EQ(doc["certificates"][0]["ca"], true);
  EXPECT_EQ(doc["certificates"][0]["subject"], "CN=clustertls CA");

  ASSERT_EQ(Cli({"ca", "init", "--out", P("plain")}).code, 0);
  std::string key_pem = *core::ReadFile(P("plain/ca.key"));
  auto k = Cli({"inspect", P("plain/ca.key"), "--json"});
  ASSERT_EQ(k.code, 0) << k.err;
  auto kdoc = nlohmann::json::parse(k.out);
  EXPECT_EQ(kdoc["type"], "private_key");
  EXPECT_EQ(kdoc["key"], "EC P-256");
  // No line of the base64 body appears in the output.
  std::istringstream lines(key_pem);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("-----") == std::string::npos && line.size() > 8) {
      EXPECT_EQ(k.out.find(line), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace clustertls::cli
