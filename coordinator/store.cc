#include "coordinator/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

enum Cf { kDefault = 0, kClients, kModels, kBlobs, kNumCf };
const char* const kCfNames[kNumCf] = {"default", "clients", "models", "blobs"};

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

std::string VersionKey(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) k[i] = static_cast<char>(v & 0xff);
  return k;
}

Result<ModelRecord> ModelFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    ModelRecord r;
    r.version = j.at("version").get<uint64_t>();
    if (!j.at("parent").is_null()) r.parent = j.at("parent").get<uint64_t>();
    r.round = j.at("round").get<uint64_t>();
    r.arch = j.at("arch").get<std::string>();
    r.digest_hex = j.at("digest").get<std::string>();
    r.size_bytes = j.at("size_bytes").get<uint64_t>();
    r.created_ms = j.at("created_ms").get<uint64_t>();
    for (const auto& c : j.at("contributors")) {
      r.contributors.push_back(
          {c.at("client").get<std::string>(), c.at("examples").get<uint64_t>()});
    }
    r.total_examples = j.at("total_examples").get<uint64_t>();
    r.metrics = j.at("metrics");
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is unreadable: ") + e.what());
  }
}

Result<ClientRecord> ClientFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    ClientRecord r;
    r.id = j.at("id").get<std::string>();
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.first_seen_ms = j.at("first_seen_ms").get<uint64_t>();
    r.last_seen_ms = j.at("last_seen_ms").get<uint64_t>();
    r.train_examples = j.at("train_examples").get<uint64_t>();
    r.eval_examples = j.at("eval_examples").get<uint64_t>();
    r.class_counts = j.at("class_counts").get<std::vector<uint64_t>>();
    r.updates_accepted = j.at("updates_accepted").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("client record is unreadable: ") + e.what());
  }
}

}  // namespace

json ToJson(const ClientRecord& r) {
  return {{"id", r.id},
          {"fingerprint", r.fingerprint},
          {"first_seen_ms", r.first_seen_ms},
          {"last_seen_ms", r.last_seen_ms},
          {"train_examples", r.train_examples},
          {"eval_examples", r.eval_examples},
          {"class_counts", r.class_counts},
          {"updates_accepted", r.updates_accepted}};
}

json ToJson(const ModelRecord& r) {
  json contributors = json::array();
  for (const auto& c : r.contributors) {
    contributors.push_back({{"client", c.client_id}, {"examples", c.examples}});
  }
  return {{"version", r.version},
          {"parent", r.parent ? json(*r.parent) : json(nullptr)},
          {"round", r.round},
          {"arch", r.arch},
          {"digest", r.digest_hex},
          {"size_bytes", r.size_bytes},
          {"created_ms", r.created_ms},
          {"contributors", contributors},
          {"total_examples", r.total_examples},
          {"metrics", r.metrics}};
}

struct Store::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;

  ~Impl() {
    for (auto* h : cfs) {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h);
    }
    if (db) db->Close().PermitUncheckedError();
  }
  rocksdb::WriteOptions SyncWrite() const {
    rocksdb::WriteOptions o;
    o.sync = true;
    return o;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create data directory " + dir + ": " + ec.message());
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.keep_log_file_num = 4;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kCfNames) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  auto impl = std::make_unique<Impl>();
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir + "/registry", descriptors, &impl->cfs, &db);
  if (!s.ok()) {
    return FromRocks(s, "cannot open the coordinator database in " + dir +
                            " (is another coordinator using it?)");
  }
  impl->db.reset(db);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::PutClient(const ClientRecord& record) {
  return FromRocks(
      impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kClients], record.id, ToJson(record).dump()),
      "writing client " + record.id);
}

Result<std::optional<ClientRecord>> Store::GetClient(const std::string& id) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kClients], id, &value);
  if (s.IsNotFound()) return std::optional<ClientRecord>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading client " + id));
  FEDGE_ASSIGN_OR_RETURN(ClientRecord r, ClientFromJson(value));
  return std::optional<ClientRecord>(std::move(r));
}

Result<std::vector<ClientRecord>> Store::ListClients() {
  std::vector<ClientRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kClients]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(ClientRecord r, ClientFromJson(it->value().ToString()));
    out.push_back(std::move(r));
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing clients"));
  return out;
}

Status Store::PutModel(const ModelRecord& record, const std::vector<uint8_t>& blob) {
  std::string existing;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kModels],
                                     VersionKey(record.version), &existing);
  if (s.ok()) {
    return Status::AlreadyExists("model version " + std::to_string(record.version) +
                                 " already exists");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kModels], VersionKey(record.version), ToJson(record).dump());
  batch.Put(impl_->cfs[kBlobs],
            rocksdb::Slice(reinterpret_cast<const char*>(digest.data()), digest.size()),
            rocksdb::Slice(reinterpret_cast<const char*>(blob.data()), blob.size()));
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "storing model version " + std::to_string(record.version));
}

Status Store::UpdateModelMetrics(uint64_t version, const json& metrics) {
  FEDGE_ASSIGN_OR_RETURN(ModelRecord r, GetModel(version));
  r.metrics = metrics;
  return FromRocks(impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kModels], VersionKey(version),
                                  ToJson(r).dump()),
                   "updating metrics of version " + std::to_string(version));
}

Result<ModelRecord> Store::GetModel(uint64_t version) {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kModels], VersionKey(version), &value);
  if (s.IsNotFound()) return Status::NotFound("no model version " + std::to_string(version));
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading model version " + std::to_string(version)));
  return ModelFromJson(value);
}

Result<std::optional<ModelRecord>> Store::LatestModel() {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kModels]));
  it->SeekToLast();
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "reading the latest model"));
  if (!it->Valid()) return std::optional<ModelRecord>();
  FEDGE_ASSIGN_OR_RETURN(ModelRecord r, ModelFromJson(it->value().ToString()));
  return std::optional<ModelRecord>(std::move(r));
}

Result<std::vector<ModelRecord>> Store::ListModels() {
  std::vector<ModelRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kModels]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(ModelRecord r, ModelFromJson(it->value().ToString()));
    out.push_back(std::move(r));
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing models"));
  return out;
}

Result<std::vector<uint8_t>> Store::GetBlob(const shared::Digest& digest) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(
      rocksdb::ReadOptions(), impl_->cfs[kBlobs],
      rocksdb::Slice(reinterpret_cast<const char*>(digest.data()), digest.size()), &value);
  if (s.IsNotFound()) return Status::NotFound("no blob " + shared::ToHex(digest));
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading blob"));
  std::vector<uint8_t> blob(value.begin(), value.end());
  if (shared::Sha256(blob) != digest) {
    return Status::Corruption("stored blob " + shared::ToHex(digest) +
                              " does not match its digest");
  }
  return blob;
}

}  // namespace fedge::coordinator
