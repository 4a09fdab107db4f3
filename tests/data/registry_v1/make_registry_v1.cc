// Writes tests/data/registry_v1/db: a coordinator registry in the format of main at 57d38a1
// (records without a record version), through that commit's own code paths: Store,
// RoundSchedule::ToOpenRound + ToJson(OpenRound), DriftPolicy (client state and a campaign),
// ToJson(Rollout) + Store::PutRollout (what RolloutManager::Persist did), ToJson(RoundSummary).
//
// Kept for the record: it compiles only against 57d38a1 (it was built in a build tree of that
// commit as an extra executable linking fedge_coordinator, run once, and its output committed
// without RocksDB's LOG files). Used by tests/coordinator/registry_upgrade_test.cc.
#include <cstdio>
#include <filesystem>

#include "coordinator/drift_policy.h"
#include "coordinator/rollout.h"
#include "coordinator/round_engine.h"
#include "coordinator/round_schedule.h"
#include "coordinator/store.h"
#include "shared/drift/drift_stats.h"
#include "shared/drift/drift_wire.h"

using namespace fedge;
using namespace fedge::coordinator;

namespace {
constexpr uint64_t kNow = 1760000000000ull;  // the open round's start (unix ms)

#define CHECK_OK(expr)                            \
  do {                                            \
    const auto& _s = (expr);                      \
    if (!_s.ok()) {                               \
      std::fprintf(stderr, "%s failed\n", #expr); \
      std::exit(1);                               \
    }                                             \
  } while (0)

ModelRecord Model(uint64_t version, const std::vector<uint8_t>& blob) {
  ModelRecord r;
  r.version = version;
  if (version > 1) r.parent = version - 1;
  r.round = version - 1;
  r.arch = "cnn_small";
  r.digest_hex = shared::ToHex(shared::Sha256(blob));
  r.size_bytes = blob.size();
  r.created_ms = kNow - 100000 + version;
  r.origin = version == 1 ? "initial" : "round";
  return r;
}

drift::Summary Window(uint64_t frames) {
  drift::Summary s;
  drift::FrameObservation f;
  f.brightness = 0.8;
  for (uint64_t i = 0; i < frames; ++i) s.Add(f, 10);
  return s;
}

DriftReportIn Drifted(uint64_t window) {
  DriftReportIn r;
  r.model_version = 2;
  r.window = window;
  r.score = 0.9;
  r.top_feature = "brightness";
  r.drifted = true;
  r.alarm = window == 1;
  r.detector = 0.7;
  r.distances = {{"brightness", 0.9}};
  r.summary = Window(40);
  r.onset_ms = kNow - 5000;
  r.captured_ms = kNow - 1000 + window;
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::remove_all(argv[1]);
  auto opened = Store::Open(argv[1]);
  CHECK_OK(opened);
  Store& store = **opened;

  for (const char* id : {"site-a", "site-b", "site-c"}) {
    ClientRecord c;
    c.id = id;
    c.fingerprint = std::string(64, 'a');
    c.first_seen_ms = kNow - 200000;
    c.last_seen_ms = kNow;
    c.train_examples = 100;
    c.class_counts = {50, 50};
    CHECK_OK(store.PutClient(c));
  }
  const std::vector<uint8_t> v1 = {'v', '1'}, v2 = {'v', '2', '!'};
  CHECK_OK(store.PutModel(Model(1, v1), v1, /*make_head=*/true));
  CHECK_OK(store.PutTargetRound(5));

  // Round 1: trained, evaluated and finished.
  RoundSettings settings;
  settings.seed = 42;
  settings.min_fit = 2;
  settings.fraction_fit = 1.0;
  settings.timeout_seconds = 600;
  auto r1 = RoundSchedule::StartTraining(settings, 1, 0, {"site-a", "site-b", "site-c"}, {},
                                         kNow - 90000);
  CHECK_OK(r1);
  CHECK_OK(store.PutOpenRound(ToJson(r1->ToOpenRound())));
  r1->EndTraining();
  CHECK_OK(store.CommitRound(Model(2, v2), v2, ToJson(r1->ToOpenRound())));
  RoundSummary summary;
  summary.round = 1;
  summary.model_version = 2;
  summary.model_digest = shared::ToHex(shared::Sha256(v2));
  summary.sampled = 3;
  summary.updates = 3;
  summary.examples = 300;
  summary.train_loss = 0.5;
  summary.evaluation = {{"accuracy", 0.75}, {"loss", 0.6}};
  summary.seconds = 12.5;
  summary.ended_ms = kNow - 60000;
  CHECK_OK(store.FinishRound(1, ToJson(summary)));

  // Round 2, attempt 1: training, one update accepted, one rejected, left open.
  OpenRound idle;
  idle.round = 2;
  idle.attempt = 1;
  idle.phase = RoundPhase::kIdle;
  CHECK_OK(store.DiscardRoundUpdates(2, ToJson(idle)));
  auto r2 = RoundSchedule::StartTraining(settings, 2, 1, {"site-a", "site-b", "site-c"}, {}, kNow);
  CHECK_OK(r2);
  CHECK_OK(store.PutOpenRound(ToJson(r2->ToOpenRound())));
  const std::vector<uint8_t> update = {'u', 'p', 'd'};
  UpdateRecord u;
  u.round = 2;
  u.client_id = "site-b";
  u.task_id = *r2->PendingTask("site-b");
  u.idempotency_id = "idem-site-b-2";
  u.examples = 120;
  u.loss = 0.25;
  u.blob_digest_hex = shared::ToHex(shared::Sha256(update));
  u.received_ms = kNow + 5000;
  r2->Accept(u.client_id, u.idempotency_id);
  r2->Reject("site-c");
  CHECK_OK(store.AcceptUpdate(u, update, ToJson(r2->ToOpenRound())));

  // Drift: a reference profile, client states and a running campaign (DriftPolicy's own writes).
  CHECK_OK(store.PutDrift(ReferenceProfileKey(2), drift::EncodeSummary(Window(30))));
  DriftSettings ds;
  ds.score_threshold = 0.5;
  ds.persistence = 2;
  ds.min_clients = 1;
  ds.min_fraction = 0;
  ds.campaign_rounds = 3;
  DriftPolicy policy(ds, &store);
  CHECK_OK(policy.Init());
  CHECK_OK(policy.OnReport("site-a", Drifted(1), 2, kNow + 1000));
  CHECK_OK(policy.OnReport("site-a", Drifted(2), 2, kNow + 2000));
  DriftReportIn calm = Drifted(7);
  calm.score = 0.1;
  calm.drifted = false;
  calm.alarm = false;
  calm.onset_ms = 0;
  calm.top_feature = "contrast";
  CHECK_OK(policy.OnReport("site-b", calm, 2, kNow + 3000));
  auto campaign = policy.MaybeTrigger({"site-a", "site-b", "site-c"}, 1, 2, kNow + 4000);
  CHECK_OK(campaign);
  if (!campaign->has_value()) {
    std::fprintf(stderr, "no campaign\n");
    return 1;
  }

  // Rollouts: a promoted one superseded by a later promoted one, and one in canary.
  Rollout a;
  a.id = 1;
  a.target = "fedge-model-1.fmodel";
  a.counter = 1;
  a.sha256_hex = std::string(64, '1');
  a.length = 1000;
  a.arch = "cnn_small";
  a.registry_version = 1;
  a.canary_percent = 100;
  a.state = "superseded";
  a.started_ms = kNow - 80000;
  a.decided_ms = kNow - 80000;
  a.steps = nlohmann::json::array(
      {{{"ms", kNow - 80000}, {"action", "deployed"}, {"detail", "to every client at once"}},
       {{"ms", kNow - 50000}, {"action", "superseded"}, {"detail", "by rollout 2"}}});
  CHECK_OK(store.PutRollout(a.id, ToJson(a)));
  Rollout b = a;
  b.id = 2;
  b.target = "fedge-model-2.fmodel";
  b.counter = 2;
  b.sha256_hex = std::string(64, '2');
  b.registry_version = 2;
  b.previous_target = a.target;
  b.previous_counter = 1;
  b.canary_percent = 50;
  b.cohort = {"site-a", "site-b"};
  b.state = "canary";
  b.started_ms = kNow - 50000;
  b.decided_ms = 0;
  b.steps = nlohmann::json::array(
      {{{"ms", kNow - 50000}, {"action", "deployed"}, {"detail", "canary: 2 of 3 clients"}}});
  InstallReportIn rep;
  rep.rollout_id = 2;
  rep.target = b.target;
  rep.counter = 2;
  rep.installed = true;
  rep.median_latency_ms = 3.5;
  rep.eval_examples = 40;
  rep.accuracy = 0.8;
  rep.previous_accuracy = 0.78;
  rep.previous = a.target;
  rep.active_target = b.target;
  rep.active_counter = 2;
  nlohmann::json rj = ToJson(rep);
  rj["ms"] = kNow - 40000;
  b.reports["site-a"] = rj;
  b.canary_evaluation = nlohmann::json();
  CHECK_OK(store.PutRollout(b.id, ToJson(b)));

  RevocationRecord rev;
  rev.client_id = "site-x";
  rev.reason = "lost";
  rev.revoked_by = "admin";
  rev.revoked_ms = kNow - 1;
  CHECK_OK(store.PutRevocation(rev));
  std::printf("wrote %s\n", argv[1]);
  return 0;
}
