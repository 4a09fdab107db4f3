#include "coordinator/update_ingest.h"

#include <chrono>
#include <cmath>
#include <map>

#include "coordinator/norm_bound.h"
#include "shared/base/log.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

namespace {
constexpr const char* kLog = "rounds";

// `fn()` on an ingest-pool thread, where an escaping exception would abort the process (Boost's
// thread_pool does not catch): it becomes an Internal status, and the update is rejected.
template <typename Fn>
auto Guarded(const char* step, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    FEDGE_LOG(Error, kLog) << step << " an update threw: " << e.what();
    return Status::Internal(std::string(step) + " the update failed on the coordinator");
  }
}

// The rejection reason for a failed CheckSubmission.
const char* SubmissionReason(const Status& s) {
  return s.code() == shared::Code::kIOError || s.code() == shared::Code::kCorruption
             ? reject::kStorage
             : reject::kNotExpected;
}
}  // namespace

UpdateIngest::UpdateIngest(net::any_io_executor strand, Store* store, const BlobService* blobs,
                           Hooks hooks, std::shared_ptr<CoordinatorMetrics> metrics)
    : strand_(std::move(strand)),
      store_(store),
      blobs_(blobs),
      hooks_(std::move(hooks)),
      metrics_(std::move(metrics)),
      pool_(std::make_unique<net::asio::thread_pool>(2)) {}

UpdateIngest::~UpdateIngest() = default;

void UpdateIngest::Open(RoundSchedule* schedule, const shared::TensorBundle* base,
                        const shared::Digest& base_digest) {
  schedule_ = schedule;
  base_ = base;
  base_digest_ = base_digest;
  acc_ = base ? std::make_unique<FedAvgAccumulator>(*base) : nullptr;
  contributions_.clear();
  loss_sum_ = 0;
}

void UpdateIngest::Close() { Open(nullptr, nullptr, shared::Digest{}); }

Result<shared::TensorBundle> UpdateIngest::Finalize() {
  scores_.clear();
  capped_clients_.clear();
  selected_clients_.clear();
  norm_clipped_clients_.clear();
  std::vector<uint64_t> weights;
  std::map<std::string, uint64_t> weight_of;
  for (const Contribution& c : contributions_) {
    const uint64_t w = hooks_.fold_weight(c.client_id, schedule_->round(), c.examples);
    weights.push_back(w);
    weight_of[c.client_id] = w;
  }
  const std::optional<uint64_t> cap =
      max_share_ppm_ < 1000000 ? ShareCap(weights, max_share_ppm_) : std::nullopt;
  if (!cap && !aggregation_.NeedsAllUpdates() && !defence_.Scoring()) return acc_->Finalize();
  if (cap) {
    for (const auto& [id, w] : weight_of) {
      if (w > *cap) capped_clients_.push_back(id);
    }
    FEDGE_LOG(Info, kLog).Round(schedule_->round())
        << "round " << schedule_->round() << ": the weight of " << capped_clients_.size()
        << " site(s) cut to " << *cap << " (rounds.max_client_share "
        << static_cast<double>(max_share_ppm_) / 1e6 << ")";
  }
  // Read back from the durable copies, with every weight at most `cap`.
  std::vector<SiteUpdate> updates;
  FEDGE_RETURN_IF_ERROR(store_->ForEachUpdate(
      schedule_->round(), [&](const UpdateRecord& r, std::vector<uint8_t> blob) -> Status {
        auto it = weight_of.find(r.client_id);
        if (it == weight_of.end()) return Status::Ok();  // not part of this attempt
        FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle bundle, DecodeValues(blob));
        updates.push_back(
            {r.client_id, cap ? std::min(it->second, *cap) : it->second, std::move(bundle)});
        return Status::Ok();
      }));
  if (updates.size() != contributions_.size()) {
    return Status::Internal("found " + std::to_string(updates.size()) + " stored updates for " +
                            std::to_string(contributions_.size()) + " contributions");
  }
  if (defence_.Scoring()) {
    FEDGE_ASSIGN_OR_RETURN(scores_, ScoreUpdates(updates, *base_, defence_));
    for (const UpdateScore& sc : scores_) {
      for (const std::string& reason : sc.reasons) metrics_->Flagged(reason);
    }
  }
  // Scoring alone does not change the model: plain FedAvg keeps the running accumulator's.
  if (!cap && !aggregation_.NeedsAllUpdates()) return acc_->Finalize();
  return Aggregate(std::move(updates));
}

