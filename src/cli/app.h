#pragma once

#include <ostream>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"

namespace clustertls::cli {

// The version `clustertls --version` prints.
inline constexpr const char* kVersion = "0.1.0";

// Exit codes of the clustertls command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The one place where an Error becomes an exit code: usage errors 2, everything else 1.
int ExitCodeFor(const core::Error& error);

// Parses `argv` and runs the command with the given streams, clock and randomness. Errors are
// printed as one line "clustertls: error: <message>" on `err`. Returns the exit code.
int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
        const core::Clock& clock, core::Rng& rng);

// Run() with std::cout/std::cerr, the system clock and the OpenSSL CSPRNG; catches exceptions.
int Main(int argc, const char* const* argv);

}  // namespace clustertls::cli
