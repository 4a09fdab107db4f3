#include "shared/net/resolve.h"

#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace fedge::shared {

namespace {

// Shared by the waiting coroutine and the lookup thread.
struct Pending {
  std::mutex mu;
  bool abandoned = false;                    // the coroutine stopped waiting; guarded by mu
  std::optional<Result<Endpoints>> result;   // guarded by mu
  net::asio::steady_timer* timer = nullptr;  // the coroutine's; valid while !abandoned
  net::any_io_executor executor;             // the coroutine's; reset when abandoned
};

// Marks the lookup abandoned when the waiting coroutine returns or its frame is destroyed, so
// that a late answer touches neither its timer nor its executor.
struct AbandonOnExit {
  std::shared_ptr<Pending> pending;
  ~AbandonOnExit() {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->abandoned = true;
    pending->executor = {};
  }
};

void RunLookup(std::shared_ptr<Pending> pending, LookupFn lookup, std::string host,
               std::string service) {
  Result<Endpoints> r = lookup(host, service);
  std::lock_guard<std::mutex> lock(pending->mu);
  if (pending->abandoned) return;
  pending->result = std::move(r);
  // Wakes the coroutine on its own executor: the timer is not thread-safe.
  net::asio::post(pending->executor, [pending] {
    std::lock_guard<std::mutex> lock(pending->mu);
    if (!pending->abandoned) pending->timer->cancel();
  });
}

}  // namespace

Result<Endpoints> SystemLookup(const std::string& host, const std::string& service) {
  net::asio::io_context io;
  net::tcp::resolver resolver(io);
  net::error_code ec;
  net::tcp::resolver::results_type results = resolver.resolve(host, service, ec);
  if (ec) return Status::Unavailable("cannot resolve " + host + ": " + ec.message());
  Endpoints endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  if (endpoints.empty()) return Status::Unavailable("cannot resolve " + host + ": no addresses");
  return endpoints;
}

net::awaitable<Result<Endpoints>> ResolveWithDeadline(std::string host, std::string service,
                                                      std::chrono::milliseconds timeout,
                                                      LookupFn lookup) {
  if (!lookup) lookup = SystemLookup;
  net::any_io_executor executor = co_await net::asio::this_coro::executor;
  net::asio::steady_timer timer(executor, timeout);
  auto pending = std::make_shared<Pending>();
  pending->timer = &timer;
  pending->executor = executor;
  AbandonOnExit guard{pending};
  std::thread(RunLookup, pending, std::move(lookup), host, service).detach();
  net::error_code ec;
  co_await timer.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
  std::optional<Result<Endpoints>> result;
  {
    std::lock_guard<std::mutex> lock(pending->mu);
    result = std::move(pending->result);
  }
  if (result) co_return std::move(*result);
  co_return Status::DeadlineExceeded("cannot resolve " + host + ": no answer within " +
                                     std::to_string(timeout.count()) + " ms");
}

}  // namespace fedge::shared
