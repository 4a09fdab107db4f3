#pragma once
// The coordinator's Prometheus metrics (names and meanings: docs/operations.md). The round
// engine updates them on its strand; the server adds the wire byte counters and serves
// Render() on GET /metrics. Thread-safe (shared/observability/metrics.h).

#include <memory>
#include <string>

#include "shared/observability/metrics.h"

namespace fedge::coordinator {

// Why an update (or the intent to upload one) was refused: the `reason` label values of
// fedge_coordinator_updates_rejected_total.
namespace reject {
inline constexpr const char* kNotExpected = "not_expected";  // no open round/task for it
inline constexpr const char* kTooLarge = "too_large";        // over the model's update size
inline constexpr const char* kExampleCount = "bad_example_count";
inline constexpr const char* kUndecodable = "undecodable";       // codec, digest base, layout
inline constexpr const char* kRoundClosed = "round_closed";      // closed while decoding
inline constexpr const char* kInvalidValues = "invalid_values";  // shapes, NaN/Inf, range
inline constexpr const char* kStorage = "storage_error";         // the synced write failed
}  // namespace reject

class CoordinatorMetrics {
 public:
  // Registers every coordinator metric in `registry` (kept alive by this object).
  explicit CoordinatorMetrics(std::shared_ptr<shared::MetricsRegistry> registry);

  shared::MetricsRegistry& registry() { return *registry_; }

  // Every pointer below is set by the constructor and lives as long as this object.

  // Rounds: attempts started, completed, failed; duration of completed rounds (training and
  // evaluation); accepted updates and refusals by reason.
  shared::Counter* rounds_started = nullptr;
  shared::Counter* rounds_completed = nullptr;
  shared::Counter* rounds_failed = nullptr;
  shared::Histogram* round_duration = nullptr;
  shared::Counter* updates_accepted = nullptr;
  shared::Counter* examples_capped = nullptr;  // updates whose example count was capped
  shared::Counter* updates_clipped = nullptr;  // updates scaled down by the norm bound
  // REQUIRES: `reason` is one of the reject:: constants (bounded label values).
  void Rejected(const char* reason) { rejected_->Labels({reason}).Inc(); }

  // The defence (site_defence.h): updates flagged, by reason (kFlagNorm, kFlagDistance,
  // kFlagDirection; an update flagged for two reasons counts in both), sites quarantined now.
  void Flagged(const std::string& reason) { flagged_->Labels({reason}).Inc(); }
  shared::Gauge* quarantined_sites = nullptr;
  shared::Counter* defence_revocations = nullptr;

  // Aggregation: folding one update into the aggregate, finalising a round's model.
  shared::Histogram* fold_seconds = nullptr;
  shared::Histogram* finalize_seconds = nullptr;

  // Models and evaluation.
  shared::Gauge* model_version = nullptr;
  shared::Gauge* eval_accuracy = nullptr;
  shared::Gauge* eval_loss = nullptr;

  // Clients. client_connected is 1 while a client has a session, 0 once it has gone (every
  // client the registry knows appears, from start-up on).
  shared::Gauge* connected_clients = nullptr;
  shared::GaugeFamily* client_connected = nullptr;

  // Drift: the latest report per client, reports accepted, campaigns.
  shared::GaugeFamily* client_drift_score = nullptr;
  shared::GaugeFamily* client_drifted = nullptr;
  shared::GaugeFamily* client_drift_streak = nullptr;
  shared::Counter* drift_reports = nullptr;
  shared::Counter* campaigns_started = nullptr;
  shared::Gauge* campaign_running = nullptr;

  // Releases (coordinator/rollout.h): the fleet's and the canary's release counters, clients
  // on the fleet's release, promotions, rollbacks, install reports by result.
  shared::Gauge* release_counter = nullptr;
  shared::Gauge* release_canary_counter = nullptr;
  shared::Gauge* release_clients_on_fleet = nullptr;
  shared::Counter* release_promotions = nullptr;
  shared::Counter* release_rollout_failures = nullptr;
  shared::CounterFamily* release_install_reports = nullptr;  // label result

 private:
  void AddRoundMetrics(shared::MetricsRegistry& r);    // rounds, updates, aggregation, eval
  void AddClientMetrics(shared::MetricsRegistry& r);   // connections and drift
  void AddReleaseMetrics(shared::MetricsRegistry& r);  // releases and rollouts

  std::shared_ptr<shared::MetricsRegistry> registry_;
  shared::CounterFamily* flagged_ = nullptr;
  shared::CounterFamily* rejected_ = nullptr;
};

}  // namespace fedge::coordinator
