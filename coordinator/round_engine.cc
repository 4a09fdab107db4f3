#include "coordinator/round_engine.h"

#include <algorithm>
#include <cmath>

#include "coordinator/registry.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/drift/drift_wire.h"
#include "shared/ml/data/metrics.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

namespace {
constexpr const char* kLog = "rounds";

// The rejection reason for a failed CheckSubmission.
const char* SubmissionReason(const Status& s) {
  return s.code() == shared::Code::kIOError || s.code() == shared::Code::kCorruption
             ? reject::kStorage
             : reject::kNotExpected;
}

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

struct RoundEngine::RoundState {
  explicit RoundState(RoundSchedule s) : schedule(std::move(s)) {}
  RoundSchedule schedule;  // who was sampled, who answered, quorum, deadline
  std::unique_ptr<FedAvgAccumulator> acc;
  std::vector<Contribution> contributions;
  double loss_sum = 0;
  // evaluation
  uint64_t eval_version = 0;
  std::vector<uint64_t> confusion;
  uint32_t num_classes = 0;
  double eval_loss_sum = 0;
  uint64_t eval_examples = 0;
  int eval_reports = 0;
  nlohmann::json eval_per_client = nlohmann::json::object();  // id -> accuracy, examples
  drift::Summary profile;  // merged drift statistics of the evaluated version
  int profile_clients = 0;
};

nlohmann::json ToJson(const RoundSummary& s) {
  return {{"round", s.round},
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
      drift_(config_.drift, store),
      ingest_(std::make_unique<net::asio::thread_pool>(2)) {}

RoundEngine::~RoundEngine() = default;

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
    FEDGE_RETURN_IF_ERROR(InstallModel(record, std::move(blob), std::move(state)));
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> target, store_->TargetRound());
  target_round_ = target ? *target : static_cast<uint64_t>(config_.rounds.count);
  target_atomic_ = target_round_;
  FEDGE_RETURN_IF_ERROR(drift_.Init());
  InitMetrics();
  if (Result<std::optional<std::vector<uint8_t>>> stored = store_->ReferenceProfile(model_.version);
      stored.ok() && stored->has_value()) {
    if (Result<drift::Summary> p = drift::DecodeSummary(**stored); p.ok()) {
      profile_ = ProfileOut{model_.version, 0, std::move(*p)};
    }
  }
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

nlohmann::json RoundEngine::OpenRoundJson() const { return ToJson(round_->schedule.ToOpenRound()); }

std::optional<uint64_t> RoundEngine::OpenRoundNumber() const {
  return round_ ? std::optional<uint64_t>(round_->schedule.round()) : std::nullopt;
}

Status RoundEngine::RefoldStored(const UpdateRecord& record, std::vector<uint8_t> blob) {
  shared::DecodeLimits limits;
  limits.max_elements = static_cast<uint64_t>(state_.NumElements());
  limits.max_tensors = state_.tensors.size();
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle bundle,
                         shared::DecodeUpdate(blob, limits, state_, model_digest_));
  blob = {};
  FEDGE_RETURN_IF_ERROR(round_->acc->Fold(
      std::move(bundle), FoldWeight(record.client_id, record.round, record.examples)));
  round_->schedule.Accept(record.client_id, record.idempotency_id);
  round_->contributions.push_back({record.client_id, record.examples});
  if (std::isfinite(record.loss)) {
    round_->loss_sum += record.loss * static_cast<double>(record.examples);
  }
  return Status::Ok();
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
    round_ = std::make_unique<RoundState>(RoundSchedule::Resume(config_.rounds, open));
    FEDGE_LOG(Info, kLog).Round(round) << "resuming round " << round << " at its evaluation";
    return Status::Ok();
  }
  if (round != model_.round + 1) {
    return Status::Corruption("the open round " + std::to_string(round) +
                              " does not follow the head model's round " +
                              std::to_string(model_.round));
  }
  round_ = std::make_unique<RoundState>(RoundSchedule::Resume(config_.rounds, open));
  round_->acc = std::make_unique<FedAvgAccumulator>(state_);
  const std::function<Status(const UpdateRecord&, std::vector<uint8_t>)> refold =
      [this](const UpdateRecord& r, std::vector<uint8_t> blob) {
        return RefoldStored(r, std::move(blob));
      };
  FEDGE_RETURN_IF_ERROR(store_->ForEachUpdate(round_->schedule.round(), refold));
  const uint64_t left_ms = round_->schedule.MsLeft(shared::UnixMillis());
  FEDGE_LOG(Info, kLog).Round(round_->schedule.round())
      << "resuming round " << round_->schedule.round() << ": " << round_->contributions.size()
      << " stored update(s) folded again, " << round_->schedule.pending().size() << " of "
      << round_->schedule.tasks().size() << " sampled client(s) still expected, " << left_ms
      << " ms to the deadline";
  return Status::Ok();
}

