#pragma once
// A rollout of a signed release (coordinator/rollout.h) as the registry stores it (column
// family "rollouts", keys::RolloutKey(id)), and its one codec.
//
// Record versions: 1 = the JSON object {id, target, counter, sha256, length, arch,
// registry_version, previous_target, previous_counter, canary_percent, cohort, state,
// started_ms, decided_ms, steps, reports, canary_evaluation}, with or without a
// "record_version" field (records/record_version.h). Fields after `length` may be missing
// (records of early coordinators) and take their defaults.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::coordinator {

// One deployment of one release.
struct Rollout {
  uint64_t id = 0;
  std::string target;
  uint64_t counter = 0;
  std::string sha256_hex;
  uint64_t length = 0;
  std::string arch;
  uint64_t registry_version = 0;  // the registry model it was built from (0: unknown)
  std::string previous_target;    // the fleet's release when it started ("" = none)
  uint64_t previous_counter = 0;
  double canary_percent = 100;
  std::vector<std::string> cohort;  // canary clients (empty: deployed to every client at once)
  // "canary" -> "promoted" | "rolled_back"; a promoted rollout becomes "superseded" when a
  // newer one is promoted.
  std::string state;
  uint64_t started_ms = 0;
  uint64_t decided_ms = 0;
  nlohmann::json steps = nlohmann::json::array();  // [{ms, action, detail}], in order
  std::map<std::string, nlohmann::json> reports;   // client id -> its latest report
  nlohmann::json canary_evaluation;                // the promotion decision's numbers
};

inline constexpr uint32_t kRolloutRecordVersion = 1;

// The version-1 body (without "record_version"); fedgectl and the status page show the same.
nlohmann::json RolloutBody(const Rollout& r);

// The stored bytes, and back (Corruption for bytes that are not a rollout record of a version
// this coordinator reads, or miss id, target, counter, sha256, length or state).
std::string EncodeRollout(const Rollout& r);
shared::Result<Rollout> DecodeRollout(std::string_view bytes);

}  // namespace fedge::coordinator
