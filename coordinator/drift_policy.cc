#include "coordinator/drift_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "shared/base/log.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "drift";
constexpr double kMaxScore = 1e6;

// Mean of the per-client federated accuracies of `ids` in `evaluation`, if any reported.
std::optional<double> MeanClientAccuracy(const json& evaluation,
                                         const std::vector<ClientDrift>& ids) {
  if (!evaluation.contains("per_client")) return std::nullopt;
  double sum = 0;
  int n = 0;
  for (const ClientDrift& c : ids) {
    const json& pc = evaluation["per_client"];
    if (pc.contains(c.client_id) && pc[c.client_id].contains("accuracy")) {
      sum += pc[c.client_id]["accuracy"].get<double>();
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

json AccuracyOrNull(const json& evaluation) {
  return evaluation.contains("accuracy") ? evaluation["accuracy"] : json(nullptr);
}
}  // namespace

Status ValidateDriftReport(const DriftReportIn& r, uint64_t newest_version) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("drift report rejected: " + what);
  };
  if (r.model_version == 0 || r.model_version > newest_version) {
    return bad("model_version " + std::to_string(r.model_version) +
               " is not a version this coordinator made (newest " + std::to_string(newest_version) +
               ")");
  }
  if (!std::isfinite(r.score) || r.score < 0 || r.score > kMaxScore) {
    return bad("score " + std::to_string(r.score) + " is not a finite value in [0, 1e6]");
  }
  if (!std::isfinite(r.detector) || r.detector < 0 || r.detector > 1e9) {
    return bad("detector statistic " + std::to_string(r.detector) +
               " is not a finite value in [0, 1e9]");
  }
  if (!r.top_feature.empty() && !drift::FeatureFromName(r.top_feature)) {
    return bad("unknown top_feature '" + r.top_feature + "'");
  }
  std::set<std::string> seen;
  for (const auto& [name, value] : r.distances) {
    if (!drift::FeatureFromName(name)) return bad("distance for unknown feature '" + name + "'");
    if (!seen.insert(name).second) return bad("feature '" + name + "' has two distances");
    if (!std::isfinite(value) || value < 0 || value > kMaxScore) {
      return bad("distance of '" + name + "' is " + std::to_string(value) +
                 ", not a finite value in [0, 1e6]");
    }
  }
  if (r.summary.frames == 0 || r.summary.frames > 1000000) {
    return bad("the window has " + std::to_string(r.summary.frames) +
               " frames; expected 1 to 1000000");
  }
  if (Status s = r.summary.Validate(1000000, 1000); !s.ok()) return bad(s.message());
  if (r.drifted && r.onset_ms == 0) return bad("drifted without an onset time");
  if (!r.drifted && r.onset_ms != 0) return bad("an onset time without drift");
  if (r.onset_ms > r.captured_ms) return bad("onset_ms is after captured_ms");
  return Status::Ok();
}

json ToJson(const ClientDrift& d) { return ClientDriftBody(d); }

json ToJson(const Campaign& c) { return CampaignBody(c); }

json CampaignAugmentFor(const std::vector<ClientDrift>& members) {
  json a = json::object();
  for (const ClientDrift& d : members) {
    if (d.top_feature == "brightness" || d.top_feature == "clipped") {
      a["brightness"] = 0.5;
      a["gamma"] = 0.5;
    } else if (d.top_feature == "contrast") {
      a["contrast"] = 0.5;
    } else if (d.top_feature == "sharpness") {
      a["blur_prob"] = 0.5;
      a["noise_std"] = 0.05;
    }
  }
  return a;
}

DriftPolicy::DriftPolicy(DriftSettings settings, Store* store)
    : settings_(settings), store_(store) {}

Status DriftPolicy::Init() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ClientDrift> clients, store_->ListDriftClients());
  for (ClientDrift& d : clients) clients_[d.client_id] = std::move(d);
  FEDGE_ASSIGN_OR_RETURN(campaigns_, store_->ListCampaigns());
  for (const Campaign& c : campaigns_) {
    for (const ClientDrift& d : c.clients) {
      handled_onset_[d.client_id] = std::max(handled_onset_[d.client_id], d.onset_ms);
    }
  }
  if (const Campaign* c = running()) {
    FEDGE_LOG(Info, kLog) << "retraining campaign " << c->id << " continues (rounds "
                          << c->first_round << "-" << c->last_round << ")";
  }
  return Status::Ok();
}

Status DriftPolicy::StoreClient(const ClientDrift& d) {
  return store_->PutDriftClient(d, /*sync=*/false);
}

Status DriftPolicy::StoreCampaign(const Campaign& c) { return store_->PutCampaign(c); }

