#pragma once
// Drift intake for the round engine: drift reports from clients handed to the drift policy
// (which records them and may start a retraining campaign), the drift metrics, the weight of a
// drifted client's update during a campaign, and the reference profile of the newest
// evaluated version (stored, and sent to every client).
// Owns the DriftPolicy; borrows the Store (must outlive it) and shares the metrics.
// Not thread-safe: used on the engine's strand, except reports(), which any thread may read.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/drift_policy.h"
#include "coordinator/evaluation_merge.h"
#include "coordinator/metrics.h"
#include "coordinator/peer.h"
#include "coordinator/store.h"

namespace fedge::coordinator {

class DriftIntake {
 public:
  DriftIntake(const DriftSettings& settings, Store* store,
              std::shared_ptr<CoordinatorMetrics> metrics);

  // REQUIRES: before Init().
  void set_metrics(std::shared_ptr<CoordinatorMetrics> metrics) { metrics_ = std::move(metrics); }

  // Loads the policy's stored client states and campaigns and sets the drift metrics from them.
  shared::Status Init();
  // The reference profile of `version` as read from the store at start-up (a missing or
  // undecodable one leaves no profile).
  void RestoreProfile(uint64_t version,
                      const shared::Result<std::optional<std::vector<uint8_t>>>& stored);

  // A report from `peer`, made under the coordinator's newest version `head_version`.
  // A garbage report is answered with an Error (subject DriftReport) and returned as the error;
  // it changes nothing. Otherwise it is counted and recorded, and if the policy fires a
  // campaign (over `connected`, after `base_round`), the round the engine must run up to is
  // returned.
  shared::Result<std::optional<uint64_t>> OnReport(Peer& peer, const DriftReportIn& report,
                                                   uint64_t head_version, uint64_t base_round,
                                                   const std::set<std::string>& connected,
                                                   uint64_t now_ms);

  // The weight of a client's update in `round`: its examples, times drift.update_weight for a
  // drifted client of a campaign covering the round (from the stored campaigns, so a re-fold
  // after a restart weighs it the same).
  uint64_t FoldWeight(const std::string& client_id, uint64_t round, uint64_t examples) const;

  // Stores the merged profile of `evaluation` as the reference profile of its version and sends
  // it to every peer in `peers`. Nothing if no client sent a profile.
  void PublishProfile(const EvaluationMerge& evaluation,
                      const std::map<std::string, std::shared_ptr<Peer>>& peers);
  // The newest reference profile, sent to every client that connects.
  const std::optional<ProfileOut>& profile() const { return profile_; }

  // Sets the campaign-running gauge from the policy.
  void UpdateCampaignMetric();
  DriftPolicy& policy() { return policy_; }
  const DriftPolicy& policy() const { return policy_; }
  const DriftSettings& settings() const { return policy_.settings(); }
  // Thread-safe: reports accepted so far.
  uint64_t reports() const { return reports_.load(); }

 private:
  void RecordClientMetrics(const std::string& client_id);

  Store* store_;
  std::shared_ptr<CoordinatorMetrics> metrics_;
  DriftPolicy policy_;
  std::optional<ProfileOut> profile_;
  std::atomic<uint64_t> reports_{0};
};

}  // namespace fedge::coordinator
