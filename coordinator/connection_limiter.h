#pragma once
// What one peer may take of the coordinator's TLS port.
//
// ConnectionLimiter: at most `total` open connections, and at most `per_address` from one IP
// address, counted from accept (before the TLS handshake) until the connection's session ends.
// A connection over a cap is closed at once, before any TLS work, so that a flood of stalled
// connections from one place cannot take the descriptors and the slots every site needs. After
// the handshake, at most `per_identity` sessions per certificate name (a stolen key used from
// many addresses).
//
// RefusalBudget: how many refused messages (Error replies) one session may cause in a minute
// before it is closed, so a site that loops on a refused request costs a bounded amount of work
// and log.
//
// Both thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace fedge::coordinator {

class ConnectionLimiter {
 public:
  ConnectionLimiter(uint64_t total, uint64_t per_address, uint64_t per_identity = 8)
      : total_(total), per_address_(per_address), per_identity_(per_identity) {}

  // Admits one more connection from `address`, or returns false (nothing counted).
  bool TryAdmit(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t& mine = by_address_[address];
    if (open_ >= total_ || mine >= per_address_) {
      if (mine == 0) by_address_.erase(address);
      ++refused_;
      return false;
    }
    ++mine;
    ++open_;
    return true;
  }

  // A connection admitted from `address` ended.
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_address_.find(address);
    if (it == by_address_.end()) return;
    if (--it->second == 0) by_address_.erase(it);
    --open_;
  }

  // Admits one more session of certificate name `identity`, or returns false.
  bool TryAdmitIdentity(const std::string& identity) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t& mine = by_identity_[identity];
    if (mine >= per_identity_) {
      if (mine == 0) by_identity_.erase(identity);
      ++refused_;
      return false;
    }
    ++mine;
    return true;
  }
  void ReleaseIdentity(const std::string& identity) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_identity_.find(identity);
    if (it != by_identity_.end() && --it->second == 0) by_identity_.erase(it);
  }
  uint64_t per_identity() const { return per_identity_; }

  uint64_t open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }
  uint64_t refused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  const uint64_t total_;
  const uint64_t per_address_;
  const uint64_t per_identity_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> by_address_;
  std::map<std::string, uint64_t> by_identity_;
  uint64_t open_ = 0;
  uint64_t refused_ = 0;
};

class RefusalBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RefusalBudget(uint64_t per_minute) : per_minute_(per_minute) {}

  // Counts one refusal at `now`; false once more than per_minute fell within one minute (the
  // session is then closed).
  bool Spend(Clock::time_point now = Clock::now()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - window_start_ >= std::chrono::minutes(1)) {
      window_start_ = now;
      spent_ = 0;
    }
    return ++spent_ <= per_minute_;
  }
  uint64_t per_minute() const { return per_minute_; }

 private:
  const uint64_t per_minute_;
  std::mutex mu_;
  Clock::time_point window_start_{};
  uint64_t spent_ = 0;
};

}  // namespace fedge::coordinator
