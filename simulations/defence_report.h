#pragma once
// report.json's "defence" section (fedge-sim with [defence]): the rounds' defence views
// (RoundSummary::defence) gathered per site, and the quarantine measured against the
// scenario's attackers. Plain code: no LibTorch.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/round_engine.h"

namespace fedge::sim {

// {"attackers": [...], "sites": {id: {"attacker", "scores": [{"round", "score"}...],
// "flagged_rounds": [...], "quarantined_round" (null: never)}}, "by_round_10" and "final":
// {"quarantined", "attackers_quarantined", "honest_quarantined", "precision" (null when none
// is quarantined), "recall" (null without attackers)}}. Null when no round was scored.
nlohmann::json DefenceReport(const std::vector<coordinator::RoundSummary>& summaries,
                             const std::vector<std::string>& client_ids,
                             const std::vector<std::string>& attackers);

}  // namespace fedge::sim
