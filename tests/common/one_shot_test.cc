#include "common/one_shot.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/run_blocking.h"

namespace mei {
namespace {

namespace net = boost::asio;

net::awaitable<void> AwaitInto(std::shared_ptr<OneShot<std::string>> shot, std::string* out,
                               std::thread::id* resumed_on) {
  *out = co_await shot->Wait();
  *resumed_on = std::this_thread::get_id();
}

TEST(OneShotTest, EveryWaitingCoroutineResumesOnItsOwnExecutorWithTheValue) {
  auto shot = std::make_shared<OneShot<std::string>>();
  net::io_context io(1);
  constexpr int kWaiters = 16;
  std::vector<std::string> values(kWaiters);
  std::vector<std::thread::id> resumed(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    net::co_spawn(io, AwaitInto(shot, &values[i], &resumed[i]), net::detached);
  }
  io.poll();  // every waiter is suspended now: nothing is set
  EXPECT_FALSE(shot->ready());
  for (const std::string& value : values) EXPECT_EQ(value, "");

  std::thread setter([&] { EXPECT_TRUE(shot->Set("filled")); });
  setter.join();
  io.run();  // the waiters resume here, on the io_context's thread, not on the setter's
  for (int i = 0; i < kWaiters; ++i) {
    EXPECT_EQ(values[i], "filled") << i;
    EXPECT_EQ(resumed[i], std::this_thread::get_id()) << i;
  }
}

TEST(OneShotTest, OnlyTheFirstSetCountsAndLateWaitersGetItAtOnce) {
  OneShot<int> shot;
  EXPECT_TRUE(shot.Set(1));
  EXPECT_FALSE(shot.Set(2));
  EXPECT_TRUE(shot.ready());
  EXPECT_EQ(shot.Get(), 1);
  EXPECT_EQ(RunBlocking(shot.Wait()), 1);
}

TEST(OneShotTest, SuspendedWaitersHoldNoThreadOfTheirPool) {
  // 64 coroutines wait on a pool of one thread; the thread stays free for other work meanwhile.
  auto shot = std::make_shared<OneShot<std::string>>();
  net::thread_pool pool(1);
  constexpr int kWaiters = 64;
  std::vector<std::string> values(kWaiters);
  std::vector<std::thread::id> resumed(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    net::co_spawn(pool, AwaitInto(shot, &values[i], &resumed[i]), net::detached);
  }
  std::atomic<bool> other_work_ran{false};
  OneShot<bool> ran;
  net::post(pool, [&] {
    other_work_ran = true;
    ran.Set(true);
  });
  EXPECT_TRUE(ran.Get());
  EXPECT_TRUE(other_work_ran);
  shot->Set("done");
  pool.join();
  for (const std::string& value : values) EXPECT_EQ(value, "done");
}

TEST(OneShotTest, GetBlocksUntilAnotherThreadSets) {
  OneShot<int> shot;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    shot.Set(7);
  });
  EXPECT_EQ(shot.Get(), 7);
  setter.join();
}

}  // namespace
}  // namespace mei
