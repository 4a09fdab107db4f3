#pragma once
// Runs CPU-heavy work (training, evaluation, encoding) on a thread pool and resumes the
// awaiting coroutine on its own executor afterwards, keeping network threads free.

#include <memory>
#include <optional>

#include "shared/net/asio.h"

namespace fedge::shared {

// REQUIRES: `pool` outlives the call. `fn` runs on the pool; its result is returned.
template <typename Fn>
net::awaitable<std::invoke_result_t<Fn>> RunOffThread(net::asio::thread_pool* pool, Fn fn) {
  using R = std::invoke_result_t<Fn>;
  auto result = std::make_shared<std::optional<R>>();
  // Named, not a temporary: g++ 12 may destroy temporaries of a co_await expression twice.
  auto initiation = [pool, result, fn = std::move(fn)](auto handler) mutable {
    auto ex = net::asio::get_associated_executor(handler);
    net::asio::post(*pool,
                    [result, fn = std::move(fn), handler = std::move(handler), ex]() mutable {
                      result->emplace(fn());
                      net::asio::post(ex, std::move(handler));
                    });
  };
  co_await net::asio::async_initiate<decltype(net::use_awaitable), void()>(std::move(initiation),
                                                                           net::use_awaitable);
  co_return std::move(**result);
}

}  // namespace fedge::shared
