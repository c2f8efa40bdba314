#include "cli/instances.h"

#include <gtest/gtest.h>

namespace clustertls::cli {
namespace {

TEST(InstancesTest, ParsesCertutilFormat) {
  auto r = ParseInstances(R"(
instances:
  - name: node1
    dns: [Node1.Example.COM., node1]
    ip:
      - 10.0.0.1
      - "2001:DB8::1"
  - name: "kibana"
    dns: kibana.example.com
  - name: es-3
    cn: es3.example.com
)",
                          "instances.yml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "node1");
  EXPECT_EQ((*r)[0].common_name, "node1");
  EXPECT_EQ((*r)[0].sans.dns, (std::vector<std::string>{"node1.example.com", "node1"}));
  EXPECT_EQ((*r)[0].sans.ips, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ((*r)[1].sans.dns, (std::vector<std::string>{"kibana.example.com"}));
  EXPECT_TRUE((*r)[1].sans.ips.empty());
  EXPECT_EQ((*r)[2].common_name, "es3.example.com");
}

struct BadCase {
  const char* yaml;
  core::ErrorCode code;
  const char* message_part;
};

class InstancesErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(InstancesErrorTest, NamesIndexNameAndField) {
  auto r = ParseInstances(GetParam().yaml, "in.yml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, GetParam().code) << r.error().message;
  EXPECT_NE(r.error().message.find(GetParam().message_part), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.rfind("in.yml: ", 0), 0u) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, InstancesErrorTest,
    ::testing::Values(
        BadCase{"instances: [", core::ErrorCode::kParse, "not valid YAML: line 1"},
        BadCase{"nodes: []", core::ErrorCode::kParse, "top-level \"instances:\""},
        BadCase{"instances: 3", core::ErrorCode::kParse, "must be a list"},
        BadCase{"instances: []", core::ErrorCode::kInvalidArgument, "is empty"},
        BadCase{"instances:\n  - dns: a.example.com\n", core::ErrorCode::kInvalidArgument,
                "instances[0]: \"name\" is missing"},
        BadCase{"instances:\n  - name: a\n  - name: b\n  - name: a\n",
                core::ErrorCode::kInvalidArgument,
                "instances[2] (name \"a\"): name: duplicate instance name"},
        BadCase{"instances:\n  - name: ../etc\n", core::ErrorCode::kInvalidArgument,
                "instances[0] (name \"../etc\"): name: must be"},
        BadCase{"instances:\n  - name: ca\n", core::ErrorCode::kInvalidArgument, "reserved"},
        BadCase{"instances:\n  - name: a\n    dns: ['ok.example.com', '*.*.x']\n",
                core::ErrorCode::kInvalidName, "instances[0] (name \"a\"): dns[1]"},
        BadCase{"instances:\n  - name: a\n    ip: 300.1.1.1\n", core::ErrorCode::kInvalidName,
                "instances[0] (name \"a\"): ip[0]"},
        BadCase{"instances:\n  - name: a\n    dns: {x: 1}\n", core::ErrorCode::kParse,
                "dns: expected a string or a list"},
        BadCase{"instances:\n  - name: a\n    dsn: x.example.com\n",
                core::ErrorCode::kInvalidArgument, "unknown field \"dsn\""},
        BadCase{"instances:\n  - name: under_score\n", core::ErrorCode::kInvalidName,
                "name (used as the certificate's common name)"},
        BadCase{"instances:\n  - name: ok\n    cn: \"bad name\"\n", core::ErrorCode::kInvalidName,
                "cn (used as the certificate's common name)"}));

TEST(InstancesTest, SafeFileNames) {
  EXPECT_TRUE(IsSafeFileName("node-1.example_x"));
  EXPECT_FALSE(IsSafeFileName(""));
  EXPECT_FALSE(IsSafeFileName(".hidden"));
  EXPECT_FALSE(IsSafeFileName("a/b"));
  EXPECT_FALSE(IsSafeFileName("a b"));
}

}  // namespace
}  // namespace clustertls::cli
