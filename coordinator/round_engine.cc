#include "coordinator/round_engine.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "shared/bundle_codec.h"
#include "shared/log.h"
#include "shared/ml/model.h"
#include "shared/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

namespace {
constexpr const char* kLog = "rounds";

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x;
}

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

struct RoundEngine::RoundState {
  uint64_t round = 0;
  bool training = true;
  std::map<std::string, uint64_t> pending;  // client -> task id still expected
  std::map<std::string, uint64_t> tasks;    // client -> task id offered
  std::set<std::string> accepted_ids;       // idempotency ids folded this round
  std::unique_ptr<FedAvgAccumulator> acc;
  std::vector<Contribution> contributions;
  double loss_sum = 0;
  int rejected = 0;
  // evaluation
  uint64_t eval_version = 0;
  std::vector<uint64_t> confusion;
  uint32_t num_classes = 0;
  double eval_loss_sum = 0;
  uint64_t eval_examples = 0;
  int eval_reports = 0;
};

RoundEngine::RoundEngine(net::any_io_executor strand, Store* store, CoordinatorConfig config,
                         std::shared_ptr<shared::TrafficCounters> traffic)
    : strand_(strand),
      store_(store),
      config_(std::move(config)),
      traffic_(std::move(traffic)),
      wake_(strand) {}

RoundEngine::~RoundEngine() = default;

Status RoundEngine::Init() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<ModelRecord> latest, store_->LatestModel());
  if (latest) {
    FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(latest->digest_hex));
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, store_->GetBlob(digest));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(blob));
    FEDGE_LOG(Info, kLog) << "resuming from model version " << latest->version << " (round "
                          << latest->round << ")";
    return InstallModel(*latest, std::move(blob), std::move(state));
  }
  FEDGE_ASSIGN_OR_RETURN(ml::Model model,
                         ml::Model::Create(config_.model_arch, config_.model_seed));
  shared::TensorBundle state = model.State();
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(state));
  ModelRecord record;
  record.version = 1;
  record.round = 0;
  record.arch = config_.model_arch;
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  record.created_ms = shared::UnixMillis();
  record.metrics = {{"note", "initial model, seed " + std::to_string(config_.model_seed)}};
  FEDGE_RETURN_IF_ERROR(store_->PutModel(record, blob));
  FEDGE_LOG(Info, kLog) << "created initial model version 1 (" << config_.model_arch << ", "
                        << state.NumElements() << " parameters)";
  return InstallModel(record, std::move(blob), std::move(state));
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
  model_ = record;
  state_ = std::move(state);
  version_ = record.version;
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
      FEDGE_LOG(Error, kLog) << "cannot record client " << id << ": " << s.ToString();
    }
    connected_[id] = std::move(peer);
    hellos_[id] = std::move(hello);
    FEDGE_LOG(Debug, kLog) << "client " << id << " ready (" << connected_.size() << " connected)";
    Wake();
  });
}

