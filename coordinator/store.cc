#include "coordinator/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cmath>
#include <filesystem>

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

enum Cf {
  kDefault = 0,  // small state: head, open round, target round
  kClients,
  kModels,
  kBlobs,
  kUpdates,      // round + client -> UpdateRecord (open round only)
  kUpdateBlobs,  // round + client -> blob (open round only)
  kAccepted,     // idempotency id -> UpdateRecord (kept after the round closes)
  kRounds,       // round -> summary
  kRevoked,      // client id -> RevocationRecord
  kDrift,        // drift state: client/<id>, campaign/<id>, profile/<version> (see store.h)
  kRollouts,     // rollout id -> Rollout (coordinator/rollout.h), JSON
  kNumCf
};
const char* const kCfNames[kNumCf] = {"default", "clients",      "models",   "blobs",
                                      "updates", "update_blobs", "accepted", "rounds",
                                      "revoked", "drift",        "rollouts"};
const char* const kHeadKey = "head";
const char* const kOpenRoundKey = "open_round";
const char* const kTargetRoundKey = "target_round";

rocksdb::Slice AsSlice(std::span<const uint8_t> bytes) {
  return rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

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
    return ModelRecordFromJson(json::parse(text));
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

Result<UpdateRecord> UpdateFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    UpdateRecord r;
    r.round = j.at("round").get<uint64_t>();
    r.client_id = j.at("client").get<std::string>();
    r.task_id = j.at("task_id").get<uint64_t>();
    r.idempotency_id = j.at("idempotency_id").get<std::string>();
    r.examples = j.at("examples").get<uint64_t>();
    r.loss = j.at("loss").is_null() ? std::nan("") : j.at("loss").get<double>();
    r.blob_digest_hex = j.at("blob_digest").get<std::string>();
    r.received_ms = j.at("received_ms").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("update record is unreadable: ") + e.what());
  }
}

Result<RevocationRecord> RevocationFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    RevocationRecord r;
    r.client_id = j.at("client").get<std::string>();
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.reason = j.at("reason").get<std::string>();
    r.revoked_by = j.at("revoked_by").get<std::string>();
    r.revoked_ms = j.at("revoked_ms").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("revocation record is unreadable: ") + e.what());
  }
}

Result<json> JsonFromText(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return Status::Corruption(what + " is unreadable: " + e.what());
  }
}

std::string UpdateKey(uint64_t round, const std::string& client_id) {
  return VersionKey(round) + client_id;
}

}  // namespace

Result<ModelRecord> ModelRecordFromJson(const json& j) {
  try {
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
    r.origin = j.value("origin", std::string("round"));
    r.blob_deleted = j.value("blob_deleted", false);
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is unreadable: ") + e.what());
  }
}

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
          {"metrics", r.metrics},
          {"origin", r.origin},
          {"blob_deleted", r.blob_deleted}};
}

json ToJson(const UpdateRecord& r) {
  return {{"round", r.round},
          {"client", r.client_id},
          {"task_id", r.task_id},
          {"idempotency_id", r.idempotency_id},
          {"examples", r.examples},
          {"loss", std::isfinite(r.loss) ? json(r.loss) : json(nullptr)},
          {"blob_digest", r.blob_digest_hex},
          {"received_ms", r.received_ms}};
}

json ToJson(const RevocationRecord& r) {
  return {{"client", r.client_id},
          {"fingerprint", r.fingerprint},
          {"reason", r.reason},
          {"revoked_by", r.revoked_by},
          {"revoked_ms", r.revoked_ms}};
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

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, rocksdb::Env* env) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create data directory " + dir + ": " + ec.message());
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.keep_log_file_num = 4;
  if (env != nullptr) options.env = env;
  // Reuse WAL files: a synced write then overwrites allocated blocks instead of growing a file,
  // so fdatasync does not also have to commit the file size to the journal.
  options.recycle_log_file_num = 4;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int cf = 0; cf < kNumCf; ++cf) {
    rocksdb::ColumnFamilyOptions cf_options;
    if (cf == kBlobs || cf == kUpdateBlobs) {
      // Megabyte-sized values: keep them in blob files so compaction does not rewrite them.
      cf_options.enable_blob_files = true;
      cf_options.min_blob_size = 4096;
      cf_options.enable_blob_garbage_collection = true;
    }
    descriptors.emplace_back(kCfNames[cf], cf_options);
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

Status Store::PutModel(const ModelRecord& record, const std::vector<uint8_t>& blob,
                       bool make_head) {
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
  if (make_head) batch.Put(impl_->cfs[kDefault], kHeadKey, VersionKey(record.version));
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "storing model version " + std::to_string(record.version));
}

