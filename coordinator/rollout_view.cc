// The display edge of rollouts: their JSON for fedgectl/admin and the status page.
#include <cstdio>

#include "coordinator/rollout.h"

namespace fedge::coordinator {

using nlohmann::json;

json ToJson(const InstallReportIn& r) {
  return {{"rollout", r.rollout_id},
          {"target", r.target},
          {"counter", r.counter},
          {"installed", r.installed},
          {"reverted", r.reverted},
          {"error", r.error},
          {"median_latency_ms", r.median_latency_ms},
          {"eval_examples", r.eval_examples},
          {"accuracy", r.accuracy},
          {"previous_accuracy", r.previous_accuracy},
          {"previous", r.previous},
          {"active_target", r.active_target},
          {"active_counter", r.active_counter}};
}

json ToJson(const Rollout& r) { return RolloutBody(r); }

json RolloutManager::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) out.push_back(ToJson(*it));
  const Rollout* fleet = Fleet();
  json connected = json::object();
  for (const auto& [id, p] : peers_) {
    connected[id] = {{"target", p.active_target}, {"counter", p.active_counter}};
  }
  return {{"enabled", enabled()},
          {"repo", settings_.repo},
          {"fleet", fleet ? json{{"target", fleet->target}, {"counter", fleet->counter}} : json()},
          {"connected", connected},
          {"rollouts", out}};
}

json RolloutManager::StatusRows() const {
  std::lock_guard<std::mutex> lock(mu_);
  json rows = json::array();
  for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) {
    const Rollout& r = *it;
    int installed = 0, failed = 0;
    for (const auto& [client, report] : r.reports) {
      if (report.value("reverted", false)) continue;
      ++(report.value("installed", false) ? installed : failed);
    }
    std::string cohort;
    for (const std::string& c : r.cohort) cohort += (cohort.empty() ? "" : ", ") + c;
    char stage[64];
    std::snprintf(stage, sizeof(stage), "canary %g%%", r.canary_percent);
    rows.push_back(
        {{"version", r.target + " (counter " + std::to_string(r.counter) + ")"},
         {"model_version", r.registry_version},
         {"stage", r.cohort.empty() ? std::string("all clients") : std::string(stage)},
         {"state", r.state},
         {"cohort", cohort.empty() ? "-" : cohort},
         {"installed", installed},
         {"failed", failed},
         {"updated_ms", r.steps.empty() ? r.started_ms : r.steps.back().value("ms", uint64_t{0})}});
  }
  return rows;
}

}  // namespace fedge::coordinator
