#include "simulations/defence_report.h"

#include <algorithm>
#include <set>

namespace fedge::sim {

using nlohmann::json;

namespace {

// Precision and recall of `quarantined` against `attackers` (null where undefined).
json Detection(const std::set<std::string>& quarantined, const std::set<std::string>& attackers) {
  size_t hits = 0;
  for (const std::string& q : quarantined) hits += attackers.count(q);
  json out = {{"quarantined", quarantined.size()},
              {"attackers_quarantined", hits},
              {"honest_quarantined", quarantined.size() - hits}};
  out["precision"] =
      quarantined.empty() ? json(nullptr) : json(static_cast<double>(hits) / quarantined.size());
  out["recall"] =
      attackers.empty() ? json(nullptr) : json(static_cast<double>(hits) / attackers.size());
  return out;
}

}  // namespace

json DefenceReport(const std::vector<coordinator::RoundSummary>& summaries,
                   const std::vector<std::string>& client_ids,
                   const std::vector<std::string>& attackers) {
  json sites = json::object();
  for (const std::string& id : client_ids) {
    sites[id] = {{"attacker", std::find(attackers.begin(), attackers.end(), id) != attackers.end()},
                 {"scores", json::array()},
                 {"flagged_rounds", json::array()},
                 {"quarantined_round", nullptr}};
  }
  std::set<std::string> by_10, all;
  bool scored = false;
  for (const coordinator::RoundSummary& s : summaries) {
    if (!s.defence.is_object()) continue;
    scored = true;
    const json scores = s.defence.value("scores", json::object());  // outlives the loop
    for (const auto& [id, v] : scores.items()) {
      if (!sites.contains(id)) continue;
      sites[id]["scores"].push_back({{"round", s.round}, {"score", v.value("score", 0.0)}});
      if (!v.value("reasons", json::array()).empty())
        sites[id]["flagged_rounds"].push_back(s.round);
    }
    for (const json& q : s.defence.value("quarantined", json::array())) {
      const std::string id = q.get<std::string>();
      if (sites.contains(id)) sites[id]["quarantined_round"] = s.round;
      all.insert(id);
      if (s.round <= 10) by_10.insert(id);
    }
  }
  if (!scored) return json(nullptr);
  const std::set<std::string> bad(attackers.begin(), attackers.end());
  return {{"attackers", attackers},
          {"sites", sites},
          {"by_round_10", Detection(by_10, bad)},
          {"final", Detection(all, bad)}};
}

}  // namespace fedge::sim
