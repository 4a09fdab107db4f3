#include "client/store_db.h"

#include <rocksdb/listener.h>

#include <filesystem>

namespace fedge::client::store {

using nlohmann::json;
using shared::Result;
using shared::Status;

const char* const kCfNames[kNumCf] = {"default", "frame_meta",    "frame_bytes", "by_time",
                                      "by_hash", "by_confidence", "labels",      "quarantine",
                                      "audit",   "outbox",        "outbox_ids",  "state"};

namespace {

const char* const kMetaKey = "meta";

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
// DB::Resume() is refused while it runs): StoreDb::Write resumes the database on the next write.
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

// The counters of the meta record (zero for a new store), checked against num_classes.
Result<Counters> ReadCounters(StoreDb& db) {
  FEDGE_ASSIGN_OR_RETURN(auto meta, db.Get(kDefault, kMetaKey, "reading the store's meta record"));
  Counters c;
  if (meta) {
    FEDGE_ASSIGN_OR_RETURN(c, CountersFromText(*meta));
  }
  const size_t n = static_cast<size_t>(db.options.num_classes);
  for (size_t i = n; i < c.class_counts.size(); ++i) {
    if (c.class_counts[i] != 0) {
      return Status::InvalidArgument(
          "the sample store at " + db.dir + " holds labels for class " + std::to_string(i) +
          " but num_classes is " + std::to_string(n) +
          "; raise num_classes, or purge the store and import labels again");
    }
  }
  c.class_counts.resize(n, 0);
  return c;
}

}  // namespace

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

uint64_t OrderedTime(int64_t t) { return static_cast<uint64_t>(t) ^ (uint64_t{1} << 63); }

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

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

Result<std::unique_ptr<StoreDb>> StoreDb::Open(const std::string& dir,
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
  auto store = std::make_unique<StoreDb>();
  store->dir = dir;
  store->options = options;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &store->cfs, &db);
  if (!s.ok()) return OpenError(s, dir);
  store->db.reset(db);
  FEDGE_ASSIGN_OR_RETURN(store->counters, ReadCounters(*store));
  return store;
}

StoreDb::~StoreDb() {
  for (auto* h : cfs) {
    if (h != nullptr) db->DestroyColumnFamilyHandle(h);
  }
  if (db) db->Close().PermitUncheckedError();
}

Result<std::optional<std::string>> StoreDb::Get(Cf c, const rocksdb::Slice& key,
                                                const std::string& what) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cfs[c], key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, what));
  return std::optional<std::string>(std::move(value));
}

Status StoreDb::WriteError(const rocksdb::Status& s, const std::string& what) const {
  if (!s.IsNoSpace()) return FromRocks(s, what);
  return Status::ResourceExhausted(what + ": the disk holding the sample store at " + dir +
                                   " is full; free space on it (" + s.ToString() + ")");
}

Status StoreDb::Write(rocksdb::WriteBatch* b, bool sync, const std::string& what) {
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

Status StoreDb::Commit(rocksdb::WriteBatch* b, Counters next, bool sync, const std::string& what) {
  b->Put(cfs[kDefault], kMetaKey, Dump(ToJson(next)));
  FEDGE_RETURN_IF_ERROR(Write(b, sync, what));
  counters = std::move(next);
  return Status::Ok();
}

Status StoreDb::Scan(Cf c, const std::string& start, const std::string& what, const ScanFn& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[c]));
  for (it->Seek(start); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(bool more, fn(it->key(), it->value()));
    if (!more) break;
  }
  return FromRocks(it->status(), what);
}

}  // namespace fedge::client::store
