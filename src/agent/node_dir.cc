#include "agent/node_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <utility>

#include "core/encoding.h"

namespace clustertls::agent {
namespace {

constexpr char kLockName[] = ".lock";
constexpr char kDataLink[] = "..data";
constexpr char kDataTmp[] = "..data_tmp";
constexpr char kLinkTmp[] = "..link_tmp";
constexpr std::size_t kMaxNameLength = 100;

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
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// The target of the symlink at `path`, or nullopt if it is not a symlink (or missing).
std::optional<std::string> LinkTarget(const std::string& path) {
  std::array<char, 4096> buf{};
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0 || static_cast<std::size_t>(n) >= buf.size()) {
    return std::nullopt;
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// The version of a versioned directory name "..<version>_<hex>", or nullopt for any other name.
std::optional<std::int64_t> ParseVersionedName(std::string_view name) {
  if (name.size() < 5 || name.substr(0, 2) != "..") {
    return std::nullopt;
  }
  name.remove_prefix(2);
  const std::size_t underscore = name.find('_');
  if (underscore == std::string_view::npos || underscore == 0 || underscore > 19 ||
      underscore + 1 == name.size()) {
    return std::nullopt;
  }
  std::int64_t version = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + underscore, version);
  if (ec != std::errc() || end != name.data() + underscore || version < 0) {
    return std::nullopt;
  }
  for (char c : name.substr(underscore + 1)) {
    if (core::HexDigitValue(c) < 0) {
      return std::nullopt;
    }
  }
  return version;
}

void FsyncDir(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) {
    ::fsync(fd.get());
  }
}

// Writes all of `data` to `fd`; false with errno set on failure.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string Quoted(const std::string& name) {
  return "\"" + (name.size() > 120 ? name.substr(0, 120) + "..." : name) + "\"";
}

}  // namespace

bool IsValidFileName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || name.front() == '.') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

NodeDir::NodeDir(std::string dir, NodeDirOptions options, int lock_fd)
    : dir_(std::move(dir)), options_(std::move(options)), lock_fd_(lock_fd) {}

NodeDir::~NodeDir() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
  }
}

core::Result<std::unique_ptr<NodeDir>> NodeDir::Open(const std::string& dir_in,
                                                     const NodeDirOptions& options) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  if (dir.empty()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "node directory: empty path");
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return core::Fail(core::ErrorCode::kIo, dir + ": cannot stat: " + Errno());
    }
    const std::string parent = std::filesystem::path(dir).parent_path().string();
    if (!parent.empty()) {
      CTLS_RETURN_IF_ERROR(core::EnsureDirectory(parent));
    }
    if (::mkdir(dir.c_str(), 0755) != 0) {
      if (errno != EEXIST) {
        return core::Fail(core::ErrorCode::kIo, dir + ": cannot create directory: " + Errno());
      }
    } else if (::chmod(dir.c_str(), 0755) != 0) {  // exactly 0755, whatever the umask
      return core::Fail(core::ErrorCode::kIo, dir + ": cannot set mode: " + Errno());
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return core::Fail(core::ErrorCode::kIo, dir + ": is not a directory");
  }

  const std::string lock_path = dir + "/" + kLockName;
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (lock.get() < 0) {
    return core::Fail(core::ErrorCode::kIo, lock_path + ": cannot open the lock file: " + Errno());
  }
  // flock locks belong to the open file description: a second Open in this process conflicts
  // as well as one in another process.
  while (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) {
      continue;
    }
    if (errno == EWOULDBLOCK) {
      return core::Fail(core::ErrorCode::kAlreadyExists,
                        dir + ": another clustertls agent is running on this directory (lock " +
                            lock_path + " held)");
    }
    return core::Fail(core::ErrorCode::kIo, lock_path + ": cannot lock: " + Errno());
  }

  // What an install that crashed left behind: its temporary links and versioned directories
  // that ..data does not point at. Failing to remove them is not fatal (retried next Open).
  ::unlink((dir + "/" + kDataTmp).c_str());
  ::unlink((dir + "/" + kLinkTmp).c_str());
  const std::optional<std::string> current = LinkTarget(dir + "/" + kDataLink);
  std::error_code ec;
  std::vector<std::string> stale;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (ParseVersionedName(name) && name != current) {
      stale.push_back(name);
    }
  }
  for (const std::string& name : stale) {
    std::error_code ignored;
    std::filesystem::remove_all(dir + "/" + name, ignored);
  }
  return std::unique_ptr<NodeDir>(new NodeDir(std::move(dir), options, lock.Release()));
}

