// RolloutManager's sessions: offers, reverts, install reports, the canary timeout and the
// release timestamp's re-signing.
#include <algorithm>

#include "coordinator/release_tools.h"
#include "coordinator/rollout.h"
#include "shared/base/log.h"
#include "shared/release/envelope.h"
#include "shared/release/metadata.h"
#include "shared/release/repository.h"

namespace fedge::coordinator {

namespace rel = shared::release;
using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "rollout";
}  // namespace

void RolloutManager::Connected(std::shared_ptr<Peer> peer, const std::string& active_target,
                               uint64_t active_counter) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  PeerState& p = peers_[peer->client_id()];
  p = PeerState{std::move(peer), active_target, active_counter, 0, 0};
  Reconcile(p);
}

void RolloutManager::Disconnected(const std::shared_ptr<Peer>& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(peer->client_id());
  if (it != peers_.end() && it->second.peer == peer) peers_.erase(it);
}

void RolloutManager::Reconcile(PeerState& p) {
  const std::string& client = p.peer->client_id();
  // A rolled-back release the client still runs: send it back.
  for (const Rollout& r : rollouts_) {
    if (r.state == "rolled_back" && p.active_target == r.target && p.reverted != r.id) {
      SendRevert(p, r, "rollout " + std::to_string(r.id) + " was rolled back");
      return;
    }
  }
  const Rollout* assigned = nullptr;
  bool evaluate = false;
  if (!rollouts_.empty() && rollouts_.back().state == "canary" &&
      std::binary_search(rollouts_.back().cohort.begin(), rollouts_.back().cohort.end(), client)) {
    assigned = &rollouts_.back();
    evaluate = true;
  } else {
    assigned = Fleet();
  }
  if (assigned == nullptr || p.active_target == assigned->target || p.offered == assigned->id) {
    return;
  }
  if (p.active_counter > assigned->counter) return;  // it could not install it (rollback rule)
  SendOffer(p, *assigned, evaluate);
}

void RolloutManager::SendOffer(PeerState& p, const Rollout& r, bool evaluate) {
  if (metadata_.empty() || artifacts_.count(r.sha256_hex) == 0) {
    FEDGE_LOG(Warn, kLog).Client(p.peer->client_id())
        << "cannot offer " << r.target << ": the repository's files are not loaded";
    return;
  }
  Result<shared::Digest> digest = shared::DigestFromHex(r.sha256_hex);
  if (!digest.ok()) return;
  ReleaseOfferOut offer;
  offer.rollout_id = r.id;
  offer.target = r.target;
  offer.counter = r.counter;
  offer.files = metadata_;
  offer.artifact_digest = *digest;
  offer.artifact_size = r.length;
  offer.evaluate = evaluate;
  p.peer->SendReleaseOffer(offer);
  p.offered = r.id;
  FEDGE_LOG(Info, kLog).Client(p.peer->client_id())
      << "offered release " << r.target << " (rollout " << r.id << (evaluate ? ", canary" : "")
      << ")";
}

void RolloutManager::SendRevert(PeerState& p, const Rollout& r, const std::string& reason) {
  p.peer->SendReleaseRevert({r.id, r.target, r.counter, reason, metadata_});
  p.reverted = r.id;
}

Status RolloutManager::Report(const std::shared_ptr<Peer>& peer, const InstallReportIn& report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = std::find_if(rollouts_.begin(), rollouts_.end(),
                        [&](const Rollout& x) { return x.id == report.rollout_id; });
  if (r == rollouts_.end() || r->target != report.target) {
    return Status::InvalidArgument("InstallReport names rollout " +
                                   std::to_string(report.rollout_id) + " of \"" + report.target +
                                   "\", which this coordinator did not make");
  }
  const std::string& client = peer->client_id();
  if (r->state == "canary" && !std::binary_search(r->cohort.begin(), r->cohort.end(), client)) {
    return Status::PermissionDenied("InstallReport for rollout " + std::to_string(r->id) +
                                    ": client " + client +
                                    " is not in its canary cohort and was not offered it");
  }
  auto p = peers_.find(client);
  if (p != peers_.end() && p->second.peer == peer) {
    p->second.active_target = report.active_target;
    p->second.active_counter = report.active_counter;
  }
  json j = ToJson(report);
  j["ms"] = clock_();
  r->reports[client] = j;
  const char* result = report.reverted ? "reverted" : report.installed ? "installed" : "failed";
  if (metrics_) metrics_->release_install_reports->Labels({result}).Inc();
  FEDGE_LOG(Info, kLog).Client(client) << "release " << report.target << ": " << result
                                       << (report.error.empty() ? "" : " (" + report.error + ")");
  if (Status s = Persist(*r); !s.ok()) return s;
  const bool canary =
      r->state == "canary" && std::binary_search(r->cohort.begin(), r->cohort.end(), client);
  if (canary && !report.installed && !report.reverted) {
    RollbackLocked(*r, "canary client " + client + " could not install it: " + report.error);
  } else if (canary) {
    MaybeDecide(*r, false);
  }
  UpdateMetrics();
  return Status::Ok();
}

