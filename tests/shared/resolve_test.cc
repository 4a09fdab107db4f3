#include "shared/net/resolve.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace fedge::shared {
namespace {

using std::chrono::milliseconds;

template <typename T>
net::awaitable<void> Keep(net::awaitable<T> coroutine, std::optional<T>* out) {
  out->emplace(co_await std::move(coroutine));
}

// Runs `coroutine` on a strand of a fresh io_context to completion.
template <typename T>
T RunToCompletion(net::awaitable<T> coroutine) {
  net::asio::io_context io;
  std::optional<T> out;
  net::asio::co_spawn(net::asio::make_strand(io), Keep(std::move(coroutine), &out),
                      net::asio::detached);
  io.run();
  EXPECT_TRUE(out.has_value());
  return std::move(*out);
}

// A lookup that never answers until released (a DNS server that does not reply).
struct HangingLookup {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

// The lookup keeps `h` alive: its thread outlives the test's wait.
LookupFn Hanging(std::shared_ptr<HangingLookup> h) {
  return [h](const std::string&, const std::string&) -> Result<Endpoints> {
    std::unique_lock<std::mutex> lock(h->mu);
    h->cv.wait(lock, [&h] { return h->released; });
    return Endpoints{net::tcp::endpoint(net::asio::ip::make_address("10.0.0.1"), 1)};
  };
}

TEST(ResolveTest, ALookupThatNeverAnswersEndsAtTheDeadline) {
  auto hanging = std::make_shared<HangingLookup>();
  const auto start = std::chrono::steady_clock::now();
  Result<Endpoints> r = RunToCompletion(
      ResolveWithDeadline("coordinator.example", "7443", milliseconds(200), Hanging(hanging)));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_NE(
      r.status().message().find("cannot resolve coordinator.example: no answer within 200 ms"),
      std::string::npos)
      << r.status().message();
  EXPECT_GE(waited, milliseconds(200));
  EXPECT_LT(waited, milliseconds(5000));
  // The abandoned lookup may answer late: its answer is dropped without touching the (gone)
  // coroutine or io_context.
  hanging->Release();
}

TEST(ResolveTest, AnAnswerBeforeTheDeadlineIsReturnedAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  Result<Endpoints> r = RunToCompletion(ResolveWithDeadline(
      "coordinator.example", "7443", milliseconds(60000),
      [](const std::string& host, const std::string& service) -> Result<Endpoints> {
        EXPECT_EQ(host, "coordinator.example");
        EXPECT_EQ(service, "7443");
        return Endpoints{net::tcp::endpoint(net::asio::ip::make_address("10.1.2.3"), 7443)};
      }));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].address().to_string(), "10.1.2.3");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(30000));
}

TEST(ResolveTest, ALookupErrorIsReturned) {
  Result<Endpoints> r = RunToCompletion(
      ResolveWithDeadline("nowhere", "7443", milliseconds(60000),
                          [](const std::string&, const std::string&) -> Result<Endpoints> {
                            return Status::Unavailable("cannot resolve nowhere: Host not found");
                          }));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(ResolveTest, SystemLookupResolvesLoopback) {
  Result<Endpoints> r =
      RunToCompletion(ResolveWithDeadline("127.0.0.1", "7443", milliseconds(5000)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->empty());
  EXPECT_EQ((*r)[0].port(), 7443);
}

}  // namespace
}  // namespace fedge::shared
