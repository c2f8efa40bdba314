#pragma once

// The answer of GET /v1/agent/state (docs/api.md "Nodes"), as the agent reads it.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace clustertls::agent {

// What the server sent: either "unchanged" (no files) or the node's whole set.
struct StateAnswer {
  std::int64_t version = 0;
  std::string digest{};  // "" if absent
  bool unchanged = false;
  std::map<std::string, std::string> files{};  // name -> content; empty when unchanged
};

// Parses the JSON body of a state answer: an object with an integer "version", an optional
// "digest" and "unchanged", and unless unchanged a "files" array of {"name","content"} whose
// names are plain file names (IsValidFileName) other than the agent's own files
// (node_cert.pem, node_key.pem, agent.json). Fails with kParse naming what is wrong.
core::Result<StateAnswer> ParseStateAnswer(std::string_view body);

}  // namespace clustertls::agent
