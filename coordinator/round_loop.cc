// RoundEngine's round loop: offering training, waiting for quorum or the deadline,
// committing the aggregate as the next model version, the evaluation phase and the end of a
// round. Runs on the engine's strand (RoundEngine::Run).
#include <algorithm>
#include <chrono>

#include "coordinator/registry.h"
#include "coordinator/round_engine.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/weights/arch.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

namespace {
constexpr const char* kLog = "rounds";

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

wire::Codec UpdateCodec(const std::string& name) {
  if (name == "fp16") return wire::Codec::Fp16;
  if (name == "int8") return wire::Codec::Int8;
  if (name == "topk_int8") return wire::Codec::TopKInt8;
  return wire::Codec::Fp32;
}

// The strategy that made a version, in its record's metrics.aggregation (nothing for plain
// FedAvg without an adaptive norm bound, the default).
void AggregationRecord(const AggregationSettings& a, const UpdateIngest& ingest,
                       nlohmann::json* metrics) {
  if (!a.NeedsAllUpdates()) return;
  nlohmann::json& out = (*metrics)["aggregation"];
  out["method"] = AggregationName(a.method);
  switch (a.method) {
    case AggregationMethod::kTrimmedMean:
      out["trim_fraction"] = a.trim_fraction;
      break;
    case AggregationMethod::kMultiKrum:
      out["krum_byzantine"] = a.krum_byzantine;
      out["krum_select"] = a.krum_select;
      out["selected"] = ingest.selected_clients();
      break;
    case AggregationMethod::kCenteredClip:
      out["clip_radius"] = a.clip_radius;
      out["clip_iterations"] = a.clip_iterations;
      out["bucket_size"] = a.bucket_size;
      break;
    case AggregationMethod::kFedAvg:
    case AggregationMethod::kMedian:
      break;
  }
  if (a.adaptive_norm_multiple > 0) {
    out["adaptive_norm_multiple"] = a.adaptive_norm_multiple;
    out["norm_clipped"] = ingest.norm_clipped_clients();
  }
}
}  // namespace

