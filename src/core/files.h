#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "core/result.h"

namespace clustertls::core {

inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kPublicFileMode = 0644;

// Reads a whole file. Fails with kNotFound / kIo naming `path`, or kInvalidArgument when the file
// is larger than `max_bytes` (default 64 MiB).
Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes = 64u << 20);

// Reads a passphrase file: its whole content, with one trailing "\n" (or "\r\n") removed.
// An empty passphrase is refused.
Result<std::string> ReadPassphraseFile(const std::string& path);

struct WriteOptions {
  mode_t mode = kPublicFileMode;
  bool overwrite = false;  // without it an existing file is kAlreadyExists
};

// Writes `data` to `path` atomically: a temporary file in the same directory, created with
// `mode`, fsync'ed, then renamed over `path`; the directory is fsync'ed too. On failure nothing
// is left behind and an existing file is untouched.
Result<void> WriteFileAtomic(const std::string& path, std::string_view data,
                             const WriteOptions& options = {});

// Creates `path` (and parents) as a directory with mode 0755 if it does not exist.
Result<void> EnsureDirectory(const std::string& path);

// True if something exists at `path`.
bool PathExists(const std::string& path);

}  // namespace clustertls::core
