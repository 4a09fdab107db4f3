#include "coordinator/drift_intake.h"

#include <algorithm>

#include "shared/base/log.h"
#include "shared/drift/drift_wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "rounds";
}  // namespace

DriftIntake::DriftIntake(const DriftSettings& settings, Store* store,
                         std::shared_ptr<CoordinatorMetrics> metrics)
    : store_(store), metrics_(std::move(metrics)), policy_(settings, store) {}

Status DriftIntake::Init() {
  FEDGE_RETURN_IF_ERROR(policy_.Init());
  for (const auto& [id, d] : policy_.clients()) RecordClientMetrics(id);
  UpdateCampaignMetric();
  return Status::Ok();
}

void DriftIntake::RestoreProfile(uint64_t version,
                                 const Result<std::optional<std::vector<uint8_t>>>& stored) {
  if (!stored.ok() || !stored->has_value()) return;
  if (Result<drift::Summary> p = drift::DecodeSummary(**stored); p.ok()) {
    profile_ = ProfileOut{version, 0, std::move(*p)};
  }
}

Result<std::optional<uint64_t>> DriftIntake::OnReport(Peer& peer, const DriftReportIn& r,
                                                      uint64_t head_version, uint64_t base_round,
                                                      const std::set<std::string>& connected,
                                                      uint64_t now_ms) {
  const std::string& id = peer.client_id();
  if (Status s = policy_.OnReport(id, r, head_version, now_ms); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id) << "client " << id << ": " << s.message();
    peer.SendError(s, 0, wire::ErrorSubject::DriftReport);
    return s;
  }
  ++reports_;
  metrics_->drift_reports->Inc();
  RecordClientMetrics(id);
  Result<std::optional<Campaign>> fired =
      policy_.MaybeTrigger(connected, base_round, head_version, now_ms);
  if (!fired.ok()) {
    FEDGE_LOG(Error, kLog) << "drift policy: " << fired.status().ToString();
  } else if (fired->has_value()) {
    metrics_->campaigns_started->Inc();
    metrics_->campaign_running->Set(1);
    return std::optional<uint64_t>((*fired)->last_round);
  }
  return std::optional<uint64_t>();
}

uint64_t DriftIntake::FoldWeight(const std::string& client_id, uint64_t round,
                                 uint64_t examples) const {
  const std::vector<std::string> favoured = policy_.FavouredClients(round);
  const bool drifted = std::find(favoured.begin(), favoured.end(), client_id) != favoured.end();
  return drifted ? examples * static_cast<uint64_t>(settings().update_weight) : examples;
}

void DriftIntake::PublishProfile(const EvaluationMerge& evaluation,
                                 const std::map<std::string, std::shared_ptr<Peer>>& peers) {
  if (evaluation.profile().Empty()) return;
  const uint64_t version = evaluation.version();
  if (Status s = store_->PutReferenceProfile(version, drift::EncodeSummary(evaluation.profile()));
      !s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot store the reference profile of version " << version << ": "
                           << s.ToString();
  }
  profile_ = ProfileOut{version, static_cast<uint32_t>(evaluation.profile_clients()),
                        evaluation.profile()};
  for (const auto& [id, peer] : peers) peer->SendProfile(*profile_);
}

void DriftIntake::UpdateCampaignMetric() {
  metrics_->campaign_running->Set(policy_.running() != nullptr ? 1 : 0);
}

void DriftIntake::RecordClientMetrics(const std::string& client_id) {
  auto it = policy_.clients().find(client_id);
  if (it == policy_.clients().end()) return;
  metrics_->client_drift_score->Labels({client_id}).Set(it->second.score);
  metrics_->client_drifted->Labels({client_id}).Set(it->second.drifted ? 1 : 0);
  metrics_->client_drift_streak->Labels({client_id}).Set(it->second.streak);
}

}  // namespace fedge::coordinator
