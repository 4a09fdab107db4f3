#pragma once
// The client's private sample store: camera frames (encoded PNG/JPEG bytes), their labels, a
// quarantine, a review queue, the audit log of everything the client sends, the outbox of
// updates waiting for delivery and small key/value state, in one RocksDB database under the
// client's state directory. Frames and labels never leave the site; only ClassCounts() (counts,
// no content) is reported to the coordinator. See docs/client_store.md for the policies.
//
// Thread-safety: a SampleStore is thread-safe; one internal mutex serialises every call (the
// store is not on a hot path: a camera adds a few frames a second). Only one process may open a
// store directory at a time (RocksDB's LOCK file); a second Open() fails with a clear message.
//
// Disk faults: when the disk is full, every write fails with ResourceExhausted naming the disk
// and nothing of it is stored; reads keep working, and the first write after space is freed
// succeeds again. Other write errors (IOError) leave the store read-only until it is reopened.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace rocksdb {
class Env;
}

namespace fedge::client {

struct StoreOptions {
  // Sum of stored frame bytes (encoded images, not metadata) the store keeps at most.
  uint64_t disk_budget_bytes = uint64_t{1} << 30;
  // Frames captured longer ago than this are deleted by ApplyRetention(); 0 keeps them.
  int64_t max_age_seconds = 0;
  // Labels are class indices in [0, num_classes).
  int num_classes = 10;
  // Replaces RocksDB's default environment (not owned; must outlive the store), e.g. to inject
  // disk faults in tests (shared/storage/fault_env.h). Null: the default environment.
  rocksdb::Env* env = nullptr;
};

struct FrameRecord {
  std::string id;  // unique per site, e.g. "site3#120"; 1..256 bytes
  int64_t captured_unix_ms = 0;
  std::string format;          // "png" | "jpeg"
  std::vector<uint8_t> bytes;  // the encoded image, non-empty
  int width = 0, height = 0, channels = 0;
  int predicted = -1;     // class from on-device inference, -1 unknown
  float confidence = -1;  // in [0, 1], -1 unknown
};

struct AddOutcome {
  enum class Kind {
    kStored,         // a new frame
    kReplaced,       // same id, different bytes: the old frame (and its label) was replaced
    kAlreadyStored,  // same id, same bytes: nothing changed
    kDuplicate,      // same bytes as another frame: not stored, quarantined
  };
  Kind kind = Kind::kStored;
  std::string duplicate_of;          // for kDuplicate
  std::vector<std::string> evicted;  // frames deleted to stay within the disk budget
};

struct QuarantineItem {
  std::string id;
  std::string reason;  // e.g. "exact duplicate of site3#7", "label 12 out of range [0, 10)"
  int64_t unix_ms = 0;
  bool stored = false;  // the frame's bytes are still in the store (kept for inspection)
};

struct ReviewItem {
  std::string id;
  float confidence = -1;
  int predicted = -1;
  int64_t captured_unix_ms = 0;
};

struct LabelledFrame {
  std::string id;
  std::string format;
  std::vector<uint8_t> bytes;
  int label = 0;
  int64_t captured_unix_ms = 0;
};

struct LabelAssignment {
  std::string id;
  int64_t label = 0;  // out-of-range values quarantine the frame
};

struct SetLabelsOutcome {
  uint64_t labels_set = 0;             // distinct frames now labelled by this call
  uint64_t quarantined = 0;            // frames quarantined for an out-of-range label
  uint64_t skipped_quarantined = 0;    // frames quarantined for another reason: label not stored
  std::vector<uint64_t> class_counts;  // labels set by this call, per class
};

// One message the client sent (or tried to send).
struct AuditEntry {
  uint64_t seq = 0;  // assigned by AppendAudit(); strictly increasing, never reused
  int64_t unix_ms = 0;
  std::string type;  // e.g. "UpdateSubmit"
  uint64_t bytes = 0;
  uint64_t round = 0;
  std::string detail;
};

// One JSON object on one line (no trailing newline), for `fedge-client audit`.
std::string ToJsonLine(const AuditEntry& entry);

// A finished update waiting for delivery.
struct OutgoingRecord {
  std::string task_id;
  uint64_t round = 0;
  int64_t deadline_unix_ms = 0;
  std::vector<uint8_t> submit;  // frame payload
  std::vector<uint8_t> blob;    // encoded update
};

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

