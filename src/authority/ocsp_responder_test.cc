#include "authority/ocsp_responder.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authority/authority.h"
#include "authority/cluster.h"
#include "authority/secrets.h"
#include "ossl/csprng.h"
#include "ossl/ptr.h"
#include "pki/csr.h"
#include "pki/ocsp.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;
using std::chrono::hours;
using std::chrono::minutes;

std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ctls-ocsp-test.XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// The responder certificate a successful OCSPResponse carries (RFC 6960 4.2.2.2).
pki::Certificate ResponseSigner(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto resp = ossl::Own(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_TRUE(resp);
  auto basic = ossl::Own(OCSP_response_get1_basic(resp.get()));
  EXPECT_TRUE(basic);
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(basic.get());
  EXPECT_EQ(sk_X509_num(certs), 1);
  X509* signer = sk_X509_value(certs, 0);
  EXPECT_EQ(X509_up_ref(signer), 1);
  return pki::Certificate::Adopt(ossl::Ptr<X509>(signer));
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs one SQL statement on the store's database file through a separate connection.
void ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string CsrPem(const std::string& cn) {
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  return Must(pki::Csr::Create(key, {.common_name = cn})).ToPem();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Every test starts from a copy of one initialised cluster (init is slow: made once). Requests
// are made and responses judged by the openssl CLI.
class OcspResponderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    template_dir_ = new std::string(MakeTempDir());
    ossl::Csprng csprng;
    core::FixedClock clock(pki::kTestReferenceTime);
    auto store = Must(store::Store::Open(*template_dir_ + "/clustertls.db"), "open store");
    template_sealing_ = new SealingKey(Must(SealingKey::Generate(csprng)));
    template_init_ = new InitResult(Must(InitializeCluster(
        *store, *template_sealing_, {.fqdn = "mycluster.example.com"}, clock, csprng)));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*template_dir_);
    delete template_dir_;
    delete template_sealing_;
    delete template_init_;
  }

  void SetUp() override {
    dir_ = MakeTempDir();
    db_path_ = dir_ + "/clustertls.db";
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = *template_dir_ + "/clustertls.db" + suffix;
      if (std::filesystem::exists(from)) {
        std::filesystem::copy_file(from, db_path_ + suffix);
      }
    }
    store_ = Must(store::Store::Open(db_path_), "open store");
    ca_ = Must(LoadClusterCa(*store_, *template_sealing_), "load CA");
    authority_ =
        Must(Authority::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}),
             "authority");
    responder_ = MakeResponder({});
    WriteFile(Path("root.pem"), template_init_->root.ToPem());
    WriteFile(Path("issuing.pem"), template_init_->issuing.ToPem());
  }
  void TearDown() override {
    responder_.reset();
    authority_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<OcspResponder> MakeResponder(OcspResponderOptions options) {
    options.store = store_.get();
    options.clock = &clock_;
    options.rng = &rng_;
    return Must(OcspResponder::Create(*ca_, options), "responder");
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Signs a certificate for `cn` through the authority (so it is recorded); returns the path of
  // its PEM file. `serial` receives its serial.
  std::string IssueRecorded(const std::string& cn, std::string* serial = nullptr) {
    SignedCert s = Must(authority_->Sign({.csr_pem = CsrPem(cn), .actor = "alice"}), "sign");
    const std::string path = Path(cn + ".pem");
    WriteFile(path, s.certificate_pem);
    if (serial != nullptr) {
      *serial = s.serial_hex;
    }
    return path;
  }

  // `openssl ocsp -reqout` for `certs` (all issued by `issuer_pem`).
  std::string MakeRequest(const std::vector<std::string>& certs, const std::string& flags,
                          const std::string& issuer_pem = "") {
    std::string cmd = "openssl ocsp " + flags + " -issuer " +
                      (issuer_pem.empty() ? Path("issuing.pem") : issuer_pem);
    for (const std::string& c : certs) {
      cmd += " -cert " + c;
    }
    cmd += " -reqout " + Path("req.der") + " 2>&1";
    pki::CommandResult r = pki::RunCommand(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    return ReadFile(Path("req.der"));
  }

  // `openssl ocsp -respin` on `response`: signature and chain (the root trusted, the issuing CA
  // as an untrusted intermediate) at the test clock's time, and the status of each of `certs`
  // (`flags` must repeat the request's -no_nonce / -sha256). The status times are judged with
  // a wide window: the test clock is not the wall clock that openssl reads for them.
  pki::CommandResult Judge(const std::string& response, const std::vector<std::string>& certs,
                           const std::string& flags) {
    WriteFile(Path("resp.der"), response);
    std::string cmd = "openssl ocsp " + flags + " -respin " + Path("resp.der") + " -issuer " +
                      Path("issuing.pem") + " -CAfile " + Path("root.pem") + " -verify_other " +
                      Path("issuing.pem") + " -attime " +
                      std::to_string(clock_.Now().time_since_epoch().count()) +
                      " -validity_period 400000000 -resp_text";
    for (const std::string& c : certs) {
      cmd += " -cert " + c;
    }
    return pki::RunCommand(cmd + " 2>&1");
  }

  // GnuTLS' ocsptool on `response` (written by the last Judge): its reading of the statuses,
  // and its verification against the issuing CA as trust anchor. ocsptool checks the signer's
  // validity at the wall-clock time, after the test clock's signer expired: that must be its
  // only complaint (it checks trust and key usage first; openssl verified the signature).
  std::string Gnutls() {
    pki::CommandResult r = pki::RunCommand("ocsptool -e --load-trust " + Path("issuing.pem") +
                                           " -S " + Path("resp.der") + " 2>&1");
    EXPECT_TRUE(Contains(r.output, "Verifying OCSP Response: Success") ||
                Contains(r.output, "Verifying OCSP Response: Failure, Signer cert expired.\n"))
        << r.output;
    return r.output;
  }

  // The error status text `openssl ocsp -resp_text` prints for `response` (unsigned responses).
  std::string ErrorText(const std::string& response) {
    WriteFile(Path("err.der"), response);
    return pki::RunCommand("openssl ocsp -respin " + Path("err.der") + " -resp_text -noverify 2>&1")
        .output;
  }

  void Revoke(const std::string& serial, const std::string& reason, core::TimePoint at) {
    Must(store_->RevokeAudited(
             serial, at, reason,
             {.time = at, .actor = "alice", .action = "cert.revoke", .target = serial}, AuditHash),
         "revoke");
  }

  std::string dir_;
  std::string db_path_;
  std::unique_ptr<store::Store> store_;
  core::FixedClock clock_{pki::kTestReferenceTime};
  ossl::Csprng rng_;
  std::optional<ClusterCa> ca_;
  std::unique_ptr<Authority> authority_;
  std::unique_ptr<OcspResponder> responder_;

  static std::string* template_dir_;
  static SealingKey* template_sealing_;
  static InitResult* template_init_;
};

std::string* OcspResponderTest::template_dir_ = nullptr;
SealingKey* OcspResponderTest::template_sealing_ = nullptr;
InitResult* OcspResponderTest::template_init_ = nullptr;

TEST_F(OcspResponderTest, GoodThenRevokedWithTimeAndReason) {
  std::string serial;
  const std::string leaf = IssueRecorded("node1.example.com", &serial);
  const std::string req = MakeRequest({leaf}, "-no_nonce");

  pki::CommandResult good = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_TRUE(Contains(good.output, "Response verify OK")) << good.output;
  EXPECT_TRUE(Contains(good.output, leaf + ": good")) << good.output;
  EXPECT_TRUE(Contains(good.output, "This Update: Jan  1 00:00:00 2026 GMT")) << good.output;
  EXPECT_TRUE(Contains(good.output, "Next Update: Jan  1 01:00:00 2026 GMT")) << good.output;
  // A delegated responder (RFC 6960 4.2.2.2): its certificate is in the response.
  EXPECT_TRUE(Contains(good.output, "OCSP Signing")) << good.output;
  const std::string gnutls_good = Gnutls();
  EXPECT_TRUE(Contains(gnutls_good, "Certificate Status: good")) << gnutls_good;
  EXPECT_TRUE(Contains(gnutls_good, "Next Update: Thu Jan 01 01:00:00 UTC 2026")) << gnutls_good;

  Revoke(serial, "keyCompromise", pki::kTestReferenceTime - minutes(30));
  responder_->Invalidate();
  pki::CommandResult revoked = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_TRUE(Contains(revoked.output, "Response verify OK")) << revoked.output;
  EXPECT_TRUE(Contains(revoked.output, leaf + ": revoked")) << revoked.output;
  EXPECT_TRUE(Contains(revoked.output, "Reason: keyCompromise")) << revoked.output;
  EXPECT_TRUE(Contains(revoked.output, "Revocation Time: Dec 31 23:30:00 2025 GMT"))
      << revoked.output;
  const std::string gnutls_revoked = Gnutls();
  EXPECT_TRUE(Contains(gnutls_revoked, "Certificate Status: revoked")) << gnutls_revoked;
  EXPECT_TRUE(Contains(gnutls_revoked, "Dec 31 23:30:00 UTC 2025")) << gnutls_revoked;
}

TEST_F(OcspResponderTest, ReasonlessOrUnknownReasonIsUnspecified) {
  std::string serial;
  const std::string leaf = IssueRecorded("node2.example.com", &serial);
  Revoke(serial, "not-a-reason", pki::kTestReferenceTime);
  pki::CommandResult r =
      Judge(responder_->Respond(MakeRequest({leaf}, "-no_nonce")), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, leaf + ": revoked")) << r.output;
  EXPECT_FALSE(Contains(r.output, "Reason:")) << r.output;  // unspecified: no reasonCode
}

TEST_F(OcspResponderTest, SerialNeverRecordedIsUnknown) {
  // Issued with the issuing CA's key but not through the authority: the store never saw it.
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  pki::Certificate ghost = Must(
      ca_->issuing.Issue({.profile = pki::Profile::kServer, .common_name = "ghost.example.com"},
                         key.public_key(), clock_.Now(), rng_));
  const std::string path = Path("ghost.pem");
  WriteFile(path, ghost.ToPem());
  pki::CommandResult r =
      Judge(responder_->Respond(MakeRequest({path}, "-no_nonce")), {path}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_TRUE(Contains(r.output, path + ": unknown")) << r.output;
}

TEST_F(OcspResponderTest, RecordOfAnotherCaIsUnknown) {
  std::string serial;
  const std::string leaf = IssueRecorded("moved.example.com", &serial);
  ExecSql(db_path_, "UPDATE issued_certs SET issuer_id = 'other' WHERE serial = '" + serial + "'");
  pki::CommandResult r =
      Judge(responder_->Respond(MakeRequest({leaf}, "-no_nonce")), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, leaf + ": unknown")) << r.output;
}

TEST_F(OcspResponderTest, AnotherIssuerIsUnauthorized) {
  pki::TestPki other = pki::MakeTestPki();
  pki::TestLeaf leaf = pki::IssueLeaf(other, "stranger.example.com");
  WriteFile(Path("other-int.pem"), other.intermediate.ToPem());
  WriteFile(Path("stranger.pem"), leaf.cert.ToPem());
  const std::string req = MakeRequest({Path("stranger.pem")}, "-no_nonce", Path("other-int.pem"));
  const std::string resp = responder_->Respond(req);
  EXPECT_EQ(resp, pki::OcspErrorResponse(pki::OcspErrorStatus::kUnauthorized));
  EXPECT_TRUE(Contains(ErrorText(resp), "unauthorized (6)")) << ErrorText(resp);

  // One foreign CertID among ours spoils the whole request.
  const std::string ours = IssueRecorded("mine.example.com");
  pki::CommandResult mixed =
      pki::RunCommand("openssl ocsp -no_nonce -issuer " + Path("issuing.pem") + " -cert " + ours +
                      " -issuer " + Path("other-int.pem") + " -cert " + Path("stranger.pem") +
                      " -reqout " + Path("mixed.der") + " 2>&1");
  ASSERT_EQ(mixed.exit_code, 0) << mixed.output;
  EXPECT_EQ(responder_->Respond(ReadFile(Path("mixed.der"))),
            pki::OcspErrorResponse(pki::OcspErrorStatus::kUnauthorized));

  // A CertID hashed with SHA-384 cannot be matched to our issuer either.
  const std::string sha384 = MakeRequest({ours}, "-no_nonce -sha384");
  EXPECT_EQ(responder_->Respond(sha384),
            pki::OcspErrorResponse(pki::OcspErrorStatus::kUnauthorized));
  EXPECT_EQ(responder_->stats().unauthorized, 3u);
  EXPECT_EQ(responder_->stats().signed_responses, 0u);
}

TEST_F(OcspResponderTest, MalformedRequests) {
  const std::string leaf = IssueRecorded("node3.example.com");
  const std::string good = MakeRequest({leaf}, "-no_nonce");
  const std::string malformed = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
  const std::vector<std::string> bad = {std::string(),
                                        "garbage",
                                        good.substr(0, good.size() - 1),
                                        good.substr(0, good.size() / 2),
                                        good + std::string("\0", 1),
                                        std::string("\x30\x00", 2),
                                        std::string(100000, '\xff')};
  for (const std::string& b : bad) {
    EXPECT_EQ(responder_->Respond(b), malformed) << b.size();
  }
  EXPECT_TRUE(Contains(ErrorText(malformed), "malformedrequest")) << ErrorText(malformed);
  EXPECT_EQ(responder_->stats().malformed, bad.size());
  EXPECT_EQ(responder_->stats().requests, bad.size());
  // Garbage is never cached: asking again still answers malformedRequest.
  EXPECT_EQ(responder_->Respond("garbage"), malformed);
  EXPECT_EQ(responder_->stats().cache_hits, 0u);
}

TEST_F(OcspResponderTest, Sha256CertIdsAndSeveralInOneRequest) {
  std::string serial_b;
  const std::string a = IssueRecorded("a.example.com");
  const std::string b = IssueRecorded("b.example.com", &serial_b);
  Revoke(serial_b, "superseded", pki::kTestReferenceTime);
  const std::string req = MakeRequest({a, b}, "-no_nonce -sha256");
  ASSERT_EQ(Must(pki::ParseOcspRequest(req)).ids.at(0).hash, pki::OcspHash::kSha256);
  pki::CommandResult r = Judge(responder_->Respond(req), {a, b}, "-no_nonce -sha256");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_TRUE(Contains(r.output, a + ": good")) << r.output;
  EXPECT_TRUE(Contains(r.output, b + ": revoked")) << r.output;
  EXPECT_TRUE(Contains(r.output, "Reason: superseded")) << r.output;
  EXPECT_TRUE(Contains(r.output, "Hash Algorithm: sha256")) << r.output;
}

TEST_F(OcspResponderTest, NonceIsEchoedAndNeverCached) {
  const std::string leaf = IssueRecorded("nonce.example.com");
  const std::string req = MakeRequest({leaf}, "");
  ASSERT_TRUE(Must(pki::ParseOcspRequest(req)).nonce.has_value());
  const std::string first = responder_->Respond(req);
  // -reqin: openssl compares the response's nonce with this request's.
  WriteFile(Path("resp.der"), first);
  pki::CommandResult r = pki::RunCommand(
      "openssl ocsp -reqin " + Path("req.der") + " -respin " + Path("resp.der") + " -CAfile " +
      Path("root.pem") + " -verify_other " + Path("issuing.pem") + " -attime " +
      std::to_string(clock_.Now().time_since_epoch().count()) + " -resp_text 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_TRUE(Contains(r.output, "OCSP Nonce")) << r.output;
  EXPECT_TRUE(Contains(r.output, "Cert Status: good")) << r.output;
  EXPECT_FALSE(Contains(r.output, "Nonce Verify error")) << r.output;
  EXPECT_FALSE(Contains(r.output, "no nonce in response")) << r.output;

  // The same request again is signed again.
  responder_->Respond(req);
  EXPECT_EQ(responder_->stats().signed_responses, 2u);
  EXPECT_EQ(responder_->stats().cache_hits, 0u);
}

// RFC 9654 section 2.1: a nonce of 0 or more than 128 octets is answered malformedRequest
// (counted, never cached); 1..128 octets are echoed.
TEST_F(OcspResponderTest, NonceLengthsOutsideRfc9654AreMalformed) {
  const std::string leaf = IssueRecorded("nonces.example.com");
  const std::string base = MakeRequest({leaf}, "-no_nonce");
  const std::string malformed = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
  const std::vector<std::string> bad = {
      pki::WithOcspNonce(base, std::string(129, 'n')),
      pki::WithOcspNonce(base, std::string(4096, 'n')),
      pki::WithRawOcspNonces(base, {std::string("\x04\x00", 2)}),
  };
  for (const std::string& b : bad) {
    EXPECT_EQ(responder_->Respond(b), malformed) << b.size();
    EXPECT_EQ(responder_->Respond(b), malformed) << b.size();  // not cached either
  }
  EXPECT_TRUE(Contains(ErrorText(malformed), "malformedrequest"));
  EXPECT_EQ(responder_->stats().malformed, 2 * bad.size());
  EXPECT_EQ(responder_->stats().signed_responses, 0u);

  for (std::size_t n : {1u, 32u, 33u, 128u}) {
    const std::string req = pki::WithOcspNonce(base, std::string(n, static_cast<char>(n)));
    WriteFile(Path("req.der"), req);
    WriteFile(Path("resp.der"), responder_->Respond(req));
    // -reqin: openssl compares the response's nonce with this request's.
    pki::CommandResult r = pki::RunCommand(
        "openssl ocsp -reqin " + Path("req.der") + " -respin " + Path("resp.der") + " -CAfile " +
        Path("root.pem") + " -verify_other " + Path("issuing.pem") + " -attime " +
        std::to_string(clock_.Now().time_since_epoch().count()) + " -resp_text 2>&1");
    EXPECT_EQ(r.exit_code, 0) << n << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, "Response verify OK")) << n << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, "Cert Status: good")) << n << ": " << r.output;
    EXPECT_FALSE(Contains(r.output, "Nonce Verify error")) << n << ": " << r.output;
    EXPECT_FALSE(Contains(r.output, "no nonce in response")) << n << ": " << r.output;
  }
  EXPECT_EQ(responder_->stats().malformed, 2 * bad.size());
  EXPECT_EQ(responder_->stats().signed_responses, 4u);
}

