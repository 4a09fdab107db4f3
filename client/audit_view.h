#pragma once
// The audit view of the sample store: the log of every message the client sent (or tried to
// send), for `fedge-client audit`. Entries are appended, never changed; Purge() keeps them.
//
// Owns (column family of the one database): audit (BE64 seq -> the entry's JSON line); the
// last sequence number lives in the meta record.
//
// Thread-safety: thread-safe; every call holds the store's one mutex (store_db.h). Handed out
// by SampleStore::audit(), valid while the SampleStore lives.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

namespace store {
struct StoreDb;
}

// One message the client sent (or tried to send).
struct AuditEntry {
  uint64_t seq = 0;  // assigned by Append(); strictly increasing, never reused
  int64_t unix_ms = 0;
  std::string type;  // e.g. "UpdateSubmit"
  uint64_t bytes = 0;
  uint64_t round = 0;
  std::string detail;
};

// One JSON object on one line (no trailing newline), for `fedge-client audit`. Also the stored
// value of an entry.
std::string ToJsonLine(const AuditEntry& entry);

class AuditView {
 public:
  // `db` (not owned) must outlive the view.
  explicit AuditView(store::StoreDb& db) : db_(db) {}

  // Appends to the audit log (synced); the store assigns entry.seq.
  shared::Status Append(const AuditEntry& entry);
  // The newest `max` entries (all if 0) in sequence order. Corruption for an unreadable entry.
  shared::Result<std::vector<AuditEntry>> Read(size_t max = 0);

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
