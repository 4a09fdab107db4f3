#include "coordinator/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cmath>
#include <filesystem>

#include "coordinator/store_keys.h"

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
  kDrift,        // drift state: client/<id>, campaign/<id>, profile/<version>
  kRollouts,     // rollout id -> Rollout (records/rollout_record.h)
  kStanding,     // client id -> SiteStanding (records/standing_record.h)
  kNumCf
};
const char* const kCfNames[kNumCf] = {"default", "clients",      "models",   "blobs",
                                      "updates", "update_blobs", "accepted", "rounds",
                                      "revoked", "drift",        "rollouts", "standing"};
rocksdb::Slice AsSlice(std::span<const uint8_t> bytes) {
  return rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

rocksdb::Slice AsSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string_view AsView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

}  // namespace

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
  // The value under `key`, or nullopt if there is none.
  Result<std::optional<std::string>> Get(Cf cf, std::string_view key, const std::string& what) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cfs[cf], AsSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    FEDGE_RETURN_IF_ERROR(FromRocks(s, what));
    return std::optional<std::string>(std::move(value));
  }
  // Decodes every value of `cf` whose key starts with `prefix`, in key order.
  template <typename T>
  Result<std::vector<T>> List(Cf cf, std::string_view prefix, Result<T> (*decode)(std::string_view),
                              const std::string& what) {
    std::vector<T> out;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[cf]));
    for (it->Seek(AsSlice(prefix)); it->Valid() && it->key().starts_with(AsSlice(prefix));
         it->Next()) {
      FEDGE_ASSIGN_OR_RETURN(T r, decode(AsView(it->value())));
      out.push_back(std::move(r));
    }
    FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), what));
    return out;
  }
  Status Put(Cf cf, std::string_view key, std::string_view value, const std::string& what,
             bool sync = true) {
    rocksdb::WriteOptions options;
    options.sync = sync;
    return FromRocks(db->Put(options, cfs[cf], AsSlice(key), AsSlice(value)), what);
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

// Not synced: a client record is bookkeeping (first and last seen, counts) written on every
// Hello and disconnect, and a synced write there let 100 Hellos a second stall the engine's
// strand (~2.5 ms each). The write is in the WAL before it returns, so a crashed process loses
// nothing; a power cut may lose the newest "last seen".
Status Store::PutClient(const ClientRecord& record) {
  return impl_->Put(kClients, keys::ClientKey(record.id), ToJson(record).dump(),
                    "writing client " + record.id, /*sync=*/false);
}

Result<std::optional<ClientRecord>> Store::GetClient(const std::string& id) {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kClients, keys::ClientKey(id), "reading client " + id));
  if (!value) return std::optional<ClientRecord>();
  FEDGE_ASSIGN_OR_RETURN(ClientRecord r, DecodeClientRecord(*value));
  return std::optional<ClientRecord>(std::move(r));
}

Result<std::vector<ClientRecord>> Store::ListClients() {
  return impl_->List<ClientRecord>(kClients, "", &DecodeClientRecord, "listing clients");
}

Status Store::PutModel(const ModelRecord& record, const std::vector<uint8_t>& blob,
                       bool make_head) {
  FEDGE_ASSIGN_OR_RETURN(
      std::optional<std::string> existing,
      impl_->Get(kModels, keys::ModelKey(record.version), "reading model version"));
  if (existing) {
    return Status::AlreadyExists("model version " + std::to_string(record.version) +
                                 " already exists");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kModels], keys::ModelKey(record.version), ToJson(record).dump());
  batch.Put(impl_->cfs[kBlobs], keys::BlobKey(digest), AsSlice(blob));
  if (make_head) {
    batch.Put(impl_->cfs[kDefault], AsSlice(keys::kHead), keys::BigEndian64(record.version));
  }
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "storing model version " + std::to_string(record.version));
}

Status Store::PutModelRecord(const ModelRecord& record) {
  return impl_->Put(kModels, keys::ModelKey(record.version), ToJson(record).dump(),
                    "updating model version " + std::to_string(record.version));
}

Status Store::UpdateModelMetrics(uint64_t version, const json& metrics) {
  FEDGE_ASSIGN_OR_RETURN(ModelRecord r, GetModel(version));
  r.metrics = metrics;
  return impl_->Put(kModels, keys::ModelKey(version), ToJson(r).dump(),
                    "updating metrics of version " + std::to_string(version));
}