Status RoundEngine::InstallModel(const ModelRecord& record, std::vector<uint8_t> blob,
                                 shared::TensorBundle state) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  max_update_bytes_ = blob.size() + blob.size() / 8 + (64u << 10);
  {
    std::lock_guard<std::mutex> lock(blobs_mu_);
    // Keep the current and the previous model: clients may still fetch the previous one.
    while (blobs_.size() > 1) blobs_.erase(blobs_.begin());
    blobs_[digest] = std::make_shared<const std::vector<uint8_t>>(std::move(blob));
  }
  model_digest_ = digest;
  model_ = record;
  state_ = std::move(state);
  version_ = record.version;
  metrics_->model_version->Set(static_cast<double>(record.version));
  return Status::Ok();
}

std::shared_ptr<const std::vector<uint8_t>> RoundEngine::ModelBlob(
    const shared::Digest& digest) const {
  std::lock_guard<std::mutex> lock(blobs_mu_);
  auto it = blobs_.find(digest);
  return it == blobs_.end() ? nullptr : it->second;
}

uint64_t RoundEngine::current_version() const { return version_.load(); }

void RoundEngine::Wake() { wake_.cancel(); }

void RoundEngine::PublishSnapshot() {
  nlohmann::json s;
  s["model_version"] = model_.version;
  s["model_round"] = model_.round;
  s["model_arch"] = model_.arch;
  s["target_round"] = target_round_;
  s["finished"] = finished_.load();
  nlohmann::json connected = nlohmann::json::array();
  for (const auto& [id, peer] : connected_) connected.push_back(id);
  s["connected"] = connected;
  s["duplicates_ignored"] = duplicates_ignored_;
  s["updates_rejected"] = updates_rejected_;
  s["drift"] = drift_.Snapshot();
  if (round_) {
    nlohmann::json pending = nlohmann::json::array();
    for (const auto& [id, task] : round_->schedule.pending()) pending.push_back(id);
    s["open_round"] = {{"round", round_->schedule.round()},
                       {"attempt", round_->schedule.attempt()},
                       {"phase", round_->schedule.training() ? "train" : "eval"},
                       {"sampled", round_->schedule.tasks().size()},
                       {"accepted", round_->contributions.size()},
                       {"pending", pending},
                       {"rejected", round_->schedule.rejected()},
                       {"resumed", round_->schedule.resumed()},
                       {"deadline_ms", round_->schedule.deadline_ms()}};
  } else {
    s["open_round"] = nullptr;
  }
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  snapshot_ = std::move(s);
}

nlohmann::json RoundEngine::Snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void RoundEngine::StashUpload(const std::string& client_id, shared::BlobAssembler upload) {
  if (!upload.active() || upload.received() == 0) return;
  std::lock_guard<std::mutex> lock(uploads_mu_);
  uploads_.insert_or_assign(client_id, std::move(upload));
}

shared::BlobAssembler RoundEngine::TakeUpload(const std::string& client_id,
                                              const shared::Digest& digest) {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  auto it = uploads_.find(client_id);
  if (it == uploads_.end() || it->second.digest() != digest) {
    return shared::BlobAssembler(max_update_bytes_);
  }
  shared::BlobAssembler out = std::move(it->second);
  uploads_.erase(it);
  return out;
}

void RoundEngine::Connected(std::shared_ptr<Peer> peer, ClientHello hello) {
  net::asio::post(strand_, [this, peer = std::move(peer), hello = std::move(hello)]() mutable {
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
    // A client that comes back during a round gets its open task again (after a restart of
    // either side); one that answered already is not asked again.
    if (round_) OfferOpenTask(*peer);
    if (profile_) peer->SendProfile(*profile_);
    PublishSnapshot();
    Wake();
  });
}

void RoundEngine::OfferOpenTask(Peer& peer) {
  RoundSchedule& schedule = round_->schedule;
  const std::string& id = peer.client_id();
  if (!schedule.training() && schedule.evaluation_started()) schedule.AddEvalTask(id);
  if (!schedule.training() && !schedule.evaluation_started()) return;
  if (std::optional<uint64_t> task = schedule.PendingTask(id)) {
    peer.SendOffer(MakeOffer(*task, schedule.round(), schedule.training(), id));
  }
}

void RoundEngine::Disconnected(std::shared_ptr<Peer> peer) {
  net::asio::post(strand_, [this, peer = std::move(peer)] {
    const std::string& id = peer->client_id();
    auto it = connected_.find(id);
    if (it == connected_.end() || it->second != peer) return;  // replaced by a newer session
    connected_.erase(it);
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
  });
}

void RoundEngine::OfferUpload(std::shared_ptr<Peer> peer, UploadIntent intent) {
  net::asio::post(strand_, [this, peer = std::move(peer), in = std::move(intent)] {
    bool duplicate = false;
    Status s =
        CheckSubmission(peer->client_id(), in.round, in.task_id, in.idempotency_id, &duplicate);
    if (s.ok() && !duplicate && in.size > max_update_bytes_) {
      s = Status::ResourceExhausted("update of " + std::to_string(in.size) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(max_update_bytes_.load()) + " for this model");
    }
    if (duplicate) {
      ++duplicates_ignored_;
      peer->SendAck(in.task_id, AckKind::kDuplicate,
                    "duplicate update " + in.idempotency_id + " ignored: it was accepted before");
      PublishSnapshot();
    } else if (!s.ok()) {
      metrics_->Rejected(s.code() == shared::Code::kResourceExhausted ? reject::kTooLarge
                                                                      : SubmissionReason(s));
      peer->SendError(s, in.task_id, wire::ErrorSubject::Update);
    } else {
      peer->SendBlobRequest(wire::BlobKind::Update, in.digest, in.offset);
    }
  });
}

