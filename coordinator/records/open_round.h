#pragma once
// The open round's durable record (default column family, key "open_round"): what a restart
// resumes from (RoundSchedule::Resume, coordinator/round_schedule.h), and its one codec.
//
// Record versions: 1 = the JSON object below ({round, attempt, phase: "idle"} for a failed
// attempt; + tasks, deadline_ms, started_ms, rejected, resumed otherwise), with or without a
// "record_version" field (records/record_version.h).

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shared/base/status.h"

namespace fedge::coordinator {

enum class RoundPhase {
  kIdle,   // an attempt failed; the next attempt samples afresh
  kTrain,  // training tasks are out
  kEval,   // the round's model exists; federated evaluation
};

struct OpenRound {
  uint64_t round = 0;
  uint64_t attempt = 0;
  RoundPhase phase = RoundPhase::kTrain;
  std::map<std::string, uint64_t> tasks;  // client -> training task id (empty unless kTrain)
  uint64_t deadline_ms = 0;               // unix time (kTrain)
  uint64_t started_ms = 0;
  int rejected = 0;  // updates rejected so far (kTrain)
  int resumed = 0;   // coordinator restarts during the round so far

  bool operator==(const OpenRound&) const = default;
};

inline constexpr uint32_t kOpenRoundRecordVersion = 1;

// The record's JSON fields (version 1), also shown by the engine's snapshot.
nlohmann::json ToJson(const OpenRound& open);
// Corruption if a required field is missing or has the wrong type, or the phase is unknown.
shared::Result<OpenRound> OpenRoundFromJson(const nlohmann::json& json);

// The stored bytes, and back (Corruption for bytes that are not an open-round record of a
// version this coordinator reads).
std::string EncodeOpenRound(const OpenRound& open);
shared::Result<OpenRound> DecodeOpenRound(std::string_view bytes);

}  // namespace fedge::coordinator
