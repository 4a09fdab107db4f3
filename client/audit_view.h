#pragma once
// The audit view of the sample store: the log of every message the client sent (or tried to
// send), for `fedge-client audit`. Entries are appended, never changed; Purge() keeps them.
//
// Owns (column family of the one database): audit (BE64 seq -> the entry's JSON line); the
// last sequence number lives in the meta record. Bounded: the newest StoreOptions::
// audit_max_entries entries of at most kMaxAuditContentBytes of content each.
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
  // The message itself as JSON (shared/net/wire_json.h: everything but a blob chunk's bytes,
  // which are hashed); stored as text of at most kMaxAuditContentBytes, cut on a character
  // boundary, with "content_bytes" saying how long it was. Empty for entries written before it.
  std::string content;
};

inline constexpr size_t kMaxAuditContentBytes = 64 * 1024;

// One JSON object on one line (no trailing newline), for `fedge-client audit`. Also the stored
// value of an entry. "content" is the message's JSON object, or (cut or not JSON) a string.
std::string ToJsonLine(const AuditEntry& entry);

class AuditView {
 public:
  // `db` (not owned) must outlive the view.
  explicit AuditView(store::StoreDb& db) : db_(db) {}

  // Appends to the audit log; the store assigns entry.seq. `sync`: durable before it returns
  // (otherwise with the next synced write of the store). Once more than the store's
  // audit_max_entries are held, each append deletes the oldest.
  shared::Status Append(const AuditEntry& entry, bool sync = true);
  // Deletes every entry but the newest audit_max_entries (at open: the limit may have been
  // lowered since).
  shared::Status Trim();
  // The newest `max` entries (all if 0) in sequence order. Corruption for an unreadable entry.
  shared::Result<std::vector<AuditEntry>> Read(size_t max = 0);

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