TaskOfferOut RoundEngine::MakeOffer(uint64_t task_id, uint64_t round, bool train,
                                    const std::string& client_id) const {
  const RoundSettings& r = config_.rounds;
  const DriftPolicy& drift = drift_.policy();
  TaskOfferOut offer;
  offer.task_id = task_id;
  offer.round = round;
  offer.train = train;
  offer.model_version = model_.version;
  offer.model_digest = model_digest_;
  offer.model_size = model_.size_bytes;
  offer.model_arch = model_.arch;
  const ml::TrainingSettings& t = r.training;
  // A drift campaign's round adds its augmentation to the configured one (the larger of each).
  ml::AugmentOptions a = t.augment;
  if (std::optional<ml::AugmentOptions> extra =
          train ? drift.CampaignAugment(round) : std::nullopt) {
    a.brightness = std::max(a.brightness, extra->brightness);
    a.contrast = std::max(a.contrast, extra->contrast);
    a.gamma = std::max(a.gamma, extra->gamma);
    a.blur_prob = std::max(a.blur_prob, extra->blur_prob);
    a.noise_std = std::max(a.noise_std, extra->noise_std);
  }
  if (a.Enabled()) offer.params.augment = a;
  std::optional<uint64_t> focus = train ? drift.FocusSince(client_id, round) : std::nullopt;
  const bool campaign = train && !drift.FavouredClients(round).empty();
  const double learning_rate = t.learning_rate * (campaign ? config_.drift.campaign_lr_scale : 1.0);
  offer.params.epochs = static_cast<uint32_t>(t.local_epochs);
  offer.params.batch_size = static_cast<uint32_t>(t.batch_size);
  offer.params.learning_rate = static_cast<float>(learning_rate);
  offer.params.momentum = static_cast<float>(t.momentum);
  offer.params.seed = MixSeed(MixSeed(r.seed, round), HashString(client_id));
  offer.params.focus_since_ms = focus.value_or(0);
  offer.params.focus_fraction = focus ? static_cast<float>(config_.drift.focus_fraction) : 0.0f;
  offer.deadline_ms = static_cast<uint32_t>(r.eval_timeout_seconds * 1000);
  if (train) {
    int64_t left = static_cast<int64_t>(round_->schedule.deadline_ms()) -
                   static_cast<int64_t>(shared::UnixMillis());
    offer.deadline_ms = static_cast<uint32_t>(std::max<int64_t>(left, 1000));
  }
  offer.codec = UpdateCodec(t.codec);
  offer.topk_fraction = t.codec == "topk_int8" ? static_cast<float>(t.topk_fraction) : 0.0f;
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

net::awaitable<void> RoundEngine::WaitForClients() {
  // The sites the defence removed lower the requirement: a quorum of every site cannot be met
  // once one is quarantined or revoked.
  const int min_clients = QuorumSettings().min_clients;
  // Quarantined sites are connected but take no task: they do not count.
  const auto eligible = [this] {
    int n = 0;
    for (const auto& [id, peer] : connected_) n += Quarantined(id) ? 0 : 1;
    return n;
  };
  const std::function<bool()> enough = [eligible, min_clients] {
    return eligible() >= min_clients;
  };
  if (!enough()) {
    const int quarantined = static_cast<int>(connected_.size()) - eligible();
    FEDGE_LOG(Info, kLog) << "waiting for " << min_clients << " clients to connect ("
                          << connected_.size() << " connected"
                          << (quarantined > 0 ? ", " + std::to_string(quarantined) +
                                                    " of them quarantined (fedgectl clients)"
                                              : std::string())
                          << ")";
  }
  co_await WaitUntil(enough, Clock::now() + std::chrono::hours(24 * 365));
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
  int quarantined = 0, too_small = 0;
  for (const auto& [id, peer] : connected_) {  // sorted by id
    if (Quarantined(id)) {
      ++quarantined;
      continue;
    }
    auto hello = hellos_.find(id);
    const uint64_t examples = hello == hellos_.end() ? 0 : hello->second.train_examples;
    if (examples < config_.rounds.min_train_examples) {  // nothing to vote with
      ++too_small;
      continue;
    }
    ids.push_back(id);
  }
  const int min_fit = QuorumSettings().min_fit;
  if (static_cast<int>(ids.size()) < min_fit && (quarantined > 0 || too_small > 0)) {
    return Status::Unavailable(
        std::to_string(ids.size()) + " of the " + std::to_string(connected_.size()) +
        " connected sites can train (" + std::to_string(quarantined) + " quarantined, " +
        std::to_string(too_small) + " registered fewer than rounds.min_train_examples = " +
        std::to_string(config_.rounds.min_train_examples) + " examples); rounds.min_fit is " +
        std::to_string(min_fit));
  }
  // A drift campaign's drifted clients are sampled first (all of them that are connected).
  FEDGE_ASSIGN_OR_RETURN(
      RoundSchedule schedule,
      RoundSchedule::StartTraining(QuorumSettings(), round, next_attempt_, std::move(ids),
                                   drift_.policy().FavouredClients(round), shared::UnixMillis()));
  OpenRoundState(std::move(schedule), /*training=*/true);
  metrics_->rounds_started->Inc();
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

ModelRecord RoundEngine::NextModelRecord(uint64_t round, uint64_t version) const {
  ModelRecord record;
  record.version = version;
  record.parent = model_.version;
  record.round = round;
  record.arch = model_.arch;
  record.created_ms = shared::UnixMillis();
  record.contributors = ingest_->contributions();
  std::sort(record.contributors.begin(), record.contributors.end(),
            [](const Contribution& a, const Contribution& b) { return a.client_id < b.client_id; });
  record.total_examples = 0;  // examples, not fold weights (a campaign weighs some clients more)
  for (const Contribution& c : ingest_->contributions()) record.total_examples += c.examples;
  double train_loss = ingest_->loss_sum() / static_cast<double>(record.total_examples);
  record.metrics = {{"train", {{"loss", train_loss}, {"examples", record.total_examples}}}};
  if (model_.metrics.contains("prune")) {  // fine-tuning a pruned model: carry its recipe
    nlohmann::json prune = model_.metrics.at("prune");
    prune["fine_tune_rounds"] = prune.value("fine_tune_rounds", uint64_t{0}) + 1;
    record.metrics["prune"] = std::move(prune);
  }
  return record;
}

net::awaitable<Status> RoundEngine::CommitTrainRound(uint64_t round) {
  const auto finalize_start = Clock::now();
  FEDGE_CO_ASSIGN_OR_RETURN(shared::TensorBundle state, ingest_->Finalize());
  FEDGE_CO_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(state));
  metrics_->finalize_seconds->Observe(
      std::chrono::duration<double>(Clock::now() - finalize_start).count());
  // Imports may have taken version numbers since the head was made: take the next free one.
  FEDGE_CO_ASSIGN_OR_RETURN(std::optional<ModelRecord> highest, store_->LatestModel());
  ModelRecord record =
      NextModelRecord(round, std::max(model_.version, highest ? highest->version : 0) + 1);
  if (config_.rounds.max_update_norm > 0) {
    record.metrics["aggregation"]["max_update_norm"] = config_.rounds.max_update_norm;
  }
  AggregationRecord(config_.rounds.aggregation, *ingest_, &record.metrics);
  if (!ingest_->capped_clients().empty()) {
    record.metrics["aggregation"]["max_client_share"] = config_.rounds.max_client_share;
    record.metrics["aggregation"]["capped"] = ingest_->capped_clients();
  }
  DefenceOutcome defence = ScoreRound(round, &record.metrics);
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  round_->schedule.EndTraining();  // the stored state moves to the evaluation phase
  FEDGE_CO_RETURN_IF_ERROR(store_->CommitRound(record, blob, round_->schedule.ToOpenRound(),
                                               defence.standings, defence.revocations));
  ApplyDefence(std::move(defence));
  blobs_.ClearUploads();  // partial uploads were for this round
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
  // Reports must have the model's number of classes: the first report must not decide it.
  Result<ml::ArchInfo> arch = ml::ParseArch(model_.arch);
  round_->eval.Start(model_.version, arch.ok() ? static_cast<uint32_t>(arch->num_classes) : 0);
  for (const auto& [id, peer] : connected_) {
    if (Quarantined(id)) continue;
    const uint64_t task = round_->schedule.AddEvalTask(id);
    peer->SendOffer(MakeOffer(task, round_->schedule.round(), /*train=*/false, id));
  }
  PublishSnapshot();
  const std::function<bool()> answered = [this] { return round_->schedule.Answered(); };
  co_await WaitUntil(answered,
                     Clock::now() + std::chrono::seconds(config_.rounds.eval_timeout_seconds));
  if (round_->eval.empty()) {
    summary->evaluation = round_->eval.Summary();  // {"clients": 0}
    co_return;
  }
  drift_.PublishProfile(round_->eval, connected_);
  summary->evaluation = round_->eval.Summary();
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
  CloseRound();
  next_attempt_ = attempt;
  PublishSnapshot();
}

net::awaitable<void> RoundEngine::RetryAfterFailure(uint64_t round, Status failure, int failures) {
  metrics_->rounds_failed->Inc();
  FailAttempt(round);
  FEDGE_LOG(Warn, kLog).Round(round) << "round " << round << " failed (attempt " << failures
                                     << "): " << failure.message() << "; retrying";
  const std::function<bool()> never = [] { return false; };
  co_await WaitUntil(never, Clock::now() + std::chrono::seconds(std::min(30, failures * 2)));
}

RoundEngine::RoundStart RoundEngine::MarkStart() const {
  return {Clock::now(), traffic_ ? traffic_->bytes_in.load() : 0,
          traffic_ ? traffic_->bytes_out.load() : 0};
}

RoundSummary RoundEngine::StartSummary(uint64_t round) const {
  RoundSummary summary;
  summary.round = round;
  summary.model_version = model_.version;
  summary.model_digest = model_.digest_hex;
  summary.sampled = static_cast<int>(model_.contributors.size());
  summary.updates = static_cast<int>(model_.contributors.size());
  if (ingest_->aggregating()) {
    summary.sampled = static_cast<int>(round_->schedule.tasks().size());
    summary.updates = static_cast<int>(ingest_->contributions().size());
  }
  summary.rejected = round_->schedule.rejected();
  summary.examples = model_.total_examples;
  summary.attempt = round_->schedule.attempt();
  summary.resumed = round_->schedule.resumed();
  if (model_.round == round && model_.metrics.contains("defence")) {
    summary.defence = model_.metrics.at("defence");
  }
  if (model_.round == round && model_.metrics.contains("aggregation")) {
    summary.aggregation = model_.metrics.at("aggregation");
  }
  // A registry written before losses were bounded may hold null (a non-finite loss): 0.
  if (const auto train = model_.metrics.find("train");
      train != model_.metrics.end() && train->is_object()) {
    const auto loss = train->find("loss");
    if (loss != train->end() && loss->is_number()) summary.train_loss = loss->get<double>();
  }
  return summary;
}

void RoundEngine::ApplyRetentionPolicy() {
  if (model_.round > config_.idempotency_rounds) {
    Result<uint64_t> forgotten =
        store_->ForgetAcceptedBefore(model_.round - config_.idempotency_rounds + 1);
    if (!forgotten.ok()) {
      FEDGE_LOG(Error, kLog) << "retention: " << forgotten.status().ToString();
    } else if (*forgotten > 0) {
      FEDGE_LOG(Debug, kLog) << "retention: forgot " << *forgotten << " idempotency id(s)";
    }
  }
  if (config_.keep_last <= 0) return;
  RetentionPolicy policy{config_.keep_last, config_.keep_every};
  Result<RetentionResult> pruned = ApplyRetention(*store_, policy, model_.version);
  if (!pruned.ok()) {
    FEDGE_LOG(Error, kLog) << "retention: " << pruned.status().ToString();
  } else if (!pruned->pruned.empty()) {
    FEDGE_LOG(Info, kLog) << "retention: removed the blobs of " << pruned->pruned.size()
                          << " old version(s), " << pruned->bytes_freed << " bytes";
  }
}

void RoundEngine::CompleteRound(uint64_t round, const RoundStart& start, RoundSummary* out) {
  RoundSummary& summary = *out;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start.time).count();
  summary.bytes_in = traffic_ ? traffic_->bytes_in.load() - start.bytes_in : 0;
  summary.bytes_out = traffic_ ? traffic_->bytes_out.load() - start.bytes_out : 0;
  summary.ended_ms = shared::UnixMillis();
  if (Status s = store_->FinishRound(round, ToJson(summary)); !s.ok()) {
    FEDGE_LOG(Error, kLog).Round(round)
        << "cannot store the summary of round " << round << ": " << s.ToString();
  }
  CloseRound();
  if (Result<std::optional<Campaign>> ended = drift_.policy().OnRoundDone(
          round, summary.model_version, summary.evaluation, summary.ended_ms);
      !ended.ok()) {
    FEDGE_LOG(Error, kLog) << "drift policy: " << ended.status().ToString();
  }
  ApplyRetentionPolicy();
  PublishSnapshot();
  const bool evaluated = summary.evaluation.contains("accuracy");
  FEDGE_LOG(Info, kLog).Round(round)
      << "round " << round << " complete: version " << summary.model_version << ", "
      << summary.updates << "/" << summary.sampled << " updates, " << summary.examples
      << " examples, train loss " << summary.train_loss
      << (evaluated ? ", federated accuracy " +
                          std::to_string(summary.evaluation["accuracy"].get<double>())
                    : std::string())
      << ", " << summary.seconds << " s";
  metrics_->rounds_completed->Inc();
  metrics_->round_duration->Observe(summary.seconds);
  if (evaluated) {
    metrics_->eval_accuracy->Set(summary.evaluation["accuracy"].get<double>());
    metrics_->eval_loss->Set(summary.evaluation["loss"].get<double>());
  }
  drift_.UpdateCampaignMetric();
  if (on_round_) on_round_(summary);
}

