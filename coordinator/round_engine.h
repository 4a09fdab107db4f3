#pragma once
// The round engine: samples connected clients, offers train/evaluate tasks, validates and
// folds updates as they arrive (exact FedAvg), finalises a model version per round with its
// lineage, and merges federated evaluation. Lives on one strand; public methods are
// thread-safe (they post to the strand) unless noted.
//
// The engine composes its parts and owns what lies between them (the connected clients, the
// head model, the open round, the round target):
//   RoundSchedule   (round_schedule.h)   sampling, task ids, quorum, deadline, idempotency ids;
//   UpdateIngest    (update_ingest.h)    check, decode, validate, store and fold updates;
//   EvaluationMerge (evaluation_merge.h) evaluation reports merged into the round's metrics;
//   BlobService     (blob_service.h)     model blobs served, the update size limit, stashed
//                                        partial uploads;
//   DriftIntake     (drift_intake.h)     drift reports to the drift policy, reference profiles;
//   PruneIntoNewHead (prune_head.h)      a pruned version as the new head.
// Its state is published as a typed EngineStatus (engine_status.h) after every change.
// round_engine.cc holds the lifecycle and message entry points, round_loop.cc the round loop.
//
// Durability: the open round (sampled clients, task ids, deadline) is stored when it starts;
// every accepted update is stored (synced, with its idempotency id) before it is acknowledged;
// the new model version, the head and the next phase are one synced batch. After a crash,
// Init() resumes the open round: stored updates are folded again (exactly: the aggregate does
// not depend on order), clients that already answered are not asked again, the others get
// their task offered again when they reconnect, and the deadline continues.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/blob_service.h"
#include "coordinator/config.h"
#include "coordinator/drift_intake.h"
#include "coordinator/drift_policy.h"
#include "coordinator/engine_status.h"
#include "coordinator/evaluation_merge.h"
#include "coordinator/fedavg.h"
#include "coordinator/metrics.h"
#include "coordinator/model_init.h"
#include "coordinator/peer.h"
#include "coordinator/prune_head.h"
#include "coordinator/round_schedule.h"
#include "coordinator/store.h"
#include "coordinator/update_ingest.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/crypto/crypto.h"
#include "shared/net/asio.h"
#include "shared/net/blob.h"
#include "shared/net/connection.h"

namespace fedge::coordinator {

struct ClientHello {
  std::string fingerprint;
  uint64_t train_examples = 0;
  uint64_t eval_examples = 0;
  std::vector<uint64_t> class_counts;
};

struct RoundSummary {
  uint64_t round = 0;
  uint64_t model_version = 0;
  std::string model_digest;
  int sampled = 0;
  int updates = 0;
  int rejected = 0;
  uint64_t examples = 0;
  double train_loss = 0;      // example-weighted mean of clients' reported loss
  nlohmann::json evaluation;  // federated evaluation (accuracy, loss, macro_f1, per class)
  double seconds = 0;
  uint64_t bytes_in = 0;  // wire bytes received during the round (incl. evaluation)
  uint64_t bytes_out = 0;
  uint64_t attempt = 0;  // failed attempts before this one
  int resumed = 0;       // times the round was resumed after a coordinator restart
  uint64_t ended_ms = 0;
  // The defence's view of the round (the version's metrics.defence: scores per site, flagged,
  // quarantined, revoked); null when the round was not scored.
  nlohmann::json defence;
  // The version's metrics.aggregation (strategy, multi_krum's selected, the adaptive bound's
  // norm_clipped, the share cap's capped); null for plain FedAvg.
  nlohmann::json aggregation;
};

nlohmann::json ToJson(const RoundSummary& s);

class RoundEngine {
 public:
  // `traffic` (may be null) is read to attribute wire bytes to rounds. `initial_model` makes
  // version 1 from model.arch/seed when the registry is empty.
  RoundEngine(net::any_io_executor strand, Store* store, CoordinatorConfig config,
              std::shared_ptr<shared::TrafficCounters> traffic, InitialModelFn initial_model);
  ~RoundEngine();

  // Loads the head model version (or creates version 1, round 0, from model.arch/seed) and
  // the open round if the coordinator stopped during one. Not thread-safe: call once before
  // Run.
  shared::Status Init();

