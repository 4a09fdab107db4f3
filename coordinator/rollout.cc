#include "coordinator/rollout.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "coordinator/release_tools.h"
#include "coordinator/robust_aggregation.h"
#include "schemas/fedge_generated.h"
#include "shared/base/log.h"
#include "shared/ml/weights/artifact.h"
#include "shared/net/wire.h"
#include "shared/release/envelope.h"
#include "shared/release/metadata.h"
#include "shared/release/repository.h"

namespace fedge::coordinator {

namespace fs = std::filesystem;
namespace rel = shared::release;
using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "rollout";

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * fraction);
  return buf;
}

// Every root file (N.root.json) and the current timestamp, snapshot and targets of `repo`.
Result<std::vector<std::pair<std::string, std::vector<uint8_t>>>> ReadMetadataFiles(
    const std::string& repo) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
  for (uint64_t v = 1;; ++v) {
    const std::string name = std::to_string(v) + ".root.json";
    std::error_code ec;
    if (!fs::exists(RepoMetadataPath(repo, name), ec)) break;
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                           shared::ReadFile(RepoMetadataPath(repo, name), rel::kMaxEnvelopeBytes));
    files.emplace_back(name, std::move(bytes));
  }
  if (files.empty()) {
    return Status::NotFound("release repository " + repo +
                            " has no root metadata (metadata/1.root.json); run fedgectl keys init");
  }
  for (const char* name : {"timestamp.json", "snapshot.json", "targets.json"}) {
    Result<std::vector<uint8_t>> bytes =
        shared::ReadFile(RepoMetadataPath(repo, name), rel::kMaxEnvelopeBytes);
    if (!bytes.ok()) {
      return bytes.status().WithContext("release repository " + repo +
                                        " has no complete release yet (fedgectl release publish)");
    }
    files.emplace_back(name, std::move(*bytes));
  }
  return files;
}

// Before a deploy: InvalidArgument unless every role's metadata is signed by its threshold and
// unexpired at `now_s`.
Status CheckDeployable(const std::string& repo, int64_t now_s) {
  FEDGE_ASSIGN_OR_RETURN(RepoSummary summary, SummarizeRepo(repo));
  for (const RepoSummary::RoleState& role : summary.roles) {
    if (role.signed_by < role.threshold) {
      return Status::InvalidArgument(role.role + " metadata has " + std::to_string(role.signed_by) +
                                     " of the " + std::to_string(role.threshold) +
                                     " required signatures; sign it first (fedgectl release sign)");
    }
    if (role.expires != 0 && role.expires <= now_s) {
      return Status::InvalidArgument(role.role +
                                     " metadata expired; re-sign it (fedgectl "
                                     "release timestamp / sign) before deploying");
    }
  }
  return Status::Ok();
}

// The release the targets metadata lists as `which` (a target name or a release counter).
Result<rel::TargetInfo> FindTarget(const std::string& repo, const std::string& which) {
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope targets_env,
                         rel::ReadEnvelope(RepoMetadataPath(repo, "targets.json")));
  FEDGE_ASSIGN_OR_RETURN(rel::TargetsMetadata targets, rel::DecodeTargets(targets_env.payload()));
  const rel::TargetInfo* info = nullptr;
  for (const auto& [name, t] : targets.targets) {
    if (name == which || std::to_string(t.release_counter) == which) info = &t;
  }
  if (info == nullptr) {
    return Status::InvalidArgument("the repository's targets list no release \"" + which +
                                   "\" (a target name or a release counter; see fedgectl "
                                   "releases)");
  }
  return *info;
}

