#pragma once
// The frames view of the sample store: camera frames (encoded PNG/JPEG bytes) with their
// metadata, and the indexes over them: capture time per eviction tier (eviction, retention,
// training order), content hash (exact duplicates) and confidence (the review queue).
//
// Owns (column families of the one database, docs/client_store.md): frame_meta (id -> JSON
// record), frame_bytes (id -> image), by_time (tier + BE time + id), by_hash (SHA-256 -> id),
// by_confidence (BE ordered confidence + BE time + id, unlabelled frames only). A frame's label
// and quarantine entry belong to the labels view; evicting or replacing a frame deletes its
// label, and a duplicate is quarantined, in the same write.
//
// Thread-safety: thread-safe; every call holds the store's one mutex (store_db.h). Handed out
// by SampleStore::frames(), valid while the SampleStore lives.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

namespace store {
struct StoreDb;
}

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

struct ReviewItem {
  std::string id;
  float confidence = -1;
  int predicted = -1;
  int64_t captured_unix_ms = 0;
};

class FramesView {
 public:
  // `db` (not owned) must outlive the view.
  explicit FramesView(store::StoreDb& db) : db_(db) {}

  // Stores a frame, evicting other frames if needed to stay within the disk budget (the new
  // frame is never the one evicted). An exact duplicate of another frame's bytes is not stored
  // but quarantined. Storing a frame clears an old quarantine entry with its id. Not synced: a
  // crash may lose the last frames, never half of one. InvalidArgument for a malformed record,
  // ResourceExhausted if the frame alone exceeds the budget.
  shared::Result<AddOutcome> Add(const FrameRecord& frame);
  shared::Result<bool> Has(const std::string& id);
  shared::Result<std::optional<FrameRecord>> Get(const std::string& id);

  // The n least-confident unlabelled, unquarantined frames: unknown confidence first, then
  // ascending confidence, ties by capture time then id.
  shared::Result<std::vector<ReviewItem>> ReviewQueue(size_t n);

  // Deletes frames (with labels and index entries) captured before now - max_age_seconds.
  // No-op if max_age_seconds is 0. Synced.
  shared::Status ApplyRetention(int64_t now_ms);

 private:
  store::StoreDb& db_;
};

}  // namespace fedge::client
