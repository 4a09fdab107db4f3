#pragma once
// A finished round's summary as the registry stores it (column family "rounds",
// keys::RoundKey(round)), and its codec. The summary's fields are the round engine's
// RoundSummary (coordinator/round_engine.h, ToJson); until that struct moves here (after the
// engine's split), the record is its JSON object in a versioned envelope.
//
// Record versions: 1 = ToJson(RoundSummary), with or without a "record_version" field
// (records/record_version.h).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shared/base/status.h"

namespace fedge::coordinator {

inline constexpr uint32_t kRoundSummaryRecordVersion = 1;

// The stored bytes of `summary` (a JSON object), and back without the version field
// (Corruption for bytes that are not a summary record of a version this coordinator reads).
std::string EncodeRoundSummary(const nlohmann::json& summary);
shared::Result<nlohmann::json> DecodeRoundSummary(std::string_view bytes);

}  // namespace fedge::coordinator