Status DriftPolicy::OnReport(const std::string& client_id, const DriftReportIn& r,
                             uint64_t newest_version, uint64_t now_ms) {
  FEDGE_RETURN_IF_ERROR(ValidateDriftReport(r, newest_version));
  ClientDrift& d = clients_[client_id];
  d.client_id = client_id;
  // Windows in a row: same reference, next index. A lower index means the client's monitor
  // restarted (e.g. the client did); reports are not resent, so it is not a duplicate.
  const bool same_reference = d.model_version == r.model_version && d.reports > 0;
  if (!same_reference || r.window != d.window + 1) d.streak = 0;
  d.streak = r.score >= settings_.score_threshold ? d.streak + 1 : 0;
  d.model_version = r.model_version;
  d.window = r.window;
  d.score = r.score;
  d.top_feature = r.top_feature;
  d.detector = r.detector;
  if (r.alarm) ++d.alarms;
  d.drifted = r.drifted;
  d.onset_ms = r.onset_ms;
  ++d.reports;
  d.last_report_ms = now_ms;
  double b = r.summary.Mean(drift::Feature::kBrightness);
  d.mean_brightness = std::isfinite(b) ? b : 0.0;
  if (!campaigns_.empty() && campaigns_.back().running && d.drifted &&
      d.streak >= settings_.persistence) {
    // Drift found on another client while a campaign runs: it joins the campaign's remaining
    // rounds instead of waiting for the next campaign.
    Campaign& c = campaigns_.back();
    const bool member = std::any_of(c.clients.begin(), c.clients.end(),
                                    [&](const ClientDrift& m) { return m.client_id == client_id; });
    if (!member) {
      c.clients.push_back(d);
      if (settings_.campaign_augment) c.augment = CampaignAugmentFor(c.clients);
      handled_onset_[client_id] = std::max(handled_onset_[client_id], d.onset_ms);
      FEDGE_LOG(Info, kLog) << client_id << " joins retraining campaign " << c.id;
      FEDGE_RETURN_IF_ERROR(StoreCampaign(c));
    }
  }
  if (r.alarm) {
    FEDGE_LOG(Info, kLog) << client_id << ": drift detected on model version " << r.model_version
                          << " (window " << r.window << ", score " << r.score << ", "
                          << r.top_feature << ")";
  }
  return StoreClient(d);
}

const Campaign* DriftPolicy::running() const {
  if (!campaigns_.empty() && campaigns_.back().running) return &campaigns_.back();
  return nullptr;
}

size_t DriftPolicy::CampaignsOf(const std::string& client_id, uint64_t now_ms) const {
  constexpr uint64_t kDayMs = 24ull * 3600 * 1000;
  size_t n = 0;
  for (const Campaign& c : campaigns_) {
    if (c.triggered_ms + kDayMs <= now_ms) continue;
    for (const ClientDrift& d : c.clients) n += d.client_id == client_id ? 1 : 0;
  }
  return n;
}

Result<std::optional<Campaign>> DriftPolicy::MaybeTrigger(const std::set<std::string>& connected,
                                                          uint64_t base_round,
                                                          uint64_t head_version, uint64_t now_ms) {
  if (!settings_.enabled || running() != nullptr) return std::optional<Campaign>();
  if (!campaigns_.empty() && base_round < campaigns_.back().last_round +
                                              static_cast<uint64_t>(settings_.cooldown_rounds)) {
    return std::optional<Campaign>();
  }
  // Members: every connected client whose monitor says drifted and whose last window was over
  // the threshold; the campaign fires on those that were so for `persistence` windows.
  std::vector<ClientDrift> drifted;
  size_t persistent = 0;
  bool news = false;
  for (const std::string& id : connected) {
    auto it = clients_.find(id);
    if (it == clients_.end()) continue;
    const ClientDrift& d = it->second;
    if (!d.drifted || d.streak < 1) continue;
    drifted.push_back(d);
    if (d.streak < settings_.persistence) continue;
    if (CampaignsOf(id, now_ms) >= static_cast<size_t>(settings_.max_campaigns_per_client)) {
      continue;  // joins the campaign if others start one, but cannot start it
    }
    ++persistent;
    auto h = handled_onset_.find(id);
    if (h == handled_onset_.end() || d.onset_ms > h->second) news = true;
  }
  const size_t need =
      std::max<size_t>(static_cast<size_t>(settings_.min_clients),
                       static_cast<size_t>(std::ceil(settings_.min_fraction *
                                                     static_cast<double>(connected.size()))));
  if (persistent < need || !news) return std::optional<Campaign>();
  Campaign c;
  c.id = campaigns_.empty() ? 1 : campaigns_.back().id + 1;
  c.triggered_ms = now_ms;
  c.trigger_version = head_version;
  c.first_round = base_round + 1;
  c.last_round = base_round + static_cast<uint64_t>(settings_.campaign_rounds);
  c.clients = drifted;
  c.connected = connected.size();
  c.outcome = {{"version_before", head_version}};
  if (settings_.campaign_augment) c.augment = CampaignAugmentFor(drifted);
  if (last_evaluated_version_ == head_version) {
    c.outcome["accuracy_before"] = AccuracyOrNull(last_evaluation_);
    std::optional<double> mean = MeanClientAccuracy(last_evaluation_, drifted);
    c.outcome["drifted_accuracy_before"] = mean ? json(*mean) : json(nullptr);
  }
  FEDGE_RETURN_IF_ERROR(StoreCampaign(c));
  for (const ClientDrift& d : drifted) {
    handled_onset_[d.client_id] = std::max(handled_onset_[d.client_id], d.onset_ms);
  }
  campaigns_.push_back(c);
  std::string ids;
  for (const ClientDrift& d : drifted) ids += (ids.empty() ? "" : ", ") + d.client_id;
  FEDGE_LOG(Info, kLog) << "retraining campaign " << c.id << " started: " << drifted.size()
                        << " of " << connected.size() << " connected clients drifted (" << ids
                        << "); rounds " << c.first_round << "-" << c.last_round;
  return std::optional<Campaign>(c);
}

