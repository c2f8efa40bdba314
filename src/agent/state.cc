#include "agent/state.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "agent/agent.h"
#include "agent/node_dir.h"

namespace clustertls::agent {

using core::ErrorCode;
using core::Fail;
using json = nlohmann::json;

core::Result<StateAnswer> ParseStateAnswer(std::string_view body) {
  json state = json::parse(body, nullptr, false);
  if (!state.is_object() || !state.contains("version") || !state["version"].is_number_integer()) {
    return Fail(ErrorCode::kParse, "state: the server's answer is not understood");
  }
  StateAnswer answer;
  answer.version = state["version"].get<std::int64_t>();
  // Checked before reading: json::value() throws type_error when the member has another type.
  if (state.contains("digest")) {
    if (!state["digest"].is_string()) {
      return Fail(ErrorCode::kParse, "state: \"digest\" is not a string");
    }
    answer.digest = state["digest"].get<std::string>();
  }
  if (state.contains("unchanged")) {
    if (!state["unchanged"].is_boolean()) {
      return Fail(ErrorCode::kParse, "state: \"unchanged\" is not a boolean");
    }
    answer.unchanged = state["unchanged"].get<bool>();
  }
  if (answer.unchanged) {
    return answer;
  }
  if (!state.contains("files") || !state["files"].is_array()) {
    return Fail(ErrorCode::kParse, "state: no files in the server's answer");
  }
  for (const auto& f : state["files"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("content") ||
        !f["content"].is_string()) {
      return Fail(ErrorCode::kParse, "state: a file entry is not understood");
    }
    std::string name = f["name"].get<std::string>();
    if (name == kNodeCertFile || name == kNodeKeyFile || name == kAgentConfigFile ||
        !IsValidFileName(name)) {
      return Fail(ErrorCode::kParse, "state: refusing a file named \"" + name + "\"");
    }
    answer.files[std::move(name)] = f["content"].get<std::string>();
  }
  return answer;
}

}  // namespace clustertls::agent
