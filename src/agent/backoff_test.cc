#include "agent/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace clustertls::agent {
namespace {

using std::chrono::milliseconds;

// Every draw the same: all 0x00 gives the lowest factor (1 - jitter), all 0xff the highest,
// 0x80 then 0x00s exactly 1.
class ConstantRng final : public core::Rng {
 public:
  explicit ConstantRng(std::uint8_t first, std::uint8_t rest) : first_(first), rest_(rest) {}
  core::Result<void> Fill(std::span<std::uint8_t> out) override {
    std::fill(out.begin(), out.end(), rest_);
    if (!out.empty()) {
      out[0] = first_;
    }
    return {};
  }

 private:
  std::uint8_t first_;
  std::uint8_t rest_;
};

// SplitMix64: a deterministic stream spread over the whole range.
class SequenceRng final : public core::Rng {
 public:
  core::Result<void> Fill(std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); i += 8) {
      std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::memcpy(out.data() + i, &z, std::min<std::size_t>(8, out.size() - i));
    }
    return {};
  }

 private:
  std::uint64_t state_ = 42;
};

class FailingRng final : public core::Rng {
 public:
  core::Result<void> Fill(std::span<std::uint8_t>) override {
    return core::Fail(core::ErrorCode::kCrypto, "not seeded");
  }
};

TEST(BackoffTest, GrowsByTheMultiplierUpToTheCap) {
  ConstantRng mid(0x80, 0);  // factor 1 + 0.2 * (2 * 0.5 - 1) = 1
  Backoff b(BackoffOptions{}, mid);
  std::vector<std::int64_t> got;
  for (int i = 0; i < 10; ++i) {
    got.push_back(b.Next().count());
  }
  EXPECT_EQ(got, (std::vector<std::int64_t>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
                                            30000}));
}

TEST(BackoffTest, ResetStartsAgain) {
  ConstantRng mid(0x80, 0);
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1000), .multiplier = 3}, mid);
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(300));
  EXPECT_EQ(b.Next(), milliseconds(900));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(300));
}

TEST(BackoffTest, JitterStaysWithinItsBoundsAndUnderTheCap) {
  ConstantRng low(0, 0);
  Backoff lowest(BackoffOptions{}, low);
  EXPECT_EQ(lowest.Next(), milliseconds(400));  // 500 * 0.8
  EXPECT_EQ(lowest.Next(), milliseconds(800));
  ConstantRng high(0xff, 0xff);
  Backoff highest(BackoffOptions{}, high);
  EXPECT_EQ(highest.Next(), milliseconds(600));  // 500 * 1.2
  for (int i = 0; i < 10; ++i) {
    EXPECT_LE(highest.Next(), milliseconds(30000));  // 30 s * 1.2 is capped
  }

  SequenceRng seq;
  Backoff b(BackoffOptions{}, seq);
  for (int round = 0; round < 200; ++round) {
    b.Reset();
    double base = 500;
    for (int i = 0; i < 8; ++i, base = std::min(base * 2, 30000.0)) {
      const auto d = b.Next().count();
      EXPECT_GE(d, std::llround(base * 0.8)) << "step " << i;
      EXPECT_LE(d, std::min<std::int64_t>(std::llround(base * 1.2), 30000)) << "step " << i;
    }
  }
  // The draws spread over both sides of the base.
  std::int64_t below = 0;
  std::int64_t above = 0;
  for (int i = 0; i < 200; ++i) {
    b.Reset();
    const auto d = b.Next().count();
    below += d < 500;
    above += d > 500;
  }
  EXPECT_GT(below, 50);
  EXPECT_GT(above, 50);
}

TEST(BackoffTest, NoJitterWhenTheRngFailsOrJitterIsZero) {
  FailingRng failing;
  Backoff b(BackoffOptions{}, failing);
  EXPECT_EQ(b.Next(), milliseconds(500));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  ConstantRng low(0, 0);
  Backoff exact({.jitter = 0}, low);
  EXPECT_EQ(exact.Next(), milliseconds(500));
}

TEST(BackoffTest, ClampsOptionsOutOfRange) {
  ConstantRng mid(0x80, 0);
  Backoff b({.initial = milliseconds(0), .max = milliseconds(-5), .multiplier = 0.5, .jitter = 7},
            mid);
  EXPECT_EQ(b.Next(), milliseconds(1));
  EXPECT_EQ(b.Next(), milliseconds(1));
}

}  // namespace
}  // namespace clustertls::agent
