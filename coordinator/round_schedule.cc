#include "coordinator/round_schedule.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x;
}

uint64_t MakeTaskId(uint64_t round, uint64_t attempt, bool train, uint64_t index) {
  // Decimal fields keep ids readable in logs: RRRR AAA K IIIII (K: 0 train, 5 evaluate).
  return round * 1000000000ull + (attempt % 1000) * 1000000ull + (train ? 0 : 500000ull) +
         index % 500000;
}

std::vector<std::string> SampleClients(const RoundSettings& r, uint64_t round, uint64_t attempt,
                                       std::vector<std::string> ids,
                                       const std::vector<std::string>& favoured) {
  std::mt19937_64 rng(MixSeed(MixSeed(r.seed, round), attempt));
  std::shuffle(ids.begin(), ids.end(), rng);
  auto is_favoured = [&favoured](const std::string& id) {
    return std::find(favoured.begin(), favoured.end(), id) != favoured.end();
  };
  auto split = std::stable_partition(ids.begin(), ids.end(), is_favoured);
  size_t k = static_cast<size_t>(std::ceil(r.fraction_fit * static_cast<double>(ids.size())));
  k = std::max(k, static_cast<size_t>(split - ids.begin()));
  k = std::min(ids.size(), std::max<size_t>(k, static_cast<size_t>(r.min_fit)));
  ids.resize(k);
  return ids;
}

Result<RoundSchedule> RoundSchedule::StartTraining(const RoundSettings& settings, uint64_t round,
                                                   uint64_t attempt,
                                                   std::vector<std::string> connected,
                                                   const std::vector<std::string>& favoured,
                                                   uint64_t now_ms) {
  if (static_cast<int>(connected.size()) < settings.min_fit) {
    return Status::Unavailable(std::to_string(connected.size()) +
                               " clients connected, min_fit is " +
                               std::to_string(settings.min_fit));
  }
  const std::vector<std::string> sample =
      SampleClients(settings, round, attempt, std::move(connected), favoured);
  RoundSchedule s;
  s.min_fit_ = settings.min_fit;
  s.round_ = round;
  s.attempt_ = attempt;
  s.started_ms_ = now_ms;
  s.deadline_ms_ = now_ms + static_cast<uint64_t>(settings.timeout_seconds) * 1000;
  for (size_t i = 0; i < sample.size(); ++i) {
    const uint64_t task = MakeTaskId(round, attempt, /*train=*/true, i);
    s.tasks_[sample[i]] = task;
    s.pending_[sample[i]] = task;
  }
  return s;
}

RoundSchedule RoundSchedule::Resume(const RoundSettings& settings, const OpenRound& open) {
  RoundSchedule s;
  s.min_fit_ = settings.min_fit;
  s.round_ = open.round;
  s.attempt_ = open.attempt;
  s.training_ = open.phase == RoundPhase::kTrain;
  s.resumed_ = open.resumed + 1;
  s.started_ms_ = open.started_ms;
  s.deadline_ms_ = open.deadline_ms;
  s.rejected_ = open.rejected;
  if (s.training_) {
    s.tasks_ = open.tasks;
    s.pending_ = open.tasks;
  }
  return s;
}

OpenRound RoundSchedule::ToOpenRound() const {
  OpenRound open;
  open.round = round_;
  open.attempt = attempt_;
  open.phase = training_ ? RoundPhase::kTrain : RoundPhase::kEval;
  if (training_) open.tasks = tasks_;
  open.deadline_ms = deadline_ms_;
  open.started_ms = started_ms_;
  open.rejected = rejected_;
  open.resumed = resumed_;
  return open;
}

std::optional<uint64_t> RoundSchedule::PendingTask(const std::string& client_id) const {
  auto it = pending_.find(client_id);
  return it == pending_.end() ? std::nullopt : std::optional<uint64_t>(it->second);
}

uint64_t RoundSchedule::MsLeft(uint64_t now_ms) const {
  return deadline_ms_ > now_ms ? deadline_ms_ - now_ms : 0;
}

bool RoundSchedule::IsAccepted(const std::string& client_id,
                               const std::string& idempotency_id) const {
  return accepted_ids_.count({client_id, idempotency_id}) > 0;
}

Status RoundSchedule::CheckTask(const std::string& client_id, uint64_t round,
                                uint64_t task_id) const {
  if (!training_ || round != round_) {
    const std::string open = training_ ? std::to_string(round_) : "none";
    return Status::InvalidArgument("round " + std::to_string(round) +
                                   " is not open for updates (open round: " + open + ")");
  }
  auto task = tasks_.find(client_id);
  if (task == tasks_.end() || task->second != task_id) {
    return Status::InvalidArgument("task " + std::to_string(task_id) + " was not offered to " +
                                   client_id + " in this round");
  }
  if (!pending_.count(client_id)) {
    return Status::AlreadyExists("an update for task " + std::to_string(task_id) +
                                 " was already answered");
  }
  return Status::Ok();
}

void RoundSchedule::Accept(const std::string& client_id, const std::string& idempotency_id) {
  accepted_ids_.insert({client_id, idempotency_id});
  pending_.erase(client_id);
}

bool RoundSchedule::Fail(const std::string& client_id, uint64_t task_id) {
  auto it = pending_.find(client_id);
  if (it == pending_.end() || it->second != task_id) return false;
  pending_.erase(it);
  if (training_) ++rejected_;
  return true;
}

bool RoundSchedule::Reject(const std::string& client_id) {
  ++rejected_;
  return pending_.erase(client_id) > 0 && pending_.empty();
}

Status RoundSchedule::CheckQuorum() const {
  if (static_cast<int>(accepted()) < min_fit_) {
    return Status::Unavailable("round " + std::to_string(round_) + " got " +
                               std::to_string(accepted()) + " valid updates, min_fit is " +
                               std::to_string(min_fit_));
  }
  return Status::Ok();
}

void RoundSchedule::StartEvaluation() {
  training_ = false;
  pending_.clear();
  tasks_.clear();
  evaluation_started_ = true;
}

uint64_t RoundSchedule::AddEvalTask(const std::string& client_id) {
  auto it = tasks_.find(client_id);
  if (it != tasks_.end()) return it->second;
  const uint64_t task = MakeTaskId(round_, attempt_, /*train=*/false, next_eval_index_++);
  tasks_[client_id] = task;
  pending_[client_id] = task;
  return task;
}

bool RoundSchedule::Disconnected(const std::string& client_id) {
  if (!pending_.count(client_id)) return false;
  if (!training_) pending_.erase(client_id);
  return true;
}

}  // namespace fedge::coordinator
