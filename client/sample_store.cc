#include "client/sample_store.h"

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "shared/crypto/crypto.h"

namespace fedge::client {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

enum Cf {
  kDefault = 0,   // "meta": counters, audit and outbox sequences
  kFrameMeta,     // id -> FrameMeta (JSON)
  kFrameBytes,    // id -> encoded image
  kByTime,        // tier + BE(time) + id -> "" (eviction, retention, training order)
  kByHash,        // SHA-256 of the bytes -> id (exact duplicates)
  kByConfidence,  // BE(ordered confidence) + BE(time) + id -> "" (unlabelled frames only)
  kLabels,        // id -> BE int32 label
  kQuarantine,    // id -> {reason, unix_ms, cause} (JSON)
  kAudit,         // BE(seq) -> AuditEntry (JSON)
  kOutbox,        // BE(seq) -> OutgoingRecord (binary)
  kOutboxIds,     // task id -> BE(seq)
  kState,         // key -> bytes
  kNumCf
};
const char* const kCfNames[kNumCf] = {"default", "frame_meta",    "frame_bytes", "by_time",
                                      "by_hash", "by_confidence", "labels",      "quarantine",
                                      "audit",   "outbox",        "outbox_ids",  "state"};
const char* const kMetaKey = "meta";
// The CFs Purge() empties.
const Cf kPurged[] = {kFrameMeta,    kFrameBytes, kByTime,    kByHash,
                      kByConfidence, kLabels,     kQuarantine};

// Eviction order: quarantined frames, then unlabelled, then labelled (each oldest first).
enum Tier : char { kTierQuarantined = 0, kTierUnlabelled = 1, kTierLabelled = 2 };

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

struct Counters {
  uint64_t frames = 0, stored_bytes = 0, labelled = 0, audit_seq = 0, outbox_seq = 0;
  std::vector<uint64_t> class_counts;
};

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void AppendBE64(std::string* s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t ReadBE64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string BE64(uint64_t v) {
  std::string s;
  AppendBE64(&s, v);
  return s;
}

// Flips the sign bit so that byte order is numeric order for signed times.
uint64_t OrderedTime(int64_t t) { return static_cast<uint64_t>(t) ^ (uint64_t{1} << 63); }

std::string TimeKey(Tier tier, int64_t t, const std::string& id) {
  std::string k(1, static_cast<char>(tier));
  AppendBE64(&k, OrderedTime(t));
  return k + id;
}

Tier TierOf(const FrameMeta& m, const std::optional<int>& label) {
  if (m.quarantined) return kTierQuarantined;
  return label ? kTierLabelled : kTierUnlabelled;
}

std::string ConfidenceKey(const FrameMeta& m) {
  uint32_t bits = 0;
  std::memcpy(&bits, &m.confidence, sizeof bits);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  std::string k;
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  AppendBE64(&k, OrderedTime(m.captured_ms));
  return k + m.id;
}

std::string LabelValue(int label) { return BE64(static_cast<uint32_t>(label)).substr(4); }

rocksdb::Slice AsSlice(const shared::Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

rocksdb::Slice AsSlice(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

std::vector<uint8_t> ToBytes(std::string_view s) { return {s.begin(), s.end()}; }

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

json ToJson(const FrameMeta& m) {
  return {{"id", m.id},          {"t", m.captured_ms},
          {"format", m.format},  {"w", m.width},
          {"h", m.height},       {"c", m.channels},
          {"pred", m.predicted}, {"conf", m.confidence},
          {"size", m.size},      {"sha256", shared::ToHex(m.sha256)},
          {"q", m.quarantined}};
}

Result<FrameMeta> MetaFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    FrameMeta m;
    m.id = j.at("id").get<std::string>();
    m.captured_ms = j.at("t").get<int64_t>();
    m.format = j.at("format").get<std::string>();
    m.width = j.at("w").get<int>();
    m.height = j.at("h").get<int>();
    m.channels = j.at("c").get<int>();
    m.predicted = j.at("pred").get<int>();
    m.confidence = j.at("conf").get<float>();
    m.size = j.at("size").get<uint64_t>();
    FEDGE_ASSIGN_OR_RETURN(m.sha256, shared::DigestFromHex(j.at("sha256").get<std::string>()));
    m.quarantined = j.at("q").get<bool>();
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("frame record is unreadable: ") + e.what());
  }
}

json ToJson(const Counters& c) {
  return {{"frames", c.frames},         {"stored_bytes", c.stored_bytes},
          {"labelled", c.labelled},     {"audit_seq", c.audit_seq},
          {"outbox_seq", c.outbox_seq}, {"class_counts", c.class_counts}};
}

Result<Counters> CountersFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    Counters c;
    c.frames = j.at("frames").get<uint64_t>();
    c.stored_bytes = j.at("stored_bytes").get<uint64_t>();
    c.labelled = j.at("labelled").get<uint64_t>();
    c.audit_seq = j.at("audit_seq").get<uint64_t>();
    c.outbox_seq = j.at("outbox_seq").get<uint64_t>();
    c.class_counts = j.at("class_counts").get<std::vector<uint64_t>>();
    return c;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("sample store meta record is unreadable: ") + e.what());
  }
}