Status Store::PutModelRecord(const ModelRecord& record) {
  return FromRocks(impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kModels],
                                  VersionKey(record.version), ToJson(record).dump()),
                   "updating model version " + std::to_string(record.version));
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

bool Store::HasBlob(const shared::Digest& digest) {
  std::string value;
  return impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kBlobs], AsSlice(digest), &value).ok();
}

Status Store::DeleteBlob(const shared::Digest& digest) {
  return FromRocks(impl_->db->Delete(impl_->SyncWrite(), impl_->cfs[kBlobs], AsSlice(digest)),
                   "deleting blob " + shared::ToHex(digest));
}

Result<std::optional<uint64_t>> Store::Head() {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kDefault], kHeadKey, &value);
  if (s.IsNotFound()) return std::optional<uint64_t>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading the head version"));
  if (value.size() != 8) return Status::Corruption("head version record has the wrong size");
  uint64_t v = 0;
  for (unsigned char c : value) v = (v << 8) | c;
  return std::optional<uint64_t>(v);
}

Result<std::optional<json>> Store::OpenRound() {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kDefault], kOpenRoundKey, &value);
  if (s.IsNotFound()) return std::optional<json>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading the open round"));
  FEDGE_ASSIGN_OR_RETURN(json j, JsonFromText(value, "open round state"));
  return std::optional<json>(std::move(j));
}

Status Store::PutOpenRound(const json& state) {
  return FromRocks(
      impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kDefault], kOpenRoundKey, state.dump()),
      "storing the open round");
}

Status Store::AcceptUpdate(const UpdateRecord& update, std::span<const uint8_t> blob,
                           const json& open_round) {
  rocksdb::WriteBatch batch;
  const std::string key = UpdateKey(update.round, update.client_id);
  const std::string record = ToJson(update).dump();
  batch.Put(impl_->cfs[kUpdates], key, record);
  batch.Put(impl_->cfs[kUpdateBlobs], key, AsSlice(blob));
  batch.Put(impl_->cfs[kAccepted], update.idempotency_id, record);
  batch.Put(impl_->cfs[kDefault], kOpenRoundKey, open_round.dump());
  return FromRocks(
      impl_->db->Write(impl_->SyncWrite(), &batch),
      "storing the update of " + update.client_id + " for round " + std::to_string(update.round));
}

Status Store::ForEachUpdate(
    uint64_t round, const std::function<Status(const UpdateRecord&, std::vector<uint8_t>)>& fn) {
  const std::string prefix = VersionKey(round);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kUpdates]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(UpdateRecord r, UpdateFromJson(it->value().ToString()));
    std::string blob;
    FEDGE_RETURN_IF_ERROR(FromRocks(
        impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kUpdateBlobs], it->key(), &blob),
        "reading the update blob of " + r.client_id + " for round " + std::to_string(round)));
    std::vector<uint8_t> bytes(blob.begin(), blob.end());
    blob.clear();
    blob.shrink_to_fit();
    FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(r.blob_digest_hex));
    if (shared::Sha256(bytes) != digest) {
      return Status::Corruption("stored update of " + r.client_id + " for round " +
                                std::to_string(round) + " does not match its digest");
    }
    FEDGE_RETURN_IF_ERROR(fn(r, std::move(bytes)));
  }
  return FromRocks(it->status(), "listing the updates of round " + std::to_string(round));
}

Result<std::optional<UpdateRecord>> Store::AcceptedUpdate(const std::string& idempotency_id) {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kAccepted], idempotency_id, &value);
  if (s.IsNotFound()) return std::optional<UpdateRecord>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading accepted update " + idempotency_id));
  FEDGE_ASSIGN_OR_RETURN(UpdateRecord r, UpdateFromJson(value));
  return std::optional<UpdateRecord>(std::move(r));
}

Status Store::CommitRound(const ModelRecord& record, const std::vector<uint8_t>& blob,
                          const json& open_round) {
  std::string existing;
  if (impl_->db
          ->Get(rocksdb::ReadOptions(), impl_->cfs[kModels], VersionKey(record.version), &existing)
          .ok()) {
    return Status::AlreadyExists("model version " + std::to_string(record.version) +
                                 " already exists");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kModels], VersionKey(record.version), ToJson(record).dump());
  batch.Put(impl_->cfs[kBlobs], AsSlice(digest),
            rocksdb::Slice(reinterpret_cast<const char*>(blob.data()), blob.size()));
  batch.Put(impl_->cfs[kDefault], kHeadKey, VersionKey(record.version));
  batch.Put(impl_->cfs[kDefault], kOpenRoundKey, open_round.dump());
  const std::string begin = VersionKey(record.round), end = VersionKey(record.round + 1);
  batch.DeleteRange(impl_->cfs[kUpdates], begin, end);
  batch.DeleteRange(impl_->cfs[kUpdateBlobs], begin, end);
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "committing round " + std::to_string(record.round));
}