Result<shared::TensorBundle> UpdateIngest::Aggregate(std::vector<SiteUpdate> updates) {
  if (aggregation_.adaptive_norm_multiple > 0) {
    FEDGE_ASSIGN_OR_RETURN(norm_clipped_clients_,
                           ClipToMedianNorm(&updates, *base_, aggregation_.adaptive_norm_multiple));
  }
  if (aggregation_.method == AggregationMethod::kFedAvg) {
    FedAvgAccumulator acc(*base_);
    for (SiteUpdate& u : updates) FEDGE_RETURN_IF_ERROR(acc.Fold(std::move(u.values), u.weight));
    return acc.Finalize();
  }
  FEDGE_ASSIGN_OR_RETURN(RobustResult r,
                         RobustAggregate(std::move(updates), *base_, aggregation_,
                                         MixSeed(aggregation_seed_, schedule_->round())));
  selected_clients_ = std::move(r.selected);
  return std::move(r.model);
}

shared::DecodeLimits UpdateIngest::Limits() const {
  shared::DecodeLimits limits;
  limits.max_elements = static_cast<uint64_t>(base_->NumElements());
  limits.max_tensors = base_->tensors.size();
  return limits;
}

void UpdateIngest::Contribute(const std::string& client_id, uint64_t examples, double loss) {
  contributions_.push_back({client_id, examples});
  if (std::isfinite(loss)) loss_sum_ += loss * static_cast<double>(examples);
}

Result<shared::TensorBundle> UpdateIngest::DecodeValues(std::span<const uint8_t> blob) const {
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle bundle,
                         shared::DecodeUpdate(blob, Limits(), *base_, base_digest_));
  if (max_update_norm_ > 0) {
    FEDGE_ASSIGN_OR_RETURN(double norm, ClipToNorm(&bundle, *base_, max_update_norm_));
    if (norm > max_update_norm_) metrics_->updates_clipped->Inc();
  }
  return bundle;
}

Status UpdateIngest::Refold(const UpdateRecord& record, std::vector<uint8_t> blob) {
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle bundle, DecodeValues(blob));
  blob = {};
  FEDGE_RETURN_IF_ERROR(acc_->Fold(
      std::move(bundle), hooks_.fold_weight(record.client_id, record.round, record.examples)));
  schedule_->Accept(record.client_id, record.idempotency_id);
  Contribute(record.client_id, record.examples, record.loss);
  return Status::Ok();
}

Status UpdateIngest::CheckSubmission(const std::string& client_id, uint64_t round, uint64_t task_id,
                                     const std::string& idempotency_id, bool* duplicate) {
  *duplicate = false;
  if (schedule_ && schedule_->IsAccepted(client_id, idempotency_id)) {
    *duplicate = true;
    return Status::Ok();
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<UpdateRecord> earlier,
                         store_->AcceptedUpdate(client_id, idempotency_id));
  if (earlier) {
    *duplicate = true;
    return Status::Ok();
  }
  if (!schedule_) {
    return Status::InvalidArgument("round " + std::to_string(round) +
                                   " is not open for updates (open round: none)");
  }
  return schedule_->CheckTask(client_id, round, task_id);
}

