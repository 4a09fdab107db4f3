#pragma once
// The coordinator's durable state in RocksDB: clients, model versions (the registry), model
// blobs, the open round with its accepted updates, round history and revocations, one column
// family per kind of record. Every write that the protocol relies on (an accepted update, a new
// model version) is one synced WriteBatch. Thread-safe (RocksDB is).

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace rocksdb {
class Env;
}

namespace fedge::coordinator {

struct ClientRecord {
  std::string id;
  std::string fingerprint;  // SHA-256 of the certificate (hex)
  uint64_t first_seen_ms = 0;
  uint64_t last_seen_ms = 0;
  uint64_t train_examples = 0;
  uint64_t eval_examples = 0;
  std::vector<uint64_t> class_counts;
  uint64_t updates_accepted = 0;
};

struct Contribution {
  std::string client_id;
  uint64_t examples = 0;
};

struct ModelRecord {
  uint64_t version = 0;
  std::optional<uint64_t> parent;
  uint64_t round = 0;
  std::string arch;
  std::string digest_hex;
  uint64_t size_bytes = 0;
  uint64_t created_ms = 0;
  std::vector<Contribution> contributors;
  uint64_t total_examples = 0;
  nlohmann::json metrics = nlohmann::json::object();
  std::string origin = "round";  // "initial", "round", "import" or "prune"
  bool blob_deleted = false;     // blob removed by the retention policy; the record stays
};

// An update accepted into the open round (its blob is stored beside it).
struct UpdateRecord {
  uint64_t round = 0;
  std::string client_id;
  uint64_t task_id = 0;
  std::string idempotency_id;
  uint64_t examples = 0;
  double loss = 0;  // client-reported mean training loss (NaN if not reported)
  std::string blob_digest_hex;
  uint64_t received_ms = 0;
};

struct RevocationRecord {
  std::string client_id;
  std::string fingerprint;  // of the certificate known when it was revoked (may be empty)
  std::string reason;
  std::string revoked_by;
  uint64_t revoked_ms = 0;
};

nlohmann::json ToJson(const ClientRecord& r);
nlohmann::json ToJson(const ModelRecord& r);
// Corruption naming the missing or mistyped field.
shared::Result<ModelRecord> ModelRecordFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const UpdateRecord& r);
nlohmann::json ToJson(const RevocationRecord& r);

class Store {
 public:
  // Opens (creating if missing) the database under `dir`. `env` (not owned; must outlive the
  // store) replaces RocksDB's default environment, e.g. to inject disk faults in tests
  // (shared/storage/fault_env.h); null is the default environment.
  // After a failed write the database refuses further writes (each returns IOError) until it is
  // reopened: what reached the disk is then all of a batch or none of it.
  static shared::Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     rocksdb::Env* env = nullptr);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  shared::Status PutClient(const ClientRecord& record);
  shared::Result<std::optional<ClientRecord>> GetClient(const std::string& id);
  shared::Result<std::vector<ClientRecord>> ListClients();

  // Stores a model version and its blob in one synced WriteBatch, and makes it the head if
  // `make_head`. AlreadyExists if the version exists.
  shared::Status PutModel(const ModelRecord& record, const std::vector<uint8_t>& blob,
                          bool make_head = false);
  // Replaces a version's metrics (synced).
  shared::Status UpdateModelMetrics(uint64_t version, const nlohmann::json& metrics);
  shared::Result<ModelRecord> GetModel(uint64_t version);
  shared::Result<std::optional<ModelRecord>> LatestModel();
  shared::Result<std::vector<ModelRecord>> ListModels();
  // Replaces a version's record (metadata only; the blob is untouched).
  shared::Status PutModelRecord(const ModelRecord& record);
  // NotFound if absent; Corruption if the stored bytes do not hash to `digest`.
  shared::Result<std::vector<uint8_t>> GetBlob(const shared::Digest& digest);
  bool HasBlob(const shared::Digest& digest);
  shared::Status DeleteBlob(const shared::Digest& digest);

  // The version rounds train from (not necessarily the highest: imports do not move it).
  shared::Result<std::optional<uint64_t>> Head();

  // The open round's state document (engine-defined JSON), if a round is open.
  shared::Result<std::optional<nlohmann::json>> OpenRound();
  shared::Status PutOpenRound(const nlohmann::json& state);
  // Accepts an update durably: the update record, its blob, its idempotency id and the open
  // round's new state in one synced WriteBatch.
  shared::Status AcceptUpdate(const UpdateRecord& update, std::span<const uint8_t> blob,
                              const nlohmann::json& open_round);
  // The updates accepted into `round`, in key order; `fn` gets each record and its blob.
  shared::Status ForEachUpdate(
      uint64_t round,
      const std::function<shared::Status(const UpdateRecord&, std::vector<uint8_t>)>& fn);
  // The round an idempotency id was accepted in, if ever.
  shared::Result<std::optional<UpdateRecord>> AcceptedUpdate(const std::string& idempotency_id);
  // Closes the training phase of `record.round`: stores the new version and its blob, moves
  // the head to it, replaces the open-round state and drops the round's update blobs, in one
  // synced WriteBatch.
  shared::Status CommitRound(const ModelRecord& record, const std::vector<uint8_t>& blob,
                             const nlohmann::json& open_round);
  // Drops the updates of a failed attempt at `round` and stores the next attempt's state.
  shared::Status DiscardRoundUpdates(uint64_t round, const nlohmann::json& open_round);
  // Ends a round: stores its summary and clears the open-round state (one synced batch).
  shared::Status FinishRound(uint64_t round, const nlohmann::json& summary);
  shared::Result<std::vector<nlohmann::json>> ListRounds();
  // The number of rounds to run in total (set by `fedgectl round start`), if ever set.
  shared::Result<std::optional<uint64_t>> TargetRound();
  shared::Status PutTargetRound(uint64_t round);

  shared::Status PutRevocation(const RevocationRecord& record);
  shared::Result<std::optional<RevocationRecord>> GetRevocation(const std::string& client_id);
  shared::Result<std::vector<RevocationRecord>> ListRevocations();

  // Drift state (coordinator/drift_policy.h), synced: "client/<id>" (a client's drift state,
  // JSON), "campaign/<20-digit id>" (a retraining campaign, JSON), "profile/<20-digit version>"
  // (a version's reference profile, a DriftSummary FlatBuffer).
  // `sync` = false for records a crash may lose (a client's latest window: the next report
  // restores it), so the per-window writes do not wait for the disk on the engine's strand.
  shared::Status PutDrift(const std::string& key, std::span<const uint8_t> value, bool sync = true);
  shared::Result<std::optional<std::vector<uint8_t>>> GetDrift(const std::string& key);
  // Rollouts of signed releases (coordinator/rollout.h), JSON by id, synced.
  shared::Status PutRollout(uint64_t id, const nlohmann::json& rollout);
  shared::Result<std::vector<nlohmann::json>> ListRollouts();

  // Every record whose key starts with `prefix`, in key order.
  shared::Status ForEachDrift(
      const std::string& prefix,
      const std::function<shared::Status(const std::string&, std::span<const uint8_t>)>& fn);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedge::coordinator
