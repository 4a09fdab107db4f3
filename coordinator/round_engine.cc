#include "coordinator/round_engine.h"

#include <algorithm>
#include <cmath>
#include <future>

#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "rounds";
}  // namespace

nlohmann::json ToJson(const RoundSummary& s) {
  nlohmann::json j = {{"round", s.round},
                      {"model_version", s.model_version},
                      {"model_digest", s.model_digest},
                      {"sampled", s.sampled},
                      {"updates", s.updates},
                      {"rejected", s.rejected},
                      {"examples", s.examples},
                      {"train_loss", s.train_loss},
                      {"evaluation", s.evaluation},
                      {"seconds", s.seconds},
                      {"bytes_in", s.bytes_in},
                      {"bytes_out", s.bytes_out},
                      {"attempt", s.attempt},
                      {"resumed", s.resumed},
                      {"ended_ms", s.ended_ms}};
  if (!s.defence.is_null()) j["defence"] = s.defence;
  if (!s.aggregation.is_null()) j["aggregation"] = s.aggregation;
  return j;
}

RoundEngine::RoundEngine(net::any_io_executor strand, Store* store, CoordinatorConfig config,
                         std::shared_ptr<shared::TrafficCounters> traffic,
                         InitialModelFn initial_model)
    : strand_(strand),
      store_(store),
      config_(std::move(config)),
      traffic_(std::move(traffic)),
      initial_model_(std::move(initial_model)),
      wake_(strand),
      drift_(config_.drift, store, metrics_),
      ingest_(std::make_unique<UpdateIngest>(strand, store, &blobs_, IngestHooks(), metrics_)) {
  ingest_->set_max_share_ppm(
      static_cast<uint32_t>(std::llround(config_.rounds.max_client_share * 1e6)));
  ingest_->set_max_update_norm(config_.rounds.max_update_norm);
  ingest_->set_aggregation(config_.rounds.aggregation, config_.rounds.seed);
  ingest_->set_defence(config_.defence);
}

RoundEngine::~RoundEngine() = default;

UpdateIngest::Hooks RoundEngine::IngestHooks() {
  UpdateIngest::Hooks hooks;
  hooks.fold_weight = [this](const std::string& client_id, uint64_t round, uint64_t examples) {
    return drift_.FoldWeight(client_id, round, examples);
  };
  hooks.example_cap = [this](const std::string& client_id, uint64_t round) {
    return ExampleCap(client_id, round);
  };
  hooks.changed = [this] { PublishSnapshot(); };
  hooks.wake = [this] { Wake(); };
  return hooks;
}

uint64_t RoundEngine::ExampleCap(const std::string& client_id, uint64_t round) const {
  auto it = hellos_.find(client_id);
  if (it == hellos_.end()) return 0;
  const bool focused = drift_.policy().FocusSince(client_id, round).has_value();
  // At most kMaxExamples x 1000 epochs x 4: far from overflowing.
  return it->second.train_examples * static_cast<uint64_t>(config_.rounds.training.local_epochs) *
         (focused ? shared::kMaxFocusRepeats : 1);
}

uint64_t RoundEngine::RegisteredExamples(const std::string& client_id) const {
  auto it = hellos_.find(client_id);
  return it == hellos_.end() ? 0 : it->second.train_examples + it->second.eval_examples;
}

void RoundEngine::set_metrics(std::shared_ptr<CoordinatorMetrics> metrics) {
  metrics_ = metrics;
  drift_.set_metrics(metrics);
  ingest_->set_metrics(std::move(metrics));
}

