#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"

namespace clustertls::core {

using TimePoint = std::chrono::sys_seconds;
using Days = std::chrono::days;

// The source of "now". Production code takes a Clock&; tests pass a FixedClock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
};

// A clock that always returns the time it was given.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(TimePoint t) : t_(t) {}
  TimePoint Now() const override { return t_; }
  void Set(TimePoint t) { t_ = t; }

 private:
  TimePoint t_;
};

// Parses "2024-01-01", "2024-01-01T12:00:00Z", "2024-01-01T12:00:00+02:00" (RFC 3339, fraction
// ignored) or "@<unix seconds>". Fails with kInvalidArgument naming the text.
Result<TimePoint> ParseTime(std::string_view text);

// Formats as RFC 3339 in UTC, e.g. "2024-01-01T12:00:00Z".
std::string FormatTime(TimePoint t);

// Human duration, e.g. "364 days", "5 hours", "12 minutes".
std::string FormatDuration(std::chrono::seconds d);

// Parses a duration as a number and a unit: "90s", "15m", "1h", "30d", "2w" (a bare number is
// seconds). kInvalidArgument naming the text, also for zero, a negative value or overflow.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace clustertls::core
