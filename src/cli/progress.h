#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>

namespace clustertls::cli {

// A one-line progress bar on stderr, drawn only when `enabled` (the CLI enables it when stderr is
// a terminal). Advance() is thread-safe and cheap; redraws are throttled.
class Progress {
 public:
  Progress(std::ostream& out, std::size_t total, std::string label, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Advance(std::size_t n = 1);
  // Draws the final state and ends the line (idempotent).
  void Finish();

  std::size_t done() const { return done_.load(); }

  // Renders the bar for `done` of `total`, e.g. "issuing [#####     ] 50/100".
  static std::string Render(std::string_view label, std::size_t done, std::size_t total,
                            std::size_t width = 30);

 private:
  void Draw(std::size_t done);

  std::ostream& out_;
  const std::size_t total_;
  const std::string label_;
  const bool enabled_;
  std::atomic<std::size_t> done_{0};
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_draw_{};
  bool finished_ = false;
};

// True if file descriptor `fd` is a terminal.
bool IsTerminal(int fd);

}  // namespace clustertls::cli