void UpdateIngest::OfferUpload(const std::shared_ptr<Peer>& peer, const UploadIntent& in) {
  bool duplicate = false;
  Status s =
      CheckSubmission(peer->client_id(), in.round, in.task_id, in.idempotency_id, &duplicate);
  const uint64_t max_bytes = blobs_->max_update_bytes();
  if (s.ok() && !duplicate && in.size > max_bytes) {
    s = Status::ResourceExhausted("update of " + std::to_string(in.size) +
                                  " bytes exceeds the limit of " + std::to_string(max_bytes) +
                                  " for this model");
  }
  if (duplicate) {
    ++duplicates_ignored_;
    peer->SendAck(in.task_id, AckKind::kDuplicate,
                  "duplicate update " + in.idempotency_id + " ignored: it was accepted before");
    hooks_.changed();
  } else if (!s.ok()) {
    metrics_->Rejected(s.code() == shared::Code::kResourceExhausted ? reject::kTooLarge
                                                                    : SubmissionReason(s));
    peer->SendError(s, in.task_id, wire::ErrorSubject::Update);
  } else {
    peer->SendBlobRequest(wire::BlobKind::Update, in.digest, in.offset);
  }
}

Status UpdateIngest::CapExamples(const std::string& client_id, UpdateIn* u) {
  if (u->examples == 0 || u->examples > (1ull << 32)) {
    return Status::InvalidArgument("example count " + std::to_string(u->examples) +
                                   " is out of range");
  }
  if (!hooks_.example_cap) return Status::Ok();
  const uint64_t cap = hooks_.example_cap(client_id, u->round);
  if (cap == 0) {
    return Status::InvalidArgument(
        "this site registered no training examples when it connected, so its update has no "
        "weight; label data on the site, then reconnect");
  }
  if (u->examples > cap) {
    // The weight is capped, not refused: a site that labelled frames since it connected is
    // honest, only its registration is stale. What is stored is the capped count, so a resumed
    // round folds the same weights.
    FEDGE_LOG(Warn, kLog).Client(client_id).Round(u->round)
        << "update from " << client_id << " claims " << u->examples << " examples; counted as "
        << cap << " (its registered training examples x the round's epochs)";
    metrics_->examples_capped->Inc();
    u->examples = cap;
  }
  return Status::Ok();
}

void UpdateIngest::Reject(const std::shared_ptr<Peer>& peer, const UpdateIn& u, const Status& s,
                          const char* reason) {
  const std::string& id = peer->client_id();
  FEDGE_LOG(Warn, kLog).Client(id).Round(u.round)
      << "rejected update from " << id << " for round " << u.round << ": " << s.ToString();
  ++updates_rejected_;
  metrics_->Rejected(reason);
  if (schedule_ && schedule_->training() && u.round == schedule_->round() &&
      s.code() != shared::Code::kIOError) {
    if (schedule_->Reject(id)) hooks_.wake();
  }
  peer->SendError(s, u.task_id, wire::ErrorSubject::Update);
  hooks_.changed();
}

// An update goes through three steps: checks on the strand; decoding on the ingest pool;
// validation on the strand; the synced write on the ingest pool; folding and the Ack on the
// strand. The slow parts (decoding, the synced write) never hold up the strand, so other
// clients' messages and the round's timers go on meanwhile; the round does not close while an
// update of its is in flight.
void UpdateIngest::Submit(std::shared_ptr<Peer> peer, UpdateIn u) {
  const std::string& id = peer->client_id();
  bool duplicate = false;
  if (Status s = CheckSubmission(id, u.round, u.task_id, u.idempotency_id, &duplicate); !s.ok()) {
    return Reject(peer, u, s, SubmissionReason(s));
  }
  if (duplicate) {
    ++duplicates_ignored_;
    peer->SendAck(u.task_id, AckKind::kDuplicate,
                  "duplicate update " + u.idempotency_id + " ignored");
    hooks_.changed();
    return;
  }
  if (schedule_->Ingesting(id)) {
    peer->SendError(Status::AlreadyExists("an update of task " + std::to_string(u.task_id) +
                                          " is being stored; its Ack follows"),
                    u.task_id, wire::ErrorSubject::Update);
    return;
  }
  if (Status s = CapExamples(id, &u); !s.ok()) return Reject(peer, u, s, reject::kExampleCount);
  schedule_->BeginIngest(id);
  // base_ and base_digest_ change only between rounds, and a round waits for every update in
  // flight before it commits, so the pool may read them.
  net::asio::post(*pool_, [this, peer = std::move(peer), u = std::move(u)]() mutable {
    auto bundle = std::make_shared<Result<shared::TensorBundle>>(
        Guarded("decoding", [&] { return DecodeValues(u.blob); }));
    net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(u), bundle]() mutable {
      OnDecoded(std::move(peer), std::move(u), std::move(*bundle));
    });
  });
}

