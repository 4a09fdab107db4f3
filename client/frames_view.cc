#include "client/frames_view.h"

#include <chrono>
#include <mutex>

#include "client/frame_index.h"
#include "client/store_db.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using namespace store;  // NOLINT: the sample store's internals, in this .cc only

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ValidateFrame(const FrameRecord& f) {
  const std::string what = "frame '" + f.id + "': ";
  if (f.id.empty() || f.id.size() > 256) {
    return Status::InvalidArgument("frame id must be 1..256 bytes long, got " +
                                   std::to_string(f.id.size()));
  }
  if (f.format != "png" && f.format != "jpeg") {
    return Status::InvalidArgument(what + "format must be \"png\" or \"jpeg\", got \"" + f.format +
                                   "\"");
  }
  if (f.bytes.empty()) return Status::InvalidArgument(what + "has no bytes");
  if (f.width <= 0 || f.height <= 0 || f.channels <= 0) {
    return Status::InvalidArgument(what + "width, height and channels must be positive");
  }
  if (f.predicted < -1) return Status::InvalidArgument(what + "predicted must be -1 or a class");
  const bool unknown = f.confidence == -1.0f;
  if (!unknown && !(f.confidence >= 0.0f && f.confidence <= 1.0f)) {
    return Status::InvalidArgument(what + "confidence must be in [0, 1] or -1 (unknown)");
  }
  return Status::Ok();
}

// Deletes frames in eviction order (skipping `keep`) until `incoming` more bytes fit.
// REQUIRES: db.mu held.
Status Evict(StoreDb& db, rocksdb::WriteBatch* b, uint64_t incoming, const std::string& keep,
             Counters* c, std::vector<std::string>* evicted) {
  const uint64_t budget = db.options.disk_budget_bytes;
  std::unique_ptr<rocksdb::Iterator> it(db.db->NewIterator(rocksdb::ReadOptions(), db.cf(kByTime)));
  for (it->SeekToFirst(); it->Valid() && c->stored_bytes + incoming > budget; it->Next()) {
    const std::string id = it->key().ToString().substr(kTimeKeyIdOffset);
    if (id == keep) continue;
    FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db, id));
    if (!m) return Status::Corruption("time index names missing frame '" + id + "'");
    FEDGE_RETURN_IF_ERROR(DeleteFrame(db, b, *m, c));
    evicted->push_back(id);
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning frames to evict"));
  if (c->stored_bytes + incoming > budget) {
    return Status::Internal("could not free enough space in the sample store");
  }
  return Status::Ok();
}

}  // namespace

Result<AddOutcome> FramesView::Add(const FrameRecord& f) {
  FEDGE_RETURN_IF_ERROR(ValidateFrame(f));
  if (f.bytes.size() > db_.options.disk_budget_bytes) {
    return Status::ResourceExhausted("frame '" + f.id + "' (" + std::to_string(f.bytes.size()) +
                                     " bytes) is larger than the whole disk budget");
  }
  std::lock_guard<std::mutex> lock(db_.mu);
  FrameMeta m{f.id,       f.captured_unix_ms, f.format,     f.width,        f.height,
              f.channels, f.predicted,        f.confidence, f.bytes.size(), shared::Sha256(f.bytes),
              false};
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> old, GetMeta(db_, f.id));
  AddOutcome out;
  if (old && old->sha256 == m.sha256) {
    out.kind = AddOutcome::Kind::kAlreadyStored;
    return out;
  }
  FEDGE_ASSIGN_OR_RETURN(auto dup, db_.Get(kByHash, AsSlice(m.sha256), "checking duplicates"));
  rocksdb::WriteBatch b;
  Counters next = db_.counters;
  if (old) FEDGE_RETURN_IF_ERROR(DeleteFrame(db_, &b, *old, &next));
  if (dup) {
    out.kind = AddOutcome::Kind::kDuplicate;
    out.duplicate_of = *dup;
    FEDGE_RETURN_IF_ERROR(QuarantineInBatch(db_, &b, f.id, "exact duplicate of " + *dup, NowMs(),
                                            "duplicate", &next, /*frame_deleted=*/true));
    FEDGE_RETURN_IF_ERROR(db_.Commit(&b, next, false, "quarantining duplicate " + f.id));
    return out;
  }
  out.kind = old ? AddOutcome::Kind::kReplaced : AddOutcome::Kind::kStored;
  FEDGE_RETURN_IF_ERROR(Evict(db_, &b, m.size, f.id, &next, &out.evicted));
  Index(db_, &b, m, std::nullopt, &next);
  b.Put(db_.cf(kFrameBytes), f.id, AsSlice(f.bytes));
  b.Delete(db_.cf(kQuarantine), f.id);
  next.frames++;
  next.stored_bytes += m.size;
  FEDGE_RETURN_IF_ERROR(db_.Commit(&b, next, false, "storing frame " + f.id));
  return out;
}

Result<bool> FramesView::Has(const std::string& id) {
  std::lock_guard<std::mutex> lock(db_.mu);
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, id));
  return m.has_value();
}

Result<std::optional<FrameRecord>> FramesView::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(db_.mu);
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, id));
  if (!m) return std::optional<FrameRecord>();
  FEDGE_ASSIGN_OR_RETURN(auto bytes, db_.Get(kFrameBytes, id, "reading frame " + id));
  if (!bytes) return Status::Corruption("frame '" + id + "' has a record but no bytes");
  FrameRecord f{m->id,     m->captured_ms, m->format,    ToBytes(*bytes), m->width,
                m->height, m->channels,    m->predicted, m->confidence};
  return std::optional<FrameRecord>(std::move(f));
}

Result<std::vector<ReviewItem>> FramesView::ReviewQueue(size_t n) {
  std::lock_guard<std::mutex> lock(db_.mu);
  std::vector<ReviewItem> out;
  if (n == 0) return out;
  FEDGE_RETURN_IF_ERROR(
      db_.Scan(kByConfidence, "", "listing the review queue",
               [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
                 const std::string id = k.ToString().substr(kConfidenceKeyIdOffset);
                 FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, id));
                 if (!m) return Status::Corruption("review index names missing frame '" + id + "'");
                 out.push_back({id, m->confidence, m->predicted, m->captured_ms});
                 return out.size() < n;
               }));
  return out;
}

Status FramesView::ApplyRetention(int64_t now_ms) {
  if (db_.options.max_age_seconds == 0) return Status::Ok();
  const int64_t cutoff = now_ms - db_.options.max_age_seconds * 1000;
  std::lock_guard<std::mutex> lock(db_.mu);
  rocksdb::WriteBatch b;
  Counters next = db_.counters;
  for (Tier tier : {kTierQuarantined, kTierUnlabelled, kTierLabelled}) {
    const std::string start = TimeKey(tier, INT64_MIN, ""), end = TimeKey(tier, cutoff, "");
    FEDGE_RETURN_IF_ERROR(
        db_.Scan(kByTime, start, "scanning frames for retention",
                 [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
                   if (k.compare(end) >= 0) return false;
                   FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m,
                                          GetMeta(db_, k.ToString().substr(kTimeKeyIdOffset)));
                   if (!m) return Status::Corruption("time index names a missing frame");
                   FEDGE_RETURN_IF_ERROR(DeleteFrame(db_, &b, *m, &next));
                   return true;
                 }));
  }
  return db_.Commit(&b, next, true, "deleting frames past retention");
}

}  // namespace fedge::client