Result<ModelRecord> Store::GetModel(uint64_t version) {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kModels, keys::ModelKey(version),
                                    "reading model version " + std::to_string(version)));
  if (!value) return Status::NotFound("no model version " + std::to_string(version));
  return DecodeModelRecord(*value);
}

Result<std::optional<ModelRecord>> Store::LatestModel() {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kModels]));
  it->SeekToLast();
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "reading the latest model"));
  if (!it->Valid()) return std::optional<ModelRecord>();
  FEDGE_ASSIGN_OR_RETURN(ModelRecord r, DecodeModelRecord(AsView(it->value())));
  return std::optional<ModelRecord>(std::move(r));
}

Result<std::vector<ModelRecord>> Store::ListModels() {
  return impl_->List<ModelRecord>(kModels, "", &DecodeModelRecord, "listing models");
}

Result<std::vector<uint8_t>> Store::GetBlob(const shared::Digest& digest) {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kBlobs, keys::BlobKey(digest), "reading blob"));
  if (!value) return Status::NotFound("no blob " + shared::ToHex(digest));
  std::vector<uint8_t> blob(value->begin(), value->end());
  if (shared::Sha256(blob) != digest) {
    return Status::Corruption("stored blob " + shared::ToHex(digest) +
                              " does not match its digest");
  }
  return blob;
}

bool Store::HasBlob(const shared::Digest& digest) {
  std::string value;
  return impl_->db->Get(rocksdb::ReadOptions(), impl_->cfs[kBlobs], keys::BlobKey(digest), &value)
      .ok();
}

Status Store::DeleteBlob(const shared::Digest& digest) {
  return FromRocks(impl_->db->Delete(impl_->SyncWrite(), impl_->cfs[kBlobs], keys::BlobKey(digest)),
                   "deleting blob " + shared::ToHex(digest));
}

Result<std::optional<uint64_t>> Store::Head() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kDefault, keys::kHead, "reading the head version"));
  if (!value) return std::optional<uint64_t>();
  std::optional<uint64_t> v = keys::ParseBigEndian64(*value);
  if (!v) return Status::Corruption("head version record has the wrong size");
  return v;
}

Result<std::optional<OpenRound>> Store::OpenRound() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kDefault, keys::kOpenRound, "reading the open round"));
  if (!value) return std::optional<coordinator::OpenRound>();
  FEDGE_ASSIGN_OR_RETURN(coordinator::OpenRound open, DecodeOpenRound(*value));
  return std::optional<coordinator::OpenRound>(std::move(open));
}

Status Store::PutOpenRound(const coordinator::OpenRound& open) {
  return impl_->Put(kDefault, keys::kOpenRound, EncodeOpenRound(open), "storing the open round");
}

Status Store::AcceptUpdate(const UpdateRecord& update, std::span<const uint8_t> blob,
                           const coordinator::OpenRound& open) {
  rocksdb::WriteBatch batch;
  const std::string key = keys::UpdateKey(update.round, update.client_id);
  const std::string record = ToJson(update).dump();
  batch.Put(impl_->cfs[kUpdates], key, record);
  batch.Put(impl_->cfs[kUpdateBlobs], key, AsSlice(blob));
  batch.Put(impl_->cfs[kAccepted], keys::AcceptedKey(update.client_id, update.idempotency_id),
            record);
  batch.Put(impl_->cfs[kDefault], AsSlice(keys::kOpenRound), EncodeOpenRound(open));
  return FromRocks(
      impl_->db->Write(impl_->SyncWrite(), &batch),
      "storing the update of " + update.client_id + " for round " + std::to_string(update.round));
}

Status Store::ForEachUpdate(
    uint64_t round, const std::function<Status(const UpdateRecord&, std::vector<uint8_t>)>& fn) {
  const std::string prefix = keys::UpdatesBegin(round);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kUpdates]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(UpdateRecord r, DecodeUpdateRecord(AsView(it->value())));
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