struct QuarantineRecord {
  std::string reason;
  int64_t unix_ms = 0;
  std::string cause;  // "duplicate" | "label" | "manual"
};

Result<QuarantineRecord> QuarantineFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    return QuarantineRecord{j.at("reason").get<std::string>(), j.at("unix_ms").get<int64_t>(),
                            j.at("cause").get<std::string>()};
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("quarantine record is unreadable: ") + e.what());
  }
}

Result<AuditEntry> AuditFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    AuditEntry a;
    a.seq = j.at("seq").get<uint64_t>();
    a.unix_ms = j.at("unix_ms").get<int64_t>();
    a.type = j.at("type").get<std::string>();
    a.bytes = j.at("bytes").get<uint64_t>();
    a.round = j.at("round").get<uint64_t>();
    a.detail = j.at("detail").get<std::string>();
    return a;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("audit entry is unreadable: ") + e.what());
  }
}

void AppendField(std::string* s, std::string_view bytes) {
  AppendBE64(s, bytes.size());
  s->append(bytes);
}

std::string EncodeOutgoing(const OutgoingRecord& r) {
  std::string s;
  AppendField(&s, r.task_id);
  AppendBE64(&s, r.round);
  AppendBE64(&s, static_cast<uint64_t>(r.deadline_unix_ms));
  AppendField(&s, {reinterpret_cast<const char*>(r.submit.data()), r.submit.size()});
  AppendField(&s, {reinterpret_cast<const char*>(r.blob.data()), r.blob.size()});
  return s;
}

Result<OutgoingRecord> DecodeOutgoing(std::string_view s) {
  const Status bad = Status::Corruption("outbox record is truncated");
  auto take_u64 = [&s](uint64_t* v) {
    if (s.size() < 8) return false;
    *v = ReadBE64(s);
    s.remove_prefix(8);
    return true;
  };
  auto take_field = [&s, &take_u64](std::string_view* out) {
    uint64_t n = 0;
    if (!take_u64(&n) || n > s.size()) return false;
    *out = s.substr(0, n);
    s.remove_prefix(n);
    return true;
  };
  OutgoingRecord r;
  std::string_view task, submit, blob;
  uint64_t deadline = 0;
  if (!take_field(&task) || !take_u64(&r.round) || !take_u64(&deadline) || !take_field(&submit) ||
      !take_field(&blob) || !s.empty()) {
    return bad;
  }
  r.task_id = std::string(task);
  r.deadline_unix_ms = static_cast<int64_t>(deadline);
  r.submit = ToBytes(submit);
  r.blob = ToBytes(blob);
  return r;
}

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

}  // namespace

std::string ToJsonLine(const AuditEntry& e) {
  return Dump({{"seq", e.seq},
               {"unix_ms", e.unix_ms},
               {"type", e.type},
               {"bytes", e.bytes},
               {"round", e.round},
               {"detail", e.detail}});
}

struct SampleStore::Impl {
  std::string dir;
  StoreOptions options;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::mutex mu;              // serialises every public call
  Counters counters;          // GUARDED_BY(mu); mirrors the meta record
  bool write_failed = false;  // GUARDED_BY(mu); the last write failed: Resume() before the next

