#include "client/sample_store.h"

#include <algorithm>
#include <mutex>

#include "client/frame_index.h"
#include "client/store_db.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using store::Cf;
using store::FromRocks;

namespace {

// The column families Purge() empties: frames with their indexes, labels and quarantine.
const Cf kPurged[] = {store::kFrameMeta,    store::kFrameBytes, store::kByTime,    store::kByHash,
                      store::kByConfidence, store::kLabels,     store::kQuarantine};

}  // namespace

Result<std::unique_ptr<SampleStore>> SampleStore::Open(const std::string& dir,
                                                       const StoreOptions& options) {
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<store::StoreDb> db, store::StoreDb::Open(dir, options));
  std::unique_ptr<SampleStore> store(new SampleStore(std::move(db), options));
  FEDGE_RETURN_IF_ERROR(store->audit_.Trim());
  return store;
}

SampleStore::SampleStore(std::unique_ptr<store::StoreDb> db, const StoreOptions& options)
    : db_(std::move(db)),
      options_(options),
      frames_(*db_),
      labels_(*db_),
      audit_(*db_),
      outbox_(*db_),
      state_(*db_) {}

SampleStore::~SampleStore() = default;

Status SampleStore::Purge() {
  store::StoreDb& db = *db_;
  std::lock_guard<std::mutex> lock(db.mu);
  rocksdb::WriteBatch b;
  for (Cf cf : kPurged) {
    FEDGE_RETURN_IF_ERROR(
        db.Scan(cf, "", "scanning for purge", [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
          b.Delete(db.cf(cf), k);
          return Result<bool>(true);
        }));
  }
  store::Counters next = db.counters;
  next.frames = next.stored_bytes = next.labelled = 0;
  std::fill(next.class_counts.begin(), next.class_counts.end(), 0);
  FEDGE_RETURN_IF_ERROR(db.Commit(&b, next, true, "purging the sample store"));
  // Flush every CF, not only the purged ones: a WAL file is deleted only once no CF has data in
  // it, and the old WAL files still hold the purged frames' bytes.
  FEDGE_RETURN_IF_ERROR(
      FromRocks(db.db->Flush(rocksdb::FlushOptions(), db.cfs), "flushing after the purge"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (Cf cf : kPurged) {
    FEDGE_RETURN_IF_ERROR(
        FromRocks(db.db->CompactRange(compact, db.cf(cf), nullptr, nullptr),
                  std::string("compacting ") + store::kCfNames[cf] + " after the purge"));
  }
  return Status::Ok();
}

Result<StoreStats> SampleStore::Stats() {
  store::StoreDb& db = *db_;
  std::lock_guard<std::mutex> lock(db.mu);
  const store::Counters& c = db.counters;
  StoreStats s;
  s.frames = c.frames;
  s.stored_bytes = c.stored_bytes;
  s.budget_bytes = options_.disk_budget_bytes;
  s.labelled = c.labelled;
  s.audit_entries = c.audit_seq;
  s.class_counts = c.class_counts;
  auto count = [](uint64_t* n) {
    return [n](const rocksdb::Slice&, const rocksdb::Slice&) -> Result<bool> {
      ++*n;
      return true;
    };
  };
  FEDGE_RETURN_IF_ERROR(
      db.Scan(store::kQuarantine, "", "counting quarantine", count(&s.quarantined)));
  FEDGE_RETURN_IF_ERROR(db.Scan(store::kOutboxIds, "", "counting the outbox", count(&s.outgoing)));
  // The first and last key of each tier of the time index: two seeks per tier.
  std::unique_ptr<rocksdb::Iterator> it(
      db.db->NewIterator(rocksdb::ReadOptions(), db.cf(store::kByTime)));
  auto note = [&s, &it](char tier) {
    if (!it->Valid() || it->key()[0] != tier) return;
    const int64_t t = store::TimeOfKey(it->key().ToStringView());
    if (!s.oldest_unix_ms || t < *s.oldest_unix_ms) s.oldest_unix_ms = t;
    if (!s.newest_unix_ms || t > *s.newest_unix_ms) s.newest_unix_ms = t;
  };
  for (store::Tier tier : {store::kTierQuarantined, store::kTierUnlabelled, store::kTierLabelled}) {
    it->Seek(std::string(1, tier));
    note(tier);
    it->SeekForPrev(std::string(1, tier) + std::string(9, '\xff'));
    note(tier);
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "finding the oldest and newest frames"));
  return s;
}

}  // namespace fedge::client
