#include "cli/output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

std::string Errno() { return std::strerror(errno); }

std::string ParentDir(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

// Creates a fresh hidden sibling "<dir>/.<name>.<tag>.<random>" with O_EXCL; returns its fd.
int CreateSibling(const std::string& path, const char* tag, mode_t mode, std::string& out_path) {
  std::filesystem::path p(path);
  std::string dir = ParentDir(path);
  for (int attempt = 0; attempt < 16; ++attempt) {
    out_path = dir + "/." + p.filename().string() + "." + tag + "." + RandomSuffix();
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) {
      return fd;
    }
  }
  errno = EEXIST;
  return -1;
}

core::Result<void> WriteAll(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrorCode::kIo, "write failed: " + Errno());
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

// What one commit did so far, undone by Rollback().
struct Journal {
  std::vector<std::string> created_dirs;  // outermost first
  std::vector<std::string> temps;         // temporaries not yet moved into place
  std::vector<std::string> placed_new;    // files that did not exist before
  std::vector<std::pair<std::string, std::string>> backups;  // (backup, path) of replaced files
  bool committed = false;

  ~Journal() {
    if (!committed) {
      Rollback();
    }
    for (const auto& t : temps) {
      ::unlink(t.c_str());
    }
  }

  void Rollback() {
    for (const auto& t : temps) {
      ::unlink(t.c_str());
    }
    temps.clear();
    for (const auto& p : placed_new) {
      ::unlink(p.c_str());
    }
    for (const auto& [backup, path] : backups) {
      ::rename(backup.c_str(), path.c_str());
    }
    backups.clear();
    for (auto it = created_dirs.rbegin(); it != created_dirs.rend(); ++it) {
      ::rmdir(it->c_str());  // only if still empty
    }
  }
};

core::Result<void> MakeDirs(const std::string& dir, Journal& journal) {
  std::filesystem::path p(dir);
  std::vector<std::string> missing;
  for (auto cur = p; !cur.empty(); cur = cur.parent_path()) {
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return Fail(ErrorCode::kIo, cur.string() + ": exists and is not a directory");
      }
      break;
    }
    missing.push_back(cur.string());
    if (cur == cur.parent_path()) {
      break;
    }
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0) {
      if (errno == EEXIST) {
        continue;
      }
      return Fail(ErrorCode::kIo, *it + ": cannot create directory: " + Errno());
    }
    journal.created_dirs.push_back(*it);
  }
  return {};
}

}  // namespace

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) {
    return std::string(name);
  }
  std::string out(dir);
  if (out.back() != '/') {
    out += '/';
  }
  out += name;
  return out;
}

void OutputSet::AddPrivate(std::string path, std::string data) {
  files_.push_back({std::move(path), std::move(data), core::kPrivateFileMode});
}

void OutputSet::AddPublic(std::string path, std::string data) {
  files_.push_back({std::move(path), std::move(data), core::kPublicFileMode});
}

void OutputSet::Add(PlannedFile file) { files_.push_back(std::move(file)); }

core::Result<void> OutputSet::Check(bool force) const {
  std::set<std::string> seen;
  for (const auto& f : files_) {
    std::string norm = std::filesystem::path(f.path).lexically_normal().string();
    if (!seen.insert(norm).second) {
      return Fail(ErrorCode::kIo, f.path + ": would be written twice by this command");
    }
    struct stat st {};
    if (::lstat(f.path.c_str(), &st) != 0) {
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      return Fail(ErrorCode::kIo, f.path + ": is a directory");
    }
    if (!force && !f.replace) {
      return Fail(ErrorCode::kAlreadyExists, f.path + ": already exists (use --force to overwrite)");
    }
  }
  return {};
}

