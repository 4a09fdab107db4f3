#pragma once
// EngineStatus: what the round engine reports about itself, as plain fields. The engine
// publishes one after every change (RoundEngine::status()); components and logic read the
// fields. ToJson is the one place it becomes JSON, for people and other programs
// (`fedgectl status`, the status page, simulation reports); its keys and values are a stable
// interface (tests and reports read them).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fedge::coordinator {

// The round being trained or evaluated.
struct OpenRoundStatus {
  uint64_t round = 0;
  uint64_t attempt = 0;
  bool training = true;              // false: the round's evaluation phase
  uint64_t sampled = 0;              // training tasks offered
  uint64_t accepted = 0;             // updates folded into the aggregate
  std::vector<std::string> pending;  // clients whose task is still open, sorted
  int rejected = 0;
  int resumed = 0;           // times the round was resumed after a coordinator restart
  uint64_t deadline_ms = 0;  // unix time
};

struct EngineStatus {
  uint64_t model_version = 0;  // the head the engine serves and trains from
  uint64_t model_round = 0;
  std::string model_arch;
  uint64_t target_round = 0;
  bool finished = false;                 // no round to run (target reached or out of permits)
  std::vector<std::string> connected;    // client ids, sorted
  std::vector<std::string> quarantined;  // by the defence (site_defence.h), sorted
  uint64_t duplicates_ignored = 0;
  uint64_t updates_rejected = 0;
  nlohmann::json drift;  // DriftPolicy::Snapshot()
  std::optional<OpenRoundStatus> open_round;
};

// {"connected", "drift", "duplicates_ignored", "finished", "model_arch", "model_round",
// "model_version", "quarantined", "open_round" (null, or {"accepted", "attempt", "deadline_ms",
// "pending", "phase": "train"|"eval", "rejected", "resumed", "round", "sampled"}), "target_round",
// "updates_rejected"}.
nlohmann::json ToJson(const EngineStatus& status);
nlohmann::json ToJson(const OpenRoundStatus& open);

}  // namespace fedge::coordinator