  ~Impl() {
    for (auto* h : cfs) {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h);
    }
    if (db) db->Close().PermitUncheckedError();
  }

  Result<std::optional<std::string>> Get(Cf cf, const rocksdb::Slice& key,
                                         const std::string& what) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cfs[cf], key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    FEDGE_RETURN_IF_ERROR(FromRocks(s, what));
    return std::optional<std::string>(std::move(value));
  }

  Result<std::optional<FrameMeta>> GetMeta(const std::string& id) {
    FEDGE_ASSIGN_OR_RETURN(auto text, Get(kFrameMeta, id, "reading frame '" + id + "'"));
    if (!text) return std::optional<FrameMeta>();
    FEDGE_ASSIGN_OR_RETURN(FrameMeta m, MetaFromText(*text));
    return std::optional<FrameMeta>(std::move(m));
  }

  Result<std::optional<int>> GetLabel(const std::string& id) {
    FEDGE_ASSIGN_OR_RETURN(auto v, Get(kLabels, id, "reading the label of '" + id + "'"));
    if (!v) return std::optional<int>();
    if (v->size() != 4) return Status::Corruption("label of '" + id + "' has the wrong size");
    return std::optional<int>(static_cast<int>(ReadBE64(std::string(4, '\0') + *v)));
  }

  Result<std::optional<QuarantineRecord>> GetQuarantine(const std::string& id) {
    FEDGE_ASSIGN_OR_RETURN(auto v, Get(kQuarantine, id, "reading quarantine entry '" + id + "'"));
    if (!v) return std::optional<QuarantineRecord>();
    FEDGE_ASSIGN_OR_RETURN(QuarantineRecord q, QuarantineFromText(*v));
    return std::optional<QuarantineRecord>(std::move(q));
  }

  // Adds a frame's record and index entries for its state (meta.quarantined, label).
  void Index(rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label, Counters* c) {
    b->Put(cfs[kFrameMeta], m.id, Dump(ToJson(m)));
    b->Put(cfs[kByTime], TimeKey(TierOf(m, label), m.captured_ms, m.id), "");
    b->Put(cfs[kByHash], AsSlice(m.sha256), m.id);
    if (TierOf(m, label) == kTierUnlabelled) b->Put(cfs[kByConfidence], ConfidenceKey(m), "");
    if (label) {
      b->Put(cfs[kLabels], m.id, LabelValue(*label));
      c->labelled++;
      c->class_counts[*label]++;
    }
  }

  // Removes what Index() added, except the frame record itself.
  void Unindex(rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label, Counters* c) {
    b->Delete(cfs[kByTime], TimeKey(TierOf(m, label), m.captured_ms, m.id));
    b->Delete(cfs[kByHash], AsSlice(m.sha256));
    if (TierOf(m, label) == kTierUnlabelled) b->Delete(cfs[kByConfidence], ConfidenceKey(m));
    if (label) {
      b->Delete(cfs[kLabels], m.id);
      c->labelled--;
      if (*label >= 0 && static_cast<size_t>(*label) < c->class_counts.size()) {
        c->class_counts[*label]--;
      }
    }
  }

  Status DeleteFrame(rocksdb::WriteBatch* b, const FrameMeta& m, Counters* c) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, GetLabel(m.id));
    Unindex(b, m, label, c);
    b->Delete(cfs[kFrameMeta], m.id);
    b->Delete(cfs[kFrameBytes], m.id);
    c->frames--;
    c->stored_bytes -= m.size;
    return Status::Ok();
  }

  // Puts a quarantine entry; a stored frame loses its label and moves to the quarantined tier
  // (unless `frame_deleted`: the batch already deletes it).
  Status QuarantineInBatch(rocksdb::WriteBatch* b, const std::string& id, const std::string& reason,
                           int64_t now_ms, const std::string& cause, Counters* c,
                           bool frame_deleted = false) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(id));
    if (m && !m->quarantined && !frame_deleted) {
      FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, GetLabel(id));
      Unindex(b, *m, label, c);
      m->quarantined = true;
      Index(b, *m, std::nullopt, c);
    }
    b->Put(cfs[kQuarantine], id, Dump({{"reason", reason}, {"unix_ms", now_ms}, {"cause", cause}}));
    return Status::Ok();
  }

  // Deletes frames in eviction order (skipping `keep`) until `incoming` more bytes fit.
  Status Evict(rocksdb::WriteBatch* b, uint64_t incoming, const std::string& keep, Counters* c,
               std::vector<std::string>* evicted) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[kByTime]));
    for (it->SeekToFirst(); it->Valid() && c->stored_bytes + incoming > options.disk_budget_bytes;
         it->Next()) {
      const std::string id = it->key().ToString().substr(9);
      if (id == keep) continue;
      FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(id));
      if (!m) return Status::Corruption("time index names missing frame '" + id + "'");
      FEDGE_RETURN_IF_ERROR(DeleteFrame(b, *m, c));
      evicted->push_back(id);
    }
    FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning frames to evict"));
    if (c->stored_bytes + incoming > options.disk_budget_bytes) {
      return Status::Internal("could not free enough space in the sample store");
    }
    return Status::Ok();
  }

  // FromRocks, but a full disk is ResourceExhausted naming the store's directory.
  Status WriteError(const rocksdb::Status& s, const std::string& what) const {
    if (!s.IsNoSpace()) return FromRocks(s, what);
    return Status::ResourceExhausted(what + ": the disk holding the sample store at " + dir +
                                     " is full; free space on it (" + s.ToString() + ")");
  }

  // Writes `b`. After a failed write RocksDB refuses every write (a background error, with its
  // automatic recovery switched off in Open); the next write resumes it first, which succeeds
  // once the disk has room again (a full disk), or fails again (other errors need a reopen).
  Status Write(rocksdb::WriteBatch* b, bool sync, const std::string& what) {
    if (write_failed) {
      FEDGE_RETURN_IF_ERROR(WriteError(db->Resume(), what));
      write_failed = false;
    }
    rocksdb::WriteOptions o;
    o.sync = sync;
    rocksdb::Status s = db->Write(o, b);
    write_failed = !s.ok();
    return WriteError(s, what);
  }

  // Writes `b` plus the meta record for `next`; adopts `next` once the write succeeded.
  Status Commit(rocksdb::WriteBatch* b, Counters next, bool sync, const std::string& what) {
    b->Put(cfs[kDefault], kMetaKey, Dump(ToJson(next)));
    FEDGE_RETURN_IF_ERROR(Write(b, sync, what));
    counters = std::move(next);
    return Status::Ok();
  }

  // Calls fn(key, value) for each entry of `cf` from `start` while fn returns true.
  Status Scan(Cf cf, const std::string& start, const std::string& what,
              const std::function<Result<bool>(const rocksdb::Slice&, const rocksdb::Slice&)>& fn) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[cf]));
    for (it->Seek(start); it->Valid(); it->Next()) {
      FEDGE_ASSIGN_OR_RETURN(bool more, fn(it->key(), it->value()));
      if (!more) break;
    }
    return FromRocks(it->status(), what);
  }
};

