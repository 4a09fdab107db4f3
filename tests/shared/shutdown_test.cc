#include "shared/base/shutdown.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <future>
#include <thread>

namespace fedge::shared {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ShutdownWatchTest, SigtermCallsTheHandlerOnTheWatcherThread) {
  ShutdownWatch watch({"test"});
  std::promise<std::thread::id> called;
  auto registration = watch.OnSignal([&called] { called.set_value(std::this_thread::get_id()); });
  EXPECT_FALSE(watch.requested());
  std::raise(SIGTERM);
  std::future<std::thread::id> f = called.get_future();
  ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready) << "the handler was not called";
  EXPECT_NE(f.get(), std::this_thread::get_id()) << "handlers run on the watcher thread";
  EXPECT_TRUE(watch.requested());
  EXPECT_TRUE(watch.requested_flag().load());
}

TEST(ShutdownWatchTest, SigintAlsoCounts) {
  ShutdownWatch watch({"test"});
  std::promise<void> called;
  auto registration = watch.OnSignal([&called] { called.set_value(); });
  std::raise(SIGINT);
  EXPECT_EQ(called.get_future().wait_for(seconds(10)), std::future_status::ready);
}

TEST(ShutdownWatchTest, HandlerSetAfterTheSignalRunsAtOnce) {
  ShutdownWatch watch({"test"});
  {
    // A first handler makes the signal observable; the second one comes "too late".
    std::promise<void> seen;
    auto first = watch.OnSignal([&seen] { seen.set_value(); });
    std::raise(SIGTERM);
    ASSERT_EQ(seen.get_future().wait_for(seconds(10)), std::future_status::ready);
  }
  bool called = false;
  auto late = watch.OnSignal([&called] { called = true; });
  EXPECT_TRUE(called) << "a program that installs its handler after the signal still stops";
}

TEST(ShutdownWatchDeathTest, WatchdogEndsAShutdownThatTakesTooLong) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ShutdownWatch watch({"slowprog", milliseconds(100)});
        auto registration = watch.OnSignal([] {});  // never makes the program exit
        std::raise(SIGTERM);
        for (;;) ::pause();
      },
      ::testing::ExitedWithCode(kShutdownWatchdogExitCode),
      "slowprog: shutdown did not finish within 0.1 s; exiting with code 3");
}

TEST(ShutdownWatchDeathTest, SecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ShutdownWatch watch({"prog", seconds(600)});
        std::promise<void> seen;
        auto registration = watch.OnSignal([&seen] { seen.set_value(); });
        std::raise(SIGTERM);
        seen.get_future().wait();
        std::raise(SIGINT);
        for (;;) ::pause();
      },
      ::testing::ExitedWithCode(kShutdownWatchdogExitCode),
      "prog: SIGINT received again during the shutdown");
}

TEST(ShutdownWatchTest, AfterTheWatchIsGoneSigtermHasItsDefaultActionAgain) {
  { ShutdownWatch watch({"test"}); }
  struct sigaction action {};
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_DFL);
}

}  // namespace
}  // namespace fedge::shared
