#include "pki/chain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pki/certificate.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Fixtures of tests/fixtures/verify (made by its gen.sh with openssl ca).
Certificate Fixture(const std::string& name) {
  return Must(Certificate::FromPem(ReadTestFile("verify/" + name + ".pem")), name);
}

std::vector<std::string> Subjects(const std::vector<Certificate>& certs) {
  std::vector<std::string> out;
  for (const Certificate& c : certs) {
    out.push_back(c.subject());
  }
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) {
    out += l + "\n";
  }
  return out;
}

TEST(ChainTest, OrdersEveryShuffleOfABag) {
  Certificate server = Fixture("server");
  Certificate inter = Fixture("int");
  Certificate root = Fixture("root");
  std::vector<int> order = {0, 1, 2};
  const std::vector<Certificate> certs = {server, inter, root};
  do {
    std::vector<Certificate> bag;
    for (int i : order) {
      bag.push_back(certs[i]);
    }
    ChainOrder result = OrderChain(bag);
    ASSERT_EQ(result.ordered.size(), 3u);
    EXPECT_TRUE(result.ordered[0].Equals(server));
    EXPECT_TRUE(result.ordered[1].Equals(inter));
    EXPECT_TRUE(result.ordered[2].Equals(root));
    EXPECT_TRUE(result.ends_in_root);
    EXPECT_EQ(result.missing_issuer, "");
    EXPECT_THAT(result.unused, IsEmpty());
    EXPECT_THAT(result.problems, IsEmpty()) << Joined(result.problems);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(ChainTest, ReportsTheMissingLinkByName) {
  // The intermediate is missing: the leaf cannot reach the root.
  ChainOrder result = OrderChain({Fixture("root"), Fixture("server")});
  ASSERT_EQ(result.ordered.size(), 1u);
  EXPECT_TRUE(result.ordered[0].Equals(Fixture("server")));
  EXPECT_FALSE(result.ends_in_root);
  EXPECT_EQ(result.missing_issuer, Fixture("int").subject());
  EXPECT_THAT(result.missing_issuer, HasSubstr("Verify Fixture Intermediate CA"));
  EXPECT_THAT(Joined(result.problems), HasSubstr("missing link"));
  EXPECT_THAT(Joined(result.problems), HasSubstr("Verify Fixture Intermediate CA"));
  // The root is not on the path.
  EXPECT_EQ(Subjects(result.unused), std::vector<std::string>{Fixture("root").subject()});
}

TEST(ChainTest, ChainWithoutRootNamesTheRootAsMissing) {
  ChainOrder result = OrderChain({Fixture("int"), Fixture("server")});
  ASSERT_EQ(result.ordered.size(), 2u);
  EXPECT_TRUE(result.ordered[0].Equals(Fixture("server")));
  EXPECT_FALSE(result.ends_in_root);
  EXPECT_EQ(result.missing_issuer, Fixture("root").subject());
}

TEST(ChainTest, SeveralLeavesAreReported) {
  ChainOrder result =
      OrderChain({Fixture("server"), Fixture("root"), Fixture("client"), Fixture("int")});
  ASSERT_EQ(result.ordered.size(), 3u);
  EXPECT_TRUE(result.ordered[0].Equals(Fixture("server")));  // the first of the bag
  EXPECT_TRUE(result.ends_in_root);
  EXPECT_THAT(Joined(result.problems), HasSubstr("several leaves"));
  EXPECT_THAT(Joined(result.problems), HasSubstr("client.example.com"));
  EXPECT_EQ(Subjects(result.unused), std::vector<std::string>{Fixture("client").subject()});
}

TEST(ChainTest, DuplicatesAndUnrelatedCertificatesAreReported) {
  ChainOrder result = OrderChain(
      {Fixture("int"), Fixture("server"), Fixture("other"), Fixture("server"), Fixture("root")});
  ASSERT_EQ(result.ordered.size(), 3u);
  EXPECT_TRUE(result.ordered[0].Equals(Fixture("server")));
  EXPECT_TRUE(result.ends_in_root);
  EXPECT_EQ(result.unused.size(), 2u);
  EXPECT_THAT(Joined(result.problems), HasSubstr("duplicate certificate"));
  EXPECT_THAT(Joined(result.problems), HasSubstr("not on the path"));
  EXPECT_THAT(Joined(result.problems), HasSubstr("Verify Fixture Other Root"));
}

TEST(ChainTest, PrefersThePathThatEndsInARoot) {
  // int-x (same name and key as int, signed by a root missing from the bag) also issued the
  // server certificate; the path through int reaches the root.
  ChainOrder result =
      OrderChain({Fixture("int-x"), Fixture("server"), Fixture("root"), Fixture("int")});
  ASSERT_EQ(result.ordered.size(), 3u);
  EXPECT_TRUE(result.ordered[1].Equals(Fixture("int")));
  EXPECT_TRUE(result.ends_in_root);
  ASSERT_EQ(result.unused.size(), 1u);
  EXPECT_TRUE(result.unused[0].Equals(Fixture("int-x")));
}

TEST(ChainTest, SingleRootAndEmptyBag) {
  ChainOrder root = OrderChain({Fixture("root")});
  ASSERT_EQ(root.ordered.size(), 1u);
  EXPECT_TRUE(root.ends_in_root);
  EXPECT_THAT(root.problems, IsEmpty());

  ChainOrder empty = OrderChain({});
  EXPECT_THAT(empty.ordered, IsEmpty());
  EXPECT_FALSE(empty.problems.empty());
}

TEST(ChainTest, OrdersTheTestPkiBuiltInCode) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki, "node1.example.com");
  ChainOrder result = OrderChain({pki.root, leaf.cert, pki.intermediate});
  ASSERT_EQ(result.ordered.size(), 3u);
  EXPECT_TRUE(result.ordered[0].Equals(leaf.cert));
  EXPECT_TRUE(result.ordered[1].Equals(pki.intermediate));
  EXPECT_TRUE(result.ordered[2].Equals(pki.root));
  EXPECT_THAT(result.problems, IsEmpty()) << Joined(result.problems);
}

}  // namespace
}  // namespace clustertls::pki
