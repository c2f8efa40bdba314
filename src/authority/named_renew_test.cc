#include "authority/named_renew.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "authority/cert_summary.h"
#include "authority/test_cluster_testutil.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

class NamedRenewTest : public ClusterCaTest {
 protected:
  RenewNamedRequest Request(const std::string& name) {
    return {.name = name,
            .validity = std::chrono::days(90),
            .crl_urls = {"http://ca.mycluster.example.com:9080/v1/crl"},
            .ocsp_urls = {"http://ca.mycluster.example.com:9080/ocsp"},
            .actor = "user:admin",
            .source = "192.0.2.7"};
  }
};

TEST_F(NamedRenewTest, RenewsWithANewKeyTheSameNamesAndTheGivenUrls) {
  OpenedNamedCert before = Must(GetNamedCert(*store_, *sealing_, "proxy"));
  const std::size_t audit_before = AllAudit(*store_).size();
  clock_.Set(pki::kTestReferenceTime + std::chrono::hours(5));

  RenewedNamedCert r =
      Must(RenewNamedCert(*store_, *sealing_, *ca_, Request("proxy"), clock_, rng_));

  EXPECT_EQ(r.name, "proxy");
  EXPECT_EQ(r.version, before.version + 1);
  EXPECT_EQ(r.previous_serial, before.chain[0].serial_hex());
  EXPECT_TRUE(r.previous_ours);
  EXPECT_NE(r.leaf.serial_hex(), r.previous_serial);
  // Same subject CN and SANs (wildcards included), a new key of the same type.
  EXPECT_EQ(r.leaf.common_name(), before.chain[0].common_name());
  EXPECT_EQ(r.leaf.sans().dns, before.chain[0].sans().dns);
  EXPECT_EQ(r.leaf.sans().ips, before.chain[0].sans().ips);
  EXPECT_FALSE(r.leaf.public_key().Equals(before.chain[0].public_key()));
  EXPECT_EQ(r.leaf.public_key().Describe(), before.chain[0].public_key().Describe());
  EXPECT_EQ(r.leaf.not_after(), clock_.Now() + std::chrono::days(90));
  EXPECT_TRUE(r.leaf.IsSignedBy(ca_->issuing.certificate()));
  EXPECT_EQ(r.leaf.extended_key_usages(), before.chain[0].extended_key_usages());

  // Stored as the next version, with a key that matches it.
  OpenedNamedCert after = Must(GetNamedCert(*store_, *sealing_, "proxy"));
  EXPECT_EQ(after.version, r.version);
  EXPECT_EQ(after.chain[0].serial_hex(), r.leaf.serial_hex());
  EXPECT_TRUE(after.key.Matches(r.leaf.public_key()));
  EXPECT_EQ(after.chain.size(), 3u);  // leaf, issuing, root

  // Recorded like any issuance, with its cert.sign entry.
  store::IssuedCert record = Must(store_->GetIssued(r.leaf.serial_hex()));
  EXPECT_EQ(record.profile, "peer");
  EXPECT_EQ(record.issued_by, "user:admin");
  EXPECT_EQ(record.issued_at, clock_.Now());
  // Then the new version's named_cert.renew entry, committed with it.
  auto audit = AllAudit(*store_);
  ASSERT_EQ(audit.size(), audit_before + 2);
  const store::AuditEntry& sign = audit[audit.size() - 2];
  EXPECT_EQ(sign.action, "cert.sign");
  EXPECT_EQ(sign.target, r.leaf.serial_hex());
  EXPECT_EQ(sign.source, "192.0.2.7");
  auto details = nlohmann::json::parse(sign.details_json);
  EXPECT_EQ(details["named"], "proxy");
  EXPECT_EQ(details["renews"], r.previous_serial);
  EXPECT_EQ(audit.back().action, "named_cert.renew");
  EXPECT_EQ(audit.back().target, "proxy");
  auto renew = nlohmann::json::parse(audit.back().details_json);
  EXPECT_EQ(renew["version"], r.version);
  EXPECT_EQ(renew["previous_serial"], r.previous_serial);

  // openssl agrees on the URLs and the chain.
  const std::string leaf = WriteFile("leaf.pem", r.leaf.ToPem());
  const std::string chain = WriteFile("ca.pem", ca_->chain_pem);
  pki::CommandResult uri = pki::RunCommand("openssl x509 -noout -ocsp_uri -in " + leaf + " 2>&1");
  EXPECT_EQ(uri.output, "http://ca.mycluster.example.com:9080/ocsp\n");
  pki::CommandResult text = pki::RunCommand("openssl x509 -noout -text -in " + leaf + " 2>&1");
  EXPECT_NE(text.output.find("URI:http://ca.mycluster.example.com:9080/v1/crl"), std::string::npos)
      << text.output;
  pki::CommandResult verify =
      pki::RunCommand("openssl verify -attime " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                         clock_.Now().time_since_epoch())
                                         .count()) +
                      " -purpose sslserver -CAfile " + chain + " " + leaf + " 2>&1");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(NamedRenewTest, KeyTypeCanBeChosen) {
  RenewNamedRequest request = Request("syncer");
  request.key_type = pki::KeyType::kEd25519;
  RenewedNamedCert r = Must(RenewNamedCert(*store_, *sealing_, *ca_, request, clock_, rng_));
  EXPECT_EQ(r.leaf.public_key().Describe(), "Ed25519");
  EXPECT_EQ(r.leaf.public_key().type(), pki::KeyType::kEd25519);
}

