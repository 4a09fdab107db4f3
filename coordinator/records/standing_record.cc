#include "coordinator/records/standing_record.h"

#include "coordinator/records/record_version.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

json ToJson(const UpdateScore& s) {
  return {{"round", s.round},
          {"norm", s.norm},
          {"distance", s.distance},
          {"cosine", s.cosine},
          {"z_norm", s.z_norm},
          {"z_distance", s.z_distance},
          {"z_direction", s.z_direction},
          {"score", s.score},
          {"reasons", s.reasons}};
}

json ToJson(const SiteStanding& s) {
  json scores = json::array();
  for (const UpdateScore& u : s.scores) scores.push_back(ToJson(u));
  return {{"client", s.client_id},
          {"scores", scores},
          {"quarantined", s.quarantined},
          {"quarantine_reason", s.quarantine_reason},
          {"quarantined_round", s.quarantined_round},
          {"quarantined_ms", s.quarantined_ms},
          {"cleared_round", s.cleared_round},
          {"cleared_by", s.cleared_by},
          {"revoked_round", s.revoked_round}};
}

std::string EncodeStanding(const SiteStanding& s) {
  return records::SerializeRecord(ToJson(s), kStandingRecordVersion);
}

Result<SiteStanding> DecodeStanding(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson r,
                         records::ParseRecord(bytes, "standing", kStandingRecordVersion));
  const json& j = r.body;
  try {
    SiteStanding s;
    s.client_id = j.at("client").get<std::string>();
    for (const json& u : j.value("scores", json::array())) {
      UpdateScore score;
      score.client_id = s.client_id;
      score.round = u.at("round").get<uint64_t>();
      score.norm = u.value("norm", 0.0);
      score.distance = u.value("distance", 0.0);
      score.cosine = u.value("cosine", 0.0);
      score.z_norm = u.value("z_norm", 0.0);
      score.z_distance = u.value("z_distance", 0.0);
      score.z_direction = u.value("z_direction", 0.0);
      score.score = u.value("score", 0.0);
      score.reasons = u.value("reasons", std::vector<std::string>{});
      s.scores.push_back(std::move(score));
    }
    s.quarantined = j.value("quarantined", false);
    s.quarantine_reason = j.value("quarantine_reason", "");
    s.quarantined_round = j.value("quarantined_round", uint64_t{0});
    s.quarantined_ms = j.value("quarantined_ms", uint64_t{0});
    s.cleared_round = j.value("cleared_round", uint64_t{0});
    s.cleared_by = j.value("cleared_by", "");
    s.revoked_round = j.value("revoked_round", uint64_t{0});
    return s;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("stored standing record is malformed: ") + e.what());
  }
}

}  // namespace fedge::coordinator
