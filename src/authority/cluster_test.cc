#include "authority/cluster.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "authority/named_cert.h"
#include "authority/secrets.h"
#include "net/tls_policy.h"  // header-only constants: the policy default must match net's
#include "ossl/csprng.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ctls-cluster-test.XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

std::string BlobText(const store::Blob& blob) { return std::string(blob.begin(), blob.end()); }

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    store_ = Must(store::Store::Open(dir_ + "/clustertls.db"), "open store");
    sealing_ = Must(SealingKey::Generate(rng_), "sealing key");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  InitResult Init(InitOptions options = {.fqdn = "mycluster.example.com"}) {
    return Must(InitializeCluster(*store_, *sealing_, options, clock_, rng_), "init");
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  core::FixedClock clock_{pki::kTestReferenceTime};
  ossl::Csprng rng_;
  std::optional<SealingKey> sealing_;
};

TEST_F(ClusterTest, InitCreatesTheCaChain) {
  InitResult r = Init({.fqdn = "MyCluster.Example.COM."});

  EXPECT_TRUE(r.root.is_ca());
  EXPECT_TRUE(r.root.IsSelfIssued());
  EXPECT_TRUE(r.root.IsSignedBy(r.root));
  EXPECT_EQ(r.root.not_before(), pki::kTestReferenceTime - pki::kBackdate);
  EXPECT_TRUE(r.issuing.is_ca());
  EXPECT_EQ(r.issuing.path_len(), 0);
  EXPECT_TRUE(r.issuing.IsSignedBy(r.root));
  EXPECT_FALSE(r.issuing.IsSignedBy(r.issuing));
  EXPECT_NE(r.root.subject().find("O=clustertls mycluster.example.com"), std::string::npos)
      << r.root.subject();

  // The stored records are those certificates; the issuing record carries its chain.
  store::CaRecord root_rec = Must(store_->GetCa(std::string(kRootCaId)));
  store::CaRecord issuing_rec = Must(store_->GetCa(std::string(kIssuingCaId)));
  EXPECT_TRUE(Must(pki::Certificate::FromPem(root_rec.chain_pem)).Equals(r.root));
  auto chain = Must(pki::Certificate::ParseAll(issuing_rec.chain_pem));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_TRUE(chain[0].Equals(r.issuing));
  EXPECT_TRUE(chain[1].Equals(r.root));
  EXPECT_EQ(Must(store_->GetConfig(std::string(kConfigFqdn))), "mycluster.example.com");
}

