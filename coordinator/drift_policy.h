#pragma once
// The coordinator's drift policy: validates clients' drift reports, keeps each client's drift
// state, and decides when persistent drift on enough clients starts a retraining campaign of
// R rounds that favours the drifted clients. Campaigns (trigger and outcome) and client states
// are stored durably in the registry. Not thread-safe: lives on the round engine's strand.
//
// A client counts as drifted for the policy when its latest report says `drifted` (its change
// detector fired since its reference was set) and its last `persistence` windows all had a
// score of at least `score_threshold`. A campaign starts when at least
// max(min_clients, ceil(min_fraction * connected)) connected clients count as drifted, no
// campaign is running, `cooldown_rounds` have passed since the last one ended, and the drift
// of at least one of them is newer than the drift a previous campaign handled (its onset). A
// client that was a member of `max_campaigns_per_client` campaigns in the last 24 hours does not
// count towards starting another (it may still join one).
// The campaign's members are all connected clients that say drifted with their last window
// over the threshold; a client whose drift becomes persistent while a campaign runs joins it.

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/records/drift_records.h"
#include "coordinator/store.h"
#include "shared/base/status.h"
#include "shared/drift/drift_stats.h"
#include "shared/ml/data/augment.h"

namespace fedge::coordinator {

// A drift report as received (schemas/fedge.fbs DriftReport), before validation.
struct DriftReportIn {
  uint64_t model_version = 0;
  uint64_t window = 0;
  double score = 0;
  std::string top_feature;
  bool over_threshold = false;
  bool alarm = false;
  bool drifted = false;
  double detector = 0;
  std::vector<std::pair<std::string, double>> distances;
  drift::Summary summary;
  uint64_t onset_ms = 0;
  uint64_t captured_ms = 0;
};

// Checks a report's values (finite, in range, known feature names, a version this coordinator
// made, an onset only when drifted). InvalidArgument naming the first bad field.
shared::Status ValidateDriftReport(const DriftReportIn& report, uint64_t newest_version);

// ClientDrift and Campaign (the stored records) and their codecs:
// coordinator/records/drift_records.h. ToJson: their display form (status, fedgectl).
nlohmann::json ToJson(const ClientDrift& d);

// The augmentation that teaches the conditions the drifted clients' top features point at.
nlohmann::json CampaignAugmentFor(const std::vector<ClientDrift>& members);

nlohmann::json ToJson(const Campaign& c);

class DriftPolicy {
 public:
  DriftPolicy(DriftSettings settings, Store* store);

  // Loads stored client states and campaigns.
  shared::Status Init();

  // Validates and records one report (the client state is stored). InvalidArgument for a
  // garbage report, which changes nothing.
  shared::Status OnReport(const std::string& client_id, const DriftReportIn& report,
                          uint64_t newest_version, uint64_t now_ms);

  // If the policy fires now, records and returns the new campaign. `base_round` is the last
  // round started (the campaign's rounds follow it); `connected` the connected client ids.
  shared::Result<std::optional<Campaign>> MaybeTrigger(const std::set<std::string>& connected,
                                                       uint64_t base_round, uint64_t head_version,
                                                       uint64_t now_ms);

  // The running campaign, if any.
  const Campaign* running() const;
  // For an offer in `round` to `client_id`: the time since which its frames are favoured, if
  // it is a drifted client of a campaign covering that round.
  std::optional<uint64_t> FocusSince(const std::string& client_id, uint64_t round) const;
  // The drifted clients of the campaign covering `round` (sampled first), else empty.
  std::vector<std::string> FavouredClients(uint64_t round) const;
  // The augmentation of the campaign covering `round`, if it has one (for every client).
  std::optional<ml::AugmentOptions> CampaignAugment(uint64_t round) const;

  // After round `round` completed with `version` and its evaluation (which may hold
  // "per_client": {id: {"accuracy": ...}}): ends the running campaign once its last round is
  // done, recording its outcome. Returns the ended campaign.
  shared::Result<std::optional<Campaign>> OnRoundDone(uint64_t round, uint64_t version,
                                                      const nlohmann::json& evaluation,
                                                      uint64_t now_ms);

  const DriftSettings& settings() const { return settings_; }
  // {"clients": [...], "campaigns": [...], "settings": {...}} for status and fedgectl.
  nlohmann::json Snapshot() const;
  const std::map<std::string, ClientDrift>& clients() const { return clients_; }
  const std::vector<Campaign>& campaigns() const { return campaigns_; }

 private:
  // Campaigns triggered in the 24 hours before `now_ms` that `client_id` was a member of.
  size_t CampaignsOf(const std::string& client_id, uint64_t now_ms) const;
  shared::Status StoreCampaign(const Campaign& c);
  shared::Status StoreClient(const ClientDrift& d);

  DriftSettings settings_;
  Store* store_;
  std::map<std::string, ClientDrift> clients_;
  std::vector<Campaign> campaigns_;                // by id
  std::map<std::string, uint64_t> handled_onset_;  // client -> onset a campaign handled
  // The federated evaluation of the latest rounds (for a campaign's "before" figures).
  nlohmann::json last_evaluation_;
  uint64_t last_evaluated_version_ = 0;
};

}  // namespace fedge::coordinator
