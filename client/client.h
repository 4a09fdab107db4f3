#pragma once
// The edge client: connects to the coordinator over mutual TLS (reconnecting with
// exponential backoff and jitter), answers task offers by training or evaluating on its
// private data off the network thread, and uploads updates in verified chunks. Models are
// fetched only when not already in the content-addressed cache.
//
// The Client is the session (connection, reconnects: client.cc; message dispatch: one handler
// per message kind, session_dispatch.h, with the answers to updates in update_delivery.h) and
// composes the parts: Trainer (trainer.h: train/eval tasks on the compute pool), Outbox
// (outbox.h: updates until acknowledged), ServedModel (serving.h: the model the camera is
// classified with), LiveMonitor + DriftReferences (drift: client_drift.cc), releases
// (client_release.cc), and the one inference loop for the camera (RunCamera, inference.h).

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "client/client_stats.h"
#include "client/config.h"
#include "client/drift_references.h"
#include "client/frame_source.h"
#include "client/live_monitor.h"
#include "client/local_data.h"
#include "client/metrics.h"
#include "client/model_cache.h"
#include "client/outbox.h"
#include "client/sample_store.h"
#include "client/serving.h"
#include "client/session_dispatch.h"
#include "client/trainer.h"
#include "client/update_delivery.h"
#include "schemas/fedge_generated.h"
#include "shared/ml/torch/model.h"
#include "shared/net/asio.h"
#include "shared/net/blob.h"
#include "shared/net/connection.h"

namespace fedge::client {

// What ObserveFrames did with a batch of frames.
struct ObserveResult {
  std::vector<ml::Prediction> predictions;  // one per frame, in order
  std::vector<DriftWindow> windows;         // drift windows the batch completed (and reported)
  uint64_t stored = 0;                      // new frames kept in the store
  std::vector<bool> kept;                   // per frame: new in the store
  std::vector<bool> not_kept;               // per frame: the store failed to keep it (full disk)
  uint64_t model_version = 0;               // the serving version that classified the batch
  ClassifyTiming timing;                    // of the whole batch
};

class Client {
 public:
  // `compute` runs training/evaluation (may be shared by clients in one process). It must
  // have ONE thread: OpenMP OpenBLAS is not safe to call from several threads at once.
  Client(ClientConfig config, LocalData data, net::asio::io_context& io,
         net::asio::thread_pool* compute);
  ~Client();

  // Loads TLS material, opens the model cache and the sample store (config.store), and loads
  // the outbox (updates not yet acknowledged) and the top-k residual from the store.
  shared::Status Init();
  // Starts connecting; returns immediately. REQUIRES: Init() succeeded.
  void Start();
  // Thread-safe: closes the connection and stops reconnecting.
  void Stop();

  void set_faults(ClientFaults faults) { faults_ = faults; }
  // The private sample store (thread-safe); null before Init().
  SampleStore* store() { return store_.get(); }
  const ClientStats& stats() const { return stats_; }
  // Wire bytes of every session (frame headers and payloads).
  const std::shared_ptr<shared::TrafficCounters>& traffic() const { return traffic_; }
  // Where ObserveFrames counts frames, latency and drift. REQUIRES: before Start().
  void set_metrics(std::shared_ptr<ClientMetrics> metrics) { metrics_ = std::move(metrics); }
  // Classifies `frames` (a camera's, in capture order) with the serving model: the newest
  // version this client installed, kept apart from the model being trained. Each frame feeds
  // the drift monitor (finished windows are sent to the coordinator as DriftReports while
  // connected) and, with camera.keep_frames, is kept in the store with its prediction; a frame
  // the store cannot keep (a full disk) is counted in stats().frames_not_kept and logged
  // (NoteKeepResult), not returned as an error. Thread-safe; runs on the calling thread
  // (computations take turns with training steps). Unavailable if no model was installed yet.
  shared::Result<ObserveResult> ObserveFrames(std::span<const Frame> frames);
  // The camera thread of `fedge-client run`: the one inference loop (RunInference,
  // client/inference.h) over `source` until it ends or `stop`, classifying every frame with
  // ObserveFrames; each prediction line goes to `sink` when it is not null. Unreadable frames
  // are quarantined in the store; frames arriving before the first model is installed are
  // skipped (InferenceSummary::skipped).
  shared::Result<InferenceSummary> RunCamera(FrameSource& source, std::ostream* sink,
                                             const std::atomic<bool>& stop);
  // The serving model's version (0: none yet) and the drift reference in use. While a signed
  // release is active, it is the registry version the release was built from.
  uint64_t serving_version() const;
  // The signed release being served ("" and 0: the newest registry model).
  std::pair<std::string, uint64_t> serving_release() const;
  const LiveMonitor& live_monitor() const { return *live_; }