  void Connected(std::shared_ptr<Peer> peer, ClientHello hello);
  void Disconnected(std::shared_ptr<Peer> peer);
  // Answers the peer with Ack (duplicate), Error (not wanted) or a BlobRequest for the blob.
  void OfferUpload(std::shared_ptr<Peer> peer, UploadIntent intent);
  void SubmitUpdate(std::shared_ptr<Peer> peer, UpdateIn update);
  void SubmitEval(std::shared_ptr<Peer> peer, EvalIn eval);
  // The peer's task `task_id` failed (it said so, or its answer was refused at the wire): if it
  // is the peer's open task, the round stops waiting for it (a training task counts as
  // rejected). Anything else is ignored.
  void TaskFailed(std::shared_ptr<Peer> peer, uint64_t task_id, shared::Status why);
  // A drift-monitor window from a client: recorded by the drift policy, which may start a
  // retraining campaign; a garbage report is answered with an Error and changes nothing.
  void SubmitDriftReport(std::shared_ptr<Peer> peer, DriftReportIn report);
  // Thread-safe. Rounds may start only while permits remain (each fresh round takes one);
  // nullopt (the default) means no limit. Simulations use it to interleave rounds with time.
  void LimitRounds(std::optional<uint64_t> permits);
  // Thread-safe: rounds run up to this round (raised by StartRounds and by campaigns).
  uint64_t target_round() const { return target_atomic_.load(); }
  // Thread-safe: drift reports accepted so far.
  uint64_t drift_reports() const { return drift_.reports(); }
  // Runs `rounds` more rounds after the last one started (durable). Thread-safe.
  void StartRounds(uint64_t rounds, std::function<void(uint64_t target)> done);
  void Stop();
  // Closes every session of a client id (thread-safe; the server's): the defence's
  // revocations (defence.revoke_after) close the site's session with it. REQUIRES: before Run.
  void set_close_client(std::function<void(const std::string&)> close) {
    close_client_ = std::move(close);
  }
  // Thread-safe: lifts the defence's quarantine of `client_id` (by `admin`); it is offered
  // tasks again from the next round, and its flags so far no longer count. `done` gets the
  // new standing as JSON, or NotFound if the site is not quarantined; called on the strand.
  void ClearQuarantine(std::string client_id, std::string admin,
                       std::function<void(shared::Result<nlohmann::json>)> done);
  // Runs `fn` on the engine's strand, serialised with round commits (registry writes).
  void Post(std::function<void()> fn);

  // Structured pruning for federated fine-tuning: prunes registry version `request.version`
  // (ml::PruneChannels, L1 norms of channels) into a smaller network, stores it as a new
  // version and makes it the head, so the rounds that follow (StartRounds) train the pruned
  // architecture. The new record: version = the next free number, parent = request.version,
  // origin "prune", arch = the pruned arch string, round = the head's round, no contributors,
  // metrics {"prune": {"method": "l1_channels", "fraction", "hidden", "from", "from_arch",
  // "parameters_before", "parameters_after", "fine_tune_rounds": 0}}; rounds trained from it
  // carry "prune" forward, counting "fine_tune_rounds". Stored synced (record, blob, head in
  // one batch), then installed as the engine's model.
  // Errors: Unavailable while a round is open (prune after it ends); InvalidArgument for a
  // fraction outside (0, 1) or an arch PruneChannels cannot prune (mobilenet_small); NotFound
  // for an unknown version or one whose blob the retention policy removed; the store's errors.
  // PruneHeadOnStrand REQUIRES: on the engine's strand (e.g. in the round callback, where no
  // round is open). PruneHead is thread-safe: it posts to the strand and calls `done` there.
  shared::Result<ModelRecord> PruneHeadOnStrand(const PruneRequest& request);
  void PruneHead(PruneRequest request, std::function<void(shared::Result<ModelRecord>)> done);
  // Thread-safe, blocking: PruneHead and wait for its result. REQUIRES: not called on a thread
  // that runs the engine's executor (it would wait for itself).
  shared::Result<ModelRecord> PruneHeadAndWait(const PruneRequest& request);

  // Runs rounds up to the target (rounds.count, or as raised by StartRounds); co_spawn on
  // the strand. Returns when stopped, or when the target is reached and `exit_when_done`.
  net::awaitable<void> Run(bool exit_when_done);