Status RoundEngine::Init() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store_->Head());
  std::optional<ModelRecord> current;
  if (head) {
    FEDGE_ASSIGN_OR_RETURN(ModelRecord r, store_->GetModel(*head));
    current = std::move(r);
  } else {
    FEDGE_ASSIGN_OR_RETURN(current, store_->LatestModel());  // a store from before heads
  }
  if (current) {
    FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(current->digest_hex));
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, store_->GetBlob(digest));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(blob));
    FEDGE_LOG(Info, kLog) << "resuming from model version " << current->version << " (round "
                          << current->round << ")";
    FEDGE_RETURN_IF_ERROR(InstallModel(*current, std::move(blob), std::move(state)));
  } else {
    FEDGE_RETURN_IF_ERROR(InstallInitialModel());
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> target, store_->TargetRound());
  target_round_ = target ? *target : static_cast<uint64_t>(config_.rounds.count);
  target_atomic_ = target_round_;
  FEDGE_RETURN_IF_ERROR(drift_.Init());
  FEDGE_ASSIGN_OR_RETURN(std::vector<SiteStanding> standings, store_->ListStandings());
  for (SiteStanding& st : standings) {
    const std::string id = st.client_id;
    standings_[id] = std::move(st);
  }
  InitMetrics();
  const Result<std::optional<std::vector<uint8_t>>> stored =
      store_->ReferenceProfile(model_.version);
  drift_.RestoreProfile(model_.version, stored);
  FEDGE_ASSIGN_OR_RETURN(std::optional<OpenRound> stored_round, store_->OpenRound());
  std::optional<nlohmann::json> open;
  if (stored_round) open = ToJson(*stored_round);
  if (open) {
    if (Status s = ResumeRound(*open); !s.ok()) {
      return s.WithContext("cannot resume the open round stored in " + config_.data_dir);
    }
  }
  PublishSnapshot();
  return Status::Ok();
}

Status RoundEngine::InstallInitialModel() {
  if (!initial_model_) {
    return Status::Internal("the round engine has no initial-model function (RoundEngine)");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state,
                         initial_model_(config_.model_arch, config_.model_seed));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(state));
  ModelRecord record;
  record.version = 1;
  record.round = 0;
  record.arch = config_.model_arch;
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  record.created_ms = shared::UnixMillis();
  record.origin = "initial";
  record.metrics = {{"note", "initial model, seed " + std::to_string(config_.model_seed)}};
  FEDGE_RETURN_IF_ERROR(store_->PutModel(record, blob, /*make_head=*/true));
  FEDGE_LOG(Info, kLog) << "created initial model version 1 (" << config_.model_arch << ", "
                        << state.NumElements() << " parameters)";
  return InstallModel(record, std::move(blob), std::move(state));
}

std::optional<uint64_t> RoundEngine::OpenRoundNumber() const {
  return round_ ? std::optional<uint64_t>(round_->schedule.round()) : std::nullopt;
}

void RoundEngine::OpenRoundState(RoundSchedule schedule, bool training) {
  round_ = std::make_unique<RoundState>(std::move(schedule));
  ingest_->Open(&round_->schedule, training ? &state_ : nullptr, model_digest_);
}

void RoundEngine::CloseRound() {
  ingest_->Close();
  round_.reset();
}

Status RoundEngine::ResumeRound(const nlohmann::json& json) {
  FEDGE_ASSIGN_OR_RETURN(OpenRound open, OpenRoundFromJson(json));
  if (open.phase == RoundPhase::kIdle) {  // a failed attempt: the next one gets a fresh sample
    next_attempt_ = open.attempt;
    return Status::Ok();
  }
  const uint64_t round = open.round;
  if (open.phase == RoundPhase::kEval) {
    if (round != model_.round) {
      return Status::Corruption("the open round " + std::to_string(round) +
                                " is being evaluated but the head model is from round " +
                                std::to_string(model_.round));
    }
    OpenRoundState(RoundSchedule::Resume(QuorumSettings(), open), /*training=*/false);
    FEDGE_LOG(Info, kLog).Round(round) << "resuming round " << round << " at its evaluation";
    return Status::Ok();
  }
  if (round != model_.round + 1) {
    return Status::Corruption("the open round " + std::to_string(round) +
                              " does not follow the head model's round " +
                              std::to_string(model_.round));
  }
  OpenRoundState(RoundSchedule::Resume(QuorumSettings(), open), /*training=*/true);
  const std::function<Status(const UpdateRecord&, std::vector<uint8_t>)> refold =
      [this](const UpdateRecord& r, std::vector<uint8_t> blob) {
        return ingest_->Refold(r, std::move(blob));
      };
  FEDGE_RETURN_IF_ERROR(store_->ForEachUpdate(round_->schedule.round(), refold));
  const uint64_t left_ms = round_->schedule.MsLeft(shared::UnixMillis());
  FEDGE_LOG(Info, kLog).Round(round_->schedule.round())
      << "resuming round " << round_->schedule.round() << ": " << ingest_->contributions().size()
      << " stored update(s) folded again, " << round_->schedule.pending().size() << " of "
      << round_->schedule.tasks().size() << " sampled client(s) still expected, " << left_ms
      << " ms to the deadline";
  return Status::Ok();
}