  // Client id as confirmed by the coordinator (empty before the first Welcome).
  std::string id() const;
  // Why the client stopped by itself (e.g. its certificate was revoked), or OK.
  shared::Status fatal() const;

 private:
  using Task = TrainTask;
  // Loads the outbox and the top-k residual from the store (client_store.cc).
  shared::Status LoadOutbox();
  // Appends one audit entry per payload this client sends (the connection's send observer).
  void AuditSent(std::span<const uint8_t> payload);
  // The trainer's hooks (client.cc), called under its lock on the compute pool.
  Trainer::Hooks TrainerHooks();
  // Keeps the installed model's identity (installed.json) when `version` is newer.
  shared::Status RecordInstalled(uint64_t version, const shared::Digest& digest,
                                 const std::string& arch);
  // Drift (client_drift.cc). Under the trainer's lock on the compute pool: makes `state` the
  // serving model if `version` is newer than the serving one, and picks its drift reference.
  shared::Status UpdateServing(uint64_t version, const std::string& arch,
                               const shared::TensorBundle& state);
  // The stored reference of `version` this client's settings prefer (local, else global), if
  // the monitor is not already using it.
  void UseReference(uint64_t version);
  // Stores this client's own profile of `version` (computed when evaluating it).
  shared::Status SaveLocalProfile(uint64_t version, const drift::Summary& profile);
  void OnReferenceProfile(const wire::ReferenceProfile& profile);
  void SendDriftWindow(const DriftWindow& window);
  // Adds one frame's observation to the live monitor; a window it finishes is counted,
  // reported (SendDriftWindow) and appended to out.windows.
  void FeedDrift(const drift::FrameObservation& observation, int64_t captured_ms,
                 ObserveResult& out);
  // Releases (client_release.cc): a coordinator's ReleaseOffer has its metadata verified in TUF
  // order on the compute pool before anything is downloaded (CheckOffer), then its artifact is
  // fetched capped at the signed length, installed into an A/B slot and health-checked, then
  // served; a ReleaseRevert goes back to the slot before if the signed targets still list it.
  // Each ends with an InstallReport.
  struct ReleaseJob;
  shared::Status OnReleaseOffer(const std::shared_ptr<shared::Connection>& conn,
                                const wire::ReleaseOffer& offer);
  shared::Status OnReleaseChunk(const std::shared_ptr<shared::Connection>& conn,
                                const wire::BlobChunk& chunk);
  void OnReleaseRevert(const wire::ReleaseRevert& revert);
  net::awaitable<void> CheckOffer(std::shared_ptr<shared::Connection> conn,
                                  std::shared_ptr<ReleaseJob> job);
  void StartRelease(std::shared_ptr<ReleaseJob> job);
  net::awaitable<void> DoRelease(std::shared_ptr<ReleaseJob> job);
  // Compute pool, under the trainer's lock (Trainer::Exclusive); `data` is the site's.
  shared::Status InstallRelease(ReleaseJob& job, const LocalData& data);
  shared::Status RevertToPrevious(ReleaseJob& job);
  // Makes the active release slot the serving model, or (none active) the newest installed
  // registry model. Under the trainer's lock on the compute pool, or before Start().
  shared::Status ServeActiveRelease();
  net::awaitable<void> Run();
  // One session: connect, Hello/Welcome, resume work, then read and dispatch until it ends.
  net::awaitable<shared::Status> RunSession();
  // Resolves, connects and wraps the socket in TLS (not yet handshaken); conn_ is the result.
  net::awaitable<shared::Result<std::shared_ptr<shared::Connection>>> Connect();
  // Sends Hello and waits for the Welcome (an Error: the coordinator refused this client).
  // Returns the heartbeat interval the coordinator asks for.
  net::awaitable<shared::Result<std::chrono::milliseconds>> Greet(
      std::shared_ptr<shared::Connection> conn);
  std::vector<uint8_t> MakeHello();
  // Resumes a model download and submits the outbox again on a new connection.
  void ResumeWork(const std::shared_ptr<shared::Connection>& conn);
  // Reads and dispatches messages until the connection closes or a handler fails.
  net::awaitable<shared::Status> ReadLoop(std::shared_ptr<shared::Connection> conn,
                                          std::chrono::milliseconds heartbeat);
  net::awaitable<void> HeartbeatLoop(std::shared_ptr<shared::Connection> conn,
                                     std::chrono::milliseconds interval);
  net::awaitable<void> DoTask(std::shared_ptr<shared::Connection> conn, std::shared_ptr<Task> task);
  // The session's MessageHandlers and MessageSink on one connection (client.cc).
  class SessionHandlers;
  shared::Status OnTaskOffer(const std::shared_ptr<shared::Connection>& conn,
                             const wire::TaskOffer& offer);
  shared::Status OnModelChunk(const std::shared_ptr<shared::Connection>& conn,
                              const wire::BlobChunk& chunk);
  void StartTask(const std::shared_ptr<shared::Connection>& conn, std::shared_ptr<Task> task);

