#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/nodes_api.h"
#include "store/store.h"

namespace clustertls::server {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class NodeHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ctls-hub-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    url_ = "sqlite://" + dir_ + "/store.db";
    store_ = std::move(store::Store::Open(url_)).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::string url_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(NodeHubTest, AnswersAtOnceWhenPastAndOnBumpOrTimeoutOtherwise) {
  auto hub = std::move(NodeHub::Start({.store = store_.get(), .poll = milliseconds(50)})).value();
  EXPECT_EQ(hub->version(), 0);
  // Already past: answered inline.
  std::int64_t got = -1;
  hub->WaitAfter(-1, milliseconds(5000), [&](std::int64_t v) { got = v; });
  EXPECT_EQ(got, 0);

  // Waiting: a bump through this hub answers at once with the new version.
  std::promise<std::int64_t> woke;
  auto start = std::chrono::steady_clock::now();
  hub->WaitAfter(0, milliseconds(10000), [&](std::int64_t v) { woke.set_value(v); });
  EXPECT_EQ(hub->waiting(), 1u);
  ASSERT_TRUE(hub->Bump());
  auto future = woke.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(future.get(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));

  // Nothing moves: answered at the timeout with the same version.
  std::promise<std::int64_t> timed_out;
  start = std::chrono::steady_clock::now();
  hub->WaitAfter(1, milliseconds(300), [&](std::int64_t v) { timed_out.set_value(v); });
  auto f2 = timed_out.get_future();
  ASSERT_EQ(f2.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_EQ(f2.get(), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(290));
}

// Deadlines are kept in order (a wake visits only the due waiters): many waiters with distinct
// deadlines are each answered at their own timeout, in deadline order, a short one added after
// long ones is not held until the next poll, and a bump answers the rest at once.
TEST_F(NodeHubTest, AnswersEachDeadlineInOrderAndABumpAnswersTheRest) {
  // A poll longer than the test: only the deadline index can wake the hub in time.
  auto hub =
      std::move(NodeHub::Start({.store = store_.get(), .poll = milliseconds(60000)})).value();
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> answered{0};
  for (int i = 0; i < 1000; ++i) {
    hub->WaitAfter(0, milliseconds(100000 + i), [&, i](std::int64_t v) {
      EXPECT_EQ(v, 1);
      ++answered;
    });
  }
  const auto start = std::chrono::steady_clock::now();
  for (int i : {300, 100, 200}) {
    hub->WaitAfter(0, milliseconds(i), [&, i](std::int64_t v) {
      EXPECT_EQ(v, 0);
      std::lock_guard lock(mu);
      order.push_back(i);
    });
  }
  EXPECT_EQ(hub->waiting(), 1003u);
  while (hub->waiting() > 1000u && std::chrono::steady_clock::now() - start < milliseconds(5000)) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(order, (std::vector<int>{100, 200, 300}));
  }
  EXPECT_EQ(hub->waiting(), 1000u);
  EXPECT_EQ(answered.load(), 0);
  ASSERT_TRUE(hub->Bump());
  while (answered.load() < 1000 && std::chrono::steady_clock::now() - start < milliseconds(5000)) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(answered.load(), 1000);
  EXPECT_EQ(hub->waiting(), 0u);
}

TEST_F(NodeHubTest, SeesAChangeMadeThroughAnotherStoreHandleWithinAPoll) {
  std::atomic<int> changes{0};
  auto hub = std::move(NodeHub::Start({.store = store_.get(),
                                       .poll = milliseconds(50),
                                       .on_change = [&] { ++changes; }}))
                 .value();
  auto other = std::move(store::Store::Open(url_)).value();  // a second `serve` instance
  std::promise<std::int64_t> woke;
  hub->WaitAfter(0, milliseconds(10000), [&](std::int64_t v) { woke.set_value(v); });
  ASSERT_TRUE(other->NextCounter(store::kClusterStateCounter));
  auto future = woke.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(future.get(), 1);
  EXPECT_EQ(changes.load(), 1);
}

TEST_F(NodeHubTest, ShutdownAnswersEveryWaiter) {
  std::atomic<int> answered{0};
  {
    auto hub = std::move(NodeHub::Start({.store = store_.get()})).value();
    for (int i = 0; i < 100; ++i) {
      hub->WaitAfter(0, std::chrono::hours(1), [&](std::int64_t) { ++answered; });
    }
    EXPECT_EQ(hub->waiting(), 100u);
  }
  EXPECT_EQ(answered.load(), 100);
}

}  // namespace
}  // namespace clustertls::server
