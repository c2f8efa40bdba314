#include "cli/client_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "authority/name_policy.h"
#include "cli/cli_testutil.h"
#include "core/files.h"
#include "pki/issuer.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(CTLS_TESTDATA_DIR) + "/keys/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fingerprint as `openssl x509 -fingerprint -sha256` prints it (an independent judge).
std::string OpensslFingerprint(const std::string& fixture) {
  std::string command = "openssl x509 -noout -fingerprint -sha256 -in " +
                        std::string(CTLS_TESTDATA_DIR) + "/keys/" + fixture;
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buf[256];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) {
    out += buf;
  }
  if (pipe != nullptr) {
    pclose(pipe);
  }
  auto eq = out.find('=');
  return eq == std::string::npos ? "" : out.substr(eq + 1, 95);  // "AB:CD:..." (32*3-1)
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

ClientConfig Sample() {
  return ClientConfig{.server = "https://cluster.example.com:9443",
                      .ca_pem = Fixture("chain-root.pem"),
                      .user = "admin",
                      .token = "ctls_abc_secret"};
}

TEST(ClientConfigTest, SavesWithMode0600AndLoadsBack) {
  testing::TempDir dir;
  const std::string path = dir / "conf/clustertls/client.json";
  ASSERT_TRUE(SaveClientConfig(path, Sample()));
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(ModeOf(dir / "conf/clustertls"), 0700u);
  auto loaded = LoadClientConfig(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->server, "https://cluster.example.com:9443");
  EXPECT_EQ(loaded->ca_pem, Sample().ca_pem);
  EXPECT_EQ(loaded->user, "admin");
  EXPECT_EQ(loaded->token, "ctls_abc_secret");

  // Saving again replaces the file and keeps it private, even under a permissive umask.
  const mode_t old_umask = ::umask(0);
  ClientConfig other = Sample();
  other.token = "ctls_def_other";
  ASSERT_TRUE(SaveClientConfig(path, other));
  ::umask(old_umask);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(LoadClientConfig(path)->token, "ctls_def_other");
}

TEST(ClientConfigTest, MissingFileSaysToLogIn) {
  testing::TempDir dir;
  auto loaded = LoadClientConfig(dir / "none.json");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kNotFound);
  EXPECT_NE(loaded.error().message.find("clustertls login"), std::string::npos);
}

TEST(ClientConfigTest, RefusesBadJsonNamingFileAndField) {
  const std::string pem = Fixture("chain-root.pem");
  struct Case {
    std::string json;
    std::string expect;
  };
  auto q = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '\n') {
        out += "\\n";
      } else {
        out.push_back(c);
      }
    }
    return out + "\"";
  };
  const Case cases[] = {
      {"{not json", "not a JSON object"},
      {"[]", "not a JSON object"},
      {"{\"ca_pem\":" + q(pem) + "}", "'server' is missing"},
      {"{\"server\":\"https://x:1\"}", "'ca_pem' is missing"},
      {"{\"server\":5,\"ca_pem\":" + q(pem) + "}", "'server' must be a string"},
      {"{\"server\":\"http://x:1\",\"ca_pem\":" + q(pem) + "}", "field 'server'"},
      {"{\"server\":\"https://x:1\",\"ca_pem\":\"junk\"}", "no PEM certificate"},
      {"{\"server\":\"https://x:1\",\"ca_pem\":" + q(pem) + ",\"tokn\":\"x\"}",
       "unknown field 'tokn'"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseClientConfig(c.json, "/home/u/client.json");
    ASSERT_FALSE(parsed) << c.json;
    EXPECT_EQ(parsed.error().code, ErrorCode::kParse) << c.json;
    EXPECT_NE(parsed.error().message.find("/home/u/client.json: "), std::string::npos)
        << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(c.expect), std::string::npos) << parsed.error().message;
  }
}

TEST(ClientConfigTest, PathFromFlagEnvXdgOrHome) {
  ClientConfigEnv env{.client_config = "/env/c.json", .xdg_config_home = "/xdg", .home = "/h"};
  EXPECT_EQ(*ClientConfigPath("/flag.json", env), "/flag.json");
  EXPECT_EQ(*ClientConfigPath("", env), "/env/c.json");
  env.client_config = "";
  EXPECT_EQ(*ClientConfigPath("", env), "/xdg/clustertls/client.json");
  env.xdg_config_home = nullptr;
  EXPECT_EQ(*ClientConfigPath("", env), "/h/.config/clustertls/client.json");
  env.home = nullptr;
  EXPECT_FALSE(ClientConfigPath("", env));
}