  // Thread-safe: an upload interrupted by a disconnect, kept so the client's next session
  // resumes it from its offset. Take returns an inactive assembler if none matches.
  void StashUpload(const std::string& client_id, shared::BlobAssembler upload) {
    blobs_.StashUpload(client_id, std::move(upload));
  }
  shared::BlobAssembler TakeUpload(const std::string& client_id, const shared::Digest& digest) {
    return blobs_.TakeUpload(client_id, digest);
  }

  // Thread-safe: the engine's state as of its last change.
  EngineStatus status() const;
  // Thread-safe: ToJson(status()), for display (`fedgectl status`, reports, tests).
  nlohmann::json Snapshot() const { return ToJson(status()); }

  // Where the engine counts rounds, updates, clients and drift. REQUIRES: before Init().
  void set_metrics(std::shared_ptr<CoordinatorMetrics> metrics);

  // Called on the strand after each completed round (after its evaluation).
  void set_round_callback(std::function<void(const RoundSummary&)> cb) {
    on_round_ = std::move(cb);
  }

  // Thread-safe: the blob of a model this engine serves, or null.
  std::shared_ptr<const std::vector<uint8_t>> ModelBlob(const shared::Digest& digest) const {
    return blobs_.ModelBlob(digest);
  }
  // Thread-safe: the largest update blob accepted (derived from the model size).
  uint64_t max_update_bytes() const { return blobs_.max_update_bytes(); }
  // Thread-safe snapshot of the current model version.
  uint64_t current_version() const { return version_.load(); }
  bool finished() const { return finished_.load(); }
  // The strand Run() must be spawned on.
  net::any_io_executor executor() const { return strand_; }

 private:
  // The open round: its schedule and, once it is evaluated, its evaluation reports. The
  // training aggregate is the UpdateIngest's (opened and closed with this state).
  struct RoundState {
    explicit RoundState(RoundSchedule s) : schedule(std::move(s)) {}
    RoundSchedule schedule;  // who was sampled, who answered, quorum, deadline
    EvaluationMerge eval;
  };
  // When a round started, for its summary.
  struct RoundStart {
    std::chrono::steady_clock::time_point time;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
  };

  // --- round_engine.cc: start-up, clients, messages, status.
  UpdateIngest::Hooks IngestHooks();
  // UpdateIngest::Hooks::example_cap: the connected session's registered training examples x
  // the round's epochs (x kMaxFocusRepeats if the round focuses it on drifted frames).
  uint64_t ExampleCap(const std::string& client_id, uint64_t round) const;
  // All examples (training + held out) the connected session registered: no evaluation of it
  // can count more.
  uint64_t RegisteredExamples(const std::string& client_id) const;
  shared::Status InstallInitialModel();
  shared::Status ResumeRound(const nlohmann::json& open);
  // Makes `schedule` the open round; `training`: its updates are deltas of the head model.
  void OpenRoundState(RoundSchedule schedule, bool training);
  // Ends the open round (no update may be in flight).
  void CloseRound();
  // The open round's number (training or evaluation), if one is open.
  std::optional<uint64_t> OpenRoundNumber() const;
  void PublishSnapshot();
  void OnConnected(const std::shared_ptr<Peer>& peer, ClientHello hello);
  void OnDisconnected(const std::shared_ptr<Peer>& peer);
  // Registered clients as not connected in the metrics, at start-up.
  void InitMetrics();
  void OnEval(const std::shared_ptr<Peer>& peer, const EvalIn& eval);
  void OnDriftReport(const std::shared_ptr<Peer>& peer, const DriftReportIn& report);
  // Raises the round target (durably) to `target`.
  void RaiseTarget(uint64_t target);
  shared::Status InstallModel(const ModelRecord& record, std::vector<uint8_t> blob,
                              shared::TensorBundle state);
  void Wake();
  // Offers a (re)connected client its task of the open round, if it owes one: its training
  // task, or an evaluation task once the evaluation started. REQUIRES: round_ is set.
  void OfferOpenTask(Peer& peer);