// The canary cohort of rollout `id`: ceil(percent) of the registered, unrevoked clients (at
// least one), ranked by SHA-256("<id>/<client>"), sorted by id. `eligible` gets their number.
Result<std::vector<std::string>> CanaryCohort(Store& store, uint64_t id, double percent,
                                              size_t* eligible) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ClientRecord> clients, store.ListClients());
  FEDGE_ASSIGN_OR_RETURN(std::vector<RevocationRecord> revoked, store.ListRevocations());
  std::set<std::string> gone;
  for (const RevocationRecord& v : revoked) gone.insert(v.client_id);
  std::vector<std::pair<std::string, std::string>> ranked;  // (hash, id)
  for (const ClientRecord& c : clients) {
    if (gone.count(c.id) > 0) continue;
    const std::string key = std::to_string(id) + "/" + c.id;
    ranked.emplace_back(shared::ToHex(shared::Sha256(std::span<const uint8_t>(
                            reinterpret_cast<const uint8_t*>(key.data()), key.size()))),
                        c.id);
  }
  if (ranked.empty()) {
    return Status::InvalidArgument(
        "no registered client to be a canary; let clients connect "
        "first, or deploy to all (--canary 100)");
  }
  std::sort(ranked.begin(), ranked.end());
  const size_t n = std::clamp<size_t>(
      static_cast<size_t>(std::ceil(percent / 100.0 * ranked.size())), 1, ranked.size());
  std::vector<std::string> cohort;
  for (size_t i = 0; i < n; ++i) cohort.push_back(ranked[i].second);
  std::sort(cohort.begin(), cohort.end());
  *eligible = ranked.size();
  return cohort;
}

}  // namespace

RolloutManager::RolloutManager(ReleaseSettings settings, Store* store,
                               std::shared_ptr<CoordinatorMetrics> metrics, Clock clock)
    : settings_(std::move(settings)),
      store_(store),
      metrics_(std::move(metrics)),
      clock_(std::move(clock)) {}

Status RolloutManager::Init() {
  FEDGE_ASSIGN_OR_RETURN(rollouts_, store_->ListRollouts());
  std::sort(rollouts_.begin(), rollouts_.end(),
            [](const Rollout& a, const Rollout& b) { return a.id < b.id; });
  if (enabled()) {
    for (Rollout& r : rollouts_) {
      if (r.state != "canary" && &r != Fleet()) continue;
      if (Status s = LoadRelease(r); !s.ok()) {
        FEDGE_LOG(Warn, kLog) << "release " << r.target << " of rollout " << r.id
                              << " cannot be served: " << s.message();
      }
    }
    if (Status s = LoadMetadataFiles(); !s.ok()) {
      FEDGE_LOG(Info, kLog) << "release repository not ready: " << s.message();
    }
  }
  UpdateMetrics();
  return Status::Ok();
}

Rollout* RolloutManager::Current() {
  if (rollouts_.empty() || rollouts_.back().state != "canary") return nullptr;
  return &rollouts_.back();
}

const Rollout* RolloutManager::Fleet() const {
  for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) {
    if (it->state == "promoted") return &*it;
  }
  return nullptr;
}

Status RolloutManager::Persist(const Rollout& r) { return store_->PutRollout(r); }

void RolloutManager::Step(Rollout& r, const std::string& action, const std::string& detail) {
  r.steps.push_back({{"ms", clock_()}, {"action", action}, {"detail", detail}});
  FEDGE_LOG(Info, kLog) << "rollout " << r.id << " (" << r.target << "): " << action << ": "
                        << detail;
  if (Status s = Persist(r); !s.ok()) {
    FEDGE_LOG(Error, kLog) << "cannot store rollout " << r.id << ": " << s.message();
  }
}

Status RolloutManager::LoadRelease(Rollout& r) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                         shared::ReadFile(RepoTargetPath(settings_.repo, r.target), 1ull << 31));
  if (bytes.size() != r.length || shared::ToHex(shared::Sha256(bytes)) != r.sha256_hex) {
    return Status::Corruption("artifact " + RepoTargetPath(settings_.repo, r.target) +
                              " does not match the length and SHA-256 targets lists; publish it "
                              "again");
  }
  if (Result<ml::Artifact> a = ml::DecodeArtifact(bytes); a.ok()) {
    auto v = a->metrics.find("registry_version");
    if (v != a->metrics.end() && v->second >= 0) {
      r.registry_version = static_cast<uint64_t>(v->second);
    }
  }
  artifacts_[r.sha256_hex] = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  return Status::Ok();
}

Status RolloutManager::LoadMetadataFiles() {
  FEDGE_ASSIGN_OR_RETURN(metadata_, ReadMetadataFiles(settings_.repo));
  return Status::Ok();
}