TEST_F(NamedRenewTest, RefusalsChangeNothing) {
  const std::size_t audit_before = AllAudit(*store_).size();
  const std::int64_t version = Must(GetNamedCert(*store_, *sealing_, "api")).version;

  auto unknown = RenewNamedCert(*store_, *sealing_, *ca_, Request("nosuch"), clock_, rng_);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().message, "certificate \"nosuch\": no such name");

  auto bad_name = RenewNamedCert(*store_, *sealing_, *ca_, Request("Bad Name"), clock_, rng_);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, ErrorCode::kInvalidArgument);

  RenewNamedRequest zero = Request("api");
  zero.validity = std::chrono::days(0);
  auto zero_days = RenewNamedCert(*store_, *sealing_, *ca_, zero, clock_, rng_);
  ASSERT_FALSE(zero_days);
  EXPECT_NE(zero_days.error().message.find("days"), std::string::npos);

  // Longer than the issuing CA lives: refused by the issuer, nothing recorded.
  RenewNamedRequest too_long = Request("api");
  too_long.validity = std::chrono::days(365 * 40);
  auto outlives = RenewNamedCert(*store_, *sealing_, *ca_, too_long, clock_, rng_);
  ASSERT_FALSE(outlives);
  EXPECT_EQ(outlives.error().code, ErrorCode::kExpired) << outlives.error().message;
  EXPECT_NE(outlives.error().message.find("certificate \"api\""), std::string::npos)
      << outlives.error().message;

  EXPECT_EQ(AllAudit(*store_).size(), audit_before);
  EXPECT_EQ(Must(GetNamedCert(*store_, *sealing_, "api")).version, version);
}

// Storing the new version fails after the record committed (here its audit entry, which
// commits with it): the error names the recorded serial and the current version stays in use.
TEST_F(NamedRenewTest, FailedStoreKeepsTheCurrentVersionAndSaysWhatWasRecorded) {
  FailingAuditStore failing(store_.get());
  const std::int64_t version = Must(GetNamedCert(*store_, *sealing_, "cm")).version;
  auto r = RenewNamedCert(failing, *sealing_, *ca_, Request("cm"), clock_, rng_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("is recorded but not in use"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("injected failure"), std::string::npos) << r.error().message;
  EXPECT_EQ(Must(GetNamedCert(*store_, *sealing_, "cm")).version, version);
  EXPECT_NE(AllAudit(*store_).back().action, "named_cert.renew");
}

// A named certificate another CA signed (an operator's own) renews from the cluster CA; its
// previous serial is not this CA's to revoke.
TEST_F(NamedRenewTest, ACertificateOfAnotherCaRenewsFromTheClusterCa) {
  pki::PrivateKey key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP384));
  pki::Certificate vendor = Must(pki::SelfSign(
      key,
      {.profile = pki::Profile::kServer,
       .common_name = "vendor.example.com",
       .sans = {.dns = {"vendor.example.com", "10-0-0-1.vendor.example.com"}, .ips = {"10.0.0.1"}}},
      clock_.Now(), rng_));
  Must(PutNamedCert(*store_, *sealing_, "vendor", key, vendor.ToPem(), clock_.Now(), "test", rng_));
  // Asked to renew in order to revoke the previous one: refused, nothing changed.
  RenewNamedRequest to_revoke = Request("vendor");
  to_revoke.require_previous_ours = true;
  const std::size_t audit_before = AllAudit(*store_).size();
  auto refused = RenewNamedCert(*store_, *sealing_, *ca_, to_revoke, clock_, rng_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("signed by another CA"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(AllAudit(*store_).size(), audit_before);
  EXPECT_EQ(Must(GetNamedCert(*store_, *sealing_, "vendor")).chain[0].serial_hex(),
            vendor.serial_hex());

  RenewedNamedCert r =
      Must(RenewNamedCert(*store_, *sealing_, *ca_, Request("vendor"), clock_, rng_));
  EXPECT_FALSE(r.previous_ours);
  EXPECT_TRUE(r.leaf.IsSignedBy(ca_->issuing.certificate()));
  EXPECT_EQ(r.leaf.sans().dns, vendor.sans().dns);
  EXPECT_EQ(r.leaf.sans().ips, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(r.leaf.public_key().Describe(), "EC P-384");
}

}  // namespace
}  // namespace clustertls::authority
