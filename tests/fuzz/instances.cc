// cli::ParseInstances: an `instances.yml` (elasticsearch-certutil's format) given to
// `clustertls cert --in`, parsed by yaml-cpp then validated.

#include "cli/instances.h"

#include "fuzz_check.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto instances = cli::ParseInstances(fuzz::AsView(data, size), "instances.yml");
  if (!instances) {
    return 0;
  }
  for (const cli::Instance& i : *instances) {
    FUZZ_CHECK(cli::IsSafeFileName(i.filename), "unsafe file name accepted: " + i.filename);
    FUZZ_CHECK(!i.common_name.empty(), "an instance without a CN");
  }
  return 0;
}