TEST(ClientConfigTest, NormalizesFingerprintsInEveryPastedForm) {
  const std::string colon = OpensslFingerprint("chain-root.pem");
  ASSERT_EQ(colon.size(), 95u) << colon;
  std::string hex;
  for (char c : colon) {
    if (c != ':') {
      hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  EXPECT_EQ(*NormalizeSha256Fingerprint(colon), hex);
  EXPECT_EQ(*NormalizeSha256Fingerprint(hex), hex);
  EXPECT_EQ(*NormalizeSha256Fingerprint(" sha256 Fingerprint=" + colon + "\n"), hex);
  std::string upper_hex = hex;
  for (char& c : upper_hex) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(*NormalizeSha256Fingerprint(upper_hex), hex);
  EXPECT_FALSE(NormalizeSha256Fingerprint(hex.substr(2)));  // too short
  EXPECT_FALSE(NormalizeSha256Fingerprint(hex + "00"));     // too long
  EXPECT_FALSE(NormalizeSha256Fingerprint("zz" + hex.substr(2)));
  EXPECT_FALSE(NormalizeSha256Fingerprint(""));
}

TEST(ClientConfigTest, FindsThePinnedCertificateOrNamesBothFingerprints) {
  auto root = pki::Certificate::ParseAll(Fixture("chain-root.pem"));
  auto intermediate = pki::Certificate::ParseAll(Fixture("chain-int.pem"));
  ASSERT_TRUE(root && intermediate);
  std::vector<pki::Certificate> chain = {intermediate->front(), root->front()};
  const std::string root_fp = OpensslFingerprint("chain-root.pem");
  const std::string int_fp = OpensslFingerprint("chain-int.pem");

  auto found = FindPinnedCertificate(chain, root_fp);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->Equals(root->front()));

  auto wrong = FindPinnedCertificate({intermediate->front()}, root_fp);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kVerifyFailed);
  EXPECT_NE(wrong.error().message.find("expected " + root_fp), std::string::npos)
      << wrong.error().message;
  EXPECT_NE(wrong.error().message.find(int_fp), std::string::npos) << wrong.error().message;
}

// The attack: any certificate the cluster CA signed (an operator's, for the server's names)
// chains to the pinned root exactly as the api certificate does; only the api certificate carries
// the control-plane identity URI, or is pinned itself.
TEST(ClientConfigTest, OnlyTheClusterApiCertificateOrThePinnedLeafIsTheControlPlane) {
  const pki::TestPki pki = pki::MakeTestPki();
  const pki::TestLeaf api = pki::IssueLeaf(
      pki.issuing, pki::IssueRequest{.profile = pki::Profile::kPeer,
                                     .common_name = "cluster.example.com",
                                     .sans = {.ips = {"127.0.0.1"},
                                              .uris = {std::string(authority::kControlPlaneUri)}}});
  const pki::TestLeaf operators =
      pki::IssueLeaf(pki.issuing, pki::IssueRequest{.profile = pki::Profile::kPeer,
                                                    .common_name = "cluster.example.com",
                                                    .sans = {.ips = {"127.0.0.1"}}});
  const std::string root_pem = pki.root.ToPem();

  EXPECT_TRUE(CheckClusterApiServer(root_pem, {api.cert, pki.intermediate}));
  auto refused = CheckClusterApiServer(root_pem, {operators.cert, pki.intermediate});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kVerifyFailed);
  EXPECT_NE(refused.error().message.find("not the cluster's api certificate"), std::string::npos);
  EXPECT_NE(refused.error().message.find(operators.cert.fingerprint().colon), std::string::npos);
  EXPECT_NE(refused.error().message.find("nothing was sent"), std::string::npos);
  // Pinned to that very certificate (an api certificate replaced by hand): trusted.
  EXPECT_TRUE(CheckClusterApiServer(operators.cert.ToPem(), {operators.cert}));
  EXPECT_TRUE(ClusterApiCheck(operators.cert.ToPem())({operators.cert, pki.intermediate}));
  EXPECT_FALSE(ClusterApiCheck(root_pem)({operators.cert}));
  EXPECT_FALSE(CheckClusterApiServer(root_pem, {}));
}

}  // namespace
}  // namespace clustertls::cli