void RoundEngine::Disconnected(std::shared_ptr<Peer> peer) {
  net::asio::post(strand_, [this, peer = std::move(peer)] {
    const std::string& id = peer->client_id();
    auto it = connected_.find(id);
    if (it == connected_.end() || it->second != peer) return;  // replaced by a newer session
    connected_.erase(it);
    if (round_ && round_->pending.erase(id) > 0) {
      FEDGE_LOG(Warn, kLog) << "client " << id << " disconnected with an open task in round "
                            << round_->round;
    }
    if (Result<std::optional<ClientRecord>> r = store_->GetClient(id); r.ok() && r->has_value()) {
      ClientRecord rec = **r;
      rec.last_seen_ms = shared::UnixMillis();
      store_->PutClient(rec).IgnoreError();
    }
    Wake();
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

void RoundEngine::Stop() {
  net::asio::post(strand_, [this] {
    stopped_ = true;
    Wake();
  });
}

void RoundEngine::OnUpdate(std::shared_ptr<Peer> peer, UpdateIn u) {
  const std::string& id = peer->client_id();
  auto reject = [&](const Status& s) {
    FEDGE_LOG(Warn, kLog) << "rejected update from " << id << " for round " << u.round << ": "
                          << s.ToString();
    if (round_ && round_->training && u.round == round_->round) {
      ++round_->rejected;
      if (round_->pending.erase(id) > 0 && round_->pending.empty()) Wake();
    }
    peer->Send(shared::MakeErrorMessage(s, u.task_id));
  };
  if (!round_ || !round_->training || u.round != round_->round) {
    std::string open = round_ && round_->training ? std::to_string(round_->round) : "none";
    return reject(Status::InvalidArgument("round " + std::to_string(u.round) +
                                          " is not open for updates (open round: " + open + ")"));
  }
  if (round_->accepted_ids.count(u.idempotency_id)) {
    peer->Send(shared::MakeAck(u.task_id, "duplicate update " + u.idempotency_id + " ignored"));
    return;
  }
  auto task = round_->tasks.find(id);
  if (task == round_->tasks.end() || task->second != u.task_id) {
    return reject(Status::InvalidArgument("task " + std::to_string(u.task_id) +
                                          " was not offered to " + id + " in this round"));
  }
  if (!round_->pending.count(id)) {
    return reject(Status::AlreadyExists("an update for task " + std::to_string(u.task_id) +
                                        " was already answered"));
  }
  if (u.examples == 0 || u.examples > (1ull << 32)) {
    return reject(Status::InvalidArgument("example count " + std::to_string(u.examples) +
                                          " is out of range"));
  }
  shared::DecodeLimits limits;
  limits.max_elements = static_cast<uint64_t>(state_.NumElements());
  limits.max_tensors = state_.tensors.size();
  Result<shared::TensorBundle> bundle = shared::DecodeBundle(u.blob, limits);
  if (!bundle.ok()) return reject(bundle.status().WithContext("update blob"));
  if (Status s = round_->acc->Fold(*bundle, u.examples); !s.ok()) return reject(s);
  round_->accepted_ids.insert(u.idempotency_id);
  round_->contributions.push_back({id, u.examples});
  for (const auto& [k, v] : u.metrics) {
    if (k == "loss" && std::isfinite(v)) round_->loss_sum += v * static_cast<double>(u.examples);
  }
  round_->pending.erase(id);
  peer->Send(shared::MakeAck(u.task_id, "update accepted for round " + std::to_string(u.round)));
  FEDGE_LOG(Debug, kLog) << "folded update from " << id << " (" << u.examples << " examples)";
  if (round_->pending.empty()) Wake();
}

void RoundEngine::OnEval(std::shared_ptr<Peer> peer, EvalIn e) {
  const std::string& id = peer->client_id();
  if (!round_ || round_->training || e.round != round_->round ||
      e.model_version != round_->eval_version || !round_->pending.count(id) ||
      round_->tasks[id] != e.task_id) {
    peer->Send(shared::MakeErrorMessage(
        Status::InvalidArgument("no open evaluation task " + std::to_string(e.task_id)),
        e.task_id));
    return;
  }
  round_->pending.erase(id);
  uint32_t k = e.num_classes;
  uint64_t sum = 0;
  for (uint64_t c : e.confusion) sum += c;
  if (k == 0 || k > 1000 || e.confusion.size() != static_cast<size_t>(k) * k || sum != e.examples ||
      !std::isfinite(e.loss) || e.loss < 0 ||
      (round_->num_classes != 0 && round_->num_classes != k)) {
    peer->Send(shared::MakeErrorMessage(
        Status::InvalidArgument("evaluation report is inconsistent (confusion matrix of " +
                                std::to_string(e.confusion.size()) + " cells for " +
                                std::to_string(k) + " classes, " + std::to_string(sum) +
                                " counted vs " + std::to_string(e.examples) + " examples)"),
        e.task_id));
  } else {
    if (round_->confusion.empty()) round_->confusion.assign(static_cast<size_t>(k) * k, 0);
    round_->num_classes = k;
    for (size_t i = 0; i < e.confusion.size(); ++i) round_->confusion[i] += e.confusion[i];
    round_->eval_loss_sum += e.loss * static_cast<double>(e.examples);
    round_->eval_examples += e.examples;
    ++round_->eval_reports;
    peer->Send(shared::MakeAck(e.task_id, "evaluation recorded"));
  }
  if (round_->pending.empty()) Wake();
}

std::vector<uint8_t> RoundEngine::MakeOffer(uint64_t task_id, uint64_t round, bool train,
                                            const std::string& client_id) const {
  const RoundSettings& r = config_.rounds;
  flatbuffers::FlatBufferBuilder fbb(512);
  Result<shared::Digest> digest = shared::DigestFromHex(model_.digest_hex);
  auto d = fbb.CreateVector(digest->data(), digest->size());
  auto arch = fbb.CreateString(model_.arch);
  auto params = wire::CreateTrainParams(
      fbb, static_cast<uint32_t>(r.local_epochs), static_cast<uint32_t>(r.batch_size),
      static_cast<float>(r.learning_rate), static_cast<float>(r.momentum),
      MixSeed(MixSeed(r.seed, round), HashString(client_id)));
  uint32_t deadline_ms =
      static_cast<uint32_t>((train ? r.timeout_seconds : r.eval_timeout_seconds) * 1000);
  auto offer = wire::CreateTaskOffer(
      fbb, task_id, round, train ? wire::TaskKind::Train : wire::TaskKind::Evaluate, model_.version,
      d, model_.size_bytes, arch, params, deadline_ms, wire::Codec::Fp32);
  return shared::FinishEnvelope(fbb, offer);
}

net::awaitable<void> RoundEngine::WaitUntil(const std::function<bool()>& done,
                                            Clock::time_point deadline) {
  while (!stopped_ && !done() && Clock::now() < deadline) {
    wake_.expires_at(deadline);
    net::error_code ec;
    co_await wake_.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<Status> RoundEngine::RunTrainRound(uint64_t round) {
  const RoundSettings& r = config_.rounds;
  std::vector<std::string> ids;
  for (const auto& [id, peer] : connected_) ids.push_back(id);  // sorted by id
  if (static_cast<int>(ids.size()) < r.min_fit) {
    co_return Status::Unavailable(std::to_string(ids.size()) + " clients connected, min_fit is " +
                                  std::to_string(r.min_fit));
  }
  std::mt19937_64 rng(MixSeed(r.seed, round));
  std::shuffle(ids.begin(), ids.end(), rng);
  size_t k = static_cast<size_t>(std::ceil(r.fraction_fit * static_cast<double>(ids.size())));
  k = std::min(ids.size(), std::max<size_t>(k, static_cast<size_t>(r.min_fit)));
  ids.resize(k);

  round_ = std::make_unique<RoundState>();
  round_->round = round;
  round_->acc = std::make_unique<FedAvgAccumulator>(state_);
  for (const std::string& id : ids) {
    uint64_t task = next_task_id_++;
    round_->tasks[id] = task;
    round_->pending[id] = task;
    connected_[id]->Send(MakeOffer(task, round, /*train=*/true, id));
  }
  FEDGE_LOG(Info, kLog) << "round " << round << ": offered training to " << k << " of "
                        << connected_.size() << " clients";
  const std::function<bool()> answered = [this] { return round_->pending.empty(); };
  co_await WaitUntil(answered, Clock::now() + std::chrono::seconds(r.timeout_seconds));
  if (stopped_) co_return Status::Unavailable("stopped");
  int accepted = static_cast<int>(round_->contributions.size());
  if (accepted < r.min_fit) {
    co_return Status::Unavailable("round " + std::to_string(round) + " got " +
                                  std::to_string(accepted) + " valid updates, min_fit is " +
                                  std::to_string(r.min_fit));
  }
  if (!round_->pending.empty()) {
    FEDGE_LOG(Warn, kLog) << "round " << round << ": deadline passed; " << round_->pending.size()
                          << " sampled client(s) did not answer";
  }
  FEDGE_CO_ASSIGN_OR_RETURN(shared::TensorBundle state, round_->acc->Finalize());
  FEDGE_CO_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(state));
  ModelRecord record;
  record.version = model_.version + 1;
  record.parent = model_.version;
  record.round = round;
  record.arch = model_.arch;
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  record.created_ms = shared::UnixMillis();
  record.contributors = round_->contributions;
  std::sort(record.contributors.begin(), record.contributors.end(),
            [](const Contribution& a, const Contribution& b) { return a.client_id < b.client_id; });
  record.total_examples = round_->acc->total_weight();
  double train_loss = round_->loss_sum / static_cast<double>(record.total_examples);
  record.metrics = {{"train", {{"loss", train_loss}, {"examples", record.total_examples}}}};
  FEDGE_CO_RETURN_IF_ERROR(store_->PutModel(record, blob));
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

net::awaitable<void> RoundEngine::RunEvaluation(uint64_t round, RoundSummary* summary) {
  round_->training = false;
  round_->pending.clear();
  round_->tasks.clear();
  round_->eval_version = model_.version;
  for (const auto& [id, peer] : connected_) {
    uint64_t task = next_task_id_++;
    round_->tasks[id] = task;
    round_->pending[id] = task;
    peer->Send(MakeOffer(task, round, /*train=*/false, id));
  }
  const std::function<bool()> answered = [this] { return round_->pending.empty(); };
  co_await WaitUntil(answered,
                     Clock::now() + std::chrono::seconds(config_.rounds.eval_timeout_seconds));
  if (round_->eval_examples == 0) {
    summary->evaluation = {{"clients", 0}};
    co_return;
  }
  std::vector<int64_t> confusion(round_->confusion.begin(), round_->confusion.end());
  ml::EvalResult m = ml::MetricsFromConfusion(confusion, static_cast<int>(round_->num_classes),
                                              round_->eval_loss_sum);
  summary->evaluation = {{"clients", round_->eval_reports},
                         {"examples", m.examples},
                         {"accuracy", m.accuracy},
                         {"loss", m.loss},
                         {"macro_f1", m.macro_f1},
                         {"precision", m.precision},
                         {"recall", m.recall}};
  nlohmann::json metrics = model_.metrics;
  metrics["federated_eval"] = summary->evaluation;
  model_.metrics = metrics;
  if (Status s = store_->UpdateModelMetrics(model_.version, metrics); !s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot store evaluation of version " << model_.version << ": "
                           << s.ToString();
  }
}

net::awaitable<void> RoundEngine::Run() {
  const RoundSettings& r = config_.rounds;
  const std::function<bool()> enough = [this, &r] {
    return static_cast<int>(connected_.size()) >= r.min_clients;
  };
  const std::function<bool()> never = [] { return false; };
  if (!enough()) {
    FEDGE_LOG(Info, kLog) << "waiting for " << r.min_clients << " clients to connect";
  }
  uint64_t round = model_.round + 1;
  int failures = 0;
  while (!stopped_ && round <= static_cast<uint64_t>(r.count)) {
    co_await WaitUntil(enough, Clock::now() + std::chrono::hours(24 * 365));
    if (stopped_) break;
    auto t0 = Clock::now();
    uint64_t in0 = traffic_ ? traffic_->bytes_in.load() : 0;
    uint64_t out0 = traffic_ ? traffic_->bytes_out.load() : 0;
    Status s = co_await RunTrainRound(round);
    if (!s.ok()) {
      round_.reset();
      if (stopped_) break;
      ++failures;
      FEDGE_LOG(Warn, kLog) << "round " << round << " failed (attempt " << failures
                            << "): " << s.message() << "; retrying";
      co_await WaitUntil(never, Clock::now() + std::chrono::seconds(std::min(30, failures * 2)));
      continue;
    }
    failures = 0;
    RoundSummary summary;
    summary.round = round;
    summary.model_version = model_.version;
    summary.model_digest = model_.digest_hex;
    summary.sampled = static_cast<int>(round_->tasks.size());
    summary.updates = static_cast<int>(round_->contributions.size());
    summary.rejected = round_->rejected;
    summary.examples = round_->acc->total_weight();
    summary.train_loss = model_.metrics["train"]["loss"].get<double>();
    if (r.evaluate) co_await RunEvaluation(round, &summary);
    summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    summary.bytes_in = traffic_ ? traffic_->bytes_in.load() - in0 : 0;
    summary.bytes_out = traffic_ ? traffic_->bytes_out.load() - out0 : 0;
    round_.reset();
    FEDGE_LOG(Info, kLog) << "round " << round << " complete: version " << summary.model_version
                          << ", " << summary.updates << "/" << summary.sampled << " updates, "
                          << summary.examples << " examples, train loss " << summary.train_loss
                          << (summary.evaluation.contains("accuracy")
                                  ? ", federated accuracy " +
                                        std::to_string(summary.evaluation["accuracy"].get<double>())
                                  : std::string())
                          << ", " << summary.seconds << " s";
    if (on_round_) on_round_(summary);
    ++round;
  }
  FEDGE_LOG(Info, kLog) << "finished: model version " << model_.version << " after round "
                        << model_.round;
  finished_ = true;
}

}  // namespace fedge::coordinator
