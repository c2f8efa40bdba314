#include "authority/revocation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "authority/audit_head.h"
#include "authority/ocsp_responder.h"
#include "authority/test_cluster_testutil.h"
#include "core/encoding.h"
#include "core/files.h"
#include "pki/ocsp.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;
using std::chrono::days;
using std::chrono::hours;

class RevocationTest : public ClusterCaTest {
 protected:
  void SetUp() override {
    ClusterCaTest::SetUp();
    crl_ = Must(CrlPublisher::Create(*ca_, {.store = store_.get(), .clock = &clock_}));
    revocation_ = MakeRevocation({});
  }
  void TearDown() override {
    revocation_.reset();
    crl_.reset();
    ClusterCaTest::TearDown();
  }

  std::unique_ptr<Revocation> MakeRevocation(RevocationOptions options) {
    options.store = store_.get();
    options.clock = &clock_;
    options.crl = crl_.get();
    return Must(Revocation::Create(*ca_, options), "revocation");
  }

  std::vector<store::AuditEntry> RevokeAudits() {
    std::vector<store::AuditEntry> out;
    for (auto& e : AllAudit(*store_)) {
      if (e.action == "cert.revoke") {
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  static std::vector<std::string> Serials(const std::vector<store::IssuedCert>& certs) {
    std::vector<std::string> out;
    for (const auto& c : certs) {
      out.push_back(c.serial_hex);
    }
    return out;
  }

  std::unique_ptr<CrlPublisher> crl_;
  std::unique_ptr<Revocation> revocation_;
};

TEST_F(RevocationTest, RevokesOnceAuditsAndPublishes) {
  SignedCert leaf = Issue("web1.example.com", {.dns = {"web1.example.com"}});
  const std::int64_t crl_before = crl_->Current()->number;
  clock_.Set(pki::kTestReferenceTime + hours(1));

  RevokeOutcome first = Must(revocation_->Revoke(leaf.serial_hex, "keyCompromise",
                                                 {.actor = "bob", .source = "198.51.100.4"}));
  EXPECT_TRUE(first.newly_revoked);
  EXPECT_TRUE(first.named.empty());
  EXPECT_EQ(first.cert.serial_hex, leaf.serial_hex);
  EXPECT_EQ(first.cert.subject_cn, "web1.example.com");
  ASSERT_TRUE(first.cert.revoked_at.has_value());
  EXPECT_EQ(*first.cert.revoked_at, clock_.Now());
  EXPECT_EQ(first.cert.revocation_reason, "keyCompromise");
  // Published before Revoke returned.
  EXPECT_GT(crl_->Current()->number, crl_before);
  EXPECT_EQ(crl_->Current()->entries, 1u);
  const std::int64_t crl_after = crl_->Current()->number;

  // Idempotent: a second call (another reason, later, lower-case serial) changes nothing.
  clock_.Set(pki::kTestReferenceTime + hours(2));
  RevokeOutcome again = Must(revocation_->Revoke(core::AsciiLower(leaf.serial_hex), "superseded",
                                                 {.actor = "carol", .source = "203.0.113.9"}));
  EXPECT_FALSE(again.newly_revoked);
  EXPECT_EQ(*again.cert.revoked_at, pki::kTestReferenceTime + hours(1));
  EXPECT_EQ(again.cert.revocation_reason, "keyCompromise");
  EXPECT_EQ(crl_->Current()->number, crl_after) << "an idempotent call regenerated the CRL";
  EXPECT_EQ(Must(store_->GetIssued(leaf.serial_hex)).revocation_reason, "keyCompromise");

  std::vector<store::AuditEntry> audits = RevokeAudits();
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].actor, "bob");
  EXPECT_EQ(audits[0].source, "198.51.100.4");
  EXPECT_EQ(audits[0].target, leaf.serial_hex);
  EXPECT_EQ(audits[0].time, pki::kTestReferenceTime + hours(1));
  nlohmann::json details = nlohmann::json::parse(audits[0].details_json);
  EXPECT_EQ(details["reason"], "keyCompromise");
  EXPECT_EQ(details["subject_cn"], "web1.example.com");
  // The chain still verifies with the entry appended.
  AuditVerifier verifier;
  for (const auto& e : AllAudit(*store_)) {
    verifier.Add(e);
  }
  EXPECT_TRUE(verifier.result().ok) << verifier.result().problem;
}

TEST_F(RevocationTest, SerialAndReasonForms) {
  SignedCert a = Issue("a.example.com");
  SignedCert b = Issue("b.example.com");
  SignedCert c = Issue("c.example.com");
  // "AA:BB:..." as some tools print it, and an upper-case reason name: stored canonically.
  std::string colons;
  for (std::size_t i = 0; i < a.serial_hex.size(); i += 2) {
    colons += (i == 0 ? "" : ":") + a.serial_hex.substr(i, 2);
  }
  RevokeOutcome ra =
      Must(revocation_->Revoke(colons, "KEYCOMPROMISE", {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_TRUE(ra.newly_revoked);
  EXPECT_EQ(ra.cert.serial_hex, a.serial_hex);
  EXPECT_EQ(ra.cert.revocation_reason, "keyCompromise");
  // Leading zeros are not part of the serial's value; empty reason is "unspecified".
  RevokeOutcome rb =
      Must(revocation_->Revoke("00" + b.serial_hex, "", {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_EQ(rb.cert.serial_hex, b.serial_hex);
  EXPECT_EQ(rb.cert.revocation_reason, "unspecified");
  RevokeOutcome rc = Must(
      revocation_->Revoke(c.serial_hex, "cacompromise", {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_EQ(rc.cert.revocation_reason, "cACompromise");

  // The same check, for a request's dry run.
  EXPECT_EQ(Must(CanonicalRevocationReason("")), "unspecified");
  EXPECT_EQ(Must(CanonicalRevocationReason("CessationOfOperation")), "cessationOfOperation");
  EXPECT_EQ(Must(CanonicalRevocationReason("certificatehold")), "certificateHold");
  for (const char* bad : {"removeFromCRL", "stolen", " keyCompromise"}) {
    auto r = CanonicalRevocationReason(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind("reason", 0), 0u) << r.error().message;
  }
}

TEST_F(RevocationTest, RefusesBadInputAndChangesNothing) {
  SignedCert leaf = Issue("web2.example.com");
  const std::int64_t counter = Must(store_->PeekCounter(store::kRevocationCounter));
  const std::int64_t crl_number = crl_->Current()->number;

  auto expect_error = [&](const std::string& serial, const std::string& reason, ErrorCode code,
                          const std::string& text) {
    auto r = revocation_->Revoke(serial, reason, {.actor = "bob", .source = "192.0.2.1"});
    ASSERT_FALSE(r) << serial << " " << reason;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  };
  expect_error("0123456789ABCDEF01", "", ErrorCode::kNotFound,
               "no certificate with serial 0123456789ABCDEF01 was issued by this cluster's CA");
  expect_error("xyz", "", ErrorCode::kInvalidArgument, "serial \"xyz\": must be hex");
  expect_error("", "", ErrorCode::kInvalidArgument, "serial: must not be empty");
  expect_error("12 34", "", ErrorCode::kInvalidArgument, "must be hex");
  expect_error(std::string(41, 'A'), "", ErrorCode::kInvalidArgument, "20 octets");
  expect_error(leaf.serial_hex, "stolen", ErrorCode::kInvalidArgument,
               "unknown revocation reason \"stolen\"");
  expect_error(leaf.serial_hex, "removeFromCRL", ErrorCode::kInvalidArgument, "delta CRLs");
  expect_error(ca_->issuing.certificate().serial_hex(), "keyCompromise",
               ErrorCode::kInvalidArgument,
               "is the issuing CA's own certificate; this endpoint revokes leaf certificates");
  expect_error(ca_->root.serial_hex(), "keyCompromise", ErrorCode::kInvalidArgument,
               "this endpoint revokes leaf certificates");

  // A record another CA issued (e.g. one sharing the database) is not this CA's to revoke.
  store::IssuedCert foreign = Must(store_->GetIssued(leaf.serial_hex));
  foreign.serial_hex = "7E57";
  foreign.issuer_id = "other-ca";
  Must(store_->RecordIssued(std::span<const store::IssuedCert>(&foreign, 1)));
  expect_error("7e57", "", ErrorCode::kInvalidArgument, "issued by CA 'other-ca'");

  EXPECT_FALSE(Must(store_->GetIssued(leaf.serial_hex)).revoked_at.has_value());
  EXPECT_FALSE(Must(store_->GetIssued("7E57")).revoked_at.has_value());
  EXPECT_EQ(Must(store_->PeekCounter(store::kRevocationCounter)), counter);
  EXPECT_EQ(crl_->Current()->number, crl_number);
  EXPECT_TRUE(RevokeAudits().empty());
}

TEST_F(RevocationTest, WorksWithoutPublishers) {
  SignedCert leaf = Issue("web3.example.com");
  auto bare = Must(Revocation::Create(*ca_, {.store = store_.get(), .clock = &clock_}));
  EXPECT_TRUE(
      Must(bare->Revoke(leaf.serial_hex, "superseded", {.actor = "bob", .source = "192.0.2.1"}))
          .newly_revoked);
  Must(bare->Refresh());
  auto no_store = Revocation::Create(*ca_, {.clock = &clock_});
  ASSERT_FALSE(no_store);
  EXPECT_EQ(no_store.error().code, ErrorCode::kInvalidArgument);
  auto no_clock = Revocation::Create(*ca_, {.store = store_.get()});
  ASSERT_FALSE(no_clock);
  EXPECT_EQ(no_clock.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RevocationTest, CrlFailureKeepsTheRevocationAndRefreshRepairs) {
  SignedCert leaf = Issue("web4.example.com");
  // A revoked record whose serial pki::BuildCrl refuses (43 hex digits, more than 20 octets):
  // every generation fails until it expires.
  store::IssuedCert broken = Must(store_->GetIssued(leaf.serial_hex));
  broken.serial_hex = "1" + std::string(42, '0');
  broken.not_after = pki::kTestReferenceTime + days(1);
  Must(store_->RecordIssued(std::span<const store::IssuedCert>(&broken, 1)));
  Must(store_->Revoke(broken.serial_hex, clock_.Now(), "unspecified"));
  std::shared_ptr<const PublishedCrl> before = crl_->Current();

  ::testing::internal::CaptureStderr();
  RevokeOutcome outcome = Must(revocation_->Revoke(leaf.serial_hex, "keyCompromise",
                                                   {.actor = "bob", .source = "192.0.2.1"}));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(outcome.newly_revoked);
  EXPECT_TRUE(Must(store_->GetIssued(leaf.serial_hex)).revoked_at.has_value());
  EXPECT_EQ(crl_->Current(), before);
  EXPECT_EQ(log.rfind("clustertls: CRL regeneration after revoking " + leaf.serial_hex, 0), 0u)
      << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  auto still_broken = revocation_->Refresh();
  EXPECT_FALSE(still_broken);

  // Once the broken record has expired the next refresh publishes the revocation.
  clock_.Set(broken.not_after + std::chrono::seconds(1));
  Must(revocation_->Refresh());
  EXPECT_GT(crl_->Current()->number, before->number);
  EXPECT_EQ(crl_->Current()->entries, 1u);
}

TEST_F(RevocationTest, DropsTheOcspCacheBeforeReturning) {
  SignedCert leaf = Issue("ocsp.example.com", {.dns = {"ocsp.example.com"}});
  auto ocsp =
      Must(OcspResponder::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}));
  auto revocation = MakeRevocation({.ocsp = ocsp.get()});
  const std::string issuing = WriteFile("issuing.pem", ca_->issuing.certificate().ToPem());
  const std::string root = WriteFile("root.pem", ca_->root.ToPem());
  const std::string leaf_path = WriteFile("leaf.pem", leaf.certificate_pem);
  pki::CommandResult made =
      pki::RunCommand("openssl ocsp -no_nonce -issuer " + issuing + " -cert " + leaf_path +
                      " -reqout " + dir_ + "/req.der 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string request = Must(core::ReadFile(dir_ + "/req.der"));
  // `openssl ocsp` judges the response: signature, chain and the leaf's status.
  auto status = [&](const std::string& response) {
    WriteFile("resp.der", response);
    return pki::RunCommand("openssl ocsp -no_nonce -respin " + dir_ + "/resp.der -issuer " +
                           issuing + " -CAfile " + root + " -verify_other " + issuing +
                           " -attime " + std::to_string(clock_.Now().time_since_epoch().count()) +
                           " -validity_period 400000000 -cert " + leaf_path + " 2>&1");
  };

  const std::string good = ocsp->Respond(request);
  EXPECT_EQ(ocsp->Respond(request), good);  // cached
  EXPECT_EQ(ocsp->stats().cache_hits, 1u);
  pki::CommandResult before = status(good);
  EXPECT_NE(before.output.find(leaf_path + ": good"), std::string::npos) << before.output;

  clock_.Set(pki::kTestReferenceTime + std::chrono::minutes(5));
  Must(revocation->Revoke(leaf.serial_hex, "keyCompromise",
                          {.actor = "bob", .source = "192.0.2.1"}));
  // The very next request is answered afresh, not from the cache of before.
  const std::string revoked = ocsp->Respond(request);
  EXPECT_NE(revoked, good);
  EXPECT_EQ(ocsp->stats().cache_hits, 1u);
  pki::CommandResult after = status(revoked);
  EXPECT_NE(after.output.find(leaf_path + ": revoked"), std::string::npos) << after.output;
  EXPECT_NE(after.output.find("Reason: keyCompromise"), std::string::npos) << after.output;
  EXPECT_NE(after.output.find("Response verify OK"), std::string::npos) << after.output;
  EXPECT_EQ(crl_->Current()->entries, 1u);
}

TEST_F(RevocationTest, RefreshDropsTheOcspCacheAfterAnotherInstanceRevoked) {
  SignedCert leaf = Issue("ocsp2.example.com", {.dns = {"ocsp2.example.com"}});
  auto ocsp =
      Must(OcspResponder::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}));
  auto revocation = MakeRevocation({.ocsp = ocsp.get()});
  const std::string issuing = WriteFile("issuing.pem", ca_->issuing.certificate().ToPem());
  const std::string leaf_path = WriteFile("leaf.pem", leaf.certificate_pem);
  ASSERT_EQ(pki::RunCommand("openssl ocsp -no_nonce -issuer " + issuing + " -cert " + leaf_path +
                            " -reqout " + dir_ + "/req.der 2>&1")
                .exit_code,
            0);
  const std::string request = Must(core::ReadFile(dir_ + "/req.der"));
  const std::string good = ocsp->Respond(request);

  auto other_store = OpenStore();
  auto other = Must(Revocation::Create(*ca_, {.store = other_store.get(), .clock = &clock_}));
  Must(other->Revoke(leaf.serial_hex, "superseded", {.actor = "carol", .source = "192.0.2.2"}));
  EXPECT_EQ(ocsp->Respond(request), good);  // this instance has not looked yet

  Must(revocation->Refresh());
  EXPECT_NE(ocsp->Respond(request), good);
  EXPECT_EQ(crl_->Current()->entries, 1u);
  const std::string resp = WriteFile("resp.der", ocsp->Respond(request));
  pki::CommandResult text =
      pki::RunCommand("openssl ocsp -respin " + resp + " -resp_text -noverify 2>&1");
  EXPECT_NE(text.output.find("Cert Status: revoked"), std::string::npos) << text.output;
}

// Fails RevokeAudited from the `fail_from`-th call on (0-based), as a lost database would.
class RevokeFailsFrom final : public ForwardingStore {
 public:
  RevokeFailsFrom(store::Store* inner, int fail_from) : ForwardingStore(inner), left_(fail_from) {}
  core::Result<store::RevokeResult> RevokeAudited(const std::string& serial_hex, core::TimePoint at,
                                                  const std::string& reason,
                                                  const store::AuditInput& audit,
                                                  const store::AuditHasher& hasher) override {
    if (left_-- <= 0) {
      return core::Fail(ErrorCode::kIo, "database connection lost");
    }
    return inner_->RevokeAudited(serial_hex, at, reason, audit, hasher);
  }
  // A batch is one transaction: it fails whole (the store's rollback itself is tested in
  // store_test's RevokeAuditedBatchRevokesAllOrNone, on SQLite and PostgreSQL).
  core::Result<std::vector<store::RevokeResult>> RevokeAuditedBatch(
      std::span<const std::string> serials, core::TimePoint at, const std::string& reason,
      std::span<const store::AuditInput> audit, const store::AuditHasher& hasher) override {
    if (left_ < static_cast<int>(serials.size())) {
      return core::Fail(ErrorCode::kIo, "database connection lost");
    }
    left_ -= static_cast<int>(serials.size());
    return inner_->RevokeAuditedBatch(serials, at, reason, audit, hasher);
  }

 private:
  int left_;
};

class SelectorTest : public RevocationTest {
 protected:
  void SetUp() override {
    RevocationTest::SetUp();
    node1_ = Issue("node1.example.com", {.dns = {"node1.example.com"}, .ips = {"10.0.0.5"}});
    node10_ = Issue("node10.example.com", {.dns = {"node10.example.com"}, .ips = {"10.0.0.50"}});
    short_lived_ = Issue("tmp.example.com", {.dns = {"tmp.example.com"}}, 1);
    clock_.Set(pki::kTestReferenceTime + hours(30));  // short_lived_ has expired
    other_ = Issue("other.example.com", {.dns = {"other.example.com"}, .ips = {"10.0.0.5"}});
    client_ = Issue("Node1.Example.COM", {}, 30, "client");
    v6_ = Issue("v6.example.com", {.ips = {"2001:db8::1"}});
  }

  SignedCert node1_, node10_, short_lived_, other_, client_, v6_;
};

TEST_F(SelectorTest, SelectsExactlyAndChangesNothing) {
  const std::int64_t counter = Must(store_->PeekCounter(store::kRevocationCounter));
  const std::int64_t crl_number = crl_->Current()->number;
  const std::size_t audits = AllAudit(*store_).size();
  auto select = [&](const RevocationSelector& s) {
    auto r = revocation_->Select(s);
    EXPECT_TRUE(r) << r.error().message;
    return r ? Serials(*r) : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  // The CN, case-insensitively and exactly (node10 contains "node1" but is not selected).
  EXPECT_EQ(select({.name = "NODE1.example.com"}), (V{node1_.serial_hex, client_.serial_hex}));
  // One SAN, typed or bare (the client certificate got its CN as its DNS SAN).
  EXPECT_EQ(select({.san = "DNS:node1.example.com"}), (V{node1_.serial_hex, client_.serial_hex}));
  EXPECT_EQ(select({.san = "dns:NODE1.example.com."}), (V{node1_.serial_hex, client_.serial_hex}));
  EXPECT_EQ(select({.san = "node1.example.com"}), (V{node1_.serial_hex, client_.serial_hex}));
  EXPECT_EQ(select({.san = "DNS:node10.example.com"}), V{node10_.serial_hex});
  EXPECT_EQ(select({.san = "IP:10.0.0.5"}), (V{node1_.serial_hex, other_.serial_hex}));
  EXPECT_EQ(select({.san = "10.0.0.5"}), (V{node1_.serial_hex, other_.serial_hex}));
  EXPECT_EQ(select({.san = "2001:DB8:0::1"}), V{v6_.serial_hex});
  EXPECT_EQ(select({.san = "IP:2001:db8::1"}), V{v6_.serial_hex});
  EXPECT_TRUE(select({.san = "node2.example.com"}).empty());
  // Issued before a time; the expired one is never selected.
  EXPECT_EQ(select({.issued_before = pki::kTestReferenceTime + hours(1)}),
            (V{node1_.serial_hex, node10_.serial_hex}));
  // Every given field must match.
  EXPECT_EQ(
      select({.name = "node1.example.com", .issued_before = pki::kTestReferenceTime + hours(1)}),
      V{node1_.serial_hex});
  EXPECT_TRUE(select({.name = "node1.example.com", .san = "IP:10.0.0.50"}).empty());
  EXPECT_TRUE(select({.name = "tmp.example.com"}).empty());

  // The listing carries the record fields.
  auto listed = Must(revocation_->Select({.san = "IP:10.0.0.5"}));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].subject_cn, "node1.example.com");
  EXPECT_EQ(listed[0].not_after, node1_.not_after);
  EXPECT_EQ(listed[0].issued_at, pki::kTestReferenceTime);
  EXPECT_EQ(listed[0].sans_json, R"(["DNS:node1.example.com","IP:10.0.0.5"])");
  EXPECT_EQ(Must(pki::Certificate::FromDer(std::string(listed[0].der.begin(), listed[0].der.end())))
                .serial_hex(),
            node1_.serial_hex);

  // A dry run changed nothing.
  EXPECT_EQ(Must(store_->PeekCounter(store::kRevocationCounter)), counter);
  EXPECT_EQ(crl_->Current()->number, crl_number);
  EXPECT_EQ(AllAudit(*store_).size(), audits);
  EXPECT_FALSE(Must(store_->GetIssued(node1_.serial_hex)).revoked_at.has_value());
}

TEST_F(SelectorTest, TheClustersOwnCertificatesAreRevokedBySerialOnly) {
  // The OCSP and audit signers (recorded when the responder and the keeper start) and the named
  // certificates init recorded: all issued before the time below, the named ones with the
  // cluster's FQDN.
  auto ocsp =
      Must(OcspResponder::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}));
  auto audit_head =
      Must(AuditHeadKeeper::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}));
  const std::string fqdn = "mycluster.example.com";
  store::CertPage signers = Must(store_->ListIssued({.profile = "ocsp-signer"}, {.limit = 10}));
  ASSERT_EQ(signers.certs.size(), 1u);
  store::CertPage audit_signers =
      Must(store_->ListIssued({.profile = "audit-signer"}, {.limit = 10}));
  ASSERT_EQ(audit_signers.certs.size(), 1u);
  const std::string api_serial =
      Must(GetNamedCert(*store_, *sealing_, "api")).chain[0].serial_hex();
  const std::string proxy_serial =
      Must(GetNamedCert(*store_, *sealing_, "proxy")).chain[0].serial_hex();
  ASSERT_TRUE(store_->GetIssued(proxy_serial)) << "init did not record the named certificates";

  auto sorted = [&](const RevocationSelector& s) {
    std::vector<std::string> v = Serials(Must(revocation_->Select(s)));
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> nodes = {node1_.serial_hex, node10_.serial_hex, other_.serial_hex,
                                    client_.serial_hex, v6_.serial_hex};
  std::sort(nodes.begin(), nodes.end());
  EXPECT_EQ(sorted({.issued_before = clock_.Now() + hours(1)}), nodes);
  EXPECT_TRUE(sorted({.name = fqdn}).empty());
  EXPECT_TRUE(sorted({.san = "DNS:" + fqdn}).empty());

  // By serial, on purpose: allowed, and published like any other.
  RevokeOutcome proxy = Must(
      revocation_->Revoke(proxy_serial, "keyCompromise", {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_TRUE(proxy.newly_revoked);
  EXPECT_EQ(proxy.cert.issued_by, "init");
  EXPECT_EQ(proxy.named, "proxy");
  EXPECT_EQ(crl_->Current()->entries, 1u);

  // Once `api` is replaced, its old certificate is no longer the cluster's own: a selector
  // finds it, and not the new one.
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  std::string csr =
      Must(pki::Csr::Create(key, {.common_name = fqdn, .sans = {.dns = {fqdn}}})).ToPem();
  SignedCert next = Must(authority_->Sign(
      {.csr_pem = csr, .profile = "peer", .days = 30, .actor = "alice", .source = "192.0.2.7"}));
  Must(PutNamedCert(*store_, *sealing_, "api", key, next.certificate_pem + next.chain_pem,
                    clock_.Now(), "alice", rng_));
  EXPECT_EQ(sorted({.name = fqdn}), std::vector<std::string>{api_serial});
}

TEST_F(SelectorTest, RefusesEmptyMalformedAndTooBroadSelectors) {
  auto empty = revocation_->Select({});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(empty.error().message.find("at least one of name, san, issued_before"),
            std::string::npos);
  auto empty_revoke = revocation_->RevokeSelected({}, "", {.actor = "bob", .source = "192.0.2.1"});
  ASSERT_FALSE(empty_revoke);
  EXPECT_EQ(empty_revoke.error().code, ErrorCode::kInvalidArgument);

  for (const char* bad : {"DNS:", "IP:10.0.0.999", "not a name", "DNS:-bad.example.com"}) {
    auto r = revocation_->Select({.san = bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(r.error().message.rfind("san ", 0), 0u) << r.error().message;
  }

  auto narrow = MakeRevocation({.max_selected = 2});
  EXPECT_EQ(Must(narrow->Select({.san = "10.0.0.5"})).size(), 2u);
  auto broad = narrow->Select({.issued_before = pki::kTestReferenceTime + days(2)});
  ASSERT_FALSE(broad);
  EXPECT_EQ(broad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(broad.error().message.find("matches 5 certificates, more than the 2"),
            std::string::npos)
      << broad.error().message;
  auto broad_revoke =
      narrow->RevokeSelected({.issued_before = pki::kTestReferenceTime + days(2)}, "keyCompromise",
                             {.actor = "bob", .source = "192.0.2.1"});
  ASSERT_FALSE(broad_revoke);
  EXPECT_TRUE(RevokeAudits().empty());

  auto bad_reason = revocation_->RevokeSelected({.name = "node1.example.com"}, "oops",
                                                {.actor = "bob", .source = "192.0.2.1"});
  ASSERT_FALSE(bad_reason);
  EXPECT_EQ(bad_reason.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(RevokeAudits().empty());
}

TEST_F(SelectorTest, RevokeSelectedAuditsEachAndPublishesOnce) {
  const std::int64_t crl_number = crl_->Current()->number;
  std::vector<RevokeOutcome> outcomes = Must(revocation_->RevokeSelected(
      {.san = "10.0.0.5"}, "keyCompromise", {.actor = "bob", .source = "198.51.100.4"}));
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].cert.serial_hex, node1_.serial_hex);
  EXPECT_EQ(outcomes[1].cert.serial_hex, other_.serial_hex);
  for (const auto& o : outcomes) {
    EXPECT_TRUE(o.newly_revoked);
    EXPECT_EQ(o.cert.revocation_reason, "keyCompromise");
    EXPECT_EQ(*o.cert.revoked_at, clock_.Now());
  }
  // One new CRL listing both.
  EXPECT_EQ(crl_->Current()->number, crl_number + 1);
  EXPECT_EQ(crl_->Current()->entries, 2u);
  std::vector<store::AuditEntry> audits = RevokeAudits();
  ASSERT_EQ(audits.size(), 2u);
  EXPECT_EQ(audits[0].target, node1_.serial_hex);
  EXPECT_EQ(audits[1].target, other_.serial_hex);
  for (const auto& a : audits) {
    EXPECT_EQ(a.actor, "bob");
    EXPECT_EQ(a.source, "198.51.100.4");
    EXPECT_EQ(nlohmann::json::parse(a.details_json)["reason"], "keyCompromise");
  }
  EXPECT_EQ(nlohmann::json::parse(audits[1].details_json)["subject_cn"], "other.example.com");

  // Revoked ones are no longer selected; nothing more happens.
  EXPECT_TRUE(Must(revocation_->Select({.san = "10.0.0.5"})).empty());
  EXPECT_TRUE(Must(revocation_->RevokeSelected({.san = "10.0.0.5"}, "",
                                               {.actor = "bob", .source = "192.0.2.1"}))
                  .empty());
  EXPECT_EQ(crl_->Current()->number, crl_number + 1);
  EXPECT_EQ(RevokeAudits().size(), 2u);
  EXPECT_FALSE(Must(store_->GetIssued(node10_.serial_hex)).revoked_at.has_value());
}

TEST_F(SelectorTest, RevokeSelectedThatFailsRevokesNone) {
  RevokeFailsFrom failing(store_.get(), 1);
  auto revocation =
      Must(Revocation::Create(*ca_, {.store = &failing, .clock = &clock_, .crl = crl_.get()}));
  const std::int64_t crl_number = crl_->Current()->number;
  auto r = revocation->RevokeSelected({.san = "10.0.0.5"}, "keyCompromise",
                                      {.actor = "bob", .source = "192.0.2.1"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("revoking the 2 selected certificates failed; none was revoked"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("database connection lost"), std::string::npos);
  // Neither is revoked or audited, and no CRL was made for nothing.
  EXPECT_FALSE(Must(store_->GetIssued(node1_.serial_hex)).revoked_at.has_value());
  EXPECT_FALSE(Must(store_->GetIssued(other_.serial_hex)).revoked_at.has_value());
  EXPECT_TRUE(RevokeAudits().empty());
  EXPECT_EQ(crl_->Current()->number, crl_number);
  // Run again on the working store, it revokes both, published in one CRL.
  auto again = Must(revocation_->RevokeSelected({.san = "10.0.0.5"}, "keyCompromise",
                                                {.actor = "bob", .source = "192.0.2.1"}));
  EXPECT_EQ(again.size(), 2u);
  EXPECT_EQ(RevokeAudits().size(), 2u);
  EXPECT_EQ(crl_->Current()->number, crl_number + 1);
  EXPECT_EQ(crl_->Current()->entries, 2u);
}

TEST_F(SelectorTest, ConcurrentRevocationsEachCountOnce) {
  // Two instances revoke the same selection at once: each certificate is revoked (and audited)
  // exactly once, and both CRLs end up listing every one.
  auto other_store = OpenStore();
  auto other_crl = Must(CrlPublisher::Create(*ca_, {.store = other_store.get(), .clock = &clock_}));
  auto other = Must(Revocation::Create(
      *ca_, {.store = other_store.get(), .clock = &clock_, .crl = other_crl.get()}));
  std::vector<RevokeOutcome> mine, theirs;
  std::thread t1([&] {
    mine = Must(revocation_->RevokeSelected({.issued_before = pki::kTestReferenceTime + days(2)},
                                            "superseded", {.actor = "bob", .source = "192.0.2.1"}));
  });
  std::thread t2([&] {
    theirs = Must(other->RevokeSelected({.issued_before = pki::kTestReferenceTime + days(2)},
                                        "superseded", {.actor = "carol", .source = "192.0.2.1"}));
  });
  t1.join();
  t2.join();
  std::size_t newly = 0;
  for (const auto* list : {&mine, &theirs}) {
    for (const auto& o : *list) {
      newly += o.newly_revoked ? 1 : 0;
    }
  }
  EXPECT_EQ(newly, 5u);
  EXPECT_EQ(RevokeAudits().size(), 5u);
  Must(revocation_->Refresh());
  Must(other->Refresh());
  EXPECT_EQ(crl_->Current()->entries, 5u);
  EXPECT_EQ(other_crl->Current()->entries, 5u);
}

}  // namespace
}  // namespace clustertls::authority
