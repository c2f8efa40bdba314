#include "agent/state.h"

#include <gtest/gtest.h>

#include <string>

namespace clustertls::agent {
namespace {

TEST(ParseStateAnswerTest, ReadsTheFiles) {
  auto s = ParseStateAnswer(
      R"({"version":7,"digest":"ab12","files":[{"name":"ca.pem","content":"C","secret":false},)"
      R"({"name":"proxy_key.pem","content":"K","secret":true}]})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->version, 7);
  EXPECT_EQ(s->digest, "ab12");
  EXPECT_FALSE(s->unchanged);
  EXPECT_EQ(s->files.size(), 2u);
  EXPECT_EQ(s->files.at("ca.pem"), "C");
  EXPECT_EQ(s->files.at("proxy_key.pem"), "K");
}

TEST(ParseStateAnswerTest, ReadsUnchanged) {
  auto s = ParseStateAnswer(R"({"version":7,"unchanged":true})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->unchanged);
  EXPECT_EQ(s->digest, "");
  EXPECT_TRUE(s->files.empty());
}

TEST(ParseStateAnswerTest, RefusesWhatIsNotAnAnswer) {
  for (const char* body :
       {"", "[]", "{}", R"({"version":"7","files":[]})", R"({"version":1})",
        R"({"version":1,"files":[{"name":"a.pem"}]})", R"({"version":1,"files":[7]})"}) {
    auto s = ParseStateAnswer(body);
    ASSERT_FALSE(s) << body;
    EXPECT_EQ(s.error().code, core::ErrorCode::kParse) << body;
  }
}

TEST(ParseStateAnswerTest, RefusesTheAgentsOwnFilesAndBadNames) {
  for (const char* name : {"node_key.pem", "node_cert.pem", "agent.json", "../x", ".lock", ""}) {
    auto s = ParseStateAnswer(std::string(R"({"version":1,"files":[{"name":")") + name +
                              R"(","content":"x"}]})");
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code, core::ErrorCode::kParse) << name;
  }
}

// Found by tests/fuzz/agent_state (corpus/agent_state/digest-number.json): a "digest" or
// "unchanged" of another type made nlohmann::json::value() throw type_error out of the agent's
// sync loop, which stopped the agent; now it is a kParse refusal, and the loop retries.
TEST(ParseStateAnswerTest, RefusesMistypedDigestAndUnchanged) {
  for (const char* body :
       {R"({"version":1,"digest":5,"files":[]})", R"({"version":1,"digest":null,"files":[]})",
        R"({"version":1,"unchanged":"yes"})", R"({"version":1,"unchanged":1})"}) {
    auto s = ParseStateAnswer(body);
    ASSERT_FALSE(s) << body;
    EXPECT_EQ(s.error().code, core::ErrorCode::kParse) << body;
  }
}

}  // namespace
}  // namespace clustertls::agent
