#include "coordinator/metrics.h"

namespace fedge::coordinator {

namespace {
// Rounds take seconds (a quick federation) to an hour (slow sites, long deadlines).
const std::vector<double> kRoundBuckets = {1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
// Folding an update is O(model); finalising adds encoding the model.
const std::vector<double> kAggregationBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
}  // namespace

CoordinatorMetrics::CoordinatorMetrics(std::shared_ptr<shared::MetricsRegistry> registry)
    : registry_(std::move(registry)) {
  AddRoundMetrics(*registry_);
  AddClientMetrics(*registry_);
  AddReleaseMetrics(*registry_);
}

void CoordinatorMetrics::AddRoundMetrics(shared::MetricsRegistry& r) {
  rounds_started = &r.AddCounter("fedge_coordinator_rounds_started_total",
                                 "Training round attempts started (a failed round is retried as "
                                 "a new attempt).")
                        ->Get();
  rounds_completed = &r.AddCounter("fedge_coordinator_rounds_completed_total",
                                   "Rounds completed with a new model version.")
                          ->Get();
  rounds_failed = &r.AddCounter("fedge_coordinator_rounds_failed_total",
                                "Round attempts that failed (too few clients or valid updates by "
                                "the deadline, or a storage error).")
                       ->Get();
  round_duration =
      &r.AddHistogram("fedge_coordinator_round_duration_seconds",
                      "Duration of completed rounds, training and evaluation.", kRoundBuckets)
           ->Get();
  updates_accepted = &r.AddCounter("fedge_coordinator_updates_accepted_total",
                                   "Client updates validated, stored and folded.")
                          ->Get();
  examples_capped = &r.AddCounter("fedge_coordinator_examples_capped_total",
                                  "Updates counted with fewer examples than they claimed: the "
                                  "claim exceeded the site's registered examples x epochs.")
                         ->Get();
  updates_clipped = &r.AddCounter("fedge_coordinator_updates_clipped_total",
                                  "Update folds whose change from the round's model was scaled "
                                  "down to rounds.max_update_norm (a resumed round counts again).")
                         ->Get();
  flagged_ = r.AddCounter("fedge_coordinator_updates_flagged_total",
                          "Updates the defence flagged as outliers of their round, by reason "
                          "(norm, distance, direction; [defence]).",
                          {"reason"});
  quarantined_sites = &r.AddGauge("fedge_coordinator_quarantined_sites",
                                  "Sites in quarantine: offered no task until an admin clears "
                                  "them (fedgectl unquarantine).")
                           ->Get();
  defence_revocations = &r.AddCounter("fedge_coordinator_defence_revocations_total",
                                      "Certificates revoked by the defence "
                                      "(defence.revoke_after).")
                             ->Get();
  rejected_ = r.AddCounter("fedge_coordinator_updates_rejected_total",
                           "Client updates refused, by reason.", {"reason"});
  shared::HistogramFamily* aggregation =
      r.AddHistogram("fedge_coordinator_aggregation_seconds",
                     "Aggregation time: folding one update into the round's aggregate "
                     "(step=fold), finalising the aggregate into the new model (step=finalize).",
                     kAggregationBuckets, {"step"});
  fold_seconds = &aggregation->Labels({"fold"});
  finalize_seconds = &aggregation->Labels({"finalize"});
  model_version = &r.AddGauge("fedge_coordinator_model_version",
                              "Head model version (the one rounds train from).")
                       ->Get();
  eval_accuracy = &r.AddGauge("fedge_coordinator_eval_accuracy",
                              "Federated evaluation accuracy (0 to 1) of the latest round.")
                       ->Get();
  eval_loss = &r.AddGauge("fedge_coordinator_eval_loss",
                          "Federated evaluation mean loss of the latest "
                          "round.")
                   ->Get();
}

void CoordinatorMetrics::AddClientMetrics(shared::MetricsRegistry& r) {
  connected_clients = &r.AddGauge("fedge_coordinator_connected_clients",
                                  "Clients with an open session taking part in rounds.")
                           ->Get();
  client_connected =
      r.AddGauge("fedge_coordinator_client_connected",
                 "1 while the client has a session, 0 after it went away.", {"client"});
  client_drift_score = r.AddGauge("fedge_coordinator_client_drift_score",
                                  "Score (max PSI over features) of the client's latest drift "
                                  "window.",
                                  {"client"});
  client_drifted = r.AddGauge("fedge_coordinator_client_drifted",
                              "1 if the client's latest drift report says drifted.", {"client"});
  client_drift_streak = r.AddGauge("fedge_coordinator_client_drift_streak",
                                   "The client's drift windows in a row at or over "
                                   "drift.score_threshold.",
                                   {"client"});
  drift_reports =
      &r.AddCounter("fedge_coordinator_drift_reports_total", "Drift reports accepted from clients.")
           ->Get();
  campaigns_started = &r.AddCounter("fedge_coordinator_drift_campaigns_started_total",
                                    "Drift-triggered retraining campaigns started.")
                           ->Get();
  campaign_running = &r.AddGauge("fedge_coordinator_drift_campaign_running",
                                 "1 while a drift retraining campaign runs.")
                          ->Get();
}

void CoordinatorMetrics::AddReleaseMetrics(shared::MetricsRegistry& r) {
  release_counter = &r.AddGauge("fedge_release_counter",
                                "Release counter of the release the whole fleet should run "
                                "(the newest promoted rollout; 0: none).")
                         ->Get();
  release_canary_counter = &r.AddGauge("fedge_release_canary_counter",
                                       "Release counter in canary (0: no rollout in canary).")
                                ->Get();
  release_clients_on_fleet = &r.AddGauge("fedge_release_clients_on_fleet_release",
                                         "Connected clients running the fleet's release.")
                                  ->Get();
  release_promotions = &r.AddCounter("fedge_release_promotions_total",
                                     "Rollouts promoted to every client (or deployed to all).")
                            ->Get();
  release_rollout_failures = &r.AddCounter("fedge_release_rollout_failures_total",
                                           "Rollouts rolled back (automatically or by an admin).")
                                  ->Get();
  release_install_reports =
      r.AddCounter("fedge_release_install_reports_total",
                   "Clients' install reports by result: installed, failed, reverted.", {"result"});
}

}  // namespace fedge::coordinator
