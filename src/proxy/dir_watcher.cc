#include "proxy/dir_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace clustertls::proxy {

core::Result<std::unique_ptr<DirWatcher>> DirWatcher::Start(const std::string& dir,
                                                            std::chrono::milliseconds debounce,
                                                            std::function<void()> on_change) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    return core::Fail(core::ErrorCode::kIo, "inotify: " + std::string(std::strerror(errno)));
  }
  constexpr std::uint32_t kMask =
      IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB;
  if (inotify_add_watch(fd, dir.c_str(), kMask) < 0) {
    const int err = errno;
    ::close(fd);
    return core::Fail(core::ErrorCode::kIo,
                      "--dir " + dir + ": cannot watch: " + std::string(std::strerror(err)));
  }
  int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    const int err = errno;
    ::close(fd);
    return core::Fail(core::ErrorCode::kIo, "eventfd: " + std::string(std::strerror(err)));
  }
  std::unique_ptr<DirWatcher> watcher(new DirWatcher(fd, stop, debounce, std::move(on_change)));
  watcher->thread_ = std::thread([w = watcher.get()] { w->Loop(); });
  return watcher;
}

DirWatcher::DirWatcher(int inotify_fd, int stop_fd, std::chrono::milliseconds debounce,
                       std::function<void()> on_change)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      debounce_(debounce),
      on_change_(std::move(on_change)) {}

DirWatcher::~DirWatcher() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) {
    thread_.join();
  }
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

void DirWatcher::Loop() {
  bool pending = false;
  alignas(inotify_event) char buffer[8192];
  for (;;) {
    pollfd fds[2] = {{.fd = inotify_fd_, .events = POLLIN, .revents = 0},
                     {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
    // Waiting for more events of the burst, or for the first one.
    const int timeout = pending ? static_cast<int>(debounce_.count()) : -1;
    const int ready = ::poll(fds, 2, timeout);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if (ready == 0) {
      pending = false;
      on_change_();
      continue;
    }
    for (;;) {
      ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
      if (n <= 0) {
        break;
      }
      for (char* p = buffer; p < buffer + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        // The agent's lock file says nothing about the set.
        if (event->len == 0 || std::strcmp(event->name, ".lock") != 0) {
          pending = true;
        }
        p += sizeof(inotify_event) + event->len;
      }
    }
  }
}

}  // namespace clustertls::proxy
