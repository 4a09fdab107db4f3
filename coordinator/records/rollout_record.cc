#include "coordinator/records/rollout_record.h"

#include "coordinator/records/record_version.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

json RolloutBody(const Rollout& r) {
  json reports = json::object();
  for (const auto& [client, report] : r.reports) reports[client] = report;
  return {{"id", r.id},
          {"target", r.target},
          {"counter", r.counter},
          {"sha256", r.sha256_hex},
          {"length", r.length},
          {"arch", r.arch},
          {"registry_version", r.registry_version},
          {"previous_target", r.previous_target},
          {"previous_counter", r.previous_counter},
          {"canary_percent", r.canary_percent},
          {"cohort", r.cohort},
          {"state", r.state},
          {"started_ms", r.started_ms},
          {"decided_ms", r.decided_ms},
          {"steps", r.steps},
          {"reports", reports},
          {"canary_evaluation", r.canary_evaluation}};
}

std::string EncodeRollout(const Rollout& r) {
  return records::SerializeRecord(RolloutBody(r), kRolloutRecordVersion);
}

Result<Rollout> DecodeRollout(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson record,
                         records::ParseRecord(bytes, "rollout", kRolloutRecordVersion));
  const json& j = record.body;
  try {
    Rollout r;
    r.id = j.at("id").get<uint64_t>();
    r.target = j.at("target").get<std::string>();
    r.counter = j.at("counter").get<uint64_t>();
    r.sha256_hex = j.at("sha256").get<std::string>();
    r.length = j.at("length").get<uint64_t>();
    r.arch = j.value("arch", "");
    r.registry_version = j.value("registry_version", uint64_t{0});
    r.previous_target = j.value("previous_target", "");
    r.previous_counter = j.value("previous_counter", uint64_t{0});
    r.canary_percent = j.value("canary_percent", 100.0);
    r.cohort = j.value("cohort", std::vector<std::string>{});
    r.state = j.at("state").get<std::string>();
    r.started_ms = j.value("started_ms", uint64_t{0});
    r.decided_ms = j.value("decided_ms", uint64_t{0});
    r.steps = j.value("steps", json::array());
    // A named copy: iterating items() of the temporary j.value() returns would dangle.
    const json reports = j.value("reports", json::object());
    for (const auto& [client, report] : reports.items()) r.reports[client] = report;
    r.canary_evaluation = j.value("canary_evaluation", json());
    return r;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("stored rollout record is malformed: ") + e.what());
  }
}

}  // namespace fedge::coordinator