void RoundEngine::SubmitUpdate(std::shared_ptr<Peer> peer, UpdateIn update) {
  net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(update)]() mutable {
    OnUpdate(std::move(peer), std::move(u));
  });
}

void RoundEngine::SubmitEval(std::shared_ptr<Peer> peer, EvalIn eval) {
  net::asio::post(strand_, [this, peer = std::move(peer), e = std::move(eval)]() mutable {
    OnEval(std::move(peer), std::move(e));
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

uint64_t RoundEngine::FoldWeight(const std::string& client_id, uint64_t round,
                                 uint64_t examples) const {
  const std::vector<std::string> favoured = drift_.FavouredClients(round);
  const bool drifted = std::find(favoured.begin(), favoured.end(), client_id) != favoured.end();
  return drifted ? examples * static_cast<uint64_t>(config_.drift.update_weight) : examples;
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
  const std::string& id = peer->client_id();
  const uint64_t now = shared::UnixMillis();
  if (Status s = drift_.OnReport(id, r, model_.version, now); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id) << "client " << id << ": " << s.message();
    peer->SendError(s, 0, wire::ErrorSubject::DriftReport);
    return;
  }
  ++drift_reports_;
  metrics_->drift_reports->Inc();
  RecordDriftMetrics(id);
  std::set<std::string> connected;
  for (const auto& [cid, p] : connected_) connected.insert(cid);
  const uint64_t base = std::max(target_round_, round_ ? round_->schedule.round() : model_.round);
  Result<std::optional<Campaign>> fired = drift_.MaybeTrigger(connected, base, model_.version, now);
  if (!fired.ok()) {
    FEDGE_LOG(Error, kLog) << "drift policy: " << fired.status().ToString();
  } else if (fired->has_value()) {
    metrics_->campaigns_started->Inc();
    metrics_->campaign_running->Set(1);
    RaiseTarget((*fired)->last_round);
  }
  PublishSnapshot();
}

void RoundEngine::InitMetrics() {
  if (Result<std::vector<ClientRecord>> clients = store_->ListClients(); clients.ok()) {
    for (const ClientRecord& c : *clients) metrics_->client_connected->Labels({c.id}).Set(0);
  }
  for (const auto& [id, d] : drift_.clients()) RecordDriftMetrics(id);
  metrics_->campaign_running->Set(drift_.running() != nullptr ? 1 : 0);
}

void RoundEngine::RecordDriftMetrics(const std::string& client_id) {
  auto it = drift_.clients().find(client_id);
  if (it == drift_.clients().end()) return;
  metrics_->client_drift_score->Labels({client_id}).Set(it->second.score);
  metrics_->client_drifted->Labels({client_id}).Set(it->second.drifted ? 1 : 0);
  metrics_->client_drift_streak->Labels({client_id}).Set(it->second.streak);
}

void RoundEngine::PublishProfile() {
  if (round_->profile.Empty()) return;
  const uint64_t version = round_->eval_version;
  if (Status s = store_->PutReferenceProfile(version, drift::EncodeSummary(round_->profile));
      !s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot store the reference profile of version " << version << ": "
                           << s.ToString();
  }
  profile_ = ProfileOut{version, static_cast<uint32_t>(round_->profile_clients), round_->profile};
  for (const auto& [id, peer] : connected_) peer->SendProfile(*profile_);
}

void RoundEngine::Post(std::function<void()> fn) { net::asio::post(strand_, std::move(fn)); }

void RoundEngine::Stop() {
  net::asio::post(strand_, [this] {
    stopped_ = true;
    Wake();
  });
}

Status RoundEngine::CheckSubmission(const std::string& client_id, uint64_t round, uint64_t task_id,
                                    const std::string& idempotency_id, bool* duplicate) {
  *duplicate = false;
  if (round_ && round_->schedule.IsAccepted(idempotency_id)) {
    *duplicate = true;
    return Status::Ok();
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<UpdateRecord> earlier,
                         store_->AcceptedUpdate(idempotency_id));
  if (earlier) {
    *duplicate = true;
    return Status::Ok();
  }
  if (!round_) {
    return Status::InvalidArgument("round " + std::to_string(round) +
                                   " is not open for updates (open round: none)");
  }
  return round_->schedule.CheckTask(client_id, round, task_id);
}

void RoundEngine::RejectUpdate(const std::shared_ptr<Peer>& peer, const UpdateIn& u,
                               const Status& s, const char* reason) {
  const std::string& id = peer->client_id();
  FEDGE_LOG(Warn, kLog).Client(id).Round(u.round)
      << "rejected update from " << id << " for round " << u.round << ": " << s.ToString();
  ++updates_rejected_;
  metrics_->Rejected(reason);
  if (round_ && round_->schedule.training() && u.round == round_->schedule.round() &&
      s.code() != shared::Code::kIOError) {
    if (round_->schedule.Reject(id)) Wake();
  }
  peer->SendError(s, u.task_id, wire::ErrorSubject::Update);
  PublishSnapshot();
}

// An update goes through three steps: checks on the strand; decoding on the ingest pool;
// validation on the strand; the synced write on the ingest pool; folding and the Ack on the
// strand. The slow parts (decoding, the synced write) never hold up the strand, so other
// clients' messages and the round's timers go on meanwhile; the round does not close while an
// update of its is in flight.
void RoundEngine::OnUpdate(std::shared_ptr<Peer> peer, UpdateIn u) {
  const std::string& id = peer->client_id();
  bool duplicate = false;
  if (Status s = CheckSubmission(id, u.round, u.task_id, u.idempotency_id, &duplicate); !s.ok()) {
    return RejectUpdate(peer, u, s, SubmissionReason(s));
  }
  if (duplicate) {
    ++duplicates_ignored_;
    peer->SendAck(u.task_id, AckKind::kDuplicate,
                  "duplicate update " + u.idempotency_id + " ignored");
    PublishSnapshot();
    return;
  }
  if (round_->schedule.Ingesting(id)) {
    peer->SendError(Status::AlreadyExists("an update of task " + std::to_string(u.task_id) +
                                          " is being stored; its Ack follows"),
                    u.task_id, wire::ErrorSubject::Update);
    return;
  }
  if (u.examples == 0 || u.examples > (1ull << 32)) {
    return RejectUpdate(
        peer, u,
        Status::InvalidArgument("example count " + std::to_string(u.examples) + " is out of range"),
        reject::kExampleCount);
  }
  round_->schedule.BeginIngest(id);
  shared::DecodeLimits limits;
  limits.max_elements = static_cast<uint64_t>(state_.NumElements());
  limits.max_tensors = state_.tensors.size();
  // state_ and model_digest_ change only between rounds, and a round waits for every update in
  // flight before it commits, so the pool may read them.
  net::asio::post(*ingest_, [this, peer = std::move(peer), u = std::move(u), limits]() mutable {
    auto bundle = std::make_shared<Result<shared::TensorBundle>>(
        shared::DecodeUpdate(u.blob, limits, state_, model_digest_));
    net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(u), bundle]() mutable {
      OnDecoded(std::move(peer), std::move(u), std::move(*bundle));
    });
  });
}

