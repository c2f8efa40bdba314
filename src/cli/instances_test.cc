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
  - name: es3.example.com
    filename: es-3
    cn: es3
)",
                          "instances.yml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "node1");
  EXPECT_EQ((*r)[0].filename, "node1");
  EXPECT_EQ((*r)[0].common_name, "node1");
  EXPECT_TRUE((*r)[0].subject_extra.empty());
  EXPECT_TRUE((*r)[0].other_name_cns.empty());
  EXPECT_EQ((*r)[0].sans.dns, (std::vector<std::string>{"node1.example.com", "node1"}));
  EXPECT_EQ((*r)[0].sans.ips, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ((*r)[1].sans.dns, (std::vector<std::string>{"kibana.example.com"}));
  EXPECT_TRUE((*r)[1].sans.ips.empty());
  EXPECT_EQ((*r)[2].filename, "es-3");
  EXPECT_EQ((*r)[2].common_name, "es3.example.com");
  EXPECT_EQ((*r)[2].other_name_cns, std::vector<std::string>{"es3"});
}

// The example of Elastic's documentation (docs/reference/commands/certutil.asciidoc,
// "Using elasticsearch-certutil in Silent Mode"), verbatim.
TEST(InstancesTest, ElasticsDocumentedExample) {
  auto r = ParseInstances(R"(
instances:
  - name: "node1"
    ip:
      - "192.0.2.1"
    dns:
      - "node1.mydomain.com"
  - name: "node2"
    ip:
      - "192.0.2.2"
      - "198.51.100.1"
  - name: "node3"
  - name: "node4"
    dns:
      - "node4.mydomain.com"
      - "node4.internal"
  - name: "CN=node5,OU=IT,DC=mydomain,DC=com"
    filename: "node5"
)",
                          "instances.yml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 5u);
  std::vector<std::string> files;
  for (const Instance& inst : *r) {
    files.push_back(inst.filename);
  }
  EXPECT_EQ(files, (std::vector<std::string>{"node1", "node2", "node3", "node4", "node5"}));
  EXPECT_EQ((*r)[1].sans.ips, (std::vector<std::string>{"192.0.2.2", "198.51.100.1"}));
  EXPECT_TRUE((*r)[2].sans.dns.empty());
  const Instance& node5 = (*r)[4];
  EXPECT_EQ(node5.name, "CN=node5,OU=IT,DC=mydomain,DC=com");
  EXPECT_EQ(node5.common_name, "node5");
  // X.500 order: the last RDN of the string first; the CN goes last.
  EXPECT_EQ(node5.subject_extra,
            (pki::SubjectAttributes{{"DC", "com"}, {"DC", "mydomain"}, {"OU", "IT"}}));
}