SampleStore::SampleStore(std::unique_ptr<Impl> impl, const StoreOptions& options)
    : impl_(std::move(impl)), options_(options) {}
SampleStore::~SampleStore() = default;

namespace {

Status ValidateOptions(const StoreOptions& o) {
  if (o.disk_budget_bytes == 0) return Status::InvalidArgument("disk_budget_bytes must be > 0");
  if (o.max_age_seconds < 0) return Status::InvalidArgument("max_age_seconds must be >= 0");
  if (o.num_classes < 1 || o.num_classes > 65536) {
    return Status::InvalidArgument("num_classes must be in [1, 65536], got " +
                                   std::to_string(o.num_classes));
  }
  return Status::Ok();
}

// Switches off RocksDB's background recovery from a full disk (it polls every few seconds, and
// DB::Resume() is refused while it runs): Impl::Write resumes the database on the next write.
class ResumeOnNextWrite : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status bg_error,
                            bool* auto_recovery) override {
    bg_error.PermitUncheckedError();
    *auto_recovery = false;
  }
};

Status OpenError(const rocksdb::Status& s, const std::string& dir) {
  const std::string text = s.ToString();
  if (s.IsIOError() && text.find("lock hold by current process") != std::string::npos) {
    return Status::Unavailable("the sample store at " + dir +
                               " is already open in this process; share that SampleStore (" + text +
                               ")");
  }
  if (s.IsIOError() &&
      (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos)) {
    return Status::Unavailable("the sample store at " + dir +
                               " is locked by another fedge-client process; stop that process "
                               "or give this one another state directory (" +
                               text + ")");
  }
  return FromRocks(s, "cannot open the sample store at " + dir);
}

}  // namespace

