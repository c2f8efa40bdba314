#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/result.h"

namespace clustertls::agent {

// One file of a node's set: a plain file name (see IsValidFileName) and its content. A secret
// (a private key) is written with core::PrivateModeFor(owner), anything else 0644.
struct File {
  std::string name;
  std::string content;
  bool secret = false;
};

// True if `name` may name a file of the set: 1 to 100 characters of [A-Za-z0-9._-], not
// starting with '.' (the names starting with '.' are the directory's own: .lock, ..data, ...).
bool IsValidFileName(const std::string& name);

struct NodeDirOptions {
  // Every file written is given to this owner (chown; needs root), and secrets get mode 0640
  // instead of 0600 when it names a group. Unset: the agent's own user and group.
  std::optional<core::FileOwner> owner = std::nullopt;
};

// What Install did.
struct InstallResult {
  // Sorted names whose content differs from the previous set (new, changed or removed ones),
  // plus names whose D/<name> link had to be repaired. Empty when nothing was done.
  std::vector<std::string> changed;
  // The versioned directory now holding the set ("..<version>_<hex>"); empty when nothing was
  // done.
  std::string data_dir;
};

// The node's directory D, written the way Kubernetes' AtomicWriter writes a Secret volume:
//
//   D/.lock                 flock'ed by the NodeDir that has D open
//   D/..<version>_<hex>/    the current set's files (certificates 0644, secrets 0600/0640)
//   D/..data -> ..<version>_<hex>
//   D/<name> -> ..data/<name>   one symlink per file of the set
//
// A new set is written into a new versioned directory, then ..data is switched to it in one
// rename(2), so a reader that opens D/proxy_cert.pem then D/proxy_key.pem sees both from the
// same set (unless an install happens between its two opens; it then sees the newer pair).
// Not thread-safe: one NodeDir is used from one thread.
class NodeDir {
 public:
  // Creates `dir` (0755) and its parents if missing, then takes an exclusive, non-blocking
  // flock on `dir`/.lock, held until the NodeDir is destroyed. Fails with kAlreadyExists when
  // another NodeDir (in this or another process) holds the lock:
  // "<dir>: another clustertls agent is running on this directory (lock <dir>/.lock held)";
  // kIo naming the path and cause when the directory or lock file cannot be made. Removes what
  // an install that crashed left behind: versioned directories ..data does not point at, and
  // the temporary links ..data_tmp and ..link_tmp.
  static core::Result<std::unique_ptr<NodeDir>> Open(const std::string& dir,
                                                     const NodeDirOptions& options = {});
  ~NodeDir();
  NodeDir(const NodeDir&) = delete;
  NodeDir& operator=(const NodeDir&) = delete;

  // Makes `files` the current set, tagged with `version` (>= 0). When every content equals the
  // current set's and every D/<name> link is right, does nothing and returns an empty
  // `changed` (the current version is kept). Otherwise writes every file into a new
  // D/..<version>_<hex> (owner and mode set before the content; each file and the directory
  // fsync'ed), switches ..data to it (symlink ..data_tmp, rename over ..data, fsync D), makes
  // each D/<name> a symlink to ..data/<name> (a temporary link renamed over whatever is there:
  // a planted symlink or file is replaced, never followed), removes the links of names no
  // longer in the set, and deletes the previous versioned directory.
  // Errors: kInvalidArgument for a bad or duplicate name or a negative version (nothing
  // written); kIo naming the file and the cause (strerror). A failure before the ..data rename
  // removes the new directory and leaves the previous set untouched; after it, the new set is
  // current and a failure to make a D/<name> link is reported (the next Install repairs it).
  core::Result<InstallResult> Install(const std::vector<File>& files, std::int64_t version);

  // The current set's files (name -> content), read through ..data; empty before the first
  // Install. kIo naming the file that cannot be read.
  core::Result<std::map<std::string, std::string>> ReadCurrent() const;

  // The version of the current set, parsed from the ..data target; nullopt before the first
  // Install (or if ..data does not name a versioned directory).
  std::optional<std::int64_t> CurrentVersion() const;

  // D, as given to Open.
  const std::string& dir() const { return dir_; }

 private:
  NodeDir(std::string dir, NodeDirOptions options, int lock_fd);

  std::string dir_;
  NodeDirOptions options_;
  int lock_fd_;
};

}  // namespace clustertls::agent
