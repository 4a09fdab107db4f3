#include "coordinator/records/open_round.h"

#include "coordinator/records/record_version.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
const char* PhaseName(RoundPhase phase) {
  switch (phase) {
    case RoundPhase::kIdle:
      return "idle";
    case RoundPhase::kTrain:
      return "train";
    case RoundPhase::kEval:
      return "eval";
  }
  return "idle";
}
}  // namespace

nlohmann::json ToJson(const OpenRound& open) {
  if (open.phase == RoundPhase::kIdle) {
    return {{"round", open.round}, {"attempt", open.attempt}, {"phase", "idle"}};
  }
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& [id, task] : open.tasks) tasks[id] = task;
  return {{"round", open.round},
          {"attempt", open.attempt},
          {"phase", PhaseName(open.phase)},
          {"tasks", tasks},
          {"deadline_ms", open.deadline_ms},
          {"started_ms", open.started_ms},
          {"rejected", open.rejected},
          {"resumed", open.resumed}};
}

Result<OpenRound> OpenRoundFromJson(const nlohmann::json& json) {
  OpenRound open;
  try {
    open.round = json.at("round").get<uint64_t>();
    open.attempt = json.at("attempt").get<uint64_t>();
    const std::string phase = json.at("phase").get<std::string>();
    if (phase == "idle") {
      open.phase = RoundPhase::kIdle;
      return open;
    }
    open.resumed = json.value("resumed", 0);
    open.started_ms = json.value("started_ms", uint64_t{0});
    if (phase == "eval") {
      open.phase = RoundPhase::kEval;
      return open;
    }
    if (phase != "train") return Status::Corruption("unknown round phase '" + phase + "'");
    open.deadline_ms = json.at("deadline_ms").get<uint64_t>();
    open.rejected = json.value("rejected", 0);
    for (const auto& [id, task] : json.at("tasks").items()) open.tasks[id] = task.get<uint64_t>();
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("open round state is unreadable: ") + e.what());
  }
  return open;
}

std::string EncodeOpenRound(const OpenRound& open) {
  return records::SerializeRecord(ToJson(open), kOpenRoundRecordVersion);
}

Result<OpenRound> DecodeOpenRound(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson r,
                         records::ParseRecord(bytes, "open round", kOpenRoundRecordVersion));
  return OpenRoundFromJson(r.body);
}

}  // namespace fedge::coordinator
