#pragma once
// The client's private sample store: camera frames (encoded PNG/JPEG bytes), their labels, a
// quarantine, a review queue, the audit log of everything the client sends, the outbox of
// updates waiting for delivery and small key/value state, in one RocksDB database under the
// client's state directory. Frames and labels never leave the site; only ClassCounts() (counts,
// no content) is reported to the coordinator. See docs/client_store.md for the policies.
//
// The SampleStore owns the database (store_db.h: its column families, the meta record, the
// mutex) and hands out one view per kind of record, each with its own contract:
//   frames()  frames_view.h  frames, their bytes, and the time/hash/confidence indexes
//   labels()  labels_view.h  labels, the quarantine, per-class counts
//   audit()   audit_view.h   the audit log
//   outbox()  outbox_view.h  updates waiting for delivery
//   state()   state_view.h   small durable values (top-k residual, drift references)
// The methods below that name a record kind forward to its view (kept so callers need not
// change); Purge() and Stats() span the views.
//
// Thread-safety: a SampleStore and its views are thread-safe; one internal mutex serialises
// every call (the store is not on a hot path: a camera adds a few frames a second). Only one
// process may open a store directory at a time (RocksDB's LOCK file); a second Open() fails
// with a clear message.
//
// Disk faults: when the disk is full, every write fails with ResourceExhausted naming the disk
// and nothing of it is stored; reads keep working, and the first write after space is freed
// succeeds again. Other write errors (IOError) leave the store read-only until it is reopened.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/audit_view.h"
#include "client/frames_view.h"
#include "client/labels_view.h"
#include "client/outbox_view.h"
#include "client/state_view.h"
#include "client/store_options.h"
#include "shared/base/status.h"

namespace fedge::client {

struct StoreStats {
  uint64_t frames = 0;  // stored frames, including quarantined ones kept for inspection
  uint64_t stored_bytes = 0;
  uint64_t budget_bytes = 0;
  uint64_t labelled = 0;
  uint64_t quarantined = 0;  // quarantine entries (stored or not)
  uint64_t outgoing = 0;
  uint64_t audit_entries = 0;
  std::optional<int64_t> oldest_unix_ms, newest_unix_ms;  // of stored frames
  std::vector<uint64_t> class_counts;                     // of labelled frames
};

class SampleStore {
 public:
  // Opens (creating if missing) the store in `dir`. InvalidArgument for bad options or when
  // stored labels do not fit options.num_classes; Unavailable if another process holds it.
  static shared::Result<std::unique_ptr<SampleStore>> Open(const std::string& dir,
                                                           const StoreOptions& options);
  ~SampleStore();
  SampleStore(const SampleStore&) = delete;
  SampleStore& operator=(const SampleStore&) = delete;

  // The views, valid while this store lives.
  FramesView& frames() { return frames_; }
  LabelsView& labels() { return labels_; }
  AuditView& audit() { return audit_; }
  OutboxView& outbox() { return outbox_; }
  StateView& state() { return state_; }

  // Deletes every frame, label, index and quarantine entry, then compacts so their bytes leave
  // the database files. Keeps the audit log, the outbox and the key/value state.
  shared::Status Purge();
  shared::Result<StoreStats> Stats();
  const StoreOptions& options() const { return options_; }

  // Forwarders (see the views for the contracts).
  shared::Result<AddOutcome> AddFrame(const FrameRecord& frame) { return frames_.Add(frame); }
  shared::Result<bool> HasFrame(const std::string& id) { return frames_.Has(id); }
  shared::Result<std::optional<FrameRecord>> GetFrame(const std::string& id) {
    return frames_.Get(id);
  }
  shared::Result<std::vector<ReviewItem>> ReviewQueue(size_t n) { return frames_.ReviewQueue(n); }
  shared::Status ApplyRetention(int64_t now_ms) { return frames_.ApplyRetention(now_ms); }
  shared::Status Quarantine(const std::string& id, const std::string& reason, int64_t now_ms) {
    return labels_.Quarantine(id, reason, now_ms);
  }
  shared::Result<std::vector<QuarantineItem>> Quarantined() { return labels_.Quarantined(); }
  shared::Result<SetLabelsOutcome> SetLabels(const std::vector<LabelAssignment>& labels,
                                             int64_t now_ms) {
    return labels_.Set(labels, now_ms);
  }
  shared::Result<std::vector<LabelledFrame>> LabelledFrames() { return labels_.Labelled(); }
  std::vector<uint64_t> ClassCounts() { return labels_.ClassCounts(); }
  shared::Status AppendAudit(const AuditEntry& entry, bool sync = true) {
    return audit_.Append(entry, sync);
  }
  shared::Result<std::vector<AuditEntry>> Audit(size_t max = 0) { return audit_.Read(max); }
  shared::Status PutOutgoing(const OutgoingRecord& record) { return outbox_.Put(record); }
  shared::Status DeleteOutgoing(const std::string& task_id) { return outbox_.Delete(task_id); }
  shared::Result<std::vector<OutgoingRecord>> Outgoing() { return outbox_.List(); }
  shared::Status PutState(const std::string& key, const std::vector<uint8_t>& bytes) {
    return state_.Put(key, bytes);
  }
  shared::Result<std::optional<std::vector<uint8_t>>> GetState(const std::string& key) {
    return state_.Get(key);
  }

 private:
  SampleStore(std::unique_ptr<store::StoreDb> db, const StoreOptions& options);

  std::unique_ptr<store::StoreDb> db_;
  StoreOptions options_;
  FramesView frames_;
  LabelsView labels_;
  AuditView audit_;
  OutboxView outbox_;
  StateView state_;
};

}  // namespace fedge::client