  // --- round_defence.cc: the defence's scores, quarantines and revocations (site_defence.h).
  // What a round's scores change, to commit with its model version.
  struct DefenceOutcome {
    std::vector<SiteStanding> standings;        // new standings of the scored sites
    std::vector<RevocationRecord> revocations;  // revoked by this round
    std::vector<std::string> quarantined;       // quarantined by this round
  };
  bool Quarantined(const std::string& client_id) const;
  // Sites quarantined or revoked by the defence: rounds.min_clients and min_fit are lowered by
  // this many (never below 1), so removing a site cannot stall a federation sized to all.
  int RemovedByDefence() const;
  // config_.rounds with min_clients and min_fit lowered by RemovedByDefence().
  RoundSettings QuorumSettings() const;
  // Tells a connected site why it gets no task (Error{PermissionDenied, subject Standing}).
  void TellQuarantined(Peer& peer) const;
  // The round's scores (UpdateIngest::scores) applied to the sites' standings; adds the
  // round's defence view to the version's `metrics` ("defence").
  DefenceOutcome ScoreRound(uint64_t round, nlohmann::json* metrics) const;
  // After the commit: the standings in memory, quarantined sites told, revoked ones closed.
  void ApplyDefence(DefenceOutcome outcome);
  void UpdateDefenceMetrics();

  // --- round_loop.cc: the round loop.
  // REQUIRES: `done` outlives the wait (pass a named local: g++ 12 mishandles temporaries
  // with destructors inside co_await expressions).
  net::awaitable<void> WaitUntil(const std::function<bool()>& done,
                                 std::chrono::steady_clock::time_point deadline);
  // Waits until rounds.min_clients clients are connected (or the engine stops).
  net::awaitable<void> WaitForClients();
  net::awaitable<shared::Status> RunTrainRound(uint64_t round);
  // Samples a fresh round (stored before any offer goes out) and offers its tasks, or offers a
  // resumed round's open tasks again.
  shared::Status OfferTraining(uint64_t round);
  // Finalizes the aggregate into the next model version; stores it with the round's move to
  // evaluation in one batch and installs it.
  net::awaitable<shared::Status> CommitTrainRound(uint64_t round);
  // The next model version's record (without digest and size) from the open round.
  ModelRecord NextModelRecord(uint64_t round, uint64_t version) const;
  // A training attempt failed: its stored updates are dropped and the next attempt (with new
  // task ids) samples afresh.
  void FailAttempt(uint64_t round);
  // After the `failures`th failed attempt of `round`: FailAttempt, then a back-off.
  net::awaitable<void> RetryAfterFailure(uint64_t round, shared::Status failure, int failures);
  RoundStart MarkStart() const;
  RoundSummary StartSummary(uint64_t round) const;
  net::awaitable<void> RunEvaluation(RoundSummary* summary);
  // The round is done: its summary stored, the round closed, the drift policy told,
  // retention applied, metrics and the round callback.
  void CompleteRound(uint64_t round, const RoundStart& start, RoundSummary* summary);
  void ApplyRetentionPolicy();
  TaskOfferOut MakeOffer(uint64_t task_id, uint64_t round, bool train,
                         const std::string& client_id) const;

  net::any_io_executor strand_;
  Store* store_;
  CoordinatorConfig config_;
  std::shared_ptr<shared::TrafficCounters> traffic_;
  InitialModelFn initial_model_;
  net::asio::steady_timer wake_;
  std::function<void(const RoundSummary&)> on_round_;
  std::shared_ptr<CoordinatorMetrics> metrics_ =
      std::make_shared<CoordinatorMetrics>(std::make_shared<shared::MetricsRegistry>());

  // Strand-owned state.
  std::map<std::string, std::shared_ptr<Peer>> connected_;
  std::map<std::string, ClientHello> hellos_;
  std::map<std::string, SiteStanding> standings_;  // by client id, as stored
  std::function<void(const std::string&)> close_client_;
  ModelRecord model_;
  shared::TensorBundle state_;
  shared::Digest model_digest_{};  // of model_'s blob: the base of delta updates
  std::unique_ptr<RoundState> round_;
  uint64_t next_attempt_ = 0;  // attempt number of the next fresh round
  uint64_t target_round_ = 0;
  bool stopped_ = false;
  std::optional<uint64_t> round_permits_;
  DriftIntake drift_;

  // Shared with other threads.
  BlobService blobs_;
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> target_atomic_{0};
  mutable std::mutex status_mu_;
  EngineStatus status_;  // guarded by status_mu_
  // Last member: destroyed (its ingest pool joined) first, while everything its jobs touch
  // (the head model, the blobs, the store) is still alive.
  std::unique_ptr<UpdateIngest> ingest_;
};

}  // namespace fedge::coordinator