void RoundEngine::OnDecoded(std::shared_ptr<Peer> peer, UpdateIn u,
                            Result<shared::TensorBundle> bundle) {
  const std::string id = peer->client_id();
  if (round_) round_->schedule.EndIngest(id);
  if (!bundle.ok()) {
    return RejectUpdate(peer, u, bundle.status().WithContext("update blob"), reject::kUndecodable);
  }
  if (!round_ || !round_->schedule.training() || round_->schedule.round() != u.round) {
    return RejectUpdate(peer, u,
                        Status::InvalidArgument("round " + std::to_string(u.round) +
                                                " closed while the update was decoded"),
                        reject::kRoundClosed);
  }
  if (Status s = round_->acc->Validate(*bundle, FoldWeight(id, u.round, u.examples)); !s.ok()) {
    return RejectUpdate(peer, u, s, reject::kInvalidValues);
  }
  double loss = std::nan("");
  for (const auto& [k, v] : u.metrics) {
    if (k == "loss" && std::isfinite(v)) loss = v;
  }
  auto record = std::make_shared<UpdateRecord>();
  record->round = u.round;
  record->client_id = id;
  record->task_id = u.task_id;
  record->idempotency_id = u.idempotency_id;
  record->examples = u.examples;
  record->loss = loss;
  record->blob_digest_hex = shared::ToHex(u.digest);  // verified by the upload
  record->received_ms = shared::UnixMillis();
  round_->schedule.BeginIngest(id);
  auto state = std::make_shared<nlohmann::json>(OpenRoundJson());
  auto values = std::make_shared<shared::TensorBundle>(std::move(*bundle));
  net::asio::post(
      *ingest_, [this, peer = std::move(peer), u = std::move(u), record, state, values]() mutable {
        // Durable before acknowledged: a crash after this write cannot lose the update.
        Status stored = store_->AcceptUpdate(*record, u.blob, *state);
        u.blob = {};
        net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(u), record, values,
                                  stored]() mutable {
          OnStored(std::move(peer), std::move(u), *record, std::move(*values), stored);
        });
      });
}

