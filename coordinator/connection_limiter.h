#pragma once
// Connection caps on the coordinator's TLS port: at most `total` open connections, and at most
// `per_address` from one IP address, counted from accept (before the TLS handshake) until the
// connection's session ends. A connection over a cap is closed at once, before any TLS work, so
// that a flood of stalled connections from one place cannot take the descriptors and the slots
// every site needs.
//
// Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace fedge::coordinator {

class ConnectionLimiter {
 public:
  ConnectionLimiter(uint64_t total, uint64_t per_address)
      : total_(total), per_address_(per_address) {}

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
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> by_address_;
  uint64_t open_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace fedge::coordinator
