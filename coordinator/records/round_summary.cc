#include "coordinator/records/round_summary.h"

#include "coordinator/records/record_version.h"

namespace fedge::coordinator {

std::string EncodeRoundSummary(const nlohmann::json& summary) {
  return records::SerializeRecord(summary, kRoundSummaryRecordVersion);
}

shared::Result<nlohmann::json> DecodeRoundSummary(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson r,
                         records::ParseRecord(bytes, "round summary", kRoundSummaryRecordVersion));
  return std::move(r.body);
}

}  // namespace fedge::coordinator