void RoundEngine::OnStored(std::shared_ptr<Peer> peer, UpdateIn u, const UpdateRecord& record,
                           shared::TensorBundle values, const Status& stored) {
  const std::string& id = peer->client_id();
  round_->schedule.EndIngest(id);  // the round waits for in-flight updates, so it is still open
  if (!stored.ok()) {
    RejectUpdate(peer, u,
                 Status::IOError("cannot store the update (" + stored.message() + "); resend it"),
                 reject::kStorage);
    if (round_->schedule.Drained()) Wake();
    return;
  }
  const auto fold_start = Clock::now();
  if (Status s = round_->acc->Fold(std::move(values), FoldWeight(id, u.round, u.examples));
      !s.ok()) {
    // Validate passed, so this cannot happen; the stored update is folded again on resume.
    FEDGE_LOG(Error, kLog).Client(id)
        << "update from " << id << " was stored but not folded: " << s.ToString();
  }
  round_->schedule.Accept(id, u.idempotency_id);
  metrics_->fold_seconds->Observe(std::chrono::duration<double>(Clock::now() - fold_start).count());
  metrics_->updates_accepted->Inc();
  round_->contributions.push_back({id, u.examples});
  if (std::isfinite(record.loss)) {
    round_->loss_sum += record.loss * static_cast<double>(u.examples);
  }
  peer->SendAck(u.task_id, AckKind::kAccepted,
                "update accepted for round " + std::to_string(u.round));
  FEDGE_LOG(Debug, kLog).Client(id)
      << "folded update from " << id << " (" << u.examples << " examples)";
  PublishSnapshot();
  Wake();
}

void RoundEngine::OnEval(std::shared_ptr<Peer> peer, EvalIn e) {
  const std::string& id = peer->client_id();
  if (!round_ || round_->schedule.training() || e.round != round_->schedule.round() ||
      e.model_version != round_->eval_version || round_->schedule.PendingTask(id) != e.task_id) {
    peer->SendError(Status::InvalidArgument("no open evaluation task " + std::to_string(e.task_id)),
                    e.task_id, wire::ErrorSubject::Evaluation);
    return;
  }
  round_->schedule.Answer(id);
  uint32_t k = e.num_classes;
  uint64_t sum = 0;
  for (uint64_t c : e.confusion) sum += c;
  if (k == 0 || k > 1000 || e.confusion.size() != static_cast<size_t>(k) * k || sum != e.examples ||
      !std::isfinite(e.loss) || e.loss < 0 ||
      (round_->num_classes != 0 && round_->num_classes != k)) {
    peer->SendError(
        Status::InvalidArgument("evaluation report is inconsistent (confusion matrix of " +
                                std::to_string(e.confusion.size()) + " cells for " +
                                std::to_string(k) + " classes, " + std::to_string(sum) +
                                " counted vs " + std::to_string(e.examples) + " examples)"),
        e.task_id, wire::ErrorSubject::Evaluation);
  } else {
    if (round_->confusion.empty()) round_->confusion.assign(static_cast<size_t>(k) * k, 0);
    round_->num_classes = k;
    for (size_t i = 0; i < e.confusion.size(); ++i) round_->confusion[i] += e.confusion[i];
    uint64_t correct = 0;
    for (uint32_t c = 0; c < k; ++c) correct += e.confusion[static_cast<size_t>(c) * k + c];
    round_->eval_per_client[id] = {
        {"accuracy", e.examples ? static_cast<double>(correct) / e.examples : 0.0},
        {"examples", e.examples}};
    if (e.profile && !e.profile->Empty()) {
      if (Status s = round_->profile.Merge(*e.profile); s.ok()) {
        ++round_->profile_clients;
      } else {
        FEDGE_LOG(Warn, kLog).Client(id)
            << "client " << id << ": drift profile not merged: " << s.message();
      }
    }
    round_->eval_loss_sum += e.loss * static_cast<double>(e.examples);
    round_->eval_examples += e.examples;
    ++round_->eval_reports;
    peer->SendAck(e.task_id, AckKind::kAccepted, "evaluation recorded");
  }
  if (round_->schedule.pending().empty()) Wake();
}

namespace {
wire::Codec UpdateCodec(const std::string& name) {
  if (name == "fp16") return wire::Codec::Fp16;
  if (name == "int8") return wire::Codec::Int8;
  if (name == "topk_int8") return wire::Codec::TopKInt8;
  return wire::Codec::Fp32;
}
}  // namespace