Status RoundEngine::InstallModel(const ModelRecord& record, std::vector<uint8_t> blob,
                                 shared::TensorBundle state) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  blobs_.InstallModel(digest, std::move(blob));
  model_digest_ = digest;
  model_ = record;
  state_ = std::move(state);
  version_ = record.version;
  metrics_->model_version->Set(static_cast<double>(record.version));
  return Status::Ok();
}

void RoundEngine::Wake() { wake_.cancel(); }

void RoundEngine::PublishSnapshot() {
  EngineStatus s;
  s.model_version = model_.version;
  s.model_round = model_.round;
  s.model_arch = model_.arch;
  s.target_round = target_round_;
  s.finished = finished_.load();
  for (const auto& [id, peer] : connected_) s.connected.push_back(id);
  for (const auto& [id, st] : standings_) {
    if (st.quarantined) s.quarantined.push_back(id);
  }
  s.duplicates_ignored = ingest_->duplicates_ignored();
  s.updates_rejected = ingest_->updates_rejected();
  s.drift = drift_.policy().Snapshot();
  if (round_) {
    const RoundSchedule& schedule = round_->schedule;
    OpenRoundStatus& open = s.open_round.emplace();
    open.round = schedule.round();
    open.attempt = schedule.attempt();
    open.training = schedule.training();
    open.sampled = schedule.tasks().size();
    open.accepted = ingest_->contributions().size();
    for (const auto& [id, task] : schedule.pending()) open.pending.push_back(id);
    open.rejected = schedule.rejected();
    open.resumed = schedule.resumed();
    open.deadline_ms = schedule.deadline_ms();
  }
  std::lock_guard<std::mutex> lock(status_mu_);
  status_ = std::move(s);
}

EngineStatus RoundEngine::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_;
}

void RoundEngine::Connected(std::shared_ptr<Peer> peer, ClientHello hello) {
  net::asio::post(strand_, [this, peer = std::move(peer), hello = std::move(hello)]() mutable {
    OnConnected(peer, std::move(hello));
  });
}

void RoundEngine::OnConnected(const std::shared_ptr<Peer>& peer, ClientHello hello) {
  const std::string id = peer->client_id();
  Result<std::optional<ClientRecord>> existing = store_->GetClient(id);
  ClientRecord record;
  if (existing.ok() && existing->has_value()) record = **existing;
  uint64_t now = shared::UnixMillis();
  record.id = id;
  if (record.first_seen_ms == 0) record.first_seen_ms = now;
  record.last_seen_ms = now;
  record.fingerprint = hello.fingerprint;
  record.train_examples = hello.train_examples;
  record.eval_examples = hello.eval_examples;
  record.class_counts = hello.class_counts;
  if (Status s = store_->PutClient(record); !s.ok()) {
    FEDGE_LOG(Error, kLog).Client(id) << "cannot record client " << id << ": " << s.ToString();
  }
  if (auto old = connected_.find(id); old != connected_.end() && old->second != peer) {
    // One session per client: the newest wins (the old one is usually a dead connection
    // that has not timed out yet).
    FEDGE_LOG(Info, kLog).Client(id)
        << "client " << id << " connected again; closing its older session";
    old->second->Close();
  }
  connected_[id] = peer;
  metrics_->connected_clients->Set(static_cast<double>(connected_.size()));
  metrics_->client_connected->Labels({id}).Set(1);
  hellos_[id] = std::move(hello);
  FEDGE_LOG(Debug, kLog).Client(id)
      << "client " << id << " ready (" << connected_.size() << " connected)";
  if (Quarantined(id)) TellQuarantined(*peer);
  // A client that comes back during a round gets its open task again (after a restart of
  // either side); one that answered already is not asked again.
  if (round_) OfferOpenTask(*peer);
  if (drift_.profile()) peer->SendProfile(*drift_.profile());
  PublishSnapshot();
  Wake();
}

