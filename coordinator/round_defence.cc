// RoundEngine's part of the defence tied to site identity (coordinator/site_defence.h): the
// round's update scores become the sites' standings, committed with the round's model version;
// quarantined sites get no task and are told why; defence.revoke_after revokes through the
// registry's revocation records, as `fedgectl revoke` does.
#include "coordinator/round_engine.h"
#include "shared/base/log.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "defence";
}  // namespace

bool RoundEngine::Quarantined(const std::string& client_id) const {
  auto it = standings_.find(client_id);
  return it != standings_.end() && it->second.quarantined;
}

int RoundEngine::RemovedByDefence() const {
  int removed = 0;
  for (const auto& [id, st] : standings_) removed += st.quarantined || st.revoked_round > 0;
  return removed;
}

RoundSettings RoundEngine::QuorumSettings() const {
  RoundSettings r = config_.rounds;
  const int removed = RemovedByDefence();
  r.min_clients = std::max(1, r.min_clients - removed);
  r.min_fit = std::max(1, r.min_fit - removed);
  return r;
}

void RoundEngine::TellQuarantined(Peer& peer) const {
  auto it = standings_.find(peer.client_id());
  if (it == standings_.end()) return;
  peer.SendError(Status::PermissionDenied(
                     "this site is quarantined and gets no training or evaluation task: " +
                     it->second.quarantine_reason +
                     ". Check the site's data and camera, then ask the central team to clear it "
                     "(fedgectl unquarantine " +
                     peer.client_id() + ")"),
                 0, wire::ErrorSubject::Standing);
}

RoundEngine::DefenceOutcome RoundEngine::ScoreRound(uint64_t round, nlohmann::json* metrics) const {
  DefenceOutcome out;
  const DefenceSettings& d = config_.defence;
  const std::vector<UpdateScore>& scores = ingest_->scores();
  if (!d.Scoring() || scores.empty()) return out;
  const uint64_t now = shared::UnixMillis();
  nlohmann::json view = {{"threshold", d.threshold}};
  nlohmann::json by_site = nlohmann::json::object();
  std::vector<std::string> flagged;
  for (const UpdateScore& sc : scores) {
    auto it = standings_.find(sc.client_id);
    SiteStanding before;
    if (it != standings_.end()) before = it->second;
    StandingChange change = ApplyScore(before, round, sc, d, now);
    by_site[sc.client_id] = {{"score", sc.score},
                             {"reasons", sc.reasons},
                             {"z_norm", sc.z_norm},
                             {"z_distance", sc.z_distance},
                             {"z_direction", sc.z_direction}};
    if (sc.flagged()) flagged.push_back(sc.client_id);
    if (change.quarantined) out.quarantined.push_back(sc.client_id);
    if (change.revoke) {
      RevocationRecord r;
      r.client_id = sc.client_id;
      if (auto c = store_->GetClient(sc.client_id); c.ok() && c->has_value()) {
        r.fingerprint = (*c)->fingerprint;
      }
      r.reason = "defence: flagged in " +
                 std::to_string(FlaggedInWindow(change.standing, d.window)) + " of its last " +
                 std::to_string(d.window) +
                 " rounds (defence.revoke_after = " + std::to_string(d.revoke_after) + ")";
      r.revoked_by = "defence";
      r.revoked_ms = now;
      out.revocations.push_back(std::move(r));
    }
    out.standings.push_back(std::move(change.standing));
  }
  view["scores"] = std::move(by_site);
  view["flagged"] = flagged;
  view["quarantined"] = out.quarantined;
  std::vector<std::string> revoked;
  for (const RevocationRecord& r : out.revocations) revoked.push_back(r.client_id);
  view["revoked"] = revoked;
  (*metrics)["defence"] = std::move(view);
  return out;
}

void RoundEngine::ApplyDefence(DefenceOutcome outcome) {
  for (SiteStanding& st : outcome.standings) {
    const std::string id = st.client_id;
    standings_[id] = std::move(st);
  }
  for (const std::string& id : outcome.quarantined) {
    FEDGE_LOG(Warn, kLog).Client(id)
        << "quarantined " << id << ": " << standings_[id].quarantine_reason;
    if (auto it = connected_.find(id); it != connected_.end()) TellQuarantined(*it->second);
  }
  for (const RevocationRecord& r : outcome.revocations) {
    FEDGE_LOG(Warn, kLog).Client(r.client_id)
        << "revoked the certificate of " << r.client_id << ": " << r.reason;
    metrics_->defence_revocations->Inc();
    if (close_client_) close_client_(r.client_id);
  }
  UpdateDefenceMetrics();
}

void RoundEngine::UpdateDefenceMetrics() {
  double quarantined = 0;
  for (const auto& [id, st] : standings_) quarantined += st.quarantined ? 1 : 0;
  metrics_->quarantined_sites->Set(quarantined);
}

void RoundEngine::ClearQuarantine(std::string client_id, std::string admin,
                                  std::function<void(Result<nlohmann::json>)> done) {
  net::asio::post(strand_, [this, client_id = std::move(client_id), admin = std::move(admin),
                            done = std::move(done)] {
    auto it = standings_.find(client_id);
    if (it == standings_.end() || !it->second.quarantined) {
      return done(Status::NotFound(client_id + " is not quarantined (fedgectl clients shows "
                                               "who is)"));
    }
    SiteStanding cleared = coordinator::ClearQuarantine(it->second, admin, model_.round);
    if (Status s = store_->PutStanding(cleared); !s.ok()) return done(s);
    it->second = cleared;
    FEDGE_LOG(Warn, kLog).Client(client_id) << admin << " cleared the quarantine of " << client_id;
    UpdateDefenceMetrics();
    PublishSnapshot();
    Wake();  // it may complete a quorum
    done(ToJson(cleared));
  });
}

}  // namespace fedge::coordinator