Result<std::optional<UpdateRecord>> Store::AcceptedUpdate(const std::string& client_id,
                                                          const std::string& idempotency_id) {
  const std::string what = "reading accepted update " + idempotency_id + " of " + client_id;
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kAccepted, keys::AcceptedKey(client_id, idempotency_id), what));
  if (!value) {
    // A registry written before ids were per client: the id alone, if it was this client's.
    FEDGE_ASSIGN_OR_RETURN(value,
                           impl_->Get(kAccepted, keys::LegacyAcceptedKey(idempotency_id), what));
  }
  if (!value) return std::optional<UpdateRecord>();
  FEDGE_ASSIGN_OR_RETURN(UpdateRecord r, DecodeUpdateRecord(*value));
  if (r.client_id != client_id) return std::optional<UpdateRecord>();
  return std::optional<UpdateRecord>(std::move(r));
}

Result<uint64_t> Store::ForgetAcceptedBefore(uint64_t round) {
  rocksdb::WriteBatch batch;
  uint64_t forgotten = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kAccepted]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    FEDGE_ASSIGN_OR_RETURN(UpdateRecord r, DecodeUpdateRecord(AsView(it->value())));
    if (r.round >= round) continue;
    batch.Delete(impl_->cfs[kAccepted], it->key());
    ++forgotten;
  }
  FEDGE_RETURN_IF_ERROR(FromRocks(it->status(), "listing accepted updates"));
  if (forgotten == 0) return forgotten;
  FEDGE_RETURN_IF_ERROR(
      FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                "forgetting the idempotency ids of rounds before " + std::to_string(round)));
  return forgotten;
}

Status Store::CommitRound(const ModelRecord& record, const std::vector<uint8_t>& blob,
                          const coordinator::OpenRound& open,
                          const std::vector<SiteStanding>& standings,
                          const std::vector<RevocationRecord>& revocations) {
  FEDGE_ASSIGN_OR_RETURN(
      std::optional<std::string> existing,
      impl_->Get(kModels, keys::ModelKey(record.version), "reading model version"));
  if (existing) {
    return Status::AlreadyExists("model version " + std::to_string(record.version) +
                                 " already exists");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kModels], keys::ModelKey(record.version), ToJson(record).dump());
  batch.Put(impl_->cfs[kBlobs], keys::BlobKey(digest), AsSlice(blob));
  batch.Put(impl_->cfs[kDefault], AsSlice(keys::kHead), keys::BigEndian64(record.version));
  batch.Put(impl_->cfs[kDefault], AsSlice(keys::kOpenRound), EncodeOpenRound(open));
  const std::string begin = keys::UpdatesBegin(record.round);
  const std::string end = keys::UpdatesBegin(record.round + 1);
  batch.DeleteRange(impl_->cfs[kUpdates], begin, end);
  batch.DeleteRange(impl_->cfs[kUpdateBlobs], begin, end);
  for (const SiteStanding& st : standings) {
    batch.Put(impl_->cfs[kStanding], keys::ClientKey(st.client_id), EncodeStanding(st));
  }
  for (const RevocationRecord& r : revocations) {
    batch.Put(impl_->cfs[kRevoked], keys::ClientKey(r.client_id), ToJson(r).dump());
  }
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "committing round " + std::to_string(record.round));
}

Status Store::DiscardRoundUpdates(uint64_t round, const coordinator::OpenRound& next) {
  rocksdb::WriteBatch batch;
  const std::string begin = keys::UpdatesBegin(round), end = keys::UpdatesBegin(round + 1);
  batch.DeleteRange(impl_->cfs[kUpdates], begin, end);
  batch.DeleteRange(impl_->cfs[kUpdateBlobs], begin, end);
  batch.Put(impl_->cfs[kDefault], AsSlice(keys::kOpenRound), EncodeOpenRound(next));
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "discarding the updates of round " + std::to_string(round));
}

Status Store::FinishRound(uint64_t round, const json& summary) {
  if (!summary.is_object()) return Status::InvalidArgument("a round summary is a JSON object");
  rocksdb::WriteBatch batch;
  batch.Put(impl_->cfs[kRounds], keys::RoundKey(round), EncodeRoundSummary(summary));
  batch.Delete(impl_->cfs[kDefault], AsSlice(keys::kOpenRound));
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch),
                   "finishing round " + std::to_string(round));
}

Result<std::vector<json>> Store::ListRounds() {
  return impl_->List<json>(kRounds, "", &DecodeRoundSummary, "listing rounds");
}

Result<std::optional<uint64_t>> Store::TargetRound() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         impl_->Get(kDefault, keys::kTargetRound, "reading the target round"));
  if (!value) return std::optional<uint64_t>();
  try {
    return std::optional<uint64_t>(std::stoull(*value));
  } catch (const std::exception&) {
    return Status::Corruption("target round record '" + *value + "' is not a number");
  }
}