core::Result<void> OutputSet::Commit(const CommitOptions& options) const {
  CTLS_RETURN_IF_ERROR(Check(options.force));
  Journal journal;
  const bool fsync_each = files_.size() <= options.fsync_each_limit;
  std::set<std::string> dirs;
  for (const auto& f : files_) {
    std::string dir = ParentDir(f.path);
    if (dirs.insert(dir).second) {
      CTLS_RETURN_IF_ERROR(MakeDirs(dir, journal));
    }
  }
  // Phase 1: every temporary file, complete and synced.
  std::vector<std::string> temp_of(files_.size());
  int any_fd = -1;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    const auto& f = files_[i];
    std::string tmp;
    int fd = CreateSibling(f.path, "tmp", f.mode, tmp);
    if (fd < 0) {
      return Fail(ErrorCode::kIo, f.path + ": cannot create: " + Errno());
    }
    journal.temps.push_back(tmp);
    temp_of[i] = tmp;
    auto fail = [&](const std::string& what) {
      std::string err = Errno();
      ::close(fd);
      return Fail(ErrorCode::kIo, f.path + ": " + what + ": " + err);
    };
    // Owner and exact mode before any byte is written: a refused chown leaves no file.
    const std::optional<core::FileOwner> owner = f.keep_owner ? std::nullopt : options.owner;
    const mode_t mode = f.mode == core::kPrivateFileMode ? core::PrivateModeFor(owner) : f.mode;
    if (auto set = core::SetOwnerAndMode(fd, f.path, mode, owner); !set) {
      ::close(fd);
      return set.error();
    }
    if (auto w = WriteAll(fd, f.data); !w) {
      ::close(fd);
      return w.error().WithContext(f.path);
    }
    if (fsync_each && ::fsync(fd) != 0) {
      return fail("fsync failed");
    }
    if (!fsync_each && any_fd < 0) {
      any_fd = ::dup(fd);
    }
    if (::close(fd) != 0) {
      return Fail(ErrorCode::kIo, f.path + ": close failed: " + Errno());
    }
  }
  if (any_fd >= 0) {
    int rc = ::syncfs(any_fd);
    int saved = errno;
    ::close(any_fd);
    if (rc != 0) {
      errno = saved;
      return Fail(ErrorCode::kIo, files_.front().path + ": syncfs failed: " + Errno());
    }
  }
  // Phase 2: move each into place.
  for (std::size_t i = 0; i < files_.size(); ++i) {
    const auto& f = files_[i];
    if (options.before_place) {
      CTLS_RETURN_IF_ERROR(options.before_place(f.path));
    }
    const std::string& tmp = temp_of[i];
    struct stat st {};
    bool exists = ::lstat(f.path.c_str(), &st) == 0;
    if (exists && !options.force && !f.replace) {
      return Fail(ErrorCode::kAlreadyExists, f.path + ": already exists (use --force to overwrite)");
    }
    if (!exists) {
      if (::link(tmp.c_str(), f.path.c_str()) != 0) {
        if (errno == EEXIST) {
          return Fail(ErrorCode::kAlreadyExists,
                      f.path + ": already exists (use --force to overwrite)");
        }
        return Fail(ErrorCode::kIo, f.path + ": cannot move into place: " + Errno());
      }
      journal.placed_new.push_back(f.path);
      ::unlink(tmp.c_str());
    } else {
      std::string backup;
      for (int attempt = 0; attempt < 16; ++attempt) {
        backup = ParentDir(f.path) + "/." + std::filesystem::path(f.path).filename().string() +
                 ".bak." + RandomSuffix();
        if (::link(f.path.c_str(), backup.c_str()) == 0 || errno != EEXIST) {
          break;
        }
      }
      if (::lstat(backup.c_str(), &st) != 0) {
        return Fail(ErrorCode::kIo, f.path + ": cannot keep a backup of the old file: " + Errno());
      }
      journal.backups.emplace_back(backup, f.path);
      if (::rename(tmp.c_str(), f.path.c_str()) != 0) {
        return Fail(ErrorCode::kIo, f.path + ": cannot move into place: " + Errno());
      }
    }
    std::erase(journal.temps, tmp);
  }
  // Make the new directory entries durable: one fsync per directory, or one syncfs for a batch.
  if (fsync_each) {
    for (const auto& dir : dirs) {
      int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
  } else {
    int dfd = ::open(dirs.begin()->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::syncfs(dfd);
      ::close(dfd);
    }
  }
  for (const auto& [backup, path] : journal.backups) {
    ::unlink(backup.c_str());
  }
  journal.backups.clear();
  journal.committed = true;
  return {};
}

}  // namespace clustertls::cli