TEST_F(OcspResponderTest, CacheHitsUntilHalfLifeOrInvalidate) {
  const std::string leaf = IssueRecorded("cached.example.com");
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  const std::string first = responder_->Respond(req);
  EXPECT_EQ(responder_->stats().signed_responses, 1u);

  // Identical bytes from the cache, without signing (ECDSA would differ on every signature).
  clock_.Set(pki::kTestReferenceTime + minutes(29));
  EXPECT_EQ(responder_->Respond(req), first);
  EXPECT_EQ(responder_->stats().cache_hits, 1u);
  EXPECT_EQ(responder_->stats().signed_responses, 1u);

  // Half of the hour has passed: re-signed with a new thisUpdate, and cached again.
  clock_.Set(pki::kTestReferenceTime + minutes(31));
  const std::string resigned = responder_->Respond(req);
  EXPECT_NE(resigned, first);
  EXPECT_EQ(responder_->stats().signed_responses, 2u);
  pki::CommandResult r = Judge(resigned, {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, "This Update: Jan  1 00:31:00 2026 GMT")) << r.output;
  EXPECT_TRUE(Contains(r.output, "Next Update: Jan  1 01:31:00 2026 GMT")) << r.output;
  EXPECT_EQ(responder_->Respond(req), resigned);
  EXPECT_EQ(responder_->stats().cache_hits, 2u);

  // Invalidate: the next request signs.
  responder_->Invalidate();
  EXPECT_NE(responder_->Respond(req), resigned);
  EXPECT_EQ(responder_->stats().signed_responses, 3u);
  EXPECT_EQ(responder_->stats().requests, 5u);
}

