#pragma once
// Staged rollout of signed releases. The coordinator serves the release repository (written by
// `fedgectl release publish`; coordinator/release_tools.h) to its clients over the mutual-TLS
// channel: a ReleaseOffer carries the metadata files, the artifact travels as a blob. A
// deployment goes to a canary cohort first; it is promoted to every client when each canary
// client reported a healthy install and the cohort's accuracy on its held-out data did not fall
// by more than release.max_accuracy_drop, and rolled back automatically otherwise (a failed
// install, a regression, or no decision by release.canary_timeout_seconds). Each step is stored
// in the registry (column family "rollouts") and listed by `fedgectl rollouts`.
//
// Trust: the coordinator decides who installs what (like Uptane's director); the signed
// metadata decides what is authentic, and clients verify every file themselves. The coordinator
// holds no targets key. A rollback tells the canary clients to return to the release they ran
// before (their other A/B slot); their installed release counter does not go down, so nobody
// can push an older release to them through the coordinator.
//
// Thread-safety: every public method is thread-safe (one mutex); messages go out through
// Peer's Send* calls, which only queue.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/metrics.h"
#include "coordinator/records/rollout_record.h"
#include "coordinator/round_engine.h"
#include "coordinator/store.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::coordinator {

// A client's answer to a ReleaseOffer or ReleaseRevert (wire InstallReport).
struct InstallReportIn {
  uint64_t rollout_id = 0;
  std::string target;
  uint64_t counter = 0;
  bool installed = false;
  bool reverted = false;
  std::string error;
  double median_latency_ms = 0;
  uint64_t eval_examples = 0;
  double accuracy = 0;
  double previous_accuracy = 0;
  std::string previous;
  std::string active_target;  // what the client runs now ("" = no release)
  uint64_t active_counter = 0;
};

nlohmann::json ToJson(const InstallReportIn& r);

// Rollout (the stored record) and its codec: coordinator/records/rollout_record.h.

// The display form of a rollout (fedgectl rollouts, admin answers); coordinator/rollout_view.cc.
nlohmann::json ToJson(const Rollout& r);

class RolloutManager {
 public:
  using Clock = std::function<uint64_t()>;  // Unix milliseconds
  RolloutManager(ReleaseSettings settings, Store* store,
                 std::shared_ptr<CoordinatorMetrics> metrics, Clock clock);

  // Loads the stored rollouts and the artifacts of the fleet's and the canary's releases from
  // the repository. Not thread-safe: call once before sessions start.
  shared::Status Init();
  bool enabled() const { return !settings_.repo.empty(); }

  // Admin commands. Deploy `target` (a target name, or a release counter as digits) to
  // `canary_percent` of the registered, unrevoked clients (at least one), or to every client
  // at once when it is >= 100. FailedPrecondition while another rollout is in canary, when the
  // repository's metadata is not signed by every role's threshold or its timestamp expired;
  // InvalidArgument for an unknown target or a counter not above the fleet's release.
  shared::Result<nlohmann::json> Deploy(const std::string& target, double canary_percent);
  // Promotes / rolls back the rollout in canary (FailedPrecondition if there is none; a
  // promoted release can also be rolled back: the fleet returns to the release before it).
  shared::Result<nlohmann::json> Promote(const std::string& reason);
  shared::Result<nlohmann::json> Rollback(const std::string& reason);
  // Every rollout, newest first, with its steps and reports, and the fleet's release.
  nlohmann::json List() const;

  // Sessions. `active_target`/`active_counter` are the release the client runs (its Hello).
  void Connected(std::shared_ptr<Peer> peer, const std::string& active_target,
                 uint64_t active_counter);
  void Disconnected(const std::shared_ptr<Peer>& peer);
  // Records a client's report; may promote or roll back the canary. InvalidArgument for a
  // report that names no rollout this coordinator made.
  shared::Status Report(const std::shared_ptr<Peer>& peer, const InstallReportIn& report);
  // The artifact with this SHA-256, if it belongs to a release being deployed; else null.
  std::shared_ptr<const std::vector<uint8_t>> Artifact(const shared::Digest& digest) const;
  // Decides a canary past its timeout and re-signs the timestamp when it is due (with
  // release.online_keys). Call every few seconds.
  void Tick();

  // The rollouts for the status page (coordinator/status_page.h StatusSources::releases), newest
  // first: version (target and counter), model_version (registry version it was built from),
  // stage, state, cohort, installed, failed, updated_ms.
  nlohmann::json StatusRows() const;

 private:
  struct PeerState {
    std::shared_ptr<Peer> peer;
    std::string active_target;
    uint64_t active_counter = 0;
    uint64_t offered = 0;   // rollout id offered on this session
    uint64_t reverted = 0;  // rollout id a revert was sent for on this session
  };
  // REQUIRES: mu_ held.
  Rollout* Current();
  const Rollout* Fleet() const;  // the newest promoted rollout
  shared::Status Persist(const Rollout& r);
  void Step(Rollout& r, const std::string& action, const std::string& detail);
  shared::Status LoadRelease(Rollout& r);
  shared::Status LoadMetadataFiles();
  // Adds `r` (deployed; its first step says `detail`), supersedes the fleet's release if `r`
  // is promoted at once, and offers it. Returns its display form.
  nlohmann::json Start(Rollout r, const std::string& detail);
  // Sends whatever the client needs: a revert of a rolled-back release it runs, or an offer
  // of the release assigned to it.
  void Reconcile(PeerState& p);
  void SendOffer(PeerState& p, const Rollout& r, bool evaluate);
  void SendRevert(PeerState& p, const Rollout& r, const std::string& reason);
  void MaybeDecide(Rollout& r, bool timed_out);
  void PromoteLocked(Rollout& r, const std::string& reason);
  void RollbackLocked(Rollout& r, const std::string& reason);
  void RefreshTimestampLocked();
  // Updates the metrics and drops the artifacts no rollout serves any more.
  void UpdateMetrics();

  ReleaseSettings settings_;
  Store* store_;
  std::shared_ptr<CoordinatorMetrics> metrics_;
  Clock clock_;
  mutable std::mutex mu_;
  std::vector<Rollout> rollouts_;  // by id (ids are 1, 2, ...)
  std::map<std::string, PeerState> peers_;
  std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> artifacts_;  // sha256 hex
  std::vector<std::pair<std::string, std::vector<uint8_t>>> metadata_;  // name -> file bytes
  uint64_t last_timestamp_check_ms_ = 0;
};

}  // namespace fedge::coordinator
