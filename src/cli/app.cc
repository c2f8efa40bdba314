#include "cli/app.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/common.h"
#include "ossl/csprng.h"
#include "ossl/error.h"

namespace clustertls::cli {

int ExitCodeFor(const core::Error& error) {
  if (IsUsageError(error)) {
    return kExitUsage;
  }
  switch (error.code) {
    case core::ErrorCode::kInvalidArgument:
    case core::ErrorCode::kParse:
    case core::ErrorCode::kNotFound:
    case core::ErrorCode::kAlreadyExists:
    case core::ErrorCode::kIo:
    case core::ErrorCode::kWeakKey:
    case core::ErrorCode::kWrongPassphrase:
    case core::ErrorCode::kKeyMismatch:
    case core::ErrorCode::kNotCa:
    case core::ErrorCode::kExpired:
    case core::ErrorCode::kInvalidName:
    case core::ErrorCode::kBadSignature:
    case core::ErrorCode::kChainIncomplete:
    case core::ErrorCode::kVerifyFailed:
    case core::ErrorCode::kUnsupported:
    case core::ErrorCode::kPermissionDenied:
    case core::ErrorCode::kConflict:
    case core::ErrorCode::kUnavailable:
    case core::ErrorCode::kCrypto:
    case core::ErrorCode::kInternal:
      return kExitFailure;
  }
  return kExitFailure;
}

namespace {

constexpr const char* kFooter =
    R"(Exit codes: 0 success, 1 failure (one line "clustertls: error: ..." on stderr),
2 usage error. Passphrase files: the whole content is the passphrase, one trailing newline
ignored. Keys are written 0600, everything else 0644, atomically; existing files are never
overwritten without --force, and a failed command leaves no output file behind.)";

// One line, whatever the message quotes: control characters (a name with an escape sequence,
// a newline) are shown as \xNN.
void PrintError(std::ostream& err, const std::string& message) {
  std::string line;
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      line += "\\x";
      line += kHex[u >> 4];
      line += kHex[u & 0xf];
    } else {
      line += c;
    }
  }
  err << "clustertls: error: " << line << '\n';
}

}  // namespace

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
        const core::Clock& clock, core::Rng& rng) {
  CLI::App app{
      "clustertls: a certificate authority and TLS toolbox for self-managed clusters.\n"
      "Offline commands: make a CA, issue server/client/peer certificates, CSRs,\n"
      "bundles (PEM, PKCS#12, zip), inspect, verify, fingerprint, convert.",
      "clustertls"};
  app.footer(kFooter);
  app.set_version_flag("--version",
                       std::string("clustertls ") + kVersion + " (" + ossl::LibraryVersion() + ")");
  app.require_subcommand(1);
  app.fallthrough();  // global options (--quiet) also after the subcommand
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "print only data and errors (no summaries)");

  Action action;
  AddQuickstartCommand(app, &action);
  AddCaCommands(app, &action);
  AddCertCommands(app, &action);
  AddCsrCommands(app, &action);
  AddInspectCommand(app, &action);
  AddVerifyCommand(app, &action);
  AddToolCommands(app, &action);
  AddServerCommands(app, &action);
  AddClientCommands(app, &action);
  AddNodeCommands(app, &action);
  AddProxyCommands(app, &action);
  AddCertificatesCommands(app, &action);
  AddRevokeCommand(app, &action);
  AddCrlCommands(app, &action);

  // CLI11 reports an unknown command as "A subcommand is required": name it instead.
  {
    CLI::App* current = &app;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.empty() || arg[0] == '-' || current->get_subcommands({}).empty()) {
        break;
      }
      CLI::App* sub = nullptr;
      try {
        sub = current->get_subcommand(arg);
      } catch (const CLI::OptionNotFound&) {
        std::string names;
        for (const CLI::App* s : current->get_subcommands({})) {
          names += (names.empty() ? "" : ", ") + s->get_name();
        }
        PrintError(err, "unknown command \"" + arg + "\" (commands: " + names + ")");
        return kExitUsage;
      }
      current = sub;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e, out, err);
    }
    PrintError(err, std::string(e.what()) + " (see --help)");
    return kExitUsage;
  }
  if (!action) {
    PrintError(err, "no command given (see --help)");
    return kExitUsage;
  }
  Context ctx{.out = out,
              .err = err,
              .clock = clock,
              .rng = rng,
              .quiet = quiet,
              .stderr_tty = ::isatty(STDERR_FILENO) == 1};
  core::Result<int> result = action(ctx);
  out.flush();
  if (!result) {
    PrintError(err, result.error().message);
    return ExitCodeFor(result.error());
  }
  return *result;
}

int Main(int argc, const char* const* argv) {
  try {
    core::SystemClock clock;
    ossl::Csprng rng;
    return Run(argc, argv, std::cout, std::cerr, clock, rng);
  } catch (const std::exception& e) {
    std::cerr << "clustertls: error: internal error: " << e.what() << '\n';
    return kExitFailure;
  }
}

}  // namespace clustertls::cli