TEST_F(OcspResponderTest, CacheIsBounded) {
  auto small = MakeResponder({.max_cache_entries = 1});
  const std::string a = MakeRequest({IssueRecorded("one.example.com")}, "-no_nonce");
  const std::string b = MakeRequest({IssueRecorded("two.example.com")}, "-no_nonce");
  small->Respond(a);
  small->Respond(b);  // answered, not kept
  small->Respond(a);
  small->Respond(b);
  EXPECT_EQ(small->stats().cache_hits, 1u);
  EXPECT_EQ(small->stats().signed_responses, 3u);
}

TEST_F(OcspResponderTest, RefreshSeesRevocationByAnotherInstance) {
  std::string serial;
  const std::string leaf = IssueRecorded("shared.example.com", &serial);
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  const std::string before = responder_->Respond(req);

  // Nothing changed: the cache stays.
  Must(responder_->Refresh());
  EXPECT_EQ(responder_->Respond(req), before);

  // Another instance on the same database revokes; this one's cache still says good...
  auto other = Must(store::Store::Open(db_path_), "second store");
  Must(other->Revoke(serial, pki::kTestReferenceTime, "cessationOfOperation"));
  EXPECT_EQ(responder_->Respond(req), before);
  // ...until its poller calls Refresh.
  Must(responder_->Refresh());
  pki::CommandResult r = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, leaf + ": revoked")) << r.output;
  EXPECT_TRUE(Contains(r.output, "Reason: cessationOfOperation")) << r.output;
  EXPECT_EQ(responder_->stats().signed_responses, 2u);
}

