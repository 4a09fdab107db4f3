#pragma once
// The labels view of the sample store: reviewers' labels of stored frames, the quarantine
// (frames kept out of training and review, with the reason) and the per-class counts, the only
// thing about frames that is reported to the coordinator.
//
// Owns (column families of the one database, docs/client_store.md): labels (id -> BE int32
// class) and quarantine (id -> JSON {reason, unix_ms, cause}); the per-class counts live in the
// meta record. Labelling or quarantining a frame also moves it between the frames view's index
// entries (eviction tier, review queue), in the same synced write.
//
// Thread-safety: thread-safe; every call holds the store's one mutex (store_db.h). Handed out
// by SampleStore::labels(), valid while the SampleStore lives.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

namespace store {
struct StoreDb;
}

struct QuarantineItem {
  std::string id;
  std::string reason;  // e.g. "exact duplicate of site3#7", "label 12 out of range [0, 10)"
  int64_t unix_ms = 0;
  bool stored = false;  // the frame's bytes are still in the store (kept for inspection)
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

class LabelsView {
 public:
  // `db` (not owned) must outlive the view.
  explicit LabelsView(store::StoreDb& db) : db_(db) {}

  // Sets labels in one synced batch, all or nothing: NotFound (naming the id) if any frame is
  // not stored. Later entries for the same id win. A label outside [0, num_classes) quarantines
  // the frame instead (reason "label L out of range [0, N)"); a valid label for a frame that was
  // quarantined for its label releases it. Frames quarantined for other reasons are skipped.
  shared::Result<SetLabelsOutcome> Set(const std::vector<LabelAssignment>& labels, int64_t now_ms);
  // Every labelled frame with its bytes, in capture-time order (ties by id), for training.
  shared::Result<std::vector<LabelledFrame>> Labelled();
  // Labelled frames per class (size num_classes). The only thing about frames that is reported.
  std::vector<uint64_t> ClassCounts();

  // Quarantines `id` (which need not be stored, e.g. an unreadable frame). A stored frame keeps
  // its bytes for inspection but loses its label and leaves the review queue and training.
  // Synced. InvalidArgument for an empty id or reason.
  shared::Status Quarantine(const std::string& id, const std::string& reason, int64_t now_ms);
  // All quarantine entries in id order.
  shared::Result<std::vector<QuarantineItem>> Quarantined();

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
