#pragma once
// The coordinator's durable state in RocksDB: clients, model versions (the registry), model
// blobs, the open round with its accepted updates, round history, revocations, drift state and
// rollouts, one column family per kind of record. Every write that the protocol relies on (an
// accepted update, a new model version) is one synced WriteBatch. Thread-safe (RocksDB is).
// Keys: coordinator/store_keys.h; records and their codecs: coordinator/records/*.h.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/records/drift_records.h"
#include "coordinator/records/open_round.h"
#include "coordinator/records/registry_records.h"
#include "coordinator/records/rollout_record.h"
#include "coordinator/records/round_summary.h"
#include "coordinator/records/standing_record.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace rocksdb {
class Env;
}

namespace fedge::coordinator {

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

  // The open round's record, if a round is open. (`coordinator::OpenRound` names the type
  // inside the class, whose member function has the same name.)
  shared::Result<std::optional<coordinator::OpenRound>> OpenRound();
  shared::Status PutOpenRound(const coordinator::OpenRound& open);
  // Accepts an update durably: the update record, its blob, its idempotency id and the open
  // round's new state in one synced WriteBatch.
  shared::Status AcceptUpdate(const UpdateRecord& update, std::span<const uint8_t> blob,
                              const coordinator::OpenRound& open);
  // The updates accepted into `round`, in key order; `fn` gets each record and its blob.
  shared::Status ForEachUpdate(
      uint64_t round,
      const std::function<shared::Status(const UpdateRecord&, std::vector<uint8_t>)>& fn);
  // The update `client_id` sent under `idempotency_id`, if it was ever accepted (another
  // client's update under the same id is not it).
  shared::Result<std::optional<UpdateRecord>> AcceptedUpdate(const std::string& client_id,
                                                             const std::string& idempotency_id);
  // Forgets the idempotency ids of updates accepted in rounds before `round`: a resend of one
  // of them is then refused like any update for a closed round (which the client drops), so
  // nothing is folded twice. Returns how many were forgotten.
  shared::Result<uint64_t> ForgetAcceptedBefore(uint64_t round);
  // Closes the training phase of `record.round`: stores the new version and its blob, moves
  // the head to it, replaces the open-round state and drops the round's update blobs, in one
  // synced WriteBatch, with the round's new site standings and the defence's revocations.
  shared::Status CommitRound(const ModelRecord& record, const std::vector<uint8_t>& blob,
                             const coordinator::OpenRound& open,
                             const std::vector<SiteStanding>& standings = {},
                             const std::vector<RevocationRecord>& revocations = {});
  // Drops the updates of a failed attempt at `round` and stores the next attempt's state.
  shared::Status DiscardRoundUpdates(uint64_t round, const coordinator::OpenRound& next);
  // Ends a round: stores its summary (the engine's RoundSummary JSON object; records/
  // round_summary.h) and clears the open-round state (one synced batch). InvalidArgument if
  // `summary` is not a JSON object.
  shared::Status FinishRound(uint64_t round, const nlohmann::json& summary);
  shared::Result<std::vector<nlohmann::json>> ListRounds();  // by round, without record_version
  // The number of rounds to run in total (set by `fedgectl round start`), if ever set.
  shared::Result<std::optional<uint64_t>> TargetRound();
  shared::Status PutTargetRound(uint64_t round);

  shared::Status PutRevocation(const RevocationRecord& record);
  shared::Result<std::optional<RevocationRecord>> GetRevocation(const std::string& client_id);
  shared::Result<std::vector<RevocationRecord>> ListRevocations();

  // Sites' standings under the defence (coordinator/site_defence.h), synced.
  shared::Status PutStanding(const SiteStanding& standing);
  shared::Result<std::optional<SiteStanding>> GetStanding(const std::string& client_id);
  shared::Result<std::vector<SiteStanding>> ListStandings();  // by client id

  // Drift state (coordinator/drift_policy.h). A client's drift state is written unsynced
  // when `sync` is false (a crash may lose its latest window: the next report restores it), so
  // the per-window writes do not wait for the disk on the engine's strand; campaigns and
  // reference profiles are synced.
  shared::Status PutDriftClient(const ClientDrift& state, bool sync = false);
  shared::Result<std::vector<ClientDrift>> ListDriftClients();  // by client id
  shared::Status PutCampaign(const Campaign& campaign);
  shared::Result<std::vector<Campaign>> ListCampaigns();  // by id
  // Model `version`'s merged reference profile: a DriftSummary FlatBuffer
  // (drift::EncodeSummary), stored as given; versioned by its FlatBuffers schema.
  shared::Status PutReferenceProfile(uint64_t version, std::span<const uint8_t> summary);
  shared::Result<std::optional<std::vector<uint8_t>>> ReferenceProfile(uint64_t version);

  // Rollouts of signed releases (coordinator/rollout.h), by id, synced.
  shared::Status PutRollout(const Rollout& rollout);
  shared::Result<std::vector<Rollout>> ListRollouts();  // by id

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedge::coordinator