TEST_F(OcspResponderTest, SignerIsRecordedAuditedAndRenewedAtHalfLife) {
  auto signers = [&] {
    return Must(store_->ListIssued({.profile = "ocsp-signer"}, {.limit = 100})).certs;
  };
  ASSERT_EQ(signers().size(), 1u);
  const store::IssuedCert first = signers()[0];
  EXPECT_EQ(first.issuer_id, ca_->issuer_id);
  EXPECT_EQ(first.issued_by, "clustertls");
  EXPECT_EQ(first.subject_cn, "ocsp.mycluster.example.com");
  EXPECT_EQ(first.not_after, pki::kTestReferenceTime + std::chrono::days(2));
  EXPECT_EQ(responder_->SignerNotAfter(), first.not_after);

  pki::Certificate cert = Must(pki::Certificate::FromPem(responder_->SignerCertificatePem()));
  EXPECT_EQ(cert.serial_hex(), first.serial_hex);
  EXPECT_TRUE(cert.IsSignedBy(ca_->issuing.certificate()));
  EXPECT_EQ(cert.extended_key_usages(), std::vector<std::string>{"OCSPSigning"});
  WriteFile(Path("signer.pem"), cert.ToPem());
  pki::CommandResult text =
      pki::RunCommand("openssl x509 -noout -text -in " + Path("signer.pem") + " 2>&1");
  EXPECT_TRUE(Contains(text.output, "OCSP No Check")) << text.output;
  EXPECT_TRUE(Contains(text.output, "ASN1 OID: prime256v1")) << text.output;

  // Audited as cert.sign by clustertls.
  bool audited = false;
  for (const auto& e : Must(store_->ListAudit(0, 1000))) {
    if (e.action == "cert.sign" && e.target == first.serial_hex) {
      audited = true;
      EXPECT_EQ(e.actor, "clustertls");
      EXPECT_EQ(nlohmann::json::parse(e.details_json).at("profile"), "ocsp-signer");
    }
  }
  EXPECT_TRUE(audited);

  // The signer is itself good to OCSP.
  const std::string req = MakeRequest({Path("signer.pem")}, "-no_nonce");
  pki::CommandResult own = Judge(responder_->Respond(req), {Path("signer.pem")}, "-no_nonce");
  EXPECT_TRUE(Contains(own.output, Path("signer.pem") + ": good")) << own.output;

  // Before half-life: no renewal.
  clock_.Set(pki::kTestReferenceTime + hours(23));
  Must(responder_->Refresh());
  EXPECT_EQ(signers().size(), 1u);
  EXPECT_EQ(responder_->stats().signer_renewals, 0u);

  // After: a new signer, recorded, and the cache is dropped (re-signed by the new one).
  clock_.Set(pki::kTestReferenceTime + hours(25));
  Must(responder_->Refresh());
  EXPECT_EQ(responder_->stats().signer_renewals, 1u);
  ASSERT_EQ(signers().size(), 2u);
  pki::Certificate renewed = Must(pki::Certificate::FromPem(responder_->SignerCertificatePem()));
  EXPECT_NE(renewed.serial_hex(), first.serial_hex);
  EXPECT_FALSE(renewed.public_key().Equals(cert.public_key()));
  EXPECT_EQ(responder_->SignerNotAfter(), pki::kTestReferenceTime + hours(25 + 48));
  const std::uint64_t signed_before = responder_->stats().signed_responses;
  const std::string after = responder_->Respond(req);
  EXPECT_EQ(responder_->stats().signed_responses, signed_before + 1);
  pki::CommandResult r = Judge(after, {Path("signer.pem")}, "-no_nonce");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_TRUE(ResponseSigner(after).Equals(renewed));
  EXPECT_EQ(responder_->Respond(req), after);  // and cached again
}