TaskOfferOut RoundEngine::MakeOffer(uint64_t task_id, uint64_t round, bool train,
                                    const std::string& client_id) const {
  const RoundSettings& r = config_.rounds;
  TaskOfferOut offer;
  offer.task_id = task_id;
  offer.round = round;
  offer.train = train;
  offer.model_version = model_.version;
  offer.model_digest = model_digest_;
  offer.model_size = model_.size_bytes;
  offer.model_arch = model_.arch;
  // A drift campaign's round adds its augmentation to the configured one (the larger of each).
  ml::AugmentOptions a = r.augment;
  if (std::optional<ml::AugmentOptions> extra =
          train ? drift_.CampaignAugment(round) : std::nullopt) {
    a.brightness = std::max(a.brightness, extra->brightness);
    a.contrast = std::max(a.contrast, extra->contrast);
    a.gamma = std::max(a.gamma, extra->gamma);
    a.blur_prob = std::max(a.blur_prob, extra->blur_prob);
    a.noise_std = std::max(a.noise_std, extra->noise_std);
  }
  if (a.Enabled()) offer.params.augment = a;
  std::optional<uint64_t> focus = train ? drift_.FocusSince(client_id, round) : std::nullopt;
  const bool campaign = train && !drift_.FavouredClients(round).empty();
  const double learning_rate = r.learning_rate * (campaign ? config_.drift.campaign_lr_scale : 1.0);
  offer.params.epochs = static_cast<uint32_t>(r.local_epochs);
  offer.params.batch_size = static_cast<uint32_t>(r.batch_size);
  offer.params.learning_rate = static_cast<float>(learning_rate);
  offer.params.momentum = static_cast<float>(r.momentum);
  offer.params.seed = MixSeed(MixSeed(r.seed, round), HashString(client_id));
  offer.params.focus_since_ms = focus.value_or(0);
  offer.params.focus_fraction = focus ? static_cast<float>(config_.drift.focus_fraction) : 0.0f;
  offer.deadline_ms = static_cast<uint32_t>(r.eval_timeout_seconds * 1000);
  if (train) {
    int64_t left = static_cast<int64_t>(round_->schedule.deadline_ms()) -
                   static_cast<int64_t>(shared::UnixMillis());
    offer.deadline_ms = static_cast<uint32_t>(std::max<int64_t>(left, 1000));
  }
  offer.codec = UpdateCodec(r.codec);
  offer.topk_fraction = r.codec == "topk_int8" ? static_cast<float>(r.topk_fraction) : 0.0f;
  return offer;
}

net::awaitable<void> RoundEngine::WaitUntil(const std::function<bool()>& done,
                                            Clock::time_point deadline) {
  while (!stopped_ && !done() && Clock::now() < deadline) {
    wake_.expires_at(deadline);
    net::error_code ec;
    co_await wake_.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
  }
}

Status RoundEngine::OfferTraining(uint64_t round) {
  if (round_) {  // resumed: offer the open tasks again to the clients connected now
    for (const auto& [id, task] : round_->schedule.pending()) {
      if (auto it = connected_.find(id); it != connected_.end()) {
        it->second->SendOffer(MakeOffer(task, round, /*train=*/true, id));
      }
    }
    return Status::Ok();
  }
  std::vector<std::string> ids;
  for (const auto& [id, peer] : connected_) ids.push_back(id);  // sorted by id
  // A drift campaign's drifted clients are sampled first (all of them that are connected).
  FEDGE_ASSIGN_OR_RETURN(
      RoundSchedule schedule,
      RoundSchedule::StartTraining(config_.rounds, round, next_attempt_, std::move(ids),
                                   drift_.FavouredClients(round), shared::UnixMillis()));
  round_ = std::make_unique<RoundState>(std::move(schedule));
  metrics_->rounds_started->Inc();
  round_->acc = std::make_unique<FedAvgAccumulator>(state_);
  // Stored before any offer goes out, so a restart offers the same tasks again.
  FEDGE_RETURN_IF_ERROR(store_->PutOpenRound(round_->schedule.ToOpenRound()));
  for (const auto& [id, task] : round_->schedule.tasks()) {
    connected_[id]->SendOffer(MakeOffer(task, round, /*train=*/true, id));
  }
  FEDGE_LOG(Info, kLog).Round(round)
      << "round " << round << ": offered training to " << round_->schedule.tasks().size() << " of "
      << connected_.size() << " clients";
  return Status::Ok();
}

net::awaitable<Status> RoundEngine::RunTrainRound(uint64_t round) {
  FEDGE_CO_RETURN_IF_ERROR(OfferTraining(round));
  PublishSnapshot();
  const std::function<bool()> answered = [this] { return round_->schedule.Answered(); };
  const uint64_t left_ms = round_->schedule.MsLeft(shared::UnixMillis());
  co_await WaitUntil(answered, Clock::now() + std::chrono::milliseconds(left_ms));
  // Updates being decoded or stored finish first (their Ack is owed; they take milliseconds).
  const std::function<bool()> drained = [this] { return round_->schedule.Drained(); };
  co_await WaitUntil(drained, Clock::now() + std::chrono::minutes(10));
  if (stopped_) co_return Status::Unavailable("stopped");
  FEDGE_CO_RETURN_IF_ERROR(round_->schedule.CheckQuorum());
  if (!round_->schedule.Answered()) {
    FEDGE_LOG(Warn, kLog).Round(round)
        << "round " << round << ": deadline passed; " << round_->schedule.pending().size()
        << " sampled client(s) did not answer";
  }
  co_return co_await CommitTrainRound(round);
}

