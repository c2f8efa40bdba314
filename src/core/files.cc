#include "core/files.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

namespace clustertls::core {
namespace {

std::string Errno() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string DirName(const std::string& path) {
  std::filesystem::path p(path);
  auto parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// A numeric id ("0", "999"), as chown(1) takes one that names no entry.
std::optional<unsigned long> NumericId(std::string_view text) {
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  unsigned long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value >= 0xffffffffUL) {
    return std::nullopt;
  }
  return value;
}

// getpwnam_r / getgrnam_r need a buffer of a size sysconf suggests (or more: ERANGE).
template <typename Entry, typename Lookup>
std::optional<Entry> LookUp(const std::string& name, Lookup lookup, std::vector<char>& buf,
                            int& error) {
  Entry entry{};
  Entry* found = nullptr;
  for (;;) {
    int rc = lookup(name.c_str(), &entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    // 0 with no entry, or one of the "not found" errnos some NSS modules return.
    error = (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) ? 0 : rc;
    break;
  }
  if (found == nullptr) {
    return std::nullopt;
  }
  return entry;
}

}  // namespace

Result<FileOwner> ParseFileOwner(std::string_view spec) {
  const std::string shown = "\"" + std::string(spec.substr(0, 64)) + "\"";
  if (spec.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "empty owner: give USER, USER:GROUP or :GROUP");
  }
  const std::size_t colon = spec.find(':');
  if (colon != std::string_view::npos && spec.find(':', colon + 1) != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                shown + ": more than one ':'; give USER, USER:GROUP or :GROUP");
  }
  const std::string user(spec.substr(0, colon));
  const std::string group(colon == std::string_view::npos ? std::string_view()
                                                          : spec.substr(colon + 1));
  if (user.empty() && group.empty()) {
    return Fail(ErrorCode::kInvalidArgument, shown + ": names neither a user nor a group");
  }
  FileOwner owner{.spec = std::string(spec)};
  std::vector<char> buf(16384);
  if (!user.empty()) {
    int failed = 0;
    auto pw = LookUp<struct passwd>(user, ::getpwnam_r, buf, failed);
    if (pw) {
      owner.uid = pw->pw_uid;
      if (colon != std::string_view::npos && group.empty()) {
        owner.gid = pw->pw_gid;  // "USER:": the user's login group
      }
    } else if (auto id = NumericId(user)) {
      owner.uid = static_cast<uid_t>(*id);
      if (colon != std::string_view::npos && group.empty()) {
        return Fail(ErrorCode::kInvalidArgument,
                    shown + ": user id " + user + " has no login group to take; name the group");
      }
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  failed != 0
                      ? shown + ": cannot look up user \"" + user + "\": " + std::strerror(failed)
                      : "no such user \"" + user + "\"");
    }
  }
  if (!group.empty()) {
    int failed = 0;
    auto gr = LookUp<struct group>(group, ::getgrnam_r, buf, failed);
    if (gr) {
      owner.gid = gr->gr_gid;
    } else if (auto id = NumericId(group)) {
      owner.gid = static_cast<gid_t>(*id);
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  failed != 0
                      ? shown + ": cannot look up group \"" + group + "\": " + std::strerror(failed)
                      : "no such group \"" + group + "\"");
    }
  }
  return owner;
}

mode_t PrivateModeFor(const std::optional<FileOwner>& owner) {
  return owner && owner->has_group() ? kGroupPrivateFileMode : kPrivateFileMode;
}