TEST_F(OcspResponderTest, RespondRenewsWhenNoRefreshRan) {
  const std::string leaf = IssueRecorded("lonely.example.com");
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  const std::string first_signer = responder_->SignerCertificatePem();
  clock_.Set(pki::kTestReferenceTime + hours(30));
  pki::CommandResult r = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_EQ(responder_->stats().signer_renewals, 1u);
  EXPECT_NE(responder_->SignerCertificatePem(), first_signer);
}

TEST_F(OcspResponderTest, FailedRenewalKeepsTheOldSignerWhileItIsValid) {
  const std::string leaf = IssueRecorded("steady.example.com");
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  const std::string first_signer = responder_->SignerCertificatePem();
  // Recording the new signer fails (a real SQLite error); reading still works.
  ExecSql(db_path_,
          "CREATE TRIGGER refuse_issue BEFORE INSERT ON issued_certs "
          "BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
  clock_.Set(pki::kTestReferenceTime + hours(25));
  auto refreshed = responder_->Refresh();
  ASSERT_FALSE(refreshed);
  EXPECT_TRUE(Contains(refreshed.error().message, "OCSP signer")) << refreshed.error().message;
  EXPECT_TRUE(Contains(refreshed.error().message, "disk says no")) << refreshed.error().message;
  EXPECT_EQ(responder_->SignerCertificatePem(), first_signer);
  pki::CommandResult r = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, "Response verify OK")) << r.output;
  EXPECT_TRUE(Contains(r.output, leaf + ": good")) << r.output;
  EXPECT_EQ(responder_->stats().signer_renewals, 0u);

  // Shortly before the old signer's notAfter (+48h) its answers are still served (Respond's
  // own renewal attempt fails too)...
  clock_.Set(pki::kTestReferenceTime + hours(47) + minutes(50));
  const std::string last = responder_->Respond(req);
  clock_.Set(pki::kTestReferenceTime + hours(47) + minutes(59));
  EXPECT_EQ(responder_->Respond(req), last);
  // ...but from its notAfter on, neither a cached answer (its signer has expired) nor a new one:
  // internalError, never an answer signed by an expired certificate.
  clock_.Set(pki::kTestReferenceTime + hours(48));
  EXPECT_EQ(responder_->Respond(req), pki::OcspErrorResponse(pki::OcspErrorStatus::kInternalError));

  // The store works again: the next Refresh renews and answers resume.
  ExecSql(db_path_, "DROP TRIGGER refuse_issue");
  Must(responder_->Refresh());
  EXPECT_EQ(responder_->stats().signer_renewals, 1u);
  EXPECT_NE(responder_->SignerCertificatePem(), first_signer);
  pki::CommandResult again = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(again.output, "Response verify OK")) << again.output;
  EXPECT_TRUE(Contains(again.output, leaf + ": good")) << again.output;
}

