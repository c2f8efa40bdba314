#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace clustertls::core {

inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kPublicFileMode = 0644;
// A secret file given to a group (--owner USER:GROUP): the service's group may read it.
inline constexpr mode_t kGroupPrivateFileMode = 0640;

// Who a written file belongs to (chown(2)); an id of -1 is left as the process creates it.
struct FileOwner {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::string spec;  // as given ("redis", "root:redis", ":redis"), for messages

  bool has_user() const { return uid != static_cast<uid_t>(-1); }
  bool has_group() const { return gid != static_cast<gid_t>(-1); }
};

// Parses an owner as chown(1) does: "USER" (the user; the group stays the creating process's),
// "USER:GROUP", "USER:" (the user and its login group) or ":GROUP" (the group alone). Names are
// resolved with getpwnam_r/getgrnam_r; a number that names no entry is taken as an id.
// kInvalidArgument naming an unknown user or group, or a malformed spec.
Result<FileOwner> ParseFileOwner(std::string_view spec);

// The mode of a file that holds a secret (a private key, a PKCS#12) for `owner`: 0640 when the
// owner names a group (the service reads the file through its group), else 0600.
mode_t PrivateModeFor(const std::optional<FileOwner>& owner);

// Gives the open file `fd` to `owner` (fchown; nothing when unset), then sets exactly `mode`
// (fchmod, after fchown, which may clear mode bits). Errors name `path`; without the privilege
// to change the owner (EPERM) the message says to run as root or with sudo.
Result<void> SetOwnerAndMode(int fd, const std::string& path, mode_t mode,
                             const std::optional<FileOwner>& owner);

// Reads a whole file. Fails with kNotFound / kIo naming `path`, or kInvalidArgument when the file
// is larger than `max_bytes` (default 64 MiB).
Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes = 64u << 20);

// Reads a passphrase file: its whole content, with one trailing "\n" (or "\r\n") removed.
// An empty passphrase is refused.
Result<std::string> ReadPassphraseFile(const std::string& path);

struct WriteOptions {
  mode_t mode = kPublicFileMode;
  bool overwrite = false;  // without it an existing file is kAlreadyExists
  std::optional<FileOwner> owner = std::nullopt;  // chown the file (needs root)
};

// Writes `data` to `path` atomically: a temporary file in the same directory, created with
// `mode` and given to `owner` (SetOwnerAndMode) before anything is written to it, fsync'ed, then
// renamed over `path`; the directory is fsync'ed too. On failure nothing is left behind and an
// existing file is untouched.
Result<void> WriteFileAtomic(const std::string& path, std::string_view data,
                             const WriteOptions& options = {});

// Creates `path` (and parents) as a directory with mode 0755 if it does not exist.
Result<void> EnsureDirectory(const std::string& path);

// True if something exists at `path`.
bool PathExists(const std::string& path);

// An exclusive advisory lock (flock(2)) on a directory, held until the object is destroyed:
// serialises read-modify-write cycles on files of that directory between processes.
class DirectoryLock {
 public:
  // Waits up to `timeout_ms` for the lock. kNotFound or kIo naming `dir` if it cannot be opened,
  // kIo if it stays locked.
  static Result<DirectoryLock> Acquire(const std::string& dir, int timeout_ms = 30000);
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace clustertls::core
