#include "coordinator/records/drift_records.h"

#include "coordinator/records/record_version.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

json ClientDriftBody(const ClientDrift& d) {
  return {{"client", d.client_id},
          {"model_version", d.model_version},
          {"window", d.window},
          {"score", d.score},
          {"top_feature", d.top_feature},
          {"detector", d.detector},
          {"drifted", d.drifted},
          {"streak", d.streak},
          {"onset_ms", d.onset_ms},
          {"reports", d.reports},
          {"alarms", d.alarms},
          {"last_report_ms", d.last_report_ms},
          {"mean_brightness", d.mean_brightness}};
}

json CampaignBody(const Campaign& c) {
  json clients = json::array();
  for (const ClientDrift& d : c.clients) clients.push_back(ClientDriftBody(d));
  return {{"id", c.id},
          {"state", c.running ? "running" : "done"},
          {"triggered_ms", c.triggered_ms},
          {"trigger_version", c.trigger_version},
          {"first_round", c.first_round},
          {"last_round", c.last_round},
          {"connected", c.connected},
          {"clients", clients},
          {"augment", c.augment},
          {"outcome", c.outcome}};
}

namespace {

// Throws json::exception for a field of the wrong type.
ClientDrift ClientDriftFromJson(const json& j) {
  ClientDrift d;
  d.client_id = j.value("client", "");
  d.model_version = j.value("model_version", uint64_t{0});
  d.window = j.value("window", uint64_t{0});
  d.score = j.value("score", 0.0);
  d.top_feature = j.value("top_feature", "");
  d.detector = j.value("detector", 0.0);
  d.drifted = j.value("drifted", false);
  d.streak = j.value("streak", 0);
  d.onset_ms = j.value("onset_ms", uint64_t{0});
  d.reports = j.value("reports", uint64_t{0});
  d.alarms = j.value("alarms", uint64_t{0});
  d.last_report_ms = j.value("last_report_ms", uint64_t{0});
  d.mean_brightness = j.value("mean_brightness", 0.0);
  return d;
}

}  // namespace

std::string EncodeClientDrift(const ClientDrift& d) {
  return records::SerializeRecord(ClientDriftBody(d), kClientDriftRecordVersion);
}

Result<ClientDrift> DecodeClientDrift(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson r,
                         records::ParseRecord(bytes, "drift client", kClientDriftRecordVersion));
  try {
    return ClientDriftFromJson(r.body);
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("stored drift client record is malformed: ") + e.what());
  }
}

std::string EncodeCampaign(const Campaign& c) {
  return records::SerializeRecord(CampaignBody(c), kCampaignRecordVersion);
}

Result<Campaign> DecodeCampaign(std::string_view bytes) {
  FEDGE_ASSIGN_OR_RETURN(records::VersionedJson r,
                         records::ParseRecord(bytes, "campaign", kCampaignRecordVersion));
  const json& j = r.body;
  try {
    Campaign c;
    c.id = j.value("id", uint64_t{0});
    c.running = j.value("state", "") == "running";
    c.triggered_ms = j.value("triggered_ms", uint64_t{0});
    c.trigger_version = j.value("trigger_version", uint64_t{0});
    c.first_round = j.value("first_round", uint64_t{0});
    c.last_round = j.value("last_round", uint64_t{0});
    c.connected = j.value("connected", uint64_t{0});
    if (j.contains("clients")) {
      for (const json& cj : j.at("clients")) c.clients.push_back(ClientDriftFromJson(cj));
    }
    c.outcome = j.value("outcome", json());
    c.augment = j.value("augment", json::object());
    return c;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("stored campaign record is malformed: ") + e.what());
  }
}

}  // namespace fedge::coordinator