std::shared_ptr<const std::vector<uint8_t>> RolloutManager::Artifact(
    const shared::Digest& digest) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = artifacts_.find(shared::ToHex(digest));
  return it == artifacts_.end() ? nullptr : it->second;
}

void RolloutManager::Tick() {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (Rollout* c = Current()) {
    const uint64_t deadline =
        c->started_ms + static_cast<uint64_t>(settings_.canary_timeout_seconds) * 1000;
    if (clock_() >= deadline) MaybeDecide(*c, true);
  }
  if (clock_() - last_timestamp_check_ms_ >= 60'000) RefreshTimestampLocked();
}

void RolloutManager::RefreshTimestampLocked() {
  last_timestamp_check_ms_ = clock_();
  if (settings_.online_keys.empty()) return;
  Result<rel::Envelope> env = rel::ReadEnvelope(RepoMetadataPath(settings_.repo, "timestamp.json"));
  if (!env.ok()) return;  // nothing published yet
  Result<rel::TimestampMetadata> ts = rel::DecodeTimestamp(env->payload());
  if (!ts.ok()) return;
  const int64_t now_s = static_cast<int64_t>(clock_() / 1000);
  const int64_t lifetime = static_cast<int64_t>(settings_.timestamp_hours) * 3600;
  if (ts->expires - now_s > lifetime / 2) return;
  // The new timestamp pins the repository's current snapshot: if that is not the one being
  // served (a publish not signed yet), offers would mix versions. Wait until it is deployed.
  auto served = std::find_if(metadata_.begin(), metadata_.end(),
                             [](const auto& f) { return f.first == "snapshot.json"; });
  Result<std::vector<uint8_t>> on_disk =
      shared::ReadFile(RepoMetadataPath(settings_.repo, "snapshot.json"), rel::kMaxEnvelopeBytes);
  if (served != metadata_.end() && (!on_disk.ok() || *on_disk != served->second)) {
    FEDGE_LOG(Warn, kLog) << "release timestamp expires soon but the repository's snapshot "
                             "changed since the last deploy; sign and deploy it, or re-sign the "
                             "timestamp by hand (fedgectl release timestamp / sign)";
    return;
  }
  Status s = RefreshTimestamp(settings_.repo, settings_.timestamp_hours, now_s);
  if (s.ok()) s = SignRole(settings_.repo, settings_.online_keys, rel::Role::kTimestamp).status();
  if (s.ok()) s = LoadMetadataFiles();
  if (!s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot re-sign the release timestamp: " << s.message();
    return;
  }
  FEDGE_LOG(Info, kLog) << "re-signed the release timestamp (expires in "
                        << settings_.timestamp_hours << " h)";
}

void RolloutManager::UpdateMetrics() {
  // Only the fleet's and the canary's artifacts are served; the others leave memory.
  const Rollout* fleet = Fleet();
  const Rollout* current =
      !rollouts_.empty() && rollouts_.back().state == "canary" ? &rollouts_.back() : nullptr;
  std::erase_if(artifacts_, [&](const auto& entry) {
    return !(fleet && entry.first == fleet->sha256_hex) &&
           !(current && entry.first == current->sha256_hex);
  });
  if (!metrics_) return;
  metrics_->release_counter->Set(fleet ? static_cast<double>(fleet->counter) : 0);
  metrics_->release_canary_counter->Set(current ? static_cast<double>(current->counter) : 0);
  double on_fleet = 0;
  for (const auto& [id, p] : peers_) {
    if (fleet && p.active_target == fleet->target) ++on_fleet;
  }
  metrics_->release_clients_on_fleet->Set(on_fleet);
}

}  // namespace fedge::coordinator
