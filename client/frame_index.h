#pragma once
// The record of a stored frame and the index entries that follow its state, shared by the
// frames view (storing, evicting, retention) and the labels view (labelling, quarantine): a
// label or a quarantine moves a frame between eviction tiers and in or out of the review queue,
// so both views change the same entries in one WriteBatch. Internal to the sample store.
//
// REQUIRES: the caller holds StoreDb::mu for every function here.

#include <cstdint>
#include <optional>
#include <string>

#include "client/store_db.h"
#include "shared/crypto/crypto.h"

namespace fedge::client::store {

// Eviction order: quarantined frames, then unlabelled, then labelled (each oldest first).
enum Tier : char { kTierQuarantined = 0, kTierUnlabelled = 1, kTierLabelled = 2 };
// Where the frame id starts in a kByTime key (tier + BE64 time) and a kByConfidence key
// (BE32 confidence + BE64 time).
inline constexpr size_t kTimeKeyIdOffset = 9;
inline constexpr size_t kConfidenceKeyIdOffset = 12;

// A frame's record in kFrameMeta (JSON).
struct FrameMeta {
  std::string id;
  int64_t captured_ms = 0;
  std::string format;
  int width = 0, height = 0, channels = 0, predicted = -1;
  float confidence = -1;
  uint64_t size = 0;
  shared::Digest sha256{};
  bool quarantined = false;
};

// A quarantine entry in kQuarantine (JSON).
struct QuarantineRecord {
  std::string reason;
  int64_t unix_ms = 0;
  std::string cause;  // "duplicate" | "label" | "manual"
};

std::string TimeKey(Tier tier, int64_t t, const std::string& id);
// The time in a kByTime key.
int64_t TimeOfKey(std::string_view key);
rocksdb::Slice AsSlice(const shared::Digest& d);
Tier TierOf(const FrameMeta& m, const std::optional<int>& label);

shared::Result<std::optional<FrameMeta>> GetMeta(StoreDb& db, const std::string& id);
shared::Result<std::optional<int>> GetLabel(StoreDb& db, const std::string& id);
shared::Result<std::optional<QuarantineRecord>> GetQuarantine(StoreDb& db, const std::string& id);
shared::Result<QuarantineRecord> QuarantineFromText(const std::string& text);

// Adds a frame's record and index entries for its state (meta.quarantined, label) to `b`,
// counting the label in `c`.
void Index(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label,
           Counters* c);
// Removes what Index() added, except the frame record itself.
void Unindex(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label,
             Counters* c);
// Deletes the frame: its record, bytes, label and index entries.
shared::Status DeleteFrame(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, Counters* c);
// Puts a quarantine entry; a stored frame loses its label and moves to the quarantined tier
// (unless `frame_deleted`: the batch already deletes it).
shared::Status QuarantineInBatch(StoreDb& db, rocksdb::WriteBatch* b, const std::string& id,
                                 const std::string& reason, int64_t now_ms,
                                 const std::string& cause, Counters* c, bool frame_deleted = false);

}  // namespace fedge::client::store
