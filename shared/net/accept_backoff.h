#pragma once
// Pacing of an accept loop after failures. Out of descriptors (EMFILE) an accept fails at once,
// again and again: a loop that retries at once spins at 100% CPU and logs every retry. After a
// failure, Failed() logs the first of a streak and waits 10 ms, doubling up to 1 s; a success
// (Succeeded) ends the streak. Used by the coordinator's TLS port and the HTTP endpoints.

#include <algorithm>
#include <chrono>

#include "shared/base/log.h"
#include "shared/net/asio.h"

namespace fedge::shared {

class AcceptBackoff {
 public:
  explicit AcceptBackoff(net::any_io_executor executor) : timer_(std::move(executor)) {}

  net::awaitable<void> Failed(const net::error_code& error, const char* component) {
    if (delay_.count() == 0) {
      FEDGE_LOG(Warn, component) << "accept failed: " << error.message();
    }
    delay_ = std::min(std::max(delay_ * 2, std::chrono::milliseconds(10)),
                      std::chrono::milliseconds(1000));
    timer_.expires_after(delay_);
    net::error_code ignored;
    co_await timer_.async_wait(net::asio::redirect_error(net::use_awaitable, ignored));
  }
  void Succeeded() { delay_ = std::chrono::milliseconds(0); }
  std::chrono::milliseconds delay() const { return delay_; }

 private:
  net::asio::steady_timer timer_;
  std::chrono::milliseconds delay_{0};
};

}  // namespace fedge::shared