Status Store::DiscardRoundUpdates(uint64_t round, const json& open_round) {
  rocksdb::WriteBatch batch;
  const std::string begin = VersionKey(round), end = VersionKey(round + 1);
  batch.DeleteRange(impl_->cfs[kUpdates], begin, end);
  batch.DeleteRange(impl_->cfs[kUpdateBlobs], begin, end);
  batch.Put(impl_->cfs[kDefault], kOpenRoundKey, open_round.dump());
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "discarding the updates of round " + std::to_string(round));
}

Status Store::FinishRound(uint64_t round, const json& summary) {
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kRounds], VersionKey(round), summary.dump());
  batch.Delete(impl_->cfs[kDefault], kOpenRoundKey);
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "finishing round " + std::to_string(round));
}

Result<std::vector<json>> Store::ListRounds() {
  std::vector<json> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kRounds]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(json j, JsonFromText(it->value().ToString(), "round summary"));
    out.push_back(std::move(j));
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing rounds"));
  return out;
}

Result<std::optional<uint64_t>> Store::TargetRound() {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kDefault], kTargetRoundKey, &value);
  if (s.IsNotFound()) return std::optional<uint64_t>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading the target round"));
  try {
    return std::optional<uint64_t>(std::stoull(value));
  } catch (const std::exception&) {
    return Status::Corruption("target round record '" + value + "' is not a number");
  }
}

Status Store::PutTargetRound(uint64_t round) {
  return FromRocks(impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kDefault], kTargetRoundKey,
                                  std::to_string(round)),
                   "storing the target round");
}

Status Store::PutRevocation(const RevocationRecord& record) {
  return FromRocks(impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kRevoked], record.client_id,
                                  ToJson(record).dump()),
                   "storing the revocation of " + record.client_id);
}

Result<std::optional<RevocationRecord>> Store::GetRevocation(const std::string& client_id) {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kRevoked], client_id, &value);
  if (s.IsNotFound()) return std::optional<RevocationRecord>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading the revocation of " + client_id));
  FEDGE_ASSIGN_OR_RETURN(RevocationRecord r, RevocationFromJson(value));
  return std::optional<RevocationRecord>(std::move(r));
}

Result<std::vector<RevocationRecord>> Store::ListRevocations() {
  std::vector<RevocationRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kRevoked]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(RevocationRecord r, RevocationFromJson(it->value().ToString()));
    out.push_back(std::move(r));
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing revocations"));
  return out;
}

Status Store::PutDrift(const std::string& key, std::span<const uint8_t> value, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(impl_->db->Put(options, impl_->cfs[kDrift], key, AsSlice(value)),
                   "storing drift record " + key);
}

Result<std::optional<std::vector<uint8_t>>> Store::GetDrift(const std::string& key) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kDrift], key, &value);
  if (s.IsNotFound()) return std::optional<std::vector<uint8_t>>();
  FEDGE_RETURN_IF_ERROR(FromRocks(s, "reading drift record " + key));
  return std::optional<std::vector<uint8_t>>(std::vector<uint8_t>(value.begin(), value.end()));
}

Status Store::ForEachDrift(
    const std::string& prefix,
    const std::function<Status(const std::string&, std::span<const uint8_t>)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kDrift]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice v = it->value();
    FEDGE_RETURN_IF_ERROR(
        fn(it->key().ToString(),
           std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size())));
  }
  return FromRocks(it->status(), "listing drift records " + prefix);
}

Status Store::PutRollout(uint64_t id, const nlohmann::json& rollout) {
  return FromRocks(
      impl_->db->Put(impl_->SyncWrite(), impl_->cfs[kRollouts], VersionKey(id), rollout.dump()),
      "storing rollout " + std::to_string(id));
}

Result<std::vector<nlohmann::json>> Store::ListRollouts() {
  std::vector<nlohmann::json> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kRollouts]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    nlohmann::json j = nlohmann::json::parse(it->value().ToString(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::Corruption("stored rollout " + it->key().ToString() + " is not JSON");
    }
    out.push_back(std::move(j));
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing rollouts"));
  return out;
}

}  // namespace fedge::coordinator