void RoundEngine::OfferOpenTask(Peer& peer) {
  RoundSchedule& schedule = round_->schedule;
  const std::string& id = peer.client_id();
  if (Quarantined(id)) return;
  if (!schedule.training() && schedule.evaluation_started()) schedule.AddEvalTask(id);
  if (!schedule.training() && !schedule.evaluation_started()) return;
  if (std::optional<uint64_t> task = schedule.PendingTask(id)) {
    peer.SendOffer(MakeOffer(*task, schedule.round(), schedule.training(), id));
  }
}

void RoundEngine::Disconnected(std::shared_ptr<Peer> peer) {
  net::asio::post(strand_, [this, peer = std::move(peer)] { OnDisconnected(peer); });
}

void RoundEngine::OnDisconnected(const std::shared_ptr<Peer>& peer) {
  const std::string& id = peer->client_id();
  auto it = connected_.find(id);
  if (it == connected_.end() || it->second != peer) return;  // replaced by a newer session
  connected_.erase(it);
  hellos_.erase(id);
  metrics_->connected_clients->Set(static_cast<double>(connected_.size()));
  metrics_->client_connected->Labels({id}).Set(0);
  // Evaluation does not wait for absent clients; training waits until the deadline.
  if (round_ && round_->schedule.Disconnected(id) && round_->schedule.training()) {
    FEDGE_LOG(Warn, kLog).Client(id)
        << "client " << id << " disconnected with an open task in round "
        << round_->schedule.round() << "; waiting for it until the deadline";
  }
  if (Result<std::optional<ClientRecord>> r = store_->GetClient(id); r.ok() && r->has_value()) {
    ClientRecord rec = **r;
    rec.last_seen_ms = shared::UnixMillis();
    store_->PutClient(rec).IgnoreError();
  }
  PublishSnapshot();
  Wake();
}

void RoundEngine::OfferUpload(std::shared_ptr<Peer> peer, UploadIntent intent) {
  net::asio::post(strand_, [this, peer = std::move(peer), in = std::move(intent)] {
    ingest_->OfferUpload(peer, in);
  });
}

void RoundEngine::SubmitUpdate(std::shared_ptr<Peer> peer, UpdateIn update) {
  net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(update)]() mutable {
    ingest_->Submit(std::move(peer), std::move(u));
  });
}

void RoundEngine::SubmitEval(std::shared_ptr<Peer> peer, EvalIn eval) {
  net::asio::post(strand_,
                  [this, peer = std::move(peer), e = std::move(eval)] { OnEval(peer, e); });
}

void RoundEngine::OnEval(const std::shared_ptr<Peer>& peer, const EvalIn& e) {
  if (!round_) return RefuseEvaluation(*peer, e);
  if (round_->eval.OnReport(*peer, e, round_->schedule, RegisteredExamples(peer->client_id())) &&
      round_->schedule.pending().empty()) {
    Wake();
  }
}

void RoundEngine::TaskFailed(std::shared_ptr<Peer> peer, uint64_t task_id, Status why) {
  net::asio::post(strand_, [this, peer = std::move(peer), task_id, why = std::move(why)] {
    if (!round_ || !round_->schedule.Fail(peer->client_id(), task_id)) return;
    FEDGE_LOG(Info, kLog).Client(peer->client_id()).Round(round_->schedule.round())
        << "task " << task_id << " of " << peer->client_id() << " failed (" << why.ToString()
        << "); the round does not wait for it";
    PublishSnapshot();
    Wake();
  });
}

