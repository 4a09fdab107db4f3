#include "coordinator/engine_status.h"

namespace fedge::coordinator {

nlohmann::json ToJson(const OpenRoundStatus& open) {
  return {{"round", open.round},
          {"attempt", open.attempt},
          {"phase", open.training ? "train" : "eval"},
          {"sampled", open.sampled},
          {"accepted", open.accepted},
          {"pending", open.pending},
          {"rejected", open.rejected},
          {"resumed", open.resumed},
          {"deadline_ms", open.deadline_ms}};
}

nlohmann::json ToJson(const EngineStatus& status) {
  nlohmann::json s;
  s["model_version"] = status.model_version;
  s["model_round"] = status.model_round;
  s["model_arch"] = status.model_arch;
  s["target_round"] = status.target_round;
  s["finished"] = status.finished;
  s["connected"] = status.connected;
  s["quarantined"] = status.quarantined;
  s["duplicates_ignored"] = status.duplicates_ignored;
  s["updates_rejected"] = status.updates_rejected;
  s["drift"] = status.drift;
  s["open_round"] = status.open_round ? ToJson(*status.open_round) : nlohmann::json(nullptr);
  return s;
}

}  // namespace fedge::coordinator
