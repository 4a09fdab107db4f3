#pragma once
// The sample store's one RocksDB database, shared by its views (frames_view.h, labels_view.h,
// audit_view.h, outbox_view.h, state_view.h): the column families, the meta record of counters,
// the mutex that serialises every call of every view, and the write path (a full disk is
// ResourceExhausted; a failed write is resumed before the next one). Internal to the sample
// store: only SampleStore and its views include this header.
//
// On-disk format: the column family names below, their keys and values are what existing
// sites hold. Never rename, reorder or re-encode them.
//
// Thread-safety: every member is guarded by `mu`; a view takes it for the whole of each call.

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/store_options.h"
#include "shared/base/status.h"

namespace fedge::client::store {

enum Cf {
  kDefault = 0,   // "meta": counters, audit and outbox sequences
  kFrameMeta,     // id -> FrameMeta (JSON)                                  frames view
  kFrameBytes,    // id -> encoded image                                     frames view
  kByTime,        // tier + BE(time) + id -> "" (eviction, retention, training order)
  kByHash,        // SHA-256 of the bytes -> id (exact duplicates)
  kByConfidence,  // BE(ordered confidence) + BE(time) + id -> "" (unlabelled frames only)
  kLabels,        // id -> BE int32 label                                    labels view
  kQuarantine,    // id -> {reason, unix_ms, cause} (JSON)                   labels view
  kAudit,         // BE(seq) -> AuditEntry (JSON)                            audit view
  kOutbox,        // BE(seq) -> OutgoingRecord (binary)                      outbox view
  kOutboxIds,     // task id -> BE(seq)                                      outbox view
  kState,         // key -> bytes                                            state view
  kNumCf
};
extern const char* const kCfNames[kNumCf];

// The meta record (key "meta" in the default CF), kept in memory as StoreDb::counters.
struct Counters {
  uint64_t frames = 0, stored_bytes = 0, labelled = 0, audit_seq = 0, outbox_seq = 0;
  std::vector<uint64_t> class_counts;
};

// Codecs every view uses. Big-endian integers, so that byte order is numeric order.
void AppendBE64(std::string* s, uint64_t v);
uint64_t ReadBE64(std::string_view s);  // the first (up to) 8 bytes
std::string BE64(uint64_t v);
// Flips the sign bit so that byte order is numeric order for signed times.
uint64_t OrderedTime(int64_t t);
// JSON text as stored (invalid UTF-8 replaced, never an exception).
std::string Dump(const nlohmann::json& j);
rocksdb::Slice AsSlice(const std::vector<uint8_t>& v);
std::vector<uint8_t> ToBytes(std::string_view s);
shared::Status FromRocks(const rocksdb::Status& s, const std::string& what);

struct StoreDb {
  using ScanFn = std::function<shared::Result<bool>(const rocksdb::Slice&, const rocksdb::Slice&)>;

  // Opens (creating if missing) the database in `dir` with every column family, and reads the
  // meta record. The errors SampleStore::Open documents.
  static shared::Result<std::unique_ptr<StoreDb>> Open(const std::string& dir,
                                                       const StoreOptions& options);
  // Destroys the column family handles, then closes the database.
  ~StoreDb();

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return cfs[c]; }
  // The value of `key`, or nullopt. REQUIRES: mu held (as for every method below).
  shared::Result<std::optional<std::string>> Get(Cf c, const rocksdb::Slice& key,
                                                 const std::string& what);
  // Writes `b`. After a failed write RocksDB refuses every write (a background error, with its
  // automatic recovery switched off in Open); the next write resumes it first, which succeeds
  // once the disk has room again (a full disk), or fails again (other errors need a reopen).
  shared::Status Write(rocksdb::WriteBatch* b, bool sync, const std::string& what);
  // Writes `b` plus the meta record for `next`; adopts `next` once the write succeeded.
  shared::Status Commit(rocksdb::WriteBatch* b, Counters next, bool sync, const std::string& what);
  // Calls fn(key, value) for each entry of `c` from `start` while fn returns true.
  shared::Status Scan(Cf c, const std::string& start, const std::string& what, const ScanFn& fn);

  std::string dir;
  StoreOptions options;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::mutex mu;              // serialises every call of every view
  Counters counters;          // GUARDED_BY(mu); mirrors the meta record
  bool write_failed = false;  // GUARDED_BY(mu); the last write failed: Resume() before the next

 private:
  // FromRocks, but a full disk is ResourceExhausted naming the store's directory.
  shared::Status WriteError(const rocksdb::Status& s, const std::string& what) const;
};

}  // namespace fedge::client::store
