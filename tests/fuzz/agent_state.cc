// agent::ParseStateAnswer: the JSON body of GET /v1/agent/state as the node agent reads it
// (the agent trusts the server's TLS identity, not the body's shape).

#include "agent/agent.h"
#include "agent/node_dir.h"
#include "agent/state.h"
#include "fuzz_check.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto state = agent::ParseStateAnswer(fuzz::AsView(data, size));
  if (!state) {
    return 0;
  }
  for (const auto& [name, content] : state->files) {
    FUZZ_CHECK(agent::IsValidFileName(name), "a bad file name accepted: " + name);
    FUZZ_CHECK(name != agent::kNodeCertFile && name != agent::kNodeKeyFile &&
                   name != agent::kAgentConfigFile,
               "the agent's own file accepted: " + name);
  }
  FUZZ_CHECK(!state->unchanged || state->files.empty(), "files in an unchanged answer");
  return 0;
}
