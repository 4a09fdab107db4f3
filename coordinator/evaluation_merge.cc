#include "coordinator/evaluation_merge.h"

#include <cmath>

#include "shared/base/log.h"
#include "shared/ml/data/metrics.h"

namespace fedge::coordinator {

using shared::Status;

namespace {
constexpr const char* kLog = "rounds";

// Whether `e` can be merged after reports of `num_classes` classes (0: none yet).
Status CheckReport(const EvalIn& e, uint32_t num_classes) {
  const uint32_t k = e.num_classes;
  uint64_t sum = 0;
  for (uint64_t c : e.confusion) sum += c;
  if (k == 0 || k > 1000 || e.confusion.size() != static_cast<size_t>(k) * k || sum != e.examples ||
      !std::isfinite(e.loss) || e.loss < 0 || (num_classes != 0 && num_classes != k)) {
    return Status::InvalidArgument("evaluation report is inconsistent (confusion matrix of " +
                                   std::to_string(e.confusion.size()) + " cells for " +
                                   std::to_string(k) + " classes, " + std::to_string(sum) +
                                   " counted vs " + std::to_string(e.examples) + " examples)");
  }
  return Status::Ok();
}
}  // namespace

void RefuseEvaluation(Peer& peer, const EvalIn& e) {
  peer.SendError(Status::InvalidArgument("no open evaluation task " + std::to_string(e.task_id)),
                 e.task_id, wire::ErrorSubject::Evaluation);
}

bool EvaluationMerge::OnReport(Peer& peer, const EvalIn& e, RoundSchedule& schedule,
                               uint64_t registered) {
  const std::string& id = peer.client_id();
  if (schedule.training() || e.round != schedule.round() || e.model_version != version_ ||
      schedule.PendingTask(id) != e.task_id) {
    RefuseEvaluation(peer, e);
    return false;
  }
  schedule.Answer(id);
  if (e.examples > registered) {
    peer.SendError(Status::InvalidArgument(
                       "an evaluation of " + std::to_string(e.examples) +
                       " examples, but this site registered " + std::to_string(registered) +
                       " examples when it connected; reconnect after adding data"),
                   e.task_id, wire::ErrorSubject::Evaluation);
    return true;
  }
  if (Status s = CheckReport(e, num_classes_); !s.ok()) {
    peer.SendError(s, e.task_id, wire::ErrorSubject::Evaluation);
    return true;
  }
  const uint32_t k = e.num_classes;
  if (confusion_.empty()) confusion_.assign(static_cast<size_t>(k) * k, 0);
  num_classes_ = k;
  for (size_t i = 0; i < e.confusion.size(); ++i) confusion_[i] += e.confusion[i];
  uint64_t correct = 0;
  for (uint32_t c = 0; c < k; ++c) correct += e.confusion[static_cast<size_t>(c) * k + c];
  per_client_[id] = {{"accuracy", e.examples ? static_cast<double>(correct) / e.examples : 0.0},
                     {"examples", e.examples}};
  if (e.profile && !e.profile->Empty()) {
    if (Status s = profile_.Merge(*e.profile); s.ok()) {
      ++profile_clients_;
    } else {
      FEDGE_LOG(Warn, kLog).Client(id)
          << "client " << id << ": drift profile not merged: " << s.message();
    }
  }
  loss_sum_ += e.loss * static_cast<double>(e.examples);
  examples_ += e.examples;
  ++reports_;
  peer.SendAck(e.task_id, AckKind::kAccepted, "evaluation recorded");
  return true;
}

nlohmann::json EvaluationMerge::Summary() const {
  if (examples_ == 0) return {{"clients", 0}};
  std::vector<int64_t> confusion(confusion_.begin(), confusion_.end());
  ml::EvalResult m = ml::MetricsFromConfusion(confusion, static_cast<int>(num_classes_), loss_sum_);
  nlohmann::json out = {{"clients", reports_},    {"examples", m.examples},
                        {"accuracy", m.accuracy}, {"loss", m.loss},
                        {"macro_f1", m.macro_f1}, {"precision", m.precision},
                        {"recall", m.recall},     {"per_client", per_client_}};
  if (profile_clients_ > 0) {
    out["profile_clients"] = profile_clients_;
    out["profile_frames"] = profile_.frames;
  }
  return out;
}

}  // namespace fedge::coordinator