Result<std::unique_ptr<SampleStore>> SampleStore::Open(const std::string& dir,
                                                       const StoreOptions& options) {
  FEDGE_RETURN_IF_ERROR(ValidateOptions(options));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Status::IOError("cannot create the sample store directory " + dir + ": " + ec.message());
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.keep_log_file_num = 4;
  db_options.listeners.push_back(std::make_shared<ResumeOnNextWrite>());
  if (options.env != nullptr) db_options.env = options.env;
  // No recycle_log_file_num: recycled WAL files would keep purged frames' bytes on disk.
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int cf = 0; cf < kNumCf; ++cf)
    descriptors.emplace_back(kCfNames[cf], rocksdb::ColumnFamilyOptions());
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &impl->cfs, &db);
  if (!s.ok()) return OpenError(s, dir);
  impl->db.reset(db);
  FEDGE_ASSIGN_OR_RETURN(auto meta,
                         impl->Get(kDefault, kMetaKey, "reading the store's meta record"));
  Counters c;
  if (meta) {
    FEDGE_ASSIGN_OR_RETURN(c, CountersFromText(*meta));
  }
  const size_t n = static_cast<size_t>(options.num_classes);
  for (size_t i = n; i < c.class_counts.size(); ++i) {
    if (c.class_counts[i] != 0) {
      return Status::InvalidArgument(
          "the sample store at " + dir + " holds labels for class " + std::to_string(i) +
          " but num_classes is " + std::to_string(n) +
          "; raise num_classes, or purge the store and import labels again");
    }
  }
  c.class_counts.resize(n, 0);
  impl->counters = std::move(c);
  return std::unique_ptr<SampleStore>(new SampleStore(std::move(impl), options));
}

Result<AddOutcome> SampleStore::AddFrame(const FrameRecord& f) {
  FEDGE_RETURN_IF_ERROR(ValidateFrame(f));
  if (f.bytes.size() > options_.disk_budget_bytes) {
    return Status::ResourceExhausted("frame '" + f.id + "' (" + std::to_string(f.bytes.size()) +
                                     " bytes) is larger than the whole disk budget");
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  FrameMeta m{f.id,       f.captured_unix_ms, f.format,     f.width,        f.height,
              f.channels, f.predicted,        f.confidence, f.bytes.size(), shared::Sha256(f.bytes),
              false};
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> old, impl_->GetMeta(f.id));
  AddOutcome out;
  if (old && old->sha256 == m.sha256) {
    out.kind = AddOutcome::Kind::kAlreadyStored;
    return out;
  }
  FEDGE_ASSIGN_OR_RETURN(auto dup, impl_->Get(kByHash, AsSlice(m.sha256), "checking duplicates"));
  rocksdb::WriteBatch b;
  Counters next = impl_->counters;
  if (old) FEDGE_RETURN_IF_ERROR(impl_->DeleteFrame(&b, *old, &next));
  if (dup) {
    out.kind = AddOutcome::Kind::kDuplicate;
    out.duplicate_of = *dup;
    FEDGE_RETURN_IF_ERROR(impl_->QuarantineInBatch(&b, f.id, "exact duplicate of " + *dup, NowMs(),
                                                   "duplicate", &next, /*frame_deleted=*/true));
    FEDGE_RETURN_IF_ERROR(impl_->Commit(&b, next, false, "quarantining duplicate " + f.id));
    return out;
  }
  out.kind = old ? AddOutcome::Kind::kReplaced : AddOutcome::Kind::kStored;
  FEDGE_RETURN_IF_ERROR(impl_->Evict(&b, m.size, f.id, &next, &out.evicted));
  impl_->Index(&b, m, std::nullopt, &next);
  b.Put(impl_->cfs[kFrameBytes], f.id, AsSlice(f.bytes));
  b.Delete(impl_->cfs[kQuarantine], f.id);
  next.frames++;
  next.stored_bytes += m.size;
  FEDGE_RETURN_IF_ERROR(impl_->Commit(&b, next, false, "storing frame " + f.id));
  return out;
}

