#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

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

}  // namespace

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
  // open() applies the umask; the mode must be exact.
  if (::fchmod(fd.get(), options.mode) != 0) {
    return fail("cannot set mode");
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

}  // namespace clustertls::core
