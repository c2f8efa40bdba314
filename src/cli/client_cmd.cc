// Placeholder: filled in by the issue-3 work.
#include "cli/common.h"

namespace clustertls::cli {

void AddClientCommands(CLI::App& /*app*/, Action* /*action*/) {}

}  // namespace clustertls::cli
