#pragma once

#include <chrono>

#include "core/rng.h"

namespace clustertls::agent {

struct BackoffOptions {
  std::chrono::milliseconds initial = std::chrono::milliseconds(500);  // the first delay
  std::chrono::milliseconds max = std::chrono::seconds(30);            // no delay is longer
  double multiplier = 2.0;  // each delay's base is the previous one's times this
  double jitter = 0.2;      // each delay is its base times a uniform factor in [1-j, 1+j]
};

// Capped, jittered exponential backoff between retries. The n-th delay since the last Reset
// (n = 0, 1, ...) has the base min(initial * multiplier^n, max) and is the base times a
// uniform random factor in [1 - jitter, 1 + jitter] (±jitter, not full jitter: a retry never
// comes much sooner than its base), then capped at max. Options out of range are clamped:
// initial at least 1 ms, max at least initial, multiplier at least 1, jitter within [0, 1].
// The randomness comes from `rng`; if it fails, that delay is its base (no jitter).
class Backoff {
 public:
  Backoff(const BackoffOptions& options, core::Rng& rng);

  // The delay before the next retry; each call moves one step up the curve.
  std::chrono::milliseconds Next();

  // Back to the first delay (after a success).
  void Reset();

 private:
  BackoffOptions options_;
  core::Rng& rng_;
  double base_ms_;
};

}  // namespace clustertls::agent