TEST_F(OcspResponderTest, StoreFailureIsInternalErrorAndRecovers) {
  const std::string leaf = IssueRecorded("fragile.example.com");
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  ExecSql(db_path_, "ALTER TABLE issued_certs RENAME TO issued_certs_away");
  const std::string resp = responder_->Respond(req);
  EXPECT_EQ(resp, pki::OcspErrorResponse(pki::OcspErrorStatus::kInternalError));
  EXPECT_TRUE(Contains(ErrorText(resp), "internalerror")) << ErrorText(resp);
  EXPECT_EQ(responder_->stats().internal_errors, 1u);
  ExecSql(db_path_, "ALTER TABLE issued_certs_away RENAME TO issued_certs");
  pki::CommandResult r = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, leaf + ": good")) << r.output;
}

TEST_F(OcspResponderTest, ConcurrentCachedRequestsAreIdentical) {
  const std::string a = MakeRequest({IssueRecorded("t1.example.com")}, "-no_nonce");
  const std::string b = MakeRequest({IssueRecorded("t2.example.com")}, "-no_nonce -sha256");
  const std::string ra = responder_->Respond(a);
  const std::string rb = responder_->Respond(b);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const bool use_a = (i + t) % 2 == 0;
        if (responder_->Respond(use_a ? a : b) != (use_a ? ra : rb)) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(responder_->stats().cache_hits, 8000u);
  EXPECT_EQ(responder_->stats().signed_responses, 2u);
  EXPECT_EQ(responder_->stats().requests, 8002u);
}

