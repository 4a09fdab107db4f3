#pragma once
// The drift policy's durable records (coordinator/drift_policy.h) in the registry's "drift"
// column family (keys: coordinator/store_keys.h), and their codecs.
//
// Record versions: 1 = the JSON objects below (ClientDrift: {client, model_version, window,
// score, top_feature, detector, drifted, streak, onset_ms, reports, alarms, last_report_ms,
// mean_brightness}; Campaign: {id, state: "running"|"done", triggered_ms, trigger_version,
// first_round, last_round, connected, clients: [ClientDrift...], augment, outcome}), with or
// without a "record_version" field (records/record_version.h). Missing fields take their
// defaults, as they always did.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::coordinator {

// A client's drift state (key "client/<id>").
struct ClientDrift {
  std::string client_id;
  uint64_t model_version = 0;
  uint64_t window = 0;
  double score = 0;
  std::string top_feature;
  double detector = 0;
  bool drifted = false;
  int streak = 0;  // windows in a row with score >= score_threshold (same model version)
  uint64_t onset_ms = 0;
  uint64_t reports = 0;
  uint64_t alarms = 0;
  uint64_t last_report_ms = 0;
  double mean_brightness = 0;  // of the last window (bin-centre mean), for display
};

// A retraining campaign (key "campaign/<20-digit id>").
struct Campaign {
  uint64_t id = 0;  // 1, 2, ...
  bool running = true;
  uint64_t triggered_ms = 0;
  uint64_t trigger_version = 0;  // the head when it fired
  uint64_t first_round = 0;      // the campaign's rounds: first_round .. last_round
  uint64_t last_round = 0;
  std::vector<ClientDrift> clients;  // the drifted clients that triggered it, as they were
  uint64_t connected = 0;
  nlohmann::json outcome;  // set when it ends: versions and accuracy before/after
  // Photometric augmentation of its rounds (AugmentOptions fields), from the members' drifted
  // features; empty when drift.campaign_augment is off or nothing matches.
  nlohmann::json augment = nlohmann::json::object();
};

inline constexpr uint32_t kClientDriftRecordVersion = 1;
inline constexpr uint32_t kCampaignRecordVersion = 1;

// The version-1 bodies (without "record_version"); the status page and `--json` show the same.
nlohmann::json ClientDriftBody(const ClientDrift& d);
nlohmann::json CampaignBody(const Campaign& c);

// The stored bytes, and back (Corruption for bytes that are not such a record of a version
// this coordinator reads).
std::string EncodeClientDrift(const ClientDrift& d);
shared::Result<ClientDrift> DecodeClientDrift(std::string_view bytes);
std::string EncodeCampaign(const Campaign& c);
shared::Result<Campaign> DecodeCampaign(std::string_view bytes);

}  // namespace fedge::coordinator