Result<json> RolloutManager::Deploy(const std::string& which, double canary_percent) {
  if (!enabled()) {
    return Status::InvalidArgument(
        "releases are off on this coordinator: set [release] repo in its config to the release "
        "repository (fedgectl release publish) and restart it");
  }
  if (!(canary_percent > 0) || canary_percent > 100) {
    return Status::InvalidArgument("canary percent must be in (0, 100], got " +
                                   std::to_string(canary_percent));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (Rollout* c = Current()) {
    return Status::InvalidArgument("rollout " + std::to_string(c->id) + " of " + c->target +
                                   " is still in canary; promote or roll it back first");
  }
  RefreshTimestampLocked();
  FEDGE_RETURN_IF_ERROR(CheckDeployable(settings_.repo, static_cast<int64_t>(clock_() / 1000)));
  FEDGE_ASSIGN_OR_RETURN(rel::TargetInfo info, FindTarget(settings_.repo, which));
  const Rollout* fleet = Fleet();
  if (fleet != nullptr && info.release_counter <= fleet->counter) {
    return Status::InvalidArgument(
        "release " + info.name + " has counter " + std::to_string(info.release_counter) +
        ", not above the fleet's release " + fleet->target + " (" + std::to_string(fleet->counter) +
        "); clients never go back to a lower counter");
  }
  Rollout r;
  r.id = rollouts_.empty() ? 1 : rollouts_.back().id + 1;
  r.target = info.name;
  r.counter = info.release_counter;
  r.sha256_hex = shared::ToHex(info.sha256);
  r.length = info.length;
  r.arch = info.compatibility.arch;
  if (fleet != nullptr) {
    r.previous_target = fleet->target;
    r.previous_counter = fleet->counter;
  }
  r.canary_percent = canary_percent;
  r.started_ms = clock_();
  FEDGE_RETURN_IF_ERROR(LoadRelease(r));
  FEDGE_RETURN_IF_ERROR(LoadMetadataFiles());
  std::string detail;
  if (canary_percent < 100) {
    size_t eligible = 0;
    FEDGE_ASSIGN_OR_RETURN(r.cohort, CanaryCohort(*store_, r.id, canary_percent, &eligible));
    r.state = "canary";
    detail = "canary: " + std::to_string(r.cohort.size()) + " of " + std::to_string(eligible) +
             " clients (";
    for (size_t i = 0; i < r.cohort.size(); ++i) detail += (i ? ", " : "") + r.cohort[i];
    detail += ")";
  } else {
    r.state = "promoted";
    r.decided_ms = r.started_ms;
    detail = "to every client at once (no canary)";
  }
  return Start(std::move(r), detail);
}

json RolloutManager::Start(Rollout r, const std::string& detail) {
  rollouts_.push_back(std::move(r));
  Rollout& added = rollouts_.back();
  if (added.state == "promoted") {
    for (Rollout& old : rollouts_) {
      if (&old != &added && old.state == "promoted") {
        old.state = "superseded";
        Step(old, "superseded", "by rollout " + std::to_string(added.id));
      }
    }
  }
  Step(added, "deployed", detail);
  if (added.state == "promoted" && metrics_) metrics_->release_promotions->Inc();
  for (auto& [id, p] : peers_) Reconcile(p);
  UpdateMetrics();
  return ToJson(added);
}

Result<json> RolloutManager::Promote(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Rollout* c = Current();
  if (c == nullptr) return Status::InvalidArgument("no rollout is in canary; nothing to promote");
  PromoteLocked(*c, reason.empty() ? "promoted by an admin" : reason);
  return ToJson(*c);
}

Result<json> RolloutManager::Rollback(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Rollout* c = Current();
  if (c == nullptr) {
    Rollout* fleet = const_cast<Rollout*>(Fleet());
    if (fleet == nullptr) {
      return Status::InvalidArgument("no release is in canary or deployed; nothing to roll back");
    }
    c = fleet;
  }
  RollbackLocked(*c, reason.empty() ? "rolled back by an admin" : reason);
  return ToJson(*c);
}

void RolloutManager::PromoteLocked(Rollout& r, const std::string& reason) {
  for (Rollout& old : rollouts_) {
    if (&old != &r && old.state == "promoted") {
      old.state = "superseded";
      Step(old, "superseded", "by rollout " + std::to_string(r.id));
    }
  }
  r.state = "promoted";
  r.decided_ms = clock_();
  Step(r, "promoted", reason);
  if (metrics_) metrics_->release_promotions->Inc();
  for (auto& [id, p] : peers_) Reconcile(p);
  UpdateMetrics();
}

void RolloutManager::RollbackLocked(Rollout& r, const std::string& reason) {
  const bool was_fleet = r.state == "promoted";
  r.state = "rolled_back";
  r.decided_ms = clock_();
  Step(r, "rolled_back", reason);
  if (was_fleet) {
    // The fleet returns to the release before this one, if it is still the newest promoted.
    for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) {
      if (it->state == "superseded" && it->target == r.previous_target) {
        it->state = "promoted";
        Step(*it, "restored", "rollout " + std::to_string(r.id) + " was rolled back");
        if (Status s = LoadRelease(*it); !s.ok()) {
          FEDGE_LOG(Warn, kLog) << "cannot serve " << it->target << ": " << s.message();
        }
        break;
      }
    }
  }
  if (metrics_) metrics_->release_rollout_failures->Inc();
  for (auto& [id, p] : peers_) Reconcile(p);
  UpdateMetrics();
}