TEST_F(ClusterTest, RootKeyIsEncryptedUnderTheGeneratedPassphrase) {
  InitResult r = Init();
  ASSERT_EQ(r.root_passphrase.size(), 24u);

  const std::string stored = BlobText(Must(store_->GetCa(std::string(kRootCaId))).encrypted_key);
  EXPECT_NE(stored.find("-----BEGIN ENCRYPTED PRIVATE KEY-----"), std::string::npos);
  EXPECT_EQ(stored.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

  auto no_pass = pki::PrivateKey::Parse(stored);
  ASSERT_FALSE(no_pass);
  EXPECT_EQ(no_pass.error().code, ErrorCode::kWrongPassphrase);
  auto wrong = pki::PrivateKey::Parse(stored, std::string_view("not the passphrase"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase);
  pki::PrivateKey key = Must(pki::PrivateKey::Parse(stored, std::string_view(r.root_passphrase)));
  EXPECT_TRUE(key.Matches(r.root.public_key()));

  // Independent check: openssl decrypts it with the passphrase and derives the same public key.
  WriteFile(dir_ + "/root.key", stored);
  WriteFile(dir_ + "/root.pass", r.root_passphrase);
  WriteFile(dir_ + "/root.crt", r.root.ToPem());
  pki::CommandResult from_key = pki::RunCommand(
      "openssl pkey -in " + dir_ + "/root.key -passin file:" + dir_ + "/root.pass -pubout 2>&1");
  pki::CommandResult from_cert =
      pki::RunCommand("openssl x509 -in " + dir_ + "/root.crt -noout -pubkey 2>&1");
  ASSERT_EQ(from_key.exit_code, 0) << from_key.output;
  ASSERT_EQ(from_cert.exit_code, 0) << from_cert.output;
  EXPECT_EQ(from_key.output, from_cert.output);
}

TEST_F(ClusterTest, GivenPassphraseIsUsedAndNotReturned) {
  InitResult r = Init({.fqdn = "c.example.com", .root_passphrase = "correct horse battery"});
  EXPECT_TRUE(r.root_passphrase.empty());
  const std::string stored = BlobText(Must(store_->GetCa(std::string(kRootCaId))).encrypted_key);
  pki::PrivateKey key =
      Must(pki::PrivateKey::Parse(stored, std::string_view("correct horse battery")));
  EXPECT_TRUE(key.Matches(r.root.public_key()));
}

TEST_F(ClusterTest, IssuingKeyIsSealedBoundToItsPurpose) {
  InitResult r = Init();
  const store::Blob blob = Must(store_->GetCa(std::string(kIssuingCaId))).encrypted_key;
  const std::string text = BlobText(blob);
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(text.find("-----BEGIN"), std::string::npos);

  const std::string pem = Must(sealing_->Open(blob, "ca:issuing"));
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_TRUE(Must(pki::PrivateKey::Parse(pem)).Matches(r.issuing.public_key()));
  auto other_aad = sealing_->Open(blob, "named:api");
  ASSERT_FALSE(other_aad);
  EXPECT_EQ(other_aad.error().code, ErrorCode::kWrongPassphrase);
}

TEST_F(ClusterTest, NamedCertificatesCoverTheFqdnAndChainToTheRoot) {
  InitResult r = Init();
  const std::string fqdn = "mycluster.example.com";
  std::vector<store::NamedCert> listed = Must(store_->ListNamedCerts());
  ASSERT_EQ(listed.size(), std::size(kDefaultNamedCerts));

  WriteFile(dir_ + "/root.pem", r.root.ToPem());
  WriteFile(dir_ + "/issuing.pem", r.issuing.ToPem());
  const auto at = std::to_string(pki::kTestReferenceTime.time_since_epoch().count());

  for (std::string_view name : kDefaultNamedCerts) {
    SCOPED_TRACE(std::string(name));
    // The key is sealed in the store, bound to this name.
    store::NamedCert raw = Must(store_->GetNamedCert(std::string(name)));
    EXPECT_EQ(raw.version, 1);
    EXPECT_EQ(BlobText(raw.encrypted_key).find("PRIVATE KEY"), std::string::npos);

    OpenedNamedCert named = Must(GetNamedCert(*store_, *sealing_, std::string(name)));
    ASSERT_EQ(named.chain.size(), 3u);
    const pki::Certificate& leaf = named.chain[0];
    EXPECT_TRUE(named.key.Matches(leaf.public_key()));
    EXPECT_TRUE(named.chain[1].Equals(r.issuing));
    EXPECT_TRUE(named.chain[2].Equals(r.root));
    EXPECT_TRUE(leaf.IsSignedBy(r.issuing));
    EXPECT_FALSE(leaf.is_ca());
    EXPECT_EQ(leaf.common_name(), fqdn);
    auto ekus = leaf.extended_key_usages();
    EXPECT_NE(std::find(ekus.begin(), ekus.end(), "serverAuth"), ekus.end());
    EXPECT_NE(std::find(ekus.begin(), ekus.end(), "clientAuth"), ekus.end());
    const auto dns = leaf.sans().dns;
    for (const std::string& want : RedisSanLayout(fqdn)) {
      EXPECT_NE(std::find(dns.begin(), dns.end(), want), dns.end()) << want;
    }
    const auto ips = leaf.sans().ips;
    if (name == "api") {
      EXPECT_NE(std::find(dns.begin(), dns.end(), "localhost"), dns.end());
      EXPECT_NE(std::find(ips.begin(), ips.end(), "127.0.0.1"), ips.end());
      EXPECT_NE(std::find(ips.begin(), ips.end(), "::1"), ips.end());
    } else {
      EXPECT_TRUE(ips.empty());
    }

    // Independent judge: openssl verifies the leaf for TLS servers, by name, at init time.
    WriteFile(dir_ + "/leaf.pem", leaf.ToPem());
    pki::CommandResult v =
        pki::RunCommand("openssl verify -attime " + at + " -purpose sslserver -verify_hostname " +
                        fqdn + " -CAfile " + dir_ + "/root.pem -untrusted " + dir_ +
                        "/issuing.pem " + dir_ + "/leaf.pem 2>&1");
    EXPECT_EQ(v.exit_code, 0) << v.output;
    EXPECT_NE(v.output.find(": OK"), std::string::npos) << v.output;
  }
}

TEST_F(ClusterTest, NamedCertificatesAreRecordedAsIssuedWithTheGivenUrls) {
  InitOptions options{.fqdn = "mycluster.example.com"};
  options.crl_urls = {"http://ca.mycluster.example.com:9080/v1/crl"};
  options.ocsp_urls = {"http://ca.mycluster.example.com:9080/ocsp"};
  Init(options);
  store::CertPage page = Must(store_->ListIssued({}, {.limit = 100}));
  ASSERT_EQ(page.certs.size(), std::size(kDefaultNamedCerts));
  for (std::string_view name : kDefaultNamedCerts) {
    SCOPED_TRACE(std::string(name));
    OpenedNamedCert named = Must(GetNamedCert(*store_, *sealing_, std::string(name)));
    const pki::Certificate& leaf = named.chain[0];
    store::IssuedCert record = Must(store_->GetIssued(leaf.serial_hex()));
    EXPECT_EQ(record.issuer_id, kIssuingCaId);
    EXPECT_EQ(record.profile, "peer");
    EXPECT_EQ(record.issued_by, "init");
    EXPECT_EQ(record.subject_cn, "mycluster.example.com");
    EXPECT_EQ(record.issued_at, pki::kTestReferenceTime);
    EXPECT_EQ(record.not_after, leaf.not_after());
    EXPECT_EQ(std::string(record.der.begin(), record.der.end()), leaf.ToDer());
    EXPECT_FALSE(record.revoked_at.has_value());

    // Independent judge: openssl reads the CRL distribution point and the OCSP URL.
    WriteFile(dir_ + "/leaf.pem", leaf.ToPem());
    pki::CommandResult x = pki::RunCommand(
        "openssl x509 -noout -ext "
        "crlDistributionPoints,authorityInfoAccess -in " +
        dir_ + "/leaf.pem 2>&1");
    EXPECT_EQ(x.exit_code, 0) << x.output;
    EXPECT_NE(x.output.find("URI:http://ca.mycluster.example.com:9080/v1/crl"), std::string::npos)
        << x.output;
    EXPECT_NE(x.output.find("OCSP - URI:http://ca.mycluster.example.com:9080/ocsp"),
              std::string::npos)
        << x.output;
  }
}

TEST_F(ClusterTest, WithoutUrlsTheNamedCertificatesCarryNone) {
  Init();
  OpenedNamedCert api = Must(GetNamedCert(*store_, *sealing_, "api"));
  WriteFile(dir_ + "/leaf.pem", api.chain[0].ToPem());
  pki::CommandResult x =
      pki::RunCommand("openssl x509 -noout -text -in " + dir_ + "/leaf.pem 2>&1");
  EXPECT_EQ(x.exit_code, 0) << x.output;
  EXPECT_EQ(x.output.find("CRL Distribution Points"), std::string::npos) << x.output;
  EXPECT_EQ(x.output.find("OCSP"), std::string::npos) << x.output;
}

// A data directory made before init recorded the named certificates: serve records them late.
TEST_F(ClusterTest, UnrecordedNamedCertificatesOfTheClusterCaAreRecordedOnce) {
  Init();
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  EXPECT_TRUE(Must(RecordUnrecordedNamedCerts(*store_, ca, clock_)).empty());
  // "edge": issued by the cluster CA without a record (as init did before); "vendor": a
  // certificate of another CA.
  pki::PrivateKey key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  pki::Certificate edge = Must(ca.issuing.Issue(
      {.profile = pki::Profile::kPeer, .common_name = "edge.mycluster.example.com"},
      key.public_key(), clock_.Now(), rng_));
  Must(PutNamedCert(*store_, *sealing_, "edge", key, edge.ToPem() + ca.chain_pem, clock_.Now(),
                    "test", rng_));
  pki::Certificate vendor = Must(
      pki::SelfSign(key, {.profile = pki::Profile::kServer, .common_name = "vendor.example.com"},
                    clock_.Now(), rng_));
  Must(PutNamedCert(*store_, *sealing_, "vendor", key, vendor.ToPem(), clock_.Now(), "test", rng_));
  const std::size_t audit_before = Must(store_->ListAudit(0, 100)).size();

  clock_.Set(pki::kTestReferenceTime + std::chrono::hours(2));
  EXPECT_EQ(Must(RecordUnrecordedNamedCerts(*store_, ca, clock_)),
            std::vector<std::string>{"edge"});
  store::IssuedCert record = Must(store_->GetIssued(edge.serial_hex()));
  EXPECT_EQ(record.issuer_id, kIssuingCaId);
  EXPECT_EQ(record.profile, "peer");
  EXPECT_EQ(record.issued_by, "serve");
  EXPECT_EQ(record.issued_at, clock_.Now());
  EXPECT_EQ(record.subject_cn, "edge.mycluster.example.com");
  auto vendor_record = store_->GetIssued(vendor.serial_hex());
  ASSERT_FALSE(vendor_record) << "a certificate of another CA was recorded";
  EXPECT_EQ(vendor_record.error().code, ErrorCode::kNotFound);
  auto audit = Must(store_->ListAudit(0, 100));
  ASSERT_EQ(audit.size(), audit_before + 1);
  EXPECT_EQ(audit.back().action, "cert.sign");
  EXPECT_EQ(audit.back().target, edge.serial_hex());
  EXPECT_EQ(nlohmann::json::parse(audit.back().details_json)["recorded_late"], true);
  // Once: a second start records nothing.
  EXPECT_TRUE(Must(RecordUnrecordedNamedCerts(*store_, ca, clock_)).empty());
  EXPECT_EQ(Must(store_->ListAudit(0, 100)).size(), audit_before + 1);
}

// serve's start-up warning: named certificates that send relying parties to another server.
TEST_F(ClusterTest, NamedCertificatesPointingAtAnotherServerAreFoundWithTheirUrls) {
  InitOptions options{.fqdn = "mycluster.example.com"};
  options.crl_urls = {"http://127.0.0.1:9080/v1/crl"};
  options.ocsp_urls = {"http://127.0.0.1:9080/ocsp"};
  Init(options);
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  const pki::Certificate& issuing = ca.issuing.certificate();

  std::vector<NamedUrlMismatch> other =
      Must(NamedCertsNotPointingAt(*store_, issuing, "http://127.0.0.1:9443"));
  std::vector<std::string> names;
  for (const NamedUrlMismatch& m : other) {
    names.push_back(m.name);
    EXPECT_EQ(m.crl_urls, std::vector<std::string>{"http://127.0.0.1:9080/v1/crl"}) << m.name;
    EXPECT_EQ(m.ocsp_urls, std::vector<std::string>{"http://127.0.0.1:9080/ocsp"}) << m.name;
  }
  std::vector<std::string> expected(std::begin(kDefaultNamedCerts), std::end(kDefaultNamedCerts));
  std::sort(names.begin(), names.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);

  // The same server (also with the scheme in capitals, as the issuer writes it lower-case), or
  // no public URL at all: nothing to say.
  EXPECT_TRUE(Must(NamedCertsNotPointingAt(*store_, issuing, "http://127.0.0.1:9080")).empty());
  EXPECT_TRUE(Must(NamedCertsNotPointingAt(*store_, issuing, "HTTP://127.0.0.1:9080")).empty());
  EXPECT_TRUE(Must(NamedCertsNotPointingAt(*store_, issuing, "")).empty());
  // Another host, another scheme, a path prefix: another server.
  EXPECT_EQ(Must(NamedCertsNotPointingAt(*store_, issuing, "http://localhost:9080")).size(),
            std::size(kDefaultNamedCerts));
  EXPECT_EQ(Must(NamedCertsNotPointingAt(*store_, issuing, "https://127.0.0.1:9080")).size(),
            std::size(kDefaultNamedCerts));
  EXPECT_EQ(Must(NamedCertsNotPointingAt(*store_, issuing, "http://127.0.0.1:9080/pki")).size(),
            std::size(kDefaultNamedCerts));
}

TEST_F(ClusterTest, NamedUrlCheckNeedsBothUrlsAndSkipsOtherCasAndCertificatesWithoutUrls) {
  Init();  // the named certificates carry no URLs
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  const pki::Certificate& issuing = ca.issuing.certificate();
  const std::string here = "http://ca.mycluster.example.com:9080";
  EXPECT_TRUE(Must(NamedCertsNotPointingAt(*store_, issuing, here)).empty());

  auto put = [&](const std::string& name, const pki::IssueRequest& request, bool ours) {
    pki::PrivateKey key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    pki::Certificate cert =
        ours ? Must(ca.issuing.Issue(request, key.public_key(), clock_.Now(), rng_))
             : Must(pki::SelfSign(key, request, clock_.Now(), rng_));
    Must(PutNamedCert(*store_, *sealing_, name, key, cert.ToPem() + (ours ? ca.chain_pem : ""),
                      clock_.Now(), "test", rng_));
  };
  const pki::IssueRequest base{.profile = pki::Profile::kPeer,
                               .common_name = "mycluster.example.com"};
  // Both, among others: fine.
  pki::IssueRequest both = base;
  both.crl_urls = {"http://mirror.example.com/issuing.crl", here + "/v1/crl"};
  both.ocsp_urls = {here + "/ocsp", "http://ocsp.example.com"};
  put("api", both, true);
  // OCSP right, CRL elsewhere.
  pki::IssueRequest crl_elsewhere = base;
  crl_elsewhere.crl_urls = {"http://old.example.com:9080/v1/crl"};
  crl_elsewhere.ocsp_urls = {here + "/ocsp"};
  put("proxy", crl_elsewhere, true);
  // Only the CRL, right: no OCSP responder named, so not this server's either.
  pki::IssueRequest crl_only = base;
  crl_only.crl_urls = {here + "/v1/crl"};
  put("syncer", crl_only, true);
  // Another CA's certificate naming another server: left alone.
  pki::IssueRequest vendor = {.profile = pki::Profile::kServer,
                              .common_name = "vendor.example.com",
                              .crl_urls = {"http://vendor.example.com/crl"},
                              .ocsp_urls = {"http://vendor.example.com/ocsp"}};
  put("vendor", vendor, false);

  std::vector<NamedUrlMismatch> found = Must(NamedCertsNotPointingAt(*store_, issuing, here));
  std::map<std::string, NamedUrlMismatch> by_name;
  for (NamedUrlMismatch& m : found) {
    by_name[m.name] = m;
  }
  ASSERT_EQ(by_name.size(), 2u) << "found " << found.size();
  ASSERT_EQ(by_name.count("proxy"), 1u);
  EXPECT_EQ(by_name["proxy"].crl_urls,
            std::vector<std::string>{"http://old.example.com:9080/v1/crl"});
  EXPECT_EQ(by_name["proxy"].ocsp_urls, std::vector<std::string>{here + "/ocsp"});
  ASSERT_EQ(by_name.count("syncer"), 1u);
  EXPECT_EQ(by_name["syncer"].crl_urls, std::vector<std::string>{here + "/v1/crl"});
  EXPECT_TRUE(by_name["syncer"].ocsp_urls.empty());
}

TEST_F(ClusterTest, NamedUrlCheckFailsOnAStoredChainThatDoesNotParse) {
  Init({.fqdn = "mycluster.example.com",
        .crl_urls = {"http://a:9080/v1/crl"},
        .ocsp_urls = {"http://a:9080/ocsp"}});
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  store::NamedCert cm = Must(store_->GetNamedCert("cm"));
  cm.chain_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  Must(store_->PutNamedCert(cm));
  auto r = NamedCertsNotPointingAt(*store_, ca.issuing.certificate(), "http://b:9080");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
  EXPECT_NE(r.error().message.find("\"cm\""), std::string::npos) << r.error().message;
}

TEST_F(ClusterTest, AdminPolicyAndAuditAreWritten) {
  InitResult r = Init();
  store::User admin = Must(store_->GetUser("admin"));
  EXPECT_EQ(admin.role, "admin");
  EXPECT_FALSE(admin.disabled);
  EXPECT_EQ(r.admin_password.size(), 24u);
  EXPECT_TRUE(VerifyPassword(r.admin_password, admin.password_hash));
  EXPECT_FALSE(VerifyPassword(r.admin_password + "x", admin.password_hash));
  EXPECT_EQ(admin.password_hash.find(r.admin_password), std::string::npos);

  store::PolicyDoc policy = Must(store_->GetPolicy());
  EXPECT_EQ(policy.version, 1);
  auto doc = nlohmann::json::parse(policy.json);
  EXPECT_EQ(doc.size(), 5u);
  EXPECT_EQ(doc["min_control_tls_version"], "1.2");
  EXPECT_EQ(doc["min_data_tls_version"], "1.2");
  EXPECT_EQ(doc["cipher_suites"], std::string(net::kIntermediateCipherList));
  EXPECT_EQ(doc["tls13_ciphersuites"], std::string(net::kDefaultTls13Ciphersuites));
  EXPECT_EQ(doc["client_auth"], "none");

  // "cluster.init" opens the log; then one "cert.sign" per named certificate.
  auto audit = Must(store_->ListAudit(0, 100));
  ASSERT_EQ(audit.size(), 1u + std::size(kDefaultNamedCerts));
  EXPECT_EQ(audit[0].action, "cluster.init");
  EXPECT_EQ(audit[0].target, "mycluster.example.com");
  EXPECT_EQ(audit[0].time, pki::kTestReferenceTime);
  auto details = nlohmann::json::parse(audit[0].details_json);
  EXPECT_EQ(details["root_sha256"], r.root.fingerprint().colon);
  AuditVerifier verifier;
  for (std::size_t i = 0; i < audit.size(); ++i) {
    verifier.Add(audit[i]);
    if (i > 0) {
      EXPECT_EQ(audit[i].action, "cert.sign");
      EXPECT_EQ(audit[i].actor, "init");
      EXPECT_EQ(audit[i].target,
                Must(GetNamedCert(*store_, *sealing_, std::string(kDefaultNamedCerts[i - 1])))
                    .chain[0]
                    .serial_hex());
      EXPECT_EQ(nlohmann::json::parse(audit[i].details_json)["named"], kDefaultNamedCerts[i - 1]);
    }
  }
  EXPECT_TRUE(verifier.result().ok) << verifier.result().problem;
}

TEST_F(ClusterTest, SecondInitIsRefusedAndChangesNothing) {
  InitResult first = Init();
  auto second = InitializeCluster(*store_, *sealing_, {.fqdn = "other.example.com"}, clock_, rng_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_TRUE(
      Must(pki::Certificate::FromPem(Must(store_->GetCa("root")).chain_pem)).Equals(first.root));
  EXPECT_EQ(Must(store_->GetConfig(std::string(kConfigFqdn))), "mycluster.example.com");
  EXPECT_EQ(Must(store_->ListAudit(0, 100)).size(), 1u + std::size(kDefaultNamedCerts));
  EXPECT_EQ(Must(store_->ListUsers()).size(), 1u);
  EXPECT_EQ(Must(store_->GetNamedCert("api")).version, 1);
}

TEST_F(ClusterTest, BadOptionsAreRefusedBeforeAnythingIsStored) {
  struct Case {
    InitOptions options;
    ErrorCode code;
  };
  std::vector<Case> cases;
  cases.push_back({{.fqdn = ""}, ErrorCode::kInvalidName});
  cases.push_back({{.fqdn = "*.example.com"}, ErrorCode::kInvalidName});
  cases.push_back({{.fqdn = "bad name.example.com"}, ErrorCode::kInvalidName});
  cases.push_back({{.fqdn = "a.example.com", .root_passphrase = ""}, ErrorCode::kInvalidArgument});
  cases.push_back(
      {{.fqdn = "a.example.com", .api_extra_sans = {"bad_host!"}}, ErrorCode::kInvalidName});
  cases.push_back({{.fqdn = "a.example.com", .named_validity = std::chrono::days(0)},
                   ErrorCode::kInvalidArgument});
  // The issuing CA may not outlive the root.
  cases.push_back({{.fqdn = "a.example.com",
                    .root_validity = std::chrono::days(100),
                    .issuing_validity = std::chrono::days(200)},
                   ErrorCode::kExpired});
  for (const Case& c : cases) {
    auto r = InitializeCluster(*store_, *sealing_, c.options, clock_, rng_);
    ASSERT_FALSE(r) << c.options.fqdn;
    EXPECT_EQ(r.error().code, c.code) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  auto root = store_->GetCa(std::string(kRootCaId));
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Must(store_->ListAudit(0, 10)).empty());
  // The store is still usable for a good init.
  Init();
}

TEST_F(ClusterTest, LoadClusterCa) {
  auto before = LoadClusterCa(*store_, *sealing_);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, ErrorCode::kNotFound);
  EXPECT_NE(before.error().message.find("clustertls init"), std::string::npos);

  InitResult r = Init();
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  EXPECT_TRUE(ca.root.Equals(r.root));
  EXPECT_TRUE(ca.issuing.certificate().Equals(r.issuing));
  EXPECT_EQ(ca.issuer_id, "issuing");
  ASSERT_EQ(ca.issuing.chain().size(), 1u);
  EXPECT_TRUE(ca.issuing.chain()[0].Equals(r.root));
  EXPECT_EQ(ca.chain_pem, r.issuing.ToPem() + r.root.ToPem());
  // The loaded issuer signs.
  pki::TestLeaf leaf =
      pki::IssueLeaf(ca.issuing, pki::IssueRequest{.common_name = "w.example.com"});
  EXPECT_TRUE(leaf.cert.IsSignedBy(r.issuing));

  SealingKey other = Must(SealingKey::Generate(rng_));
  auto wrong = LoadClusterCa(*store_, other);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_NE(wrong.error().message.find("sealing key"), std::string::npos);
}

TEST_F(ClusterTest, PutAndGetNamedCert) {
  InitResult r = Init();
  ClusterCa ca = Must(LoadClusterCa(*store_, *sealing_));
  pki::TestLeaf leaf = pki::IssueLeaf(
      ca.issuing,
      pki::IssueRequest{.profile = pki::Profile::kPeer, .common_name = "mycluster.example.com"});
  const std::string chain_pem = leaf.cert.ToPem() + ca.chain_pem;
  std::int64_t v = Must(PutNamedCert(*store_, *sealing_, "api", leaf.key, chain_pem,
                                     pki::kTestReferenceTime, "alice", rng_));
  EXPECT_EQ(v, 2);
  OpenedNamedCert got = Must(GetNamedCert(*store_, *sealing_, "api"));
  EXPECT_EQ(got.version, 2);
  ASSERT_EQ(got.chain.size(), 3u);
  EXPECT_TRUE(got.chain[0].Equals(leaf.cert));
  EXPECT_TRUE(got.key.Matches(leaf.cert.public_key()));
  EXPECT_EQ(Must(store_->GetNamedCert("api")).created_by, "alice");

  // A new name works; a bad name is refused.
  EXPECT_EQ(Must(PutNamedCert(*store_, *sealing_, "redis-node_1", leaf.key, chain_pem,
                              pki::kTestReferenceTime, "alice", rng_)),
            1);
  auto bad = PutNamedCert(*store_, *sealing_, "Bad Name", leaf.key, chain_pem,
                          pki::kTestReferenceTime, "alice", rng_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);

  auto missing = GetNamedCert(*store_, *sealing_, "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  SealingKey other = Must(SealingKey::Generate(rng_));
  auto wrong = GetNamedCert(*store_, other, "api");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase);

  // A sealed key moved to another name's record does not open (aad "named:<name>").
  store::NamedCert cm = Must(store_->GetNamedCert("cm"));
  cm.name = "proxy";
  Must(store_->PutNamedCert(cm));
  auto moved = GetNamedCert(*store_, *sealing_, "proxy");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, ErrorCode::kWrongPassphrase);
  (void)r;
}

}  // namespace
}  // namespace clustertls::authority