net::awaitable<Status> RoundEngine::CommitTrainRound(uint64_t round) {
  const auto finalize_start = Clock::now();
  FEDGE_CO_ASSIGN_OR_RETURN(shared::TensorBundle state, round_->acc->Finalize());
  FEDGE_CO_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(state));
  metrics_->finalize_seconds->Observe(
      std::chrono::duration<double>(Clock::now() - finalize_start).count());
  // Imports may have taken version numbers since the head was made: take the next free one.
  FEDGE_CO_ASSIGN_OR_RETURN(std::optional<ModelRecord> highest, store_->LatestModel());
  ModelRecord record;
  record.version = std::max(model_.version, highest ? highest->version : 0) + 1;
  record.parent = model_.version;
  record.round = round;
  record.arch = model_.arch;
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  record.created_ms = shared::UnixMillis();
  record.contributors = round_->contributions;
  std::sort(record.contributors.begin(), record.contributors.end(),
            [](const Contribution& a, const Contribution& b) { return a.client_id < b.client_id; });
  record.total_examples = 0;  // examples, not fold weights (a campaign weighs some clients more)
  for (const Contribution& c : round_->contributions) record.total_examples += c.examples;
  double train_loss = round_->loss_sum / static_cast<double>(record.total_examples);
  record.metrics = {{"train", {{"loss", train_loss}, {"examples", record.total_examples}}}};
  if (model_.metrics.contains("prune")) {  // fine-tuning a pruned model: carry its recipe
    nlohmann::json prune = model_.metrics.at("prune");
    prune["fine_tune_rounds"] = prune.value("fine_tune_rounds", uint64_t{0}) + 1;
    record.metrics["prune"] = std::move(prune);
  }
  round_->schedule.EndTraining();  // the stored state moves to the evaluation phase
  FEDGE_CO_RETURN_IF_ERROR(store_->CommitRound(record, blob, OpenRoundJson()));
  {
    std::lock_guard<std::mutex> lock(uploads_mu_);
    uploads_.clear();  // partial uploads were for this round
  }
  for (const Contribution& c : record.contributors) {
    if (auto cr = store_->GetClient(c.client_id); cr.ok() && cr->has_value()) {
      ClientRecord rec = **cr;
      ++rec.updates_accepted;
      store_->PutClient(rec).IgnoreError();
    }
  }
  FEDGE_CO_RETURN_IF_ERROR(InstallModel(record, std::move(blob), std::move(state)));
  co_return Status::Ok();
}

net::awaitable<void> RoundEngine::RunEvaluation(RoundSummary* summary) {
  round_->schedule.StartEvaluation();
  round_->eval_version = model_.version;
  for (const auto& [id, peer] : connected_) {
    const uint64_t task = round_->schedule.AddEvalTask(id);
    peer->SendOffer(MakeOffer(task, round_->schedule.round(), /*train=*/false, id));
  }
  PublishSnapshot();
  const std::function<bool()> answered = [this] { return round_->schedule.Answered(); };
  co_await WaitUntil(answered,
                     Clock::now() + std::chrono::seconds(config_.rounds.eval_timeout_seconds));
  if (round_->eval_examples == 0) {
    summary->evaluation = {{"clients", 0}};
    co_return;
  }
  std::vector<int64_t> confusion(round_->confusion.begin(), round_->confusion.end());
  ml::EvalResult m = ml::MetricsFromConfusion(confusion, static_cast<int>(round_->num_classes),
                                              round_->eval_loss_sum);
  PublishProfile();
  summary->evaluation = {{"clients", round_->eval_reports},
                         {"examples", m.examples},
                         {"accuracy", m.accuracy},
                         {"loss", m.loss},
                         {"macro_f1", m.macro_f1},
                         {"precision", m.precision},
                         {"recall", m.recall},
                         {"per_client", round_->eval_per_client}};
  if (round_->profile_clients > 0) {
    summary->evaluation["profile_clients"] = round_->profile_clients;
    summary->evaluation["profile_frames"] = round_->profile.frames;
  }
  nlohmann::json metrics = model_.metrics;
  metrics["federated_eval"] = summary->evaluation;
  model_.metrics = metrics;
  if (Status s = store_->UpdateModelMetrics(model_.version, metrics); !s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot store evaluation of version " << model_.version << ": "
                           << s.ToString();
  }
}

void RoundEngine::FailAttempt(uint64_t round) {
  const uint64_t attempt = round_ ? round_->schedule.attempt() + 1 : next_attempt_;
  if (round_) {
    // Drop this attempt's updates; the next attempt samples again with new task ids.
    OpenRound idle;
    idle.round = round;
    idle.attempt = attempt;
    idle.phase = RoundPhase::kIdle;
    if (Status d = store_->DiscardRoundUpdates(round, idle); !d.ok()) {
      FEDGE_LOG(Error, kLog) << d.ToString();
    }
  }
  round_.reset();
  next_attempt_ = attempt;
  PublishSnapshot();
}

