#include "cli/progress.h"

#include <unistd.h>

namespace clustertls::cli {

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

Progress::Progress(std::ostream& out, std::size_t total, std::string label, bool enabled)
    : out_(out), total_(total), label_(std::move(label)), enabled_(enabled) {}

Progress::~Progress() { Finish(); }

std::string Progress::Render(std::string_view label, std::size_t done, std::size_t total,
                             std::size_t width) {
  std::size_t filled = total == 0 ? width : (done * width) / total;
  if (filled > width) {
    filled = width;
  }
  std::string bar(label);
  bar += " [";
  bar.append(filled, '#');
  bar.append(width - filled, ' ');
  bar += "] ";
  bar += std::to_string(done) + "/" + std::to_string(total);
  return bar;
}

void Progress::Draw(std::size_t done) {
  out_ << '\r' << Render(label_, done, total_) << std::flush;
  last_draw_ = std::chrono::steady_clock::now();
}

void Progress::Advance(std::size_t n) {
  std::size_t done = done_.fetch_add(n) + n;
  if (!enabled_) {
    return;
  }
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) {
    return;
  }
  if (std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(50)) {
    Draw(done);
  }
}

void Progress::Finish() {
  if (!enabled_) {
    return;
  }
  std::lock_guard lock(mu_);
  if (finished_) {
    return;
  }
  finished_ = true;
  Draw(done_.load());
  out_ << '\n' << std::flush;
}

}  // namespace clustertls::cli