void RoundEngine::StartRounds(uint64_t rounds, std::function<void(uint64_t)> done) {
  net::asio::post(strand_, [this, rounds, done = std::move(done)] {
    uint64_t base = round_ ? round_->schedule.round() : model_.round;
    RaiseTarget(base + rounds);
    if (done) done(target_round_);
  });
}

void RoundEngine::RaiseTarget(uint64_t target) {
  if (target > target_round_) {
    if (Status s = store_->PutTargetRound(target); !s.ok()) {
      FEDGE_LOG(Error, kLog) << "cannot store the round target: " << s.ToString();
    }
    target_round_ = target;
    target_atomic_ = target;
    FEDGE_LOG(Info, kLog) << "rounds requested: running up to round " << target;
  }
  PublishSnapshot();
  Wake();
}

void RoundEngine::LimitRounds(std::optional<uint64_t> permits) {
  net::asio::post(strand_, [this, permits] {
    round_permits_ = permits;
    Wake();
  });
}

void RoundEngine::SubmitDriftReport(std::shared_ptr<Peer> peer, DriftReportIn report) {
  net::asio::post(
      strand_, [this, peer = std::move(peer), r = std::move(report)] { OnDriftReport(peer, r); });
}

void RoundEngine::OnDriftReport(const std::shared_ptr<Peer>& peer, const DriftReportIn& r) {
  std::set<std::string> connected;
  for (const auto& [cid, p] : connected_) connected.insert(cid);
  const uint64_t base = std::max(target_round_, round_ ? round_->schedule.round() : model_.round);
  Result<std::optional<uint64_t>> raise =
      drift_.OnReport(*peer, r, model_.version, base, connected, shared::UnixMillis());
  if (!raise.ok()) return;  // answered with an Error
  if (raise->has_value()) RaiseTarget(**raise);
  PublishSnapshot();
}

void RoundEngine::InitMetrics() {
  if (Result<std::vector<ClientRecord>> clients = store_->ListClients(); clients.ok()) {
    for (const ClientRecord& c : *clients) metrics_->client_connected->Labels({c.id}).Set(0);
  }
}

void RoundEngine::Post(std::function<void()> fn) { net::asio::post(strand_, std::move(fn)); }

void RoundEngine::Stop() {
  net::asio::post(strand_, [this] {
    stopped_ = true;
    Wake();
  });
}

Result<ModelRecord> RoundEngine::PruneHeadOnStrand(const PruneRequest& request) {
  if (std::optional<uint64_t> open = OpenRoundNumber()) {
    return Status::Unavailable("prune model version " + std::to_string(request.version) +
                               ": round " + std::to_string(*open) +
                               " is running; prune after it ends (see `fedgectl status`)");
  }
  FEDGE_ASSIGN_OR_RETURN(PrunedModel pruned,
                         PruneIntoNewHead(*store_, request, model_, shared::UnixMillis()));
  blobs_.ClearUploads();  // partial uploads were updates of the previous head
  if (Status s = InstallModel(pruned.record, std::move(pruned.blob), std::move(pruned.state));
      !s.ok()) {
    return s.WithContext("prune model version " + std::to_string(request.version));
  }
  FEDGE_LOG(Info, kLog) << "pruned model version " << request.version << " (" << pruned.from_arch
                        << ", " << pruned.parameters_before << " parameters) into version "
                        << pruned.record.version << " (" << pruned.record.arch << ", "
                        << state_.NumElements()
                        << " parameters); it is the head: the next rounds fine-tune it";
  PublishSnapshot();
  Wake();
  return pruned.record;
}

void RoundEngine::PruneHead(PruneRequest request, std::function<void(Result<ModelRecord>)> done) {
  net::asio::post(strand_, [this, request, done = std::move(done)] {
    Result<ModelRecord> r = PruneHeadOnStrand(request);
    if (done) done(std::move(r));
  });
}

Result<ModelRecord> RoundEngine::PruneHeadAndWait(const PruneRequest& request) {
  auto promise = std::make_shared<std::promise<Result<ModelRecord>>>();
  std::future<Result<ModelRecord>> future = promise->get_future();
  PruneHead(request, [promise](Result<ModelRecord> r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace fedge::coordinator