TEST_F(OcspResponderTest, ConcurrentRespondAndInvalidate) {
  std::string serial;
  const std::string leaf = IssueRecorded("racy.example.com", &serial);
  const std::string req = MakeRequest({leaf}, "-no_nonce");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        responder_->Respond(req);
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    responder_->Invalidate();
  }
  // Revoke, then invalidate as Revocation does: no answer looked up before may stay cached.
  Revoke(serial, "keyCompromise", pki::kTestReferenceTime);
  responder_->Invalidate();
  stop.store(true);
  for (auto& th : threads) {
    th.join();
  }
  pki::CommandResult r = Judge(responder_->Respond(req), {leaf}, "-no_nonce");
  EXPECT_TRUE(Contains(r.output, leaf + ": revoked")) << r.output;
  EXPECT_EQ(responder_->stats().internal_errors, 0u);
}

TEST_F(OcspResponderTest, CreateChecksOptions) {
  OcspResponderOptions ok{.store = store_.get(), .clock = &clock_, .rng = &rng_};
  for (OcspResponderOptions bad : {
           OcspResponderOptions{.clock = &clock_, .rng = &rng_},
           OcspResponderOptions{.store = store_.get(), .rng = &rng_},
           OcspResponderOptions{.store = store_.get(), .clock = &clock_},
       }) {
    auto r = OcspResponder::Create(*ca_, bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  OcspResponderOptions short_response = ok;
  short_response.response_validity = std::chrono::seconds(59);
  auto r1 = OcspResponder::Create(*ca_, short_response);
  ASSERT_FALSE(r1);
  EXPECT_TRUE(Contains(r1.error().message, "response_validity")) << r1.error().message;
  OcspResponderOptions short_signer = ok;
  short_signer.signer_validity = std::chrono::seconds(30);
  auto r2 = OcspResponder::Create(*ca_, short_signer);
  ASSERT_FALSE(r2);
  EXPECT_TRUE(Contains(r2.error().message, "signer_validity")) << r2.error().message;
  EXPECT_TRUE(OcspResponder::Create(*ca_, ok));
}

}  // namespace
}  // namespace clustertls::authority