  // Stores a frame, evicting other frames if needed to stay within the disk budget (the new
  // frame is never the one evicted). An exact duplicate of another frame's bytes is not stored
  // but quarantined. Storing a frame clears an old quarantine entry with its id. Not synced: a
  // crash may lose the last frames, never half of one. InvalidArgument for a malformed record,
  // ResourceExhausted if the frame alone exceeds the budget.
  shared::Result<AddOutcome> AddFrame(const FrameRecord& frame);
  shared::Result<bool> HasFrame(const std::string& id);
  shared::Result<std::optional<FrameRecord>> GetFrame(const std::string& id);

  // Quarantines `id` (which need not be stored, e.g. an unreadable frame). A stored frame keeps
  // its bytes for inspection but loses its label and leaves the review queue and training.
  shared::Status Quarantine(const std::string& id, const std::string& reason, int64_t now_ms);
  // All quarantine entries in id order.
  shared::Result<std::vector<QuarantineItem>> Quarantined();

  // The n least-confident unlabelled, unquarantined frames: unknown confidence first, then
  // ascending confidence, ties by capture time then id.
  shared::Result<std::vector<ReviewItem>> ReviewQueue(size_t n);

  // Sets labels in one synced batch, all or nothing: NotFound (naming the id) if any frame is
  // not stored. Later entries for the same id win. A label outside [0, num_classes) quarantines
  // the frame instead (reason "label L out of range [0, N)"); a valid label for a frame that was
  // quarantined for its label releases it. Frames quarantined for other reasons are skipped.
  shared::Result<SetLabelsOutcome> SetLabels(const std::vector<LabelAssignment>& labels,
                                             int64_t now_ms);
  // Every labelled frame with its bytes, in capture-time order (ties by id), for training.
  shared::Result<std::vector<LabelledFrame>> LabelledFrames();
  // Labelled frames per class (size num_classes). The only thing about frames that is reported.
  std::vector<uint64_t> ClassCounts();

  // Deletes frames (with labels and index entries) captured before now - max_age_seconds.
  // No-op if max_age_seconds is 0.
  shared::Status ApplyRetention(int64_t now_ms);
  // Deletes every frame, label, index and quarantine entry, then compacts so their bytes leave
  // the database files. Keeps the audit log, the outbox and the key/value state.
  shared::Status Purge();

  // Appends to the audit log (synced); the store assigns entry.seq.
  shared::Status AppendAudit(const AuditEntry& entry);
  // The newest `max` entries (all if 0) in sequence order.
  shared::Result<std::vector<AuditEntry>> Audit(size_t max = 0);

  // Adds (or replaces, keeping its place) an update waiting for delivery. Synced.
  shared::Status PutOutgoing(const OutgoingRecord& record);
  // Removes it after delivery (or expiry). OK if absent. Synced.
  shared::Status DeleteOutgoing(const std::string& task_id);
  // In insertion order.
  shared::Result<std::vector<OutgoingRecord>> Outgoing();

  // Small durable state (e.g. a codec's error-feedback residual). Synced.
  shared::Status PutState(const std::string& key, const std::vector<uint8_t>& bytes);
  shared::Result<std::optional<std::vector<uint8_t>>> GetState(const std::string& key);

  shared::Result<StoreStats> Stats();
  const StoreOptions& options() const { return options_; }

 private:
  struct Impl;
  SampleStore(std::unique_ptr<Impl> impl, const StoreOptions& options);
  std::unique_ptr<Impl> impl_;
  StoreOptions options_;
};

}  // namespace fedge::client
