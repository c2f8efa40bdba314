#include "authority/tls_policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "authority/test_cluster_testutil.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

const ChangeBy kBy{.actor = "admin", .source = "192.0.2.9"};

class TlsPolicyTest : public ClusterCaTest {};

TEST_F(TlsPolicyTest, StoresTheNextVersionWithItsAuditEntry) {
  store::PolicyDoc current = Must(store_->GetPolicy());
  const std::string doc = R"({"min_tls_version":"TLSv1.3"})";
  std::int64_t version = Must(PutTlsPolicy(*store_, doc, current.version, kBy, clock_));
  EXPECT_EQ(version, current.version + 1);
  store::PolicyDoc stored = Must(store_->GetPolicy());
  EXPECT_EQ(stored.json, doc);
  EXPECT_EQ(stored.updated_by, "admin");
  auto audit = AllAudit(*store_);
  EXPECT_EQ(audit.back().action, "policy.update");
  EXPECT_EQ(audit.back().target, "policy");
  EXPECT_EQ(audit.back().details_json,
            R"({"min_tls_version":"TLSv1.3","version":)" + std::to_string(version) + "}");
}

TEST_F(TlsPolicyTest, AStaleVersionIsAConflictAndChangesNothing) {
  store::PolicyDoc current = Must(store_->GetPolicy());
  const std::size_t before = AllAudit(*store_).size();
  auto stale = PutTlsPolicy(*store_, "{}", current.version + 5, kBy, clock_);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  EXPECT_EQ(stale.error().message,
            "policy: changed by someone else at the same time; read it and retry");
  EXPECT_EQ(Must(store_->GetPolicy()).version, current.version);
  EXPECT_EQ(AllAudit(*store_).size(), before);
}

TEST_F(TlsPolicyTest, AFailedAuditWriteLeavesThePolicyAsItWas) {
  store::PolicyDoc current = Must(store_->GetPolicy());
  FailingAuditStore failing(store_.get());
  auto put = PutTlsPolicy(failing, "{}", current.version, kBy, clock_);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kIo);
  store::PolicyDoc after = Must(store_->GetPolicy());
  EXPECT_EQ(after.version, current.version);
  EXPECT_EQ(after.json, current.json);
}

}  // namespace
}  // namespace clustertls::authority
