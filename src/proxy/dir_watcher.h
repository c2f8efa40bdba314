#pragma once

// Watches a node's directory D with inotify(7) and calls back once the changes settle: the
// agent switches D/..data by rename (IN_MOVED_TO), a hand edit closes a written file
// (IN_CLOSE_WRITE), a new file or link appears (IN_CREATE). Events closer together than the
// debounce period make one call.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/result.h"

namespace clustertls::proxy {

class DirWatcher {
 public:
  // Starts watching `dir` on a thread of its own; `on_change` runs on that thread,
  // `debounce` after the last event of a burst. kIo naming the directory if it cannot be
  // watched.
  static core::Result<std::unique_ptr<DirWatcher>> Start(const std::string& dir,
                                                         std::chrono::milliseconds debounce,
                                                         std::function<void()> on_change);
  // Stops and joins the thread (a running callback completes first).
  ~DirWatcher();
  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;

 private:
  DirWatcher(int inotify_fd, int stop_fd, std::chrono::milliseconds debounce,
             std::function<void()> on_change);
  void Loop();

  int inotify_fd_;
  int stop_fd_;  // eventfd: written by the destructor
  std::chrono::milliseconds debounce_;
  std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace clustertls::proxy
