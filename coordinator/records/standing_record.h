#pragma once
// A site's standing under the defence (coordinator/site_defence.h): its recent update scores
// and its quarantine, in the registry's "standing" column family (key: the client id).
//
// Record version 1: {client, scores: [UpdateScore...], quarantined, quarantine_reason,
// quarantined_round, quarantined_ms, cleared_round, cleared_by, revoked_round}, with
// UpdateScore = {round, norm, distance, cosine, z_norm, z_distance, z_direction, score,
// reasons: [...]}.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::coordinator {

// One update's scores in one round (site_defence.h says how they are computed).
struct UpdateScore {
  std::string client_id;
  uint64_t round = 0;
  double norm = 0;      // ||delta_i||
  double distance = 0;  // ||delta_i - reference||
  double cosine = 0;    // cos(delta_i, reference); 0 when either is zero
  double z_norm = 0;
  double z_distance = 0;
  double z_direction = 0;
  double score = 0;                  // max(0, z_norm, z_distance, z_direction)
  std::vector<std::string> reasons;  // the z-scores above the threshold
  bool flagged() const { return !reasons.empty(); }
};

struct SiteStanding {
  std::string client_id;
  std::vector<UpdateScore> scores;  // oldest first, the last few rounds it took part in
  bool quarantined = false;
  std::string quarantine_reason;
  uint64_t quarantined_round = 0;
  uint64_t quarantined_ms = 0;
  uint64_t cleared_round = 0;  // an admin lifted a quarantine after this round (0: never)
  std::string cleared_by;
  uint64_t revoked_round = 0;  // revoked by the defence in this round (0: not by it)
};

inline constexpr uint32_t kStandingRecordVersion = 1;

nlohmann::json ToJson(const UpdateScore& s);
nlohmann::json ToJson(const SiteStanding& s);  // the version-1 body
std::string EncodeStanding(const SiteStanding& s);
// Corruption naming what is unreadable.
shared::Result<SiteStanding> DecodeStanding(std::string_view bytes);

}  // namespace fedge::coordinator
