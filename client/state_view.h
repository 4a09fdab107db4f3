#pragma once
// The state view of the sample store: small durable values other parts keep across restarts,
// e.g. the trainer's top-k error-feedback residual and the drift reference profiles. Purge()
// keeps them.
//
// Owns (column family of the one database): state (key -> the caller's bytes, unchanged).
//
// Thread-safety: thread-safe; every call holds the store's one mutex (store_db.h). Handed out
// by SampleStore::state(), valid while the SampleStore lives.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

namespace store {
struct StoreDb;
}

class StateView {
 public:
  // `db` (not owned) must outlive the view.
  explicit StateView(store::StoreDb& db) : db_(db) {}

  // Stores `bytes` under `key` (replacing them). Synced. InvalidArgument for an empty key.
  shared::Status Put(const std::string& key, const std::vector<uint8_t>& bytes);
  // The bytes under `key`, or nullopt.
  shared::Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key);

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
