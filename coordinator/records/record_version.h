#pragma once
// The envelope of the registry's JSON records (coordinator/records/*.h): a JSON object with a
// "record_version" field next to the record's own fields. A record without the field was
// written before records were versioned (main up to 57d38a1) and is version 1: its fields are
// exactly version 1's, so old registries open unchanged (the upgrade path).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shared/base/status.h"

namespace fedge::coordinator::records {

inline constexpr const char* kRecordVersionField = "record_version";

// A stored record: its version and its JSON object (the version field removed).
struct VersionedJson {
  uint32_t version = 1;
  nlohmann::json body;
};

// Parses `bytes` as a record of kind `what` (e.g. "rollout"). Corruption if it is not a JSON
// object, its version is not a positive integer, or it is newer than `newest` (written by a
// newer coordinator: this one would drop fields it does not know).
shared::Result<VersionedJson> ParseRecord(std::string_view bytes, std::string_view what,
                                          uint32_t newest);
// `body` (a JSON object) with the record version added, serialized.
std::string SerializeRecord(nlohmann::json body, uint32_t version);

}  // namespace fedge::coordinator::records
