#include "agent/backoff.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace clustertls::agent {
namespace {

BackoffOptions Clamped(BackoffOptions o) {
  o.initial = std::max(o.initial, std::chrono::milliseconds(1));
  o.max = std::max(o.max, o.initial);
  o.multiplier = std::isfinite(o.multiplier) ? std::max(o.multiplier, 1.0) : 1.0;
  o.jitter = std::isfinite(o.jitter) ? std::clamp(o.jitter, 0.0, 1.0) : 0.0;
  return o;
}

}  // namespace

Backoff::Backoff(const BackoffOptions& options, core::Rng& rng)
    : options_(Clamped(options)),
      rng_(rng),
      base_ms_(static_cast<double>(options_.initial.count())) {}

std::chrono::milliseconds Backoff::Next() {
  const double max_ms = static_cast<double>(options_.max.count());
  const double base = std::min(base_ms_, max_ms);
  base_ms_ = std::min(base * options_.multiplier, max_ms);

  double factor = 1.0;
  std::array<std::uint8_t, 8> bytes{};
  if (options_.jitter > 0 && rng_.Fill(bytes)) {
    std::uint64_t x = 0;
    for (std::uint8_t b : bytes) {
      x = (x << 8) | b;
    }
    const double u = static_cast<double>(x >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    factor = 1.0 + options_.jitter * (2.0 * u - 1.0);
  }
  const double delay = std::min(base * factor, max_ms);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(delay)));
}

void Backoff::Reset() { base_ms_ = static_cast<double>(options_.initial.count()); }

}  // namespace clustertls::agent
