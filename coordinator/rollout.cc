#include "coordinator/rollout.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "coordinator/release_tools.h"
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

}  // namespace

json ToJson(const InstallReportIn& r) {
  return {{"rollout", r.rollout_id},
          {"target", r.target},
          {"counter", r.counter},
          {"installed", r.installed},
          {"reverted", r.reverted},
          {"error", r.error},
          {"median_latency_ms", r.median_latency_ms},
          {"eval_examples", r.eval_examples},
          {"accuracy", r.accuracy},
          {"previous_accuracy", r.previous_accuracy},
          {"previous", r.previous},
          {"active_target", r.active_target},
          {"active_counter", r.active_counter}};
}

json ToJson(const Rollout& r) {
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

Result<Rollout> RolloutFromJson(const json& j) {
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
    for (const auto& [client, report] : j.value("reports", json::object()).items()) {
      r.reports[client] = report;
    }
    r.canary_evaluation = j.value("canary_evaluation", json());
    return r;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("stored rollout record is malformed: ") + e.what());
  }
}

RolloutManager::RolloutManager(ReleaseSettings settings, Store* store,
                               std::shared_ptr<CoordinatorMetrics> metrics, Clock clock)
    : settings_(std::move(settings)),
      store_(store),
      metrics_(std::move(metrics)),
      clock_(std::move(clock)) {}

Status RolloutManager::Init() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<json> stored, store_->ListRollouts());
  for (const json& j : stored) {
    FEDGE_ASSIGN_OR_RETURN(Rollout r, RolloutFromJson(j));
    rollouts_.push_back(std::move(r));
  }
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

Status RolloutManager::Persist(const Rollout& r) { return store_->PutRollout(r.id, ToJson(r)); }

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
  FEDGE_ASSIGN_OR_RETURN(RepoSummary summary, SummarizeRepo(settings_.repo));
  const int64_t now_s = static_cast<int64_t>(clock_() / 1000);
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
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope targets_env,
                         rel::ReadEnvelope(RepoMetadataPath(settings_.repo, "targets.json")));
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
  const Rollout* fleet = Fleet();
  if (fleet != nullptr && info->release_counter <= fleet->counter) {
    return Status::InvalidArgument(
        "release " + info->name + " has counter " + std::to_string(info->release_counter) +
        ", not above the fleet's release " + fleet->target + " (" + std::to_string(fleet->counter) +
        "); clients never go back to a lower counter");
  }
  Rollout r;
  r.id = rollouts_.empty() ? 1 : rollouts_.back().id + 1;
  r.target = info->name;
  r.counter = info->release_counter;
  r.sha256_hex = shared::ToHex(info->sha256);
  r.length = info->length;
  r.arch = info->compatibility.arch;
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
    FEDGE_ASSIGN_OR_RETURN(std::vector<ClientRecord> clients, store_->ListClients());
    FEDGE_ASSIGN_OR_RETURN(std::vector<RevocationRecord> revoked, store_->ListRevocations());
    std::set<std::string> gone;
    for (const RevocationRecord& v : revoked) gone.insert(v.client_id);
    std::vector<std::pair<std::string, std::string>> ranked;  // (hash, id)
    for (const ClientRecord& c : clients) {
      if (gone.count(c.id) > 0) continue;
      const std::string key = std::to_string(r.id) + "/" + c.id;
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
        static_cast<size_t>(std::ceil(canary_percent / 100.0 * ranked.size())), 1, ranked.size());
    for (size_t i = 0; i < n; ++i) r.cohort.push_back(ranked[i].second);
    std::sort(r.cohort.begin(), r.cohort.end());
    r.state = "canary";
    detail = "canary: " + std::to_string(n) + " of " + std::to_string(ranked.size()) + " clients (";
    for (size_t i = 0; i < r.cohort.size(); ++i) detail += (i ? ", " : "") + r.cohort[i];
    detail += ")";
  } else {
    r.state = "promoted";
    r.decided_ms = r.started_ms;
    detail = "to every client at once (no canary)";
  }
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
  r.canary_evaluation = eval;
  if (examples > 0 && prev - acc > settings_.max_accuracy_drop) {
    RollbackLocked(r, "accuracy regression: " + numbers + ", a drop of " + Percent(prev - acc) +
                          " > the allowed " + Percent(settings_.max_accuracy_drop));
    return;
  }
  if (settings_.auto_promote) {
    PromoteLocked(r, "canary healthy: " + numbers);
  } else if (r.steps.empty() || r.steps.back().value("action", "") != "canary_healthy") {
    Step(r, "canary_healthy", numbers + "; waiting for fedgectl release promote");
  }
}

json RolloutManager::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) out.push_back(ToJson(*it));
  const Rollout* fleet = Fleet();
  json connected = json::object();
  for (const auto& [id, p] : peers_) {
    connected[id] = {{"target", p.active_target}, {"counter", p.active_counter}};
  }
  return {{"enabled", enabled()},
          {"repo", settings_.repo},
          {"fleet", fleet ? json{{"target", fleet->target}, {"counter", fleet->counter}} : json()},
          {"connected", connected},
          {"rollouts", out}};
}

json RolloutManager::StatusRows() const {
  std::lock_guard<std::mutex> lock(mu_);
  json rows = json::array();
  for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) {
    const Rollout& r = *it;
    int installed = 0, failed = 0;
    for (const auto& [client, report] : r.reports) {
      if (report.value("reverted", false)) continue;
      ++(report.value("installed", false) ? installed : failed);
    }
    std::string cohort;
    for (const std::string& c : r.cohort) cohort += (cohort.empty() ? "" : ", ") + c;
    char stage[64];
    std::snprintf(stage, sizeof(stage), "canary %g%%", r.canary_percent);
    rows.push_back(
        {{"version", r.target + " (counter " + std::to_string(r.counter) + ")"},
         {"model_version", r.registry_version},
         {"stage", r.cohort.empty() ? std::string("all clients") : std::string(stage)},
         {"state", r.state},
         {"cohort", cohort.empty() ? "-" : cohort},
         {"installed", installed},
         {"failed", failed},
         {"updated_ms", r.steps.empty() ? r.started_ms : r.steps.back().value("ms", uint64_t{0})}});
  }
  return rows;
}

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
  p.peer->SendReleaseRevert({r.id, r.target, r.counter, reason});
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