Result<bool> SampleStore::HasFrame(const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(id));
  return m.has_value();
}

Result<std::optional<FrameRecord>> SampleStore::GetFrame(const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(id));
  if (!m) return std::optional<FrameRecord>();
  FEDGE_ASSIGN_OR_RETURN(auto bytes, impl_->Get(kFrameBytes, id, "reading frame " + id));
  if (!bytes) return Status::Corruption("frame '" + id + "' has a record but no bytes");
  FrameRecord f{m->id,     m->captured_ms, m->format,    ToBytes(*bytes), m->width,
                m->height, m->channels,    m->predicted, m->confidence};
  return std::optional<FrameRecord>(std::move(f));
}

Status SampleStore::Quarantine(const std::string& id, const std::string& reason, int64_t now_ms) {
  if (id.empty()) return Status::InvalidArgument("quarantine needs a frame id");
  if (reason.empty()) return Status::InvalidArgument("quarantine of '" + id + "' needs a reason");
  std::lock_guard<std::mutex> lock(impl_->mu);
  rocksdb::WriteBatch b;
  Counters next = impl_->counters;
  FEDGE_RETURN_IF_ERROR(impl_->QuarantineInBatch(&b, id, reason, now_ms, "manual", &next));
  return impl_->Commit(&b, next, true, "quarantining " + id);
}

Result<std::vector<QuarantineItem>> SampleStore::Quarantined() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<QuarantineItem> out;
  FEDGE_RETURN_IF_ERROR(impl_->Scan(
      kQuarantine, "", "listing the quarantine",
      [&](const rocksdb::Slice& k, const rocksdb::Slice& v) -> Result<bool> {
        FEDGE_ASSIGN_OR_RETURN(QuarantineRecord q, QuarantineFromText(v.ToString()));
        FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(k.ToString()));
        out.push_back({k.ToString(), q.reason, q.unix_ms, m.has_value()});
        return true;
      }));
  return out;
}

Result<std::vector<ReviewItem>> SampleStore::ReviewQueue(size_t n) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<ReviewItem> out;
  if (n == 0) return out;
  FEDGE_RETURN_IF_ERROR(
      impl_->Scan(kByConfidence, "", "listing the review queue",
                  [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
                    const std::string id = k.ToString().substr(12);
                    FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(id));
                    if (!m)
                      return Status::Corruption("review index names missing frame '" + id + "'");
                    out.push_back({id, m->confidence, m->predicted, m->captured_ms});
                    return out.size() < n;
                  }));
  return out;
}

Result<SetLabelsOutcome> SampleStore::SetLabels(const std::vector<LabelAssignment>& labels,
                                                int64_t now_ms) {
  std::map<std::string, int64_t> last;  // later entries win
  for (const auto& a : labels) last[a.id] = a.label;
  const int n = options_.num_classes;
  std::lock_guard<std::mutex> lock(impl_->mu);
  rocksdb::WriteBatch b;
  Counters next = impl_->counters;
  SetLabelsOutcome out;
  out.class_counts.assign(static_cast<size_t>(n), 0);
  for (const auto& [id, label] : last) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(id));
    if (!m) return Status::NotFound("no frame '" + id + "' in the sample store");
    FEDGE_ASSIGN_OR_RETURN(std::optional<int> old, impl_->GetLabel(id));
    FEDGE_ASSIGN_OR_RETURN(std::optional<QuarantineRecord> q, impl_->GetQuarantine(id));
    if (m->quarantined && (!q || q->cause != "label")) {
      out.skipped_quarantined++;
      continue;
    }
    if (label < 0 || label >= n) {
      const std::string reason =
          "label " + std::to_string(label) + " out of range [0, " + std::to_string(n) + ")";
      FEDGE_RETURN_IF_ERROR(impl_->QuarantineInBatch(&b, id, reason, now_ms, "label", &next));
      out.quarantined++;
      continue;
    }
    impl_->Unindex(&b, *m, old, &next);
    if (m->quarantined) b.Delete(impl_->cfs[kQuarantine], id);
    m->quarantined = false;
    impl_->Index(&b, *m, static_cast<int>(label), &next);
    out.labels_set++;
    out.class_counts[static_cast<size_t>(label)]++;
  }
  FEDGE_RETURN_IF_ERROR(impl_->Commit(&b, next, true, "storing labels"));
  return out;
}

