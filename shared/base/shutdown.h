#pragma once
// Graceful shutdown on SIGINT/SIGTERM for fedge's long-running programs (fedge-coordinator,
// fedge-client run and infer, fedge-sim). The signals are received by an asio::signal_set on a
// watcher thread, so no fedge code runs in signal context. A watchdog bounds the shutdown: a
// program that has not exited `grace` after the first signal exits with
// kShutdownWatchdogExitCode and one line on stderr; a second signal exits the same way at once.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shared/net/asio.h"

namespace fedge::shared {

// Exit code of a process whose shutdown did not finish in time (or that got a second signal).
inline constexpr int kShutdownWatchdogExitCode = 3;
// How long a program may take to drain after the first signal (persist, close sessions, wait
// for the training step in progress) before the watchdog ends it.
inline constexpr std::chrono::milliseconds kDefaultShutdownGrace{20000};

struct ShutdownOptions {
  std::string program;  // e.g. "fedge-coordinator": names the process in the lines it prints
  std::chrono::milliseconds grace = kDefaultShutdownGrace;
};

class ShutdownWatch {
 public:
  // Starts watching SIGINT and SIGTERM. Create one, at the top of main, and keep it until main
  // returns (it is destroyed last, so the watchdog also covers the program's destructors).
  explicit ShutdownWatch(ShutdownOptions options);
  // Stops watching (the signals get their default action back) and disarms the watchdog.
  ~ShutdownWatch();
  ShutdownWatch(const ShutdownWatch&) = delete;
  ShutdownWatch& operator=(const ShutdownWatch&) = delete;

  // Keeps a handler installed while alive; destroying it uninstalls the handler, waiting for a
  // call in progress to return (so the handler may reference objects destroyed after it).
  class Registration {
   public:
    Registration() = default;
    explicit Registration(ShutdownWatch* watch) : watch_(watch) {}
    Registration(Registration&& other) noexcept : watch_(std::exchange(other.watch_, nullptr)) {}
    Registration& operator=(Registration&&) = delete;
    ~Registration();

   private:
    ShutdownWatch* watch_ = nullptr;
  };

  // What the first signal does, e.g. `server.Stop()`; called once, on the watcher thread (not
  // in signal context), so it may allocate and lock but should return promptly. If a signal
  // already arrived, it is called before OnSignal returns. Replaces an earlier handler.
  // REQUIRES: the Registration is destroyed before this watch.
  [[nodiscard]] Registration OnSignal(std::function<void()> handler);

  // True once SIGINT or SIGTERM arrived. The flag suits loops that poll for a stop
  // (RunInference, RunCamera); it lives as long as this watch. Thread-safe.
  bool requested() const { return requested_.load(); }
  const std::atomic<bool>& requested_flag() const { return requested_; }

 private:
  void Wait();
  void OnSignalReceived(int signal_number);
  void ArmWatchdog();
  [[noreturn]] void Exit(const std::string& why);

  ShutdownOptions options_;
  std::atomic<bool> requested_{false};
  std::mutex mu_;                  // serialises handler_ calls and replacements
  std::function<void()> handler_;  // guarded by mu_
  bool handler_called_ = false;    // guarded by mu_
  net::asio::io_context io_;
  net::asio::signal_set signals_;
  net::asio::steady_timer watchdog_;  // used on the watcher thread only
  std::thread thread_;
};

}  // namespace fedge::shared