net::awaitable<void> RoundEngine::Run(bool exit_when_done) {
  const std::function<bool()> more_rounds = [this] {
    return round_ != nullptr ||
           (model_.round < target_round_ && (!round_permits_ || *round_permits_ > 0));
  };
  int failures = 0;
  while (!stopped_) {
    if (!more_rounds()) {
      if (exit_when_done) break;
      finished_ = true;
      PublishSnapshot();
      co_await WaitUntil(more_rounds, Clock::now() + std::chrono::hours(24 * 365));
      continue;
    }
    finished_ = false;
    const uint64_t round = round_ ? round_->schedule.round() : model_.round + 1;
    const bool resuming_training = round_ && round_->schedule.training();
    if (!resuming_training) {  // a resumed training round does not wait for quorum
      co_await WaitForClients();
      if (stopped_) break;
    }
    const RoundStart start = MarkStart();
    const bool fresh = !round_;
    if (!round_ || resuming_training) {
      Status s = co_await RunTrainRound(round);
      if (!s.ok()) {
        if (stopped_) break;
        co_await RetryAfterFailure(round, s, ++failures);
        continue;
      }
      failures = 0;
      next_attempt_ = 0;
      if (fresh && round_permits_ && *round_permits_ > 0) --*round_permits_;
    }
    RoundSummary summary = StartSummary(round);
    if (config_.rounds.evaluate) co_await RunEvaluation(&summary);
    if (stopped_) break;  // the evaluation is redone after a restart
    CompleteRound(round, start, &summary);
  }
  FEDGE_LOG(Info, kLog) << "finished: model version " << model_.version << " after round "
                        << model_.round;
  finished_ = true;
  PublishSnapshot();
}

}  // namespace fedge::coordinator