TEST(InstancesTest, DistinguishedNameSyntax) {
  auto r = ParseInstances(R"(
instances:
  - name: 'cn = web.example.com , o="Acme, Inc." ; l=1\, Main St ,c=DE,ou=A\2Bb '
    filename: web
)",
                          "in.yml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].common_name, "web.example.com");
  EXPECT_EQ((*r)[0].subject_extra,
            (pki::SubjectAttributes{
                {"OU", "A+b"}, {"C", "DE"}, {"L", "1, Main St"}, {"O", "Acme, Inc."}}));
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
                "instances[2] (name \"a\"): name: duplicate file name \"a\""},
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
        BadCase{"instances:\n  - name: \"Node 1\"\n    filename: node1\n",
                core::ErrorCode::kInvalidName, "name (used as the certificate's common name)"},
        // filename: safe, not the CA's folder, unique, a string.
        BadCase{"instances:\n  - name: a\n    filename: ../evil\n",
                core::ErrorCode::kInvalidArgument, "instances[0] (name \"a\"): filename: must be"},
        BadCase{"instances:\n  - name: a\n    filename: \"..\"\n",
                core::ErrorCode::kInvalidArgument, "filename: must be"},
        BadCase{"instances:\n  - name: a\n    filename: x/y\n", core::ErrorCode::kInvalidArgument,
                "filename: must be"},
        BadCase{"instances:\n  - name: a\n    filename: \"x\\0y\"\n",
                core::ErrorCode::kInvalidArgument, "filename: must be"},
        BadCase{"instances:\n  - name: a\n    filename: ca\n", core::ErrorCode::kInvalidArgument,
                "filename: \"ca\" is reserved"},
        BadCase{"instances:\n  - name: a\n    filename: [x]\n", core::ErrorCode::kInvalidArgument,
                "filename: expected a non-empty string"},
        BadCase{"instances:\n  - name: a.example.com\n    filename: same\n"
                "  - name: b.example.com\n    filename: same\n",
                core::ErrorCode::kInvalidArgument,
                "instances[1] (name \"b.example.com\"): filename: duplicate file name \"same\""},
        BadCase{"instances:\n  - name: same\n  - name: b.example.com\n    filename: same\n",
                core::ErrorCode::kInvalidArgument, "filename: duplicate file name"},
        // A DN name: needs a filename, one CN first, known attributes.
        BadCase{"instances:\n  - name: \"CN=node5,OU=IT\"\n", core::ErrorCode::kInvalidArgument,
                "name: must be letters, digits, '.', '_' or '-', not starting with '.' (it names "
                "files); a distinguished name needs a \"filename\" field"},
        BadCase{"instances:\n  - name: \"OU=IT,CN=node5\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "must start with its one CN="},
        BadCase{"instances:\n  - name: \"CN=a,CN=b\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "must start with its one CN="},
        BadCase{"instances:\n  - name: \"OU=IT\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "must start with its one CN="},
        BadCase{"instances:\n  - name: \"CN=a,XX=b\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "name: unknown attribute \"XX\""},
        BadCase{"instances:\n  - name: \"CN=a,STREET=Main St\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "name: unknown attribute \"STREET\""},
        BadCase{"instances:\n  - name: \"CN=a+UID=b\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "multi-valued RDNs"},
        BadCase{"instances:\n  - name: \"CN=a,O=#0403414243\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "hex-encoded"},
        BadCase{"instances:\n  - name: \"CN=a,O=\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "O: empty value"},
        BadCase{"instances:\n  - name: \"CN=a,garbage\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "has no '='"},
        BadCase{"instances:\n  - name: \"CN=a,O=\\\"x\"\n    filename: n\n",
                core::ErrorCode::kInvalidArgument, "unterminated quoted value"},
        BadCase{"instances:\n  - name: \"CN=bad host,O=x\"\n    filename: n\n",
                core::ErrorCode::kInvalidName, "name's CN (used as the certificate's common name)"},
        // cn: otherName common names, as certutil reads them.
        BadCase{"instances:\n  - name: a\n    cn: [ok, \"\"]\n", core::ErrorCode::kInvalidName,
                "instances[0] (name \"a\"): cn[1]: invalid common name \"\": is empty"},
        BadCase{"instances:\n  - name: a\n    cn: \"x\\ny\"\n", core::ErrorCode::kInvalidName,
                "cn[0]: invalid common name"},
        BadCase{"instances:\n  - name: a\n    cn: {x: 1}\n", core::ErrorCode::kParse,
                "cn: expected a string or a list"}));

TEST(InstancesTest, SafeFileNames) {
  EXPECT_TRUE(IsSafeFileName("node-1.example_x"));
  EXPECT_FALSE(IsSafeFileName(""));
  EXPECT_FALSE(IsSafeFileName(".hidden"));
  EXPECT_FALSE(IsSafeFileName("a/b"));
  EXPECT_FALSE(IsSafeFileName("a b"));
  EXPECT_FALSE(IsSafeFileName(".."));
  EXPECT_FALSE(IsSafeFileName("../x"));
  EXPECT_FALSE(IsSafeFileName(std::string("a\0b", 3)));
  EXPECT_FALSE(IsSafeFileName(std::string(201, 'a')));
}

}  // namespace
}  // namespace clustertls::cli