Result<std::vector<LabelledFrame>> SampleStore::LabelledFrames() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<LabelledFrame> out;
  const std::string prefix(1, static_cast<char>(kTierLabelled));
  FEDGE_RETURN_IF_ERROR(impl_->Scan(
      kByTime, prefix, "listing labelled frames",
      [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
        if (!k.starts_with(prefix)) return false;
        const std::string id = k.ToString().substr(9);
        FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, impl_->GetMeta(id));
        FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, impl_->GetLabel(id));
        FEDGE_ASSIGN_OR_RETURN(auto bytes, impl_->Get(kFrameBytes, id, "reading frame " + id));
        if (!m || !label || !bytes) {
          return Status::Corruption("labelled frame '" + id + "' is incomplete");
        }
        out.push_back({id, m->format, ToBytes(*bytes), *label, m->captured_ms});
        return true;
      }));
  return out;
}

std::vector<uint64_t> SampleStore::ClassCounts() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->counters.class_counts;
}

Status SampleStore::ApplyRetention(int64_t now_ms) {
  if (options_.max_age_seconds == 0) return Status::Ok();
  const int64_t cutoff = now_ms - options_.max_age_seconds * 1000;
  std::lock_guard<std::mutex> lock(impl_->mu);
  rocksdb::WriteBatch b;
  Counters next = impl_->counters;
  for (Tier tier : {kTierQuarantined, kTierUnlabelled, kTierLabelled}) {
    const std::string start = TimeKey(tier, INT64_MIN, ""), end = TimeKey(tier, cutoff, "");
    FEDGE_RETURN_IF_ERROR(
        impl_->Scan(kByTime, start, "scanning frames for retention",
                    [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
                      if (k.compare(end) >= 0) return false;
                      FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m,
                                             impl_->GetMeta(k.ToString().substr(9)));
                      if (!m) return Status::Corruption("time index names a missing frame");
                      FEDGE_RETURN_IF_ERROR(impl_->DeleteFrame(&b, *m, &next));
                      return true;
                    }));
  }
  return impl_->Commit(&b, next, true, "deleting frames past retention");
}

Status SampleStore::Purge() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  rocksdb::WriteBatch b;
  for (Cf cf : kPurged) {
    FEDGE_RETURN_IF_ERROR(impl_->Scan(cf, "", "scanning for purge",
                                      [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
                                        b.Delete(impl_->cfs[cf], k);
                                        return Result<bool>(true);
                                      }));
  }
  Counters next = impl_->counters;
  next.frames = next.stored_bytes = next.labelled = 0;
  std::fill(next.class_counts.begin(), next.class_counts.end(), 0);
  FEDGE_RETURN_IF_ERROR(impl_->Commit(&b, next, true, "purging the sample store"));
  // Flush every CF, not only the purged ones: a WAL file is deleted only once no CF has data in
  // it, and the old WAL files still hold the purged frames' bytes.
  FEDGE_RETURN_IF_ERROR(
      FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), impl_->cfs), "flushing after the purge"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (Cf cf : kPurged) {
    FEDGE_RETURN_IF_ERROR(
        FromRocks(impl_->db->CompactRange(compact, impl_->cfs[cf], nullptr, nullptr),
                  std::string("compacting ") + kCfNames[cf] + " after the purge"));
  }
  return Status::Ok();
}

Status SampleStore::AppendAudit(const AuditEntry& entry) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Counters next = impl_->counters;
  AuditEntry e = entry;
  e.seq = ++next.audit_seq;
  rocksdb::WriteBatch b;
  b.Put(impl_->cfs[kAudit], BE64(e.seq), ToJsonLine(e));
  return impl_->Commit(&b, next, true, "appending to the audit log");
}

Result<std::vector<AuditEntry>> SampleStore::Audit(size_t max) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const uint64_t total = impl_->counters.audit_seq;
  const uint64_t first = (max == 0 || max >= total) ? 1 : total - max + 1;
  std::vector<AuditEntry> out;
  FEDGE_RETURN_IF_ERROR(
      impl_->Scan(kAudit, BE64(first), "reading the audit log",
                  [&](const rocksdb::Slice&, const rocksdb::Slice& v) -> Result<bool> {
                    FEDGE_ASSIGN_OR_RETURN(AuditEntry e, AuditFromText(v.ToString()));
                    out.push_back(std::move(e));
                    return true;
                  }));
  return out;
}