Status Store::PutTargetRound(uint64_t round) {
  return impl_->Put(kDefault, keys::kTargetRound, std::to_string(round),
                    "storing the target round");
}

Status Store::PutRevocation(const RevocationRecord& record) {
  return impl_->Put(kRevoked, keys::ClientKey(record.client_id), ToJson(record).dump(),
                    "storing the revocation of " + record.client_id);
}

Result<std::optional<RevocationRecord>> Store::GetRevocation(const std::string& client_id) {
  FEDGE_ASSIGN_OR_RETURN(
      std::optional<std::string> value,
      impl_->Get(kRevoked, keys::ClientKey(client_id), "reading the revocation of " + client_id));
  if (!value) return std::optional<RevocationRecord>();
  FEDGE_ASSIGN_OR_RETURN(RevocationRecord r, DecodeRevocationRecord(*value));
  return std::optional<RevocationRecord>(std::move(r));
}

Result<std::vector<RevocationRecord>> Store::ListRevocations() {
  return impl_->List<RevocationRecord>(kRevoked, "", &DecodeRevocationRecord,
                                       "listing revocations");
}

Status Store::PutStanding(const SiteStanding& standing) {
  return impl_->Put(kStanding, keys::ClientKey(standing.client_id), EncodeStanding(standing),
                    "storing the standing of " + standing.client_id);
}

Result<std::optional<SiteStanding>> Store::GetStanding(const std::string& client_id) {
  FEDGE_ASSIGN_OR_RETURN(
      std::optional<std::string> value,
      impl_->Get(kStanding, keys::ClientKey(client_id), "reading the standing of " + client_id));
  if (!value) return std::optional<SiteStanding>();
  FEDGE_ASSIGN_OR_RETURN(SiteStanding s, DecodeStanding(*value));
  return std::optional<SiteStanding>(std::move(s));
}

Result<std::vector<SiteStanding>> Store::ListStandings() {
  return impl_->List<SiteStanding>(kStanding, "", &DecodeStanding, "listing site standings");
}

Status Store::PutDriftClient(const ClientDrift& state, bool sync) {
  return impl_->Put(kDrift, keys::DriftClientKey(state.client_id), EncodeClientDrift(state),
                    "storing the drift state of " + state.client_id, sync);
}

Result<std::vector<ClientDrift>> Store::ListDriftClients() {
  return impl_->List<ClientDrift>(kDrift, keys::kDriftClientPrefix, &DecodeClientDrift,
                                  "listing drift states");
}

Status Store::PutCampaign(const Campaign& campaign) {
  return impl_->Put(kDrift, keys::CampaignKey(campaign.id), EncodeCampaign(campaign),
                    "storing campaign " + std::to_string(campaign.id));
}

Result<std::vector<Campaign>> Store::ListCampaigns() {
  return impl_->List<Campaign>(kDrift, keys::kCampaignPrefix, &DecodeCampaign, "listing campaigns");
}

Status Store::PutReferenceProfile(uint64_t version, std::span<const uint8_t> summary) {
  const std::string_view bytes(reinterpret_cast<const char*>(summary.data()), summary.size());
  return impl_->Put(kDrift, keys::ReferenceProfileKey(version), bytes,
                    "storing the reference profile of version " + std::to_string(version));
}

Result<std::optional<std::vector<uint8_t>>> Store::ReferenceProfile(uint64_t version) {
  FEDGE_ASSIGN_OR_RETURN(
      std::optional<std::string> value,
      impl_->Get(kDrift, keys::ReferenceProfileKey(version),
                 "reading the reference profile of version " + std::to_string(version)));
  if (!value) return std::optional<std::vector<uint8_t>>();
  return std::optional<std::vector<uint8_t>>(std::vector<uint8_t>(value->begin(), value->end()));
}

Status Store::PutRollout(const Rollout& rollout) {
  return impl_->Put(kRollouts, keys::RolloutKey(rollout.id), EncodeRollout(rollout),
                    "storing rollout " + std::to_string(rollout.id));
}

Result<std::vector<Rollout>> Store::ListRollouts() {
  return impl_->List<Rollout>(kRollouts, "", &DecodeRollout, "listing rollouts");
}

}  // namespace fedge::coordinator