void UpdateIngest::OnDecoded(std::shared_ptr<Peer> peer, UpdateIn u,
                             Result<shared::TensorBundle> bundle) {
  const std::string id = peer->client_id();
  if (schedule_) schedule_->EndIngest(id);
  if (!bundle.ok()) {
    return Reject(peer, u, bundle.status().WithContext("update blob"), reject::kUndecodable);
  }
  if (!schedule_ || !schedule_->training() || schedule_->round() != u.round) {
    return Reject(peer, u,
                  Status::InvalidArgument("round " + std::to_string(u.round) +
                                          " closed while the update was decoded"),
                  reject::kRoundClosed);
  }
  if (Status s = acc_->Validate(*bundle, hooks_.fold_weight(id, u.round, u.examples)); !s.ok()) {
    return Reject(peer, u, s, reject::kInvalidValues);
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
  record->received_ms = hooks_.now_ms();
  schedule_->BeginIngest(id);
  auto state = std::make_shared<OpenRound>(schedule_->ToOpenRound());
  auto values = std::make_shared<shared::TensorBundle>(std::move(*bundle));
  net::asio::post(
      *pool_, [this, peer = std::move(peer), u = std::move(u), record, state, values]() mutable {
        // Durable before acknowledged: a crash after this write cannot lose the update.
        Status stored =
            Guarded("storing", [&] { return store_->AcceptUpdate(*record, u.blob, *state); });
        u.blob = {};
        net::asio::post(strand_, [this, peer = std::move(peer), u = std::move(u), record, values,
                                  stored]() mutable {
          OnStored(std::move(peer), std::move(u), *record, std::move(*values), stored);
        });
      });
}

void UpdateIngest::OnStored(std::shared_ptr<Peer> peer, UpdateIn u, const UpdateRecord& record,
                            shared::TensorBundle values, const Status& stored) {
  const std::string& id = peer->client_id();
  schedule_->EndIngest(id);  // the round waits for in-flight updates, so it is still open
  if (!stored.ok()) {
    Reject(peer, u,
           Status::IOError("cannot store the update (" + stored.message() + "); resend it"),
           reject::kStorage);
    if (schedule_->Drained()) hooks_.wake();
    return;
  }
  const auto fold_start = Clock::now();
  if (Status s = acc_->Fold(std::move(values), hooks_.fold_weight(id, u.round, u.examples));
      !s.ok()) {
    // Validate passed, so this cannot happen; the stored update is folded again on resume.
    FEDGE_LOG(Error, kLog).Client(id)
        << "update from " << id << " was stored but not folded: " << s.ToString();
  }
  schedule_->Accept(id, u.idempotency_id);
  metrics_->fold_seconds->Observe(std::chrono::duration<double>(Clock::now() - fold_start).count());
  metrics_->updates_accepted->Inc();
  Contribute(id, u.examples, record.loss);
  peer->SendAck(u.task_id, AckKind::kAccepted,
                "update accepted for round " + std::to_string(u.round));
  FEDGE_LOG(Debug, kLog).Client(id)
      << "folded update from " << id << " (" << u.examples << " examples)";
  hooks_.changed();
  hooks_.wake();
}

}  // namespace fedge::coordinator