Result<void> SetOwnerAndMode(int fd, const std::string& path, mode_t mode,
                             const std::optional<FileOwner>& owner) {
  if (owner && (owner->has_user() || owner->has_group())) {
    if (::fchown(fd, owner->uid, owner->gid) != 0) {
      const int err = errno;
      std::string message =
          path + ": cannot give the file to " + owner->spec + ": " + std::strerror(err);
      if (err == EPERM) {
        message += " (changing a file's owner needs root: run the command as root or with sudo)";
      }
      return Fail(ErrorCode::kIo, std::move(message));
    }
  }
  // open() applies the umask, and fchown may clear bits: the mode must be exact.
  if (::fchmod(fd, mode) != 0) {
    return Fail(ErrorCode::kIo, path + ": cannot set mode: " + Errno());
  }
  return {};
}

Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return Fail(ErrorCode::kNotFound, path + ": no such file");
    }
    return Fail(ErrorCode::kIo, path + ": cannot open: " + Errno());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(ErrorCode::kIo, path + ": cannot stat: " + Errno());
  }
  if (S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kIo, path + ": is a directory, expected a file");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrorCode::kIo, path + ": read failed: " + Errno());
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Fail(ErrorCode::kInvalidArgument,
                  path + ": file is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<std::string> ReadPassphraseFile(const std::string& path) {
  CTLS_ASSIGN_OR_RETURN(std::string content, ReadFile(path, 64 * 1024));
  if (!content.empty() && content.back() == '\n') {
    content.pop_back();
    if (!content.empty() && content.back() == '\r') {
      content.pop_back();
    }
  }
  if (content.empty()) {
    return Fail(ErrorCode::kInvalidArgument, path + ": passphrase file is empty");
  }
  return content;
}

Result<void> WriteFileAtomic(const std::string& path, std::string_view data,
                             const WriteOptions& options) {
  struct stat st {};
  if (!options.overwrite && ::lstat(path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kAlreadyExists, path + ": already exists (use --force to overwrite)");
  }
  const std::string dir = DirName(path);
  std::random_device rd;
  std::string tmp;
  int raw = -1;
  for (int attempt = 0; attempt < 16 && raw < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(rd());
    raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, options.mode);
    if (raw < 0 && errno != EEXIST) {
      return Fail(ErrorCode::kIo, path + ": cannot create: " + Errno());
    }
  }
  if (raw < 0) {
    return Fail(ErrorCode::kIo, path + ": cannot create a temporary file");
  }
  Fd fd(raw);
  auto fail = [&](const std::string& what) -> Result<void> {
    std::string err = Errno();
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIo, path + ": " + what + ": " + err);
  };
  // Owner and mode are set before any byte is written, so the secret is never readable by
  // anyone else, and a refused chown leaves no file.
  if (auto set = SetOwnerAndMode(fd.get(), path, options.mode, options.owner); !set) {
    ::unlink(tmp.c_str());
    return set.error();
  }
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("write failed");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return fail("fsync failed");
  }
  if (::close(fd.Release()) != 0) {
    return fail("close failed");
  }
  if (!options.overwrite) {
    // link() fails if the target appeared meanwhile: never clobber without --force.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) {
        ::unlink(tmp.c_str());
        return Fail(ErrorCode::kAlreadyExists,
                    path + ": already exists (use --force to overwrite)");
      }
      return fail("cannot move into place");
    }
    ::unlink(tmp.c_str());
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("cannot move into place");
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) {
    ::fsync(dfd.get());
  }
  return {};
}

Result<void> EnsureDirectory(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return {};
  }
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Fail(ErrorCode::kIo, path + ": cannot create directory: " + ec.message());
  }
  return {};
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Result<DirectoryLock> DirectoryLock::Acquire(const std::string& dir, int timeout_ms) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return Fail(ErrorCode::kNotFound, dir + ": no such directory");
    }
    return Fail(ErrorCode::kIo, dir + ": cannot open the directory: " + Errno());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Fail(ErrorCode::kIo, dir + ": cannot lock the directory: " + Errno());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorCode::kIo, dir + ": still locked by another clustertls command after " +
                                      std::to_string(timeout_ms / 1000) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DirectoryLock(fd.Release());
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) {
    ::close(fd_);  // releases the flock
  }
}

}  // namespace clustertls::core
