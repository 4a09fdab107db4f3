#include "shared/base/shutdown.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "shared/base/log.h"

namespace fedge::shared {

namespace {
constexpr const char* kLog = "shutdown";

const char* SignalName(int signal_number) {
  return signal_number == SIGINT ? "SIGINT" : signal_number == SIGTERM ? "SIGTERM" : "signal";
}

std::string Seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}
}  // namespace

ShutdownWatch::ShutdownWatch(ShutdownOptions options)
    : options_(std::move(options)), signals_(io_), watchdog_(io_) {
  net::error_code ec;
  signals_.add(SIGINT, ec);
  if (!ec) signals_.add(SIGTERM, ec);
  if (ec) {
    FEDGE_LOG(Warn, kLog) << "cannot watch SIGINT/SIGTERM (" << ec.message()
                          << "); a signal ends the process without a graceful shutdown";
  }
  Wait();
  thread_ = std::thread([this] { io_.run(); });
}

ShutdownWatch::~ShutdownWatch() {
  net::asio::post(io_, [this] {
    net::error_code ignored;
    signals_.cancel(ignored);
    signals_.clear(ignored);
    watchdog_.cancel();
  });
  thread_.join();
}

void ShutdownWatch::Wait() {
  signals_.async_wait([this](const net::error_code& ec, int signal_number) {
    if (ec) return;  // cancelled: the watch is being destroyed
    OnSignalReceived(signal_number);
    Wait();
  });
}

void ShutdownWatch::OnSignalReceived(int signal_number) {
  if (requested_.exchange(true)) {
    Exit(std::string(SignalName(signal_number)) + " received again during the shutdown");
  }
  FEDGE_LOG(Info, kLog) << SignalName(signal_number) << " received: shutting down (at most "
                        << Seconds(options_.grace) << ")";
  ArmWatchdog();
  std::lock_guard<std::mutex> lock(mu_);
  if (handler_ && !handler_called_) {
    handler_called_ = true;
    handler_();
  }
}

void ShutdownWatch::ArmWatchdog() {
  watchdog_.expires_after(options_.grace);
  watchdog_.async_wait([this](const net::error_code& ec) {
    if (ec) return;
    Exit("shutdown did not finish within " + Seconds(options_.grace));
  });
}

void ShutdownWatch::Exit(const std::string& why) {
  std::fprintf(stderr, "%s: %s; exiting with code %d\n", options_.program.c_str(), why.c_str(),
               kShutdownWatchdogExitCode);
  std::fflush(stderr);
  std::_Exit(kShutdownWatchdogExitCode);
}

ShutdownWatch::Registration ShutdownWatch::OnSignal(std::function<void()> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
  handler_called_ = false;
  if (handler_ && requested_.load()) {
    handler_called_ = true;
    handler_();
  }
  return Registration(this);
}

ShutdownWatch::Registration::~Registration() {
  if (watch_ == nullptr) return;
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->handler_ = nullptr;
}

}  // namespace fedge::shared
