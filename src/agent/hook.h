#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace clustertls::agent {

// The most of a hook's output HookResult keeps: its last bytes.
inline constexpr std::size_t kHookOutputTailBytes = 4096;

struct HookOptions {
  std::string command = {};               // run as /bin/sh -c COMMAND (--on-change)
  std::vector<std::string> changed = {};  // names of the changed files: CLUSTERTLS_CHANGED
  std::string dir = {};                   // the node directory D: CLUSTERTLS_DIR
  std::chrono::seconds timeout = std::chrono::seconds(60);
};

// How a hook run ended.
struct HookResult {
  int exit_code = -1;       // the exit status; -1 when killed by a signal or at the timeout
  std::string output_tail;  // the last kHookOutputTailBytes of stdout and stderr, interleaved
  bool timed_out = false;   // killed at HookOptions::timeout
  core::TimePoint at;       // when the hook was started (wall clock)
};

// Runs the --on-change command after an applied change: /bin/sh -c COMMAND in its own process
// group, with the agent's environment plus CLUSTERTLS_CHANGED (the changed names joined by
// spaces) and CLUSTERTLS_DIR (D), stdin from /dev/null, stdout and stderr captured through one
// pipe. At the timeout the process group gets SIGTERM, then SIGKILL 2 s later. Returns once
// the shell has exited (a background child that keeps the pipe open is not waited for).
// A failing or killed command is a HookResult, not an error; errors are kInvalidArgument for
// an empty command and kIo when the pipe or process cannot be made.
core::Result<HookResult> RunHook(const HookOptions& options);

}  // namespace clustertls::agent