  ClientConfig config_;
  LocalData initial_data_;  // moved into trainer_ by Init()
  net::asio::io_context& io_;
  net::asio::thread_pool* compute_;
  net::asio::strand<net::asio::io_context::executor_type> strand_;
  std::unique_ptr<net::ssl::context> tls_;
  std::optional<ModelCache> cache_;
  std::unique_ptr<SampleStore> store_;
  std::unique_ptr<Trainer> trainer_;  // after Init(): the model being trained, the site's data
  uint64_t installed_version_ = 0;    // under the trainer's lock (after Start())
  std::shared_ptr<shared::Connection> conn_;  // strand-owned
  shared::BlobAssembler download_;
  std::shared_ptr<Task> waiting_for_model_;   // strand-owned
  std::set<uint64_t> in_progress_;            // strand-owned: task ids being worked on
  std::unique_ptr<Outbox> outbox_;            // strand-owned (after Init): unacknowledged updates
  std::unique_ptr<UpdateDelivery> delivery_;  // strand-owned (after Init): acks, errors, requests
  mutable std::mutex id_mu_;
  std::string id_;        // guarded by id_mu_
  shared::Status fatal_;  // guarded by id_mu_
  std::atomic<bool> stopping_{false};
  bool refused_ = false;  // strand-owned: the last session ended with the coordinator's Error
  // Highest task id offered so far: a queued task older than a newer offer of the same kind
  // is stale (its round moved on) and is skipped instead of delaying the new one.
  TaskRecency offered_;
  net::asio::steady_timer backoff_timer_;
  std::mt19937_64 jitter_;
  ClientStats stats_;
  ClientFaults faults_;
  std::unique_ptr<LiveMonitor> live_;
  std::unique_ptr<DriftReferences> references_;  // after Init(): profiles per version in the store
  std::shared_ptr<ReleaseJob> release_job_;      // strand-owned: an offer fetching its artifact
  shared::BlobAssembler release_download_;       // strand-owned
  std::shared_ptr<shared::TrafficCounters> traffic_ = std::make_shared<shared::TrafficCounters>();
  std::shared_ptr<ClientMetrics> metrics_ =
      std::make_shared<ClientMetrics>(std::make_shared<shared::MetricsRegistry>());
  ServedModel serving_;  // the model the camera is classified with (thread-safe)
};

// Adds the metrics `client` already counts (AddStatsCallbacks of its stats and traffic).
// REQUIRES: `client` outlives every Render of `metrics`' registry.
inline void AddClientCallbacks(ClientMetrics& metrics, const Client& client) {
  AddStatsCallbacks(metrics, client.stats(), client.traffic());
}

}  // namespace fedge::client
