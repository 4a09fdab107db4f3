#pragma once
// Name resolution with a deadline. Asio's resolver has none, and cancelling it does not end a
// getaddrinfo() call that hangs (its handler runs only when the call returns), so each lookup
// runs on a helper thread of its own and the awaiting coroutine stops waiting at the deadline.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/net/asio.h"

namespace fedge::shared {

using Endpoints = std::vector<net::tcp::endpoint>;

// A blocking lookup of host:service (e.g. "7443"). Called on a helper thread; may never return.
using LookupFn =
    std::function<Result<Endpoints>(const std::string& host, const std::string& service)>;

// The system resolver (getaddrinfo through Asio): Unavailable naming the host when it fails or
// finds nothing.
Result<Endpoints> SystemLookup(const std::string& host, const std::string& service);

// Resolves host:service with `lookup` (SystemLookup when empty) on a new helper thread and
// waits at most `timeout` for it: DeadlineExceeded naming the host and the timeout otherwise.
// A lookup still running at the deadline is abandoned: its thread ends when the call returns
// and its answer is dropped. REQUIRES: runs on a strand or a single-threaded executor.
net::awaitable<Result<Endpoints>> ResolveWithDeadline(std::string host, std::string service,
                                                      std::chrono::milliseconds timeout,
                                                      LookupFn lookup = nullptr);

}  // namespace fedge::shared
