#pragma once
// Evaluation merge: the evaluation reports of one round's evaluation phase merged into the
// round's federated metrics (summed confusion matrix, example-weighted loss, per-client
// accuracy) and into the reference drift profile of the evaluated version.
// Owns only the merged state; the RoundSchedule (who still owes a report) is the caller's.
// Not thread-safe: the engine owns one per open round and uses it on its strand.
// Invariants: every merged report had `num_classes()` classes and a confusion matrix whose
// cells sum to its example count; a refused report changes nothing but the schedule.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/peer.h"
#include "coordinator/round_schedule.h"
#include "shared/drift/drift_stats.h"

namespace fedge::coordinator {

struct EvalIn {
  std::optional<drift::Summary> profile;  // the client's drift statistics under this model
  uint64_t task_id = 0;
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t examples = 0;
  double loss = 0;  // mean loss over examples
  uint32_t num_classes = 0;
  std::vector<uint64_t> confusion;
};

// Answers an evaluation report that no open evaluation task matches (Error, subject
// Evaluation).
void RefuseEvaluation(Peer& peer, const EvalIn& eval);

class EvaluationMerge {
 public:
  // The evaluation of `version` starts (offers go out now). `num_classes`: the model's classes
  // (from its architecture); every report must have as many. 0 (unknown): the first merged
  // report decides.
  void Start(uint64_t version, uint32_t num_classes = 0) {
    version_ = version;
    num_classes_ = num_classes;
  }
  uint64_t version() const { return version_; }

  // A report from `peer`. Refused (Error) unless it answers the peer's open evaluation task in
  // `schedule` (round, version, task id); then the task is answered, and the report is merged
  // and acknowledged if it is consistent (1..1000 classes, the same count as the reports
  // before, k*k cells summing to its examples, a finite non-negative loss), refused otherwise.
  // A drift profile that cannot be merged is logged and skipped; the report still counts.
  // Returns whether the report answered an open task (true even if it was refused as
  // inconsistent).
  // `registered`: the examples (training + held out) the client's session registered; a report
  // of more is refused.
  bool OnReport(Peer& peer, const EvalIn& eval, RoundSchedule& schedule, uint64_t registered);

  // No report was merged.
  bool empty() const { return examples_ == 0; }
  // The round's evaluation for its RoundSummary: {"clients": 0} if empty(), else clients,
  // examples, accuracy, loss, macro_f1, precision, recall, per_client and, when profiles were
  // merged, profile_clients and profile_frames.
  nlohmann::json Summary() const;
  // The merged drift profile of the evaluated version, and how many clients it merges.
  const drift::Summary& profile() const { return profile_; }
  int profile_clients() const { return profile_clients_; }

 private:
  uint64_t version_ = 0;
  std::vector<uint64_t> confusion_;
  uint32_t num_classes_ = 0;
  double loss_sum_ = 0;
  uint64_t examples_ = 0;
  int reports_ = 0;
  nlohmann::json per_client_ = nlohmann::json::object();  // id -> accuracy, examples
  drift::Summary profile_;
  int profile_clients_ = 0;
};

}  // namespace fedge::coordinator
