#pragma once

#include <stdlib.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "core/rng.h"
#include "core/time.h"

namespace clustertls::cli::testing {

// A fresh temporary directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ctls_cli_test.XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// What one run of the command line gave: its exit code, stdout and stderr.
struct CliOutcome {
  int code;
  std::string out;
  std::string err;
};

// Runs `clustertls ARGS...` in process (cli::Run) with `clock` and `rng`.
inline CliOutcome RunCli(std::vector<std::string> args, const core::Clock& clock, core::Rng& rng) {
  args.insert(args.begin(), "clustertls");
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  std::ostringstream out, err;
  int code = cli::Run(static_cast<int>(argv.size()), argv.data(), out, err, clock, rng);
  return {code, out.str(), err.str()};
}

// True when `err` is exactly one line "clustertls: error: ...\n", as every failure prints.
inline bool OneErrorLine(const std::string& err) {
  return err.rfind("clustertls: error: ", 0) == 0 && err.find('\n') == err.size() - 1;
}

}  // namespace clustertls::cli::testing
