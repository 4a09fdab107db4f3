#pragma once
// The outbox view of the sample store: finished updates waiting for delivery, kept on disk so
// that a restart of the client does not lose them (client/outbox.h keeps them in memory and
// calls this view). Purge() keeps them.
//
// Owns (column families of the one database): outbox (BE64 seq -> binary record: length-
// prefixed task id, BE64 round, BE64 deadline, length-prefixed submit and blob) and outbox_ids
// (task id -> BE64 seq); the last sequence number lives in the meta record. The sequence keeps
// insertion order; replacing a record keeps its place.
//
// Thread-safety: thread-safe; every call holds the store's one mutex (store_db.h). Handed out
// by SampleStore::outbox(), valid while the SampleStore lives.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

namespace store {
struct StoreDb;
}

// A finished update waiting for delivery.
struct OutgoingRecord {
  std::string task_id;
  uint64_t round = 0;
  int64_t deadline_unix_ms = 0;
  std::vector<uint8_t> submit;  // frame payload
  std::vector<uint8_t> blob;    // encoded update
};

class OutboxView {
 public:
  // `db` (not owned) must outlive the view.
  explicit OutboxView(store::StoreDb& db) : db_(db) {}

  // Adds (or replaces, keeping its place) an update waiting for delivery. Synced.
  // InvalidArgument for an empty task id.
  shared::Status Put(const OutgoingRecord& record);
  // Removes it after delivery (or expiry). OK if absent. Synced.
  shared::Status Delete(const std::string& task_id);
  // In insertion order. Corruption for a truncated record.
  shared::Result<std::vector<OutgoingRecord>> List();

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
