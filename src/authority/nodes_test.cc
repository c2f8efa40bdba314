#include "authority/nodes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "authority/test_cluster_testutil.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using pki::Must;

class NodesTest : public ClusterCaTest {
 protected:
  std::string NewCsr(const std::string& cn = "ignored") {
    pki::PrivateKey key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    return Must(pki::Csr::Create(key, {.common_name = cn})).ToPem();
  }

  NewNodeToken Token(const std::string& node, std::vector<std::string> assign = {"proxy"}) {
    return Must(CreateNodeToken(*store_,
                                {.node = node,
                                 .dns = {node + ".cluster.example"},
                                 .ips = {"10.0.0.7"},
                                 .assign = std::move(assign),
                                 .actor = "admin"},
                                clock_.Now(), rng_));
  }
};

TEST_F(NodesTest, EnrollIssuesThePeerCertificateTheTokenBoundAndNotWhatTheCsrAsks) {
  NewNodeToken token = Token("node-1");
  EXPECT_TRUE(token.token.starts_with("ctlsnode_")) << token.token;
  pki::PrivateKey key = Must(pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  std::string csr =
      Must(pki::Csr::Create(key, {.common_name = "api.cluster.example",
                                  .sans = {.dns = {"api.cluster.example", "evil.example"}}}))
          .ToPem();
  auto enrolled =
      EnrollNode(*store_, *ca_, {.token = token.token, .csr_pem = csr}, clock_.Now(), rng_);
  ASSERT_TRUE(enrolled) << enrolled.error().message;
  EXPECT_EQ(enrolled->node, "node-1");
  EXPECT_EQ(enrolled->assign, std::vector<std::string>{"proxy"});
  pki::Certificate cert = Must(pki::Certificate::FromPem(enrolled->certificate_pem));
  EXPECT_EQ(cert.common_name(), "node-1");
  EXPECT_EQ(cert.sans().dns, (std::vector<std::string>{"node-1.cluster.example", "node-1"}));
  EXPECT_EQ(cert.sans().ips, std::vector<std::string>{"10.0.0.7"});
  EXPECT_TRUE(cert.public_key().Equals(key.public_key()));

  auto node = NodeOfCertificate(*store_, cert, clock_.Now());
  ASSERT_TRUE(node) << node.error().message;
  EXPECT_EQ(node->name, "node-1");
  EXPECT_EQ(node->cert_serial, enrolled->serial_hex);

  // Audit: the token's creation, the enrollment and the certificate's signing.
  auto audit = AllAudit(*store_);
  ASSERT_GE(audit.size(), 3u);
  EXPECT_EQ(audit[audit.size() - 3].action, "node.token.create");
  EXPECT_EQ(audit[audit.size() - 2].action, "node.enroll");
  EXPECT_EQ(audit.back().action, "cert.sign");
  EXPECT_EQ(audit.back().actor, "node:node-1");
}

TEST_F(NodesTest, TokenIsSingleUseUnderConcurrencyAndEveryRefusalReadsTheSame) {
  NewNodeToken token = Token("node-2");
  auto second = OpenStore();
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      ossl::Csprng rng;
      store::Store& s = i % 2 == 0 ? *store_ : *second;
      auto r = EnrollNode(s, *ca_, {.token = token.token, .csr_pem = NewCsr()}, clock_.Now(), rng);
      if (r) {
        ++ok;
      } else if (r.error().code == ErrorCode::kPermissionDenied) {
        ++refused;
      } else {
        ADD_FAILURE() << r.error().message;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), 19);

  std::string detail;
  auto replay = EnrollNode(*store_, *ca_, {.token = token.token, .csr_pem = NewCsr()}, clock_.Now(),
                           rng_, &detail);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().message, "enrollment token is not valid (unknown, used or expired)");
  EXPECT_NE(detail.find("already used"), std::string::npos) << detail;

  auto unknown = EnrollNode(*store_, *ca_, {.token = "ctlsnode_0000_x", .csr_pem = NewCsr()},
                            clock_.Now(), rng_, &detail);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, replay.error().message);

  NewNodeToken late = Token("node-3");
  clock_.Set(clock_.Now() + std::chrono::hours(2));
  auto expired = EnrollNode(*store_, *ca_, {.token = late.token, .csr_pem = NewCsr()}, clock_.Now(),
                            rng_, &detail);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(detail.find("expired"), std::string::npos) << detail;
}