core::Result<std::map<std::string, std::string>> NodeDir::ReadCurrent() const {
  std::map<std::string, std::string> files;
  const std::optional<std::string> target = LinkTarget(dir_ + "/" + kDataLink);
  if (!target) {
    return files;
  }
  const std::string data_dir = dir_ + "/" + *target;
  std::error_code ec;
  std::filesystem::directory_iterator it(data_dir, ec);
  if (ec == std::errc::no_such_file_or_directory) {
    return files;  // ..data dangles (its directory was deleted): no current set to keep
  }
  for (std::filesystem::directory_iterator end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!IsValidFileName(name) || it->is_symlink() || !it->is_regular_file()) {
      continue;
    }
    CTLS_ASSIGN_OR_RETURN(files[name], core::ReadFile(data_dir + "/" + name));
  }
  if (ec) {
    return core::Fail(core::ErrorCode::kIo,
                      data_dir + ": cannot list the current set: " + ec.message());
  }
  return files;
}

std::optional<std::int64_t> NodeDir::CurrentVersion() const {
  const std::optional<std::string> target = LinkTarget(dir_ + "/" + kDataLink);
  if (!target) {
    return std::nullopt;
  }
  return ParseVersionedName(*target);
}

core::Result<InstallResult> NodeDir::Install(const std::vector<File>& files, std::int64_t version) {
  if (version < 0) {
    return core::Fail(core::ErrorCode::kInvalidArgument,
                      dir_ + ": version " + std::to_string(version) + " is negative");
  }
  std::set<std::string> names;
  for (const File& f : files) {
    if (!IsValidFileName(f.name)) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "file name " + Quoted(f.name) +
                            ": refused (1 to 100 characters of A-Z a-z 0-9 . _ -, not starting "
                            "with '.')");
    }
    if (!names.insert(f.name).second) {
      return core::Fail(core::ErrorCode::kInvalidArgument,
                        "file name " + Quoted(f.name) + ": given twice");
    }
  }

  CTLS_ASSIGN_OR_RETURN(auto current, ReadCurrent());
  std::set<std::string> changed;
  for (const File& f : files) {
    auto it = current.find(f.name);
    if (it == current.end() || it->second != f.content) {
      changed.insert(f.name);
    }
  }
  for (const auto& [name, content] : current) {
    if (names.count(name) == 0) {
      changed.insert(name);
    }
  }

  // Makes each D/<name> a symlink to ..data/<name>: a temporary link renamed over whatever is
  // there, so that a planted symlink (to /etc/passwd, say) or file is replaced, never followed.
  // Adds the names it (re)linked to `changed`. Goes on past a failure and returns the first.
  const std::string link_tmp = dir_ + "/" + kLinkTmp;
  auto ensure_links = [&]() -> core::Result<void> {
    std::optional<core::Error> first;
    for (const std::string& name : names) {
      const std::string path = dir_ + "/" + name;
      const std::string want = std::string(kDataLink) + "/" + name;
      if (LinkTarget(path) == want) {
        continue;
      }
      ::unlink(link_tmp.c_str());
      std::string failure;
      if (::symlink(want.c_str(), link_tmp.c_str()) != 0) {
        failure = link_tmp + ": cannot create a link to " + want + " for " + path + ": " + Errno();
      } else if (::rename(link_tmp.c_str(), path.c_str()) != 0) {
        failure = path + ": cannot replace with a link to " + want + ": " + Errno();
        ::unlink(link_tmp.c_str());
      }
      if (!failure.empty()) {
        if (!first) {
          first = core::Fail(core::ErrorCode::kIo, std::move(failure));
        }
        continue;
      }
      changed.insert(name);
    }
    if (first) {
      return *first;
    }
    return {};
  };

  const std::optional<std::string> old_target = LinkTarget(dir_ + "/" + kDataLink);
  if (changed.empty()) {
    CTLS_RETURN_IF_ERROR(ensure_links());
    if (changed.empty()) {
      return InstallResult{};
    }
    FsyncDir(dir_);
    return InstallResult{.changed = {changed.begin(), changed.end()},
                         .data_dir = old_target.value_or("")};
  }

  // 1. The new versioned directory, 0755 whatever the umask.
  std::random_device rd;
  std::string data_name;
  std::string data_path;
  for (int attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 8> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 4) {
      const std::uint32_t r = rd();
      std::memcpy(bytes.data() + i, &r, 4);
    }
    data_name = ".." + std::to_string(version) + "_" + core::Hex(bytes);
    data_path = dir_ + "/" + data_name;
    if (::mkdir(data_path.c_str(), 0755) == 0) {
      break;
    }
    if (errno != EEXIST || attempt == 15) {
      return core::Fail(core::ErrorCode::kIo, data_path +
                                                  ": cannot create the directory of "
                                                  "the new set: " +
                                                  Errno() + " (the previous set is kept)");
    }
  }
  auto abandon = [&](std::string message) -> core::Error {
    std::error_code ignored;
    std::filesystem::remove_all(data_path, ignored);
    ::unlink((dir_ + "/" + kDataTmp).c_str());
    return core::Fail(core::ErrorCode::kIo, std::move(message) + " (the previous set is kept)");
  };
  if (::chmod(data_path.c_str(), 0755) != 0) {
    return abandon(data_path + ": cannot set mode: " + Errno());
  }

  // 2. Every file, owner and mode set before the content, fsync'ed; then the directory.
  Fd data_fd(::open(data_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (data_fd.get() < 0) {
    return abandon(data_path + ": cannot open: " + Errno());
  }
  for (const File& f : files) {
    const std::string path = data_path + "/" + f.name;
    const mode_t mode = f.secret ? core::PrivateModeFor(options_.owner) : core::kPublicFileMode;
    Fd fd(::openat(data_fd.get(), f.name.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (fd.get() < 0) {
      return abandon(path + ": cannot create: " + Errno());
    }
    if (auto set = core::SetOwnerAndMode(fd.get(), path, mode, options_.owner); !set) {
      return abandon(set.error().message);
    }
    if (!WriteAll(fd.get(), f.content)) {
      return abandon(path + ": write failed: " + Errno());
    }
    if (::fsync(fd.get()) != 0) {
      return abandon(path + ": fsync failed: " + Errno());
    }
    if (::close(fd.Release()) != 0) {
      return abandon(path + ": close failed: " + Errno());
    }
  }
  if (::fsync(data_fd.get()) != 0) {
    return abandon(data_path + ": fsync failed: " + Errno());
  }

  // 3. The switch: ..data_tmp -> the new directory, renamed over ..data in one step.
  const std::string data_tmp = dir_ + "/" + kDataTmp;
  const std::string data_link = dir_ + "/" + kDataLink;
  ::unlink(data_tmp.c_str());
  if (::symlink(data_name.c_str(), data_tmp.c_str()) != 0) {
    return abandon(data_tmp + ": cannot create a link to " + data_name + ": " + Errno());
  }
  if (::rename(data_tmp.c_str(), data_link.c_str()) != 0) {
    return abandon(data_link + ": cannot switch to " + data_name + ": " + Errno());
  }
  FsyncDir(dir_);

  // 4. The links of the set's names, then away with those of names no longer in it.
  CTLS_RETURN_IF_ERROR(ensure_links());
  for (const auto& [name, content] : current) {
    const std::string path = dir_ + "/" + name;
    if (names.count(name) == 0 && LinkTarget(path) == std::string(kDataLink) + "/" + name) {
      ::unlink(path.c_str());
    }
  }
  FsyncDir(dir_);

  // 5. The previous versioned directory; a leftover is removed by the next Open.
  if (old_target && *old_target != data_name && ParseVersionedName(*old_target)) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_ + "/" + *old_target, ignored);
  }
  return InstallResult{.changed = {changed.begin(), changed.end()}, .data_dir = data_name};
}

}  // namespace clustertls::agent