Status SampleStore::PutOutgoing(const OutgoingRecord& r) {
  if (r.task_id.empty()) return Status::InvalidArgument("an outgoing update needs a task id");
  std::lock_guard<std::mutex> lock(impl_->mu);
  FEDGE_ASSIGN_OR_RETURN(auto seq, impl_->Get(kOutboxIds, r.task_id, "reading the outbox"));
  Counters next = impl_->counters;
  const std::string key = seq ? *seq : BE64(++next.outbox_seq);
  rocksdb::WriteBatch b;
  b.Put(impl_->cfs[kOutbox], key, EncodeOutgoing(r));
  b.Put(impl_->cfs[kOutboxIds], r.task_id, key);
  return impl_->Commit(&b, next, true, "storing outgoing update " + r.task_id);
}

Status SampleStore::DeleteOutgoing(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  FEDGE_ASSIGN_OR_RETURN(auto seq, impl_->Get(kOutboxIds, task_id, "reading the outbox"));
  if (!seq) return Status::Ok();
  rocksdb::WriteBatch b;
  b.Delete(impl_->cfs[kOutbox], *seq);
  b.Delete(impl_->cfs[kOutboxIds], task_id);
  return impl_->Commit(&b, impl_->counters, true, "deleting outgoing update " + task_id);
}

Result<std::vector<OutgoingRecord>> SampleStore::Outgoing() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<OutgoingRecord> out;
  FEDGE_RETURN_IF_ERROR(
      impl_->Scan(kOutbox, "", "reading the outbox",
                  [&](const rocksdb::Slice&, const rocksdb::Slice& v) -> Result<bool> {
                    FEDGE_ASSIGN_OR_RETURN(OutgoingRecord r, DecodeOutgoing(v.ToStringView()));
                    out.push_back(std::move(r));
                    return true;
                  }));
  return out;
}

Status SampleStore::PutState(const std::string& key, const std::vector<uint8_t>& bytes) {
  if (key.empty()) return Status::InvalidArgument("state key must not be empty");
  std::lock_guard<std::mutex> lock(impl_->mu);
  rocksdb::WriteBatch b;
  b.Put(impl_->cfs[kState], key, AsSlice(bytes));
  return impl_->Write(&b, /*sync=*/true, "storing state '" + key + "'");
}

Result<std::optional<std::vector<uint8_t>>> SampleStore::GetState(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  FEDGE_ASSIGN_OR_RETURN(auto v, impl_->Get(kState, key, "reading state '" + key + "'"));
  if (!v) return std::optional<std::vector<uint8_t>>();
  return std::optional<std::vector<uint8_t>>(ToBytes(*v));
}

Result<StoreStats> SampleStore::Stats() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const Counters& c = impl_->counters;
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
  FEDGE_RETURN_IF_ERROR(impl_->Scan(kQuarantine, "", "counting quarantine", count(&s.quarantined)));
  FEDGE_RETURN_IF_ERROR(impl_->Scan(kOutboxIds, "", "counting the outbox", count(&s.outgoing)));
  // The first and last key of each tier of the time index: two seeks per tier.
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kByTime]));
  auto note = [&s, &it](char tier) {
    if (!it->Valid() || it->key()[0] != tier) return;
    const int64_t t =
        static_cast<int64_t>(ReadBE64(it->key().ToStringView().substr(1)) ^ (uint64_t{1} << 63));
    if (!s.oldest_unix_ms || t < *s.oldest_unix_ms) s.oldest_unix_ms = t;
    if (!s.newest_unix_ms || t > *s.newest_unix_ms) s.newest_unix_ms = t;
  };
  for (Tier tier : {kTierQuarantined, kTierUnlabelled, kTierLabelled}) {
    it->Seek(std::string(1, tier));
    note(tier);
    it->SeekForPrev(std::string(1, tier) + std::string(9, '\xff'));
    note(tier);
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "finding the oldest and newest frames"));
  return s;
}

}  // namespace fedge::client
