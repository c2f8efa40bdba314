#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/files.h"
#include "core/result.h"

namespace clustertls::cli {

// One file a command will write.
struct PlannedFile {
  std::string path;
  std::string data;
  mode_t mode = core::kPublicFileMode;  // kPrivateFileMode: a secret (see CommitOptions::owner)
  // Not given to CommitOptions::owner: stays the runner's (quickstart's CA key).
  bool keep_owner = false;
  // A state file the command updates (a CA's crlnumber): replaced even without force.
  bool replace = false;
};

struct CommitOptions {
  // Replace existing files. Without it an existing file is kAlreadyExists and nothing is written.
  bool force = false;
  // With more than this many files, one syncfs() replaces the per-file fsync (cert bulk).
  std::size_t fsync_each_limit = 16;
  // --owner: every file is given to it (chown, before it is moved into place), except those
  // with keep_owner; secrets (kPrivateFileMode) become 0640 when it names a group
  // (core::PrivateModeFor). Without the privilege to chown nothing is written.
  std::optional<core::FileOwner> owner = std::nullopt;
  // Test hook: called before each file is moved into place; an error aborts the commit there.
  std::function<core::Result<void>(const std::string& path)> before_place = nullptr;
};

// All the files of one command, written together only after everything was computed:
// all-or-nothing. Keys are 0600 (0640 for an --owner with a group), everything else 0644.
class OutputSet {
 public:
  // Adds a file with mode 0600 (private keys, PKCS#12, anything holding a key).
  void AddPrivate(std::string path, std::string data);
  // Adds a file with mode 0644.
  void AddPublic(std::string path, std::string data);
  void Add(PlannedFile file);

  // Fails (kAlreadyExists, naming the file and suggesting --force) if any planned file other
  // than a `replace` one exists and `force` is false, or (kIo) if a planned path is a directory or
  // is planned twice. Commands call it before expensive work; Commit checks again.
  core::Result<void> Check(bool force) const;

  // Writes every file: missing parent directories are created (0755), each file is written to a
  // temporary file in its directory (mode set exactly, data synced), then all are moved into
  // place (link() without force, so a file that appeared meanwhile is never clobbered; rename()
  // with force, keeping a hard-link backup of the old file). If anything fails, every file placed
  // so far is removed (overwritten ones are restored), temporaries and directories created by
  // this commit are removed, and the error names the file.
  core::Result<void> Commit(const CommitOptions& options) const;

  const std::vector<PlannedFile>& files() const { return files_; }
  bool empty() const { return files_.empty(); }

 private:
  std::vector<PlannedFile> files_;
};

// Joins a directory and a file name ("dir" + "a.crt" -> "dir/a.crt").
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace clustertls::cli