void RolloutManager::MaybeDecide(Rollout& r, bool timed_out) {
  if (r.state != "canary") return;
  size_t healthy = 0;
  uint64_t examples = 0;
  double acc = 0, prev = 0;
  std::vector<double> drops;  // each canary's own drop of held-out accuracy
  for (const std::string& c : r.cohort) {
    auto it = r.reports.find(c);
    if (it == r.reports.end() || !it->second.value("installed", false) ||
        it->second.value("counter", uint64_t{0}) != r.counter) {
      continue;
    }
    ++healthy;
    const uint64_t n = it->second.value("eval_examples", uint64_t{0});
    examples += n;
    acc += static_cast<double>(n) * it->second.value("accuracy", 0.0);
    prev += static_cast<double>(n) * it->second.value("previous_accuracy", 0.0);
    if (n > 0) {
      drops.push_back(it->second.value("previous_accuracy", 0.0) -
                      it->second.value("accuracy", 0.0));
    }
  }
  if (healthy < r.cohort.size() && !timed_out) return;  // wait for the others
  if (healthy == 0 ||
      static_cast<int>(healthy) <
          std::min<int>(settings_.min_canary_reports, static_cast<int>(r.cohort.size()))) {
    RollbackLocked(r, "canary timed out: " + std::to_string(healthy) + " of " +
                          std::to_string(r.cohort.size()) +
                          " canary clients reported a healthy "
                          "install within " +
                          std::to_string(settings_.canary_timeout_seconds) + " s");
    return;
  }
  json eval = {{"clients", healthy}, {"examples", examples}};
  std::string numbers = std::to_string(healthy) + " of " + std::to_string(r.cohort.size()) +
                        " canary clients installed it";
  if (examples > 0) {
    acc /= static_cast<double>(examples);
    prev /= static_cast<double>(examples);
    eval["accuracy"] = acc;
    eval["previous_accuracy"] = prev;
    eval["max_accuracy_drop"] = settings_.max_accuracy_drop;
    numbers += "; held-out accuracy " + Percent(prev) + " -> " + Percent(acc) + " on " +
               std::to_string(examples) + " examples";
  }
  // The decision is the median of the canaries' own drops, not the example-weighted pool: the
  // example counts are each site's claim, and one site claiming a huge count would decide alone.
  double median_drop = 0;
  if (!drops.empty()) {
    median_drop = MedianOf(drops);
    eval["median_drop"] = median_drop;
    numbers += "; median drop per canary " + Percent(median_drop);
  }
  r.canary_evaluation = eval;
  if (!drops.empty() && median_drop > settings_.max_accuracy_drop) {
    RollbackLocked(r, "accuracy regression: " + numbers + " > the allowed " +
                          Percent(settings_.max_accuracy_drop));
    return;
  }
  if (settings_.auto_promote) {
    PromoteLocked(r, "canary healthy: " + numbers);
  } else if (r.steps.empty() || r.steps.back().value("action", "") != "canary_healthy") {
    Step(r, "canary_healthy", numbers + "; waiting for fedgectl release promote");
  }
}

}  // namespace fedge::coordinator