net::awaitable<void> RoundEngine::Run(bool exit_when_done) {
  const RoundSettings& r = config_.rounds;
  const std::function<bool()> enough = [this, &r] {
    return static_cast<int>(connected_.size()) >= r.min_clients;
  };
  const std::function<bool()> more_rounds = [this] {
    return round_ != nullptr ||
           (model_.round < target_round_ && (!round_permits_ || *round_permits_ > 0));
  };
  const std::function<bool()> never = [] { return false; };
  const auto forever = [] { return Clock::now() + std::chrono::hours(24 * 365); };
  int failures = 0;
  while (!stopped_) {
    if (!more_rounds()) {
      if (exit_when_done) break;
      finished_ = true;
      PublishSnapshot();
      co_await WaitUntil(more_rounds, forever());
      continue;
    }
    finished_ = false;
    const uint64_t round = round_ ? round_->schedule.round() : model_.round + 1;
    const bool resuming_training = round_ && round_->schedule.training();
    if (!round_ ||
        !round_->schedule.training()) {  // a resumed training round does not wait for quorum
      if (!enough()) {
        FEDGE_LOG(Info, kLog) << "waiting for " << r.min_clients << " clients to connect ("
                              << connected_.size() << " connected)";
      }
      co_await WaitUntil(enough, forever());
      if (stopped_) break;
    }
    auto t0 = Clock::now();
    uint64_t in0 = traffic_ ? traffic_->bytes_in.load() : 0;
    uint64_t out0 = traffic_ ? traffic_->bytes_out.load() : 0;
    const bool fresh = !round_;
    if (!round_ || resuming_training) {
      Status s = co_await RunTrainRound(round);
      if (!s.ok()) {
        if (stopped_) break;
        ++failures;
        metrics_->rounds_failed->Inc();
        FailAttempt(round);
        FEDGE_LOG(Warn, kLog).Round(round) << "round " << round << " failed (attempt " << failures
                                           << "): " << s.message() << "; retrying";
        co_await WaitUntil(never, Clock::now() + std::chrono::seconds(std::min(30, failures * 2)));
        continue;
      }
      failures = 0;
      next_attempt_ = 0;
      if (fresh && round_permits_ && *round_permits_ > 0) --*round_permits_;
    }
    RoundSummary summary;
    summary.round = round;
    summary.model_version = model_.version;
    summary.model_digest = model_.digest_hex;
    summary.sampled = static_cast<int>(model_.contributors.size());
    summary.updates = static_cast<int>(model_.contributors.size());
    if (round_->acc) {
      summary.sampled = static_cast<int>(round_->schedule.tasks().size());
      summary.updates = static_cast<int>(round_->contributions.size());
    }
    summary.rejected = round_->schedule.rejected();
    summary.examples = model_.total_examples;
    summary.attempt = round_->schedule.attempt();
    summary.resumed = round_->schedule.resumed();
    if (model_.metrics.contains("train")) {
      summary.train_loss = model_.metrics["train"].value("loss", 0.0);
    }
    if (r.evaluate) co_await RunEvaluation(&summary);
    if (stopped_) break;  // the evaluation is redone after a restart
    summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    summary.bytes_in = traffic_ ? traffic_->bytes_in.load() - in0 : 0;
    summary.bytes_out = traffic_ ? traffic_->bytes_out.load() - out0 : 0;
    summary.ended_ms = shared::UnixMillis();
    if (Status s = store_->FinishRound(round, ToJson(summary)); !s.ok()) {
      FEDGE_LOG(Error, kLog).Round(round)
          << "cannot store the summary of round " << round << ": " << s.ToString();
    }
    round_.reset();
    if (Result<std::optional<Campaign>> ended =
            drift_.OnRoundDone(round, summary.model_version, summary.evaluation, summary.ended_ms);
        !ended.ok()) {
      FEDGE_LOG(Error, kLog) << "drift policy: " << ended.status().ToString();
    }
    if (config_.keep_last > 0) {
      RetentionPolicy policy{config_.keep_last, config_.keep_every};
      Result<RetentionResult> pruned = ApplyRetention(*store_, policy, model_.version);
      if (!pruned.ok()) {
        FEDGE_LOG(Error, kLog) << "retention: " << pruned.status().ToString();
      } else if (!pruned->pruned.empty()) {
        FEDGE_LOG(Info, kLog) << "retention: removed the blobs of " << pruned->pruned.size()
                              << " old version(s), " << pruned->bytes_freed << " bytes";
      }
    }
    PublishSnapshot();
    FEDGE_LOG(Info, kLog).Round(round)
        << "round " << round << " complete: version " << summary.model_version << ", "
        << summary.updates << "/" << summary.sampled << " updates, " << summary.examples
        << " examples, train loss " << summary.train_loss
        << (summary.evaluation.contains("accuracy")
                ? ", federated accuracy " +
                      std::to_string(summary.evaluation["accuracy"].get<double>())
                : std::string())
        << ", " << summary.seconds << " s";
    metrics_->rounds_completed->Inc();
    metrics_->round_duration->Observe(summary.seconds);
    if (summary.evaluation.contains("accuracy")) {
      metrics_->eval_accuracy->Set(summary.evaluation["accuracy"].get<double>());
      metrics_->eval_loss->Set(summary.evaluation["loss"].get<double>());
    }
    metrics_->campaign_running->Set(drift_.running() != nullptr ? 1 : 0);
    if (on_round_) on_round_(summary);
  }
  FEDGE_LOG(Info, kLog) << "finished: model version " << model_.version << " after round "
                        << model_.round;
  finished_ = true;
  PublishSnapshot();
}

}  // namespace fedge::coordinator