TEST_F(NodesTest, BadRequestsNameTheField) {
  auto bad_name = CreateNodeToken(*store_, {.node = "Node_1"}, clock_.Now(), rng_);
  ASSERT_FALSE(bad_name);
  EXPECT_NE(bad_name.error().message.find("node name \"Node_1\""), std::string::npos);
  auto api = CreateNodeToken(*store_, {.node = "n", .assign = {"api"}}, clock_.Now(), rng_);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().code, ErrorCode::kPermissionDenied);
  auto missing = CreateNodeToken(*store_, {.node = "n", .assign = {"proxi"}}, clock_.Now(), rng_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no cluster certificate named \"proxi\""),
            std::string::npos);
  auto ip = CreateNodeToken(*store_, {.node = "n", .ips = {"10.0.0.300"}}, clock_.Now(), rng_);
  ASSERT_FALSE(ip);
  EXPECT_TRUE(ip.error().message.starts_with("ip: ")) << ip.error().message;
  auto ttl =
      CreateNodeToken(*store_, {.node = "n", .ttl = std::chrono::seconds(5)}, clock_.Now(), rng_);
  ASSERT_FALSE(ttl);
  EXPECT_TRUE(ttl.error().message.starts_with("ttl: ")) << ttl.error().message;

  NewNodeToken token = Token("node-4");
  auto bad_csr =
      EnrollNode(*store_, *ca_, {.token = token.token, .csr_pem = "garbage"}, clock_.Now(), rng_);
  ASSERT_FALSE(bad_csr);
  EXPECT_TRUE(bad_csr.error().message.starts_with("csr")) << bad_csr.error().message;
  // The failed enrollment left the token usable.
  EXPECT_TRUE(
      EnrollNode(*store_, *ca_, {.token = token.token, .csr_pem = NewCsr()}, clock_.Now(), rng_));
}

TEST_F(NodesTest, RenewKeepsNamesAndRemoveRevokesEveryNodeCertificate) {
  NewNodeToken token = Token("node-5");
  auto first = Must(
      EnrollNode(*store_, *ca_, {.token = token.token, .csr_pem = NewCsr()}, clock_.Now(), rng_));
  store::Node node = Must(store_->GetNode("node-5"));
  auto renewed = RenewNode(*store_, *ca_, node, NewCsr("other"), std::chrono::days(10),
                           clock_.Now(), rng_, "10.0.0.7");
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_NE(renewed->serial_hex, first.serial_hex);
  pki::Certificate cert = Must(pki::Certificate::FromPem(renewed->certificate_pem));
  EXPECT_EQ(cert.common_name(), "node-5");
  EXPECT_EQ(Must(store_->GetNode("node-5")).cert_serial, renewed->serial_hex);
  // The previous certificate still authenticates until it expires.
  pki::Certificate old = Must(pki::Certificate::FromPem(first.certificate_pem));
  EXPECT_TRUE(NodeOfCertificate(*store_, old, clock_.Now()));

  ASSERT_TRUE(AssignNode(*store_, "node-5", {"proxy", "syncer"}, "admin", "", clock_.Now()));
  EXPECT_EQ(Must(store_->GetNode("node-5")).assign_json, "[\"proxy\",\"syncer\"]");

  auto removed = RemoveNode(*store_, "node-5", "admin", "", clock_.Now());
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->size(), 2u);
  auto refused = NodeOfCertificate(*store_, cert, clock_.Now());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("revoked"), std::string::npos) << refused.error().message;

  // A certificate that is not a node's is refused.
  SignedCert server = Issue("www.example.com");
  auto not_node = NodeOfCertificate(
      *store_, Must(pki::Certificate::FromPem(server.certificate_pem)), clock_.Now());
  ASSERT_FALSE(not_node);
  EXPECT_NE(not_node.error().message.find("not a node certificate"), std::string::npos);
}

TEST_F(NodesTest, ExpiredNodeCertificateIsRefused) {
  NewNodeToken token = Token("node-6");
  auto enrolled = Must(
      EnrollNode(*store_, *ca_,
                 {.token = token.token, .csr_pem = NewCsr(), .validity = std::chrono::minutes(10)},
                 clock_.Now(), rng_));
  pki::Certificate cert = Must(pki::Certificate::FromPem(enrolled.certificate_pem));
  clock_.Set(clock_.Now() + std::chrono::minutes(11));
  auto refused = NodeOfCertificate(*store_, cert, clock_.Now());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("new token"), std::string::npos);
}

}  // namespace
}  // namespace clustertls::authority