std::optional<uint64_t> DriftPolicy::FocusSince(const std::string& client_id,
                                                uint64_t round) const {
  for (auto it = campaigns_.rbegin(); it != campaigns_.rend(); ++it) {
    if (round < it->first_round || round > it->last_round) continue;
    for (const ClientDrift& d : it->clients) {
      if (d.client_id == client_id) return d.onset_ms;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::string> DriftPolicy::FavouredClients(uint64_t round) const {
  std::vector<std::string> out;
  for (auto it = campaigns_.rbegin(); it != campaigns_.rend(); ++it) {
    if (round < it->first_round || round > it->last_round) continue;
    for (const ClientDrift& d : it->clients) out.push_back(d.client_id);
    break;
  }
  return out;
}

std::optional<ml::AugmentOptions> DriftPolicy::CampaignAugment(uint64_t round) const {
  for (auto it = campaigns_.rbegin(); it != campaigns_.rend(); ++it) {
    if (round < it->first_round || round > it->last_round) continue;
    if (it->augment.empty()) return std::nullopt;
    ml::AugmentOptions a;
    a.brightness = it->augment.value("brightness", 0.0f);
    a.contrast = it->augment.value("contrast", 0.0f);
    a.gamma = it->augment.value("gamma", 0.0f);
    a.blur_prob = it->augment.value("blur_prob", 0.0f);
    a.noise_std = it->augment.value("noise_std", 0.0f);
    return a;
  }
  return std::nullopt;
}

Result<std::optional<Campaign>> DriftPolicy::OnRoundDone(uint64_t round, uint64_t version,
                                                         const json& evaluation, uint64_t now_ms) {
  last_evaluation_ = evaluation;
  last_evaluated_version_ = version;
  if (campaigns_.empty() || !campaigns_.back().running) return std::optional<Campaign>();
  Campaign& c = campaigns_.back();
  if (round < c.last_round) return std::optional<Campaign>();
  c.running = false;
  c.outcome["version_after"] = version;
  c.outcome["accuracy_after"] = AccuracyOrNull(evaluation);
  std::optional<double> mean = MeanClientAccuracy(evaluation, c.clients);
  c.outcome["drifted_accuracy_after"] = mean ? json(*mean) : json(nullptr);
  c.outcome["finished_ms"] = now_ms;
  FEDGE_RETURN_IF_ERROR(StoreCampaign(c));
  FEDGE_LOG(Info, kLog) << "retraining campaign " << c.id << " done after round " << round
                        << ": version " << version << ", federated accuracy "
                        << c.outcome["accuracy_after"].dump() << " (drifted clients "
                        << c.outcome["drifted_accuracy_after"].dump() << ")";
  return std::optional<Campaign>(c);
}

json DriftPolicy::Snapshot() const {
  json clients = json::array();
  for (const auto& [id, d] : clients_) clients.push_back(ToJson(d));
  json campaigns = json::array();
  for (const Campaign& c : campaigns_) campaigns.push_back(ToJson(c));
  return {{"clients", clients},
          {"campaigns", campaigns},
          {"settings",
           {{"enabled", settings_.enabled},
            {"score_threshold", settings_.score_threshold},
            {"persistence", settings_.persistence},
            {"min_clients", settings_.min_clients},
            {"min_fraction", settings_.min_fraction},
            {"campaign_rounds", settings_.campaign_rounds},
            {"cooldown_rounds", settings_.cooldown_rounds},
            {"focus_fraction", settings_.focus_fraction}}}};
}

}  // namespace fedge::coordinator
