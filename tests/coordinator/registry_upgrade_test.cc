// The upgrade path of the registry's records: tests/data/registry_v1 was written by main at
// 57d38a1 (records without a record version; see its README). Today's Store opens a copy,
// every record decodes to the values that commit wrote, the open round resumes with the same
// task ids and deadline and continues, and the display JSON of rollouts and drift states is
// what that commit showed.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>

#include "coordinator/drift_policy.h"
#include "coordinator/rollout.h"
#include "coordinator/round_schedule.h"
#include "coordinator/store.h"
#include "coordinator/store_keys.h"
#include "shared/drift/drift_wire.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;

constexpr uint64_t kStarted = 1760000000000ull;  // round 2's start in the fixture
const std::map<std::string, uint64_t> kTasks = {
    {"site-a", 2001000002}, {"site-b", 2001000000}, {"site-c", 2001000001}};

// The raw value of `key` in column family `cf` of the registry under `dir`, read with RocksDB
// directly (what the old code wrote, before today's Store rewrites anything).
std::string RawValue(const std::string& dir, const std::string& cf, const std::string& key) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, descriptors, &handles, &db).ok());
  std::string value;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == cf) EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), handles[i], key, &value).ok());
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return value;
}

class RegistryUpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::copy(FEDGE_REGISTRY_V1, dir_.path() + "/data",
                          std::filesystem::copy_options::recursive);
    Open();
  }
  void Open() {
    store_.reset();
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  std::string registry() const { return dir_.path() + "/data/registry"; }

  testing::TempDir dir_{"registry-upgrade"};
  std::unique_ptr<Store> store_;
};

TEST_F(RegistryUpgradeTest, RegistryRecordsDecode) {
  EXPECT_EQ(**store_->Head(), 2u);
  EXPECT_EQ(**store_->TargetRound(), 5u);
  EXPECT_EQ(store_->ListClients()->size(), 3u);
  auto models = store_->ListModels();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[1].parent, 1u);
  EXPECT_EQ(*store_->GetBlob(shared::Sha256(std::vector<uint8_t>{'v', '2', '!'})),
            (std::vector<uint8_t>{'v', '2', '!'}));
  auto rounds = store_->ListRounds();
  ASSERT_TRUE(rounds.ok());
  ASSERT_EQ(rounds->size(), 1u);
  EXPECT_EQ((*rounds)[0]["model_version"], 2);
  EXPECT_EQ((*rounds)[0]["evaluation"]["accuracy"], 0.75);
  EXPECT_EQ((**store_->GetRevocation("site-x")).reason, "lost");
}

TEST_F(RegistryUpgradeTest, OpenRoundDecodesToWhatTheOldCodeStored) {
  auto open = store_->OpenRound();
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  ASSERT_TRUE(open->has_value());
  EXPECT_EQ((*open)->round, 2u);
  EXPECT_EQ((*open)->attempt, 1u);
  EXPECT_EQ((*open)->phase, RoundPhase::kTrain);
  EXPECT_EQ((*open)->tasks, kTasks);
  EXPECT_EQ((*open)->started_ms, kStarted);
  EXPECT_EQ((*open)->deadline_ms, kStarted + 600000);
  EXPECT_EQ((*open)->rejected, 1);
  EXPECT_EQ((*open)->resumed, 0);
  auto accepted = store_->AcceptedUpdate("site-b", "idem-site-b-2");
  ASSERT_TRUE(accepted.ok() && accepted->has_value());
  EXPECT_EQ((*accepted)->task_id, 2001000000u);
}

TEST_F(RegistryUpgradeTest, OpenRoundResumesWithItsTasksAndDeadlineAndContinues) {
  RoundSettings settings;
  settings.min_fit = 2;
  settings.timeout_seconds = 600;
  RoundSchedule schedule = RoundSchedule::Resume(settings, **store_->OpenRound());
  // The engine's resume path: the stored updates are accepted again.
  std::vector<uint8_t> folded;
  ASSERT_TRUE(store_
                  ->ForEachUpdate(2,
                                  [&](const UpdateRecord& r, std::vector<uint8_t> blob) {
                                    schedule.Accept(r.client_id, r.idempotency_id);
                                    folded = std::move(blob);
                                    return shared::Status::Ok();
                                  })
                  .ok());
  EXPECT_EQ(folded, (std::vector<uint8_t>{'u', 'p', 'd'}));
  EXPECT_EQ(schedule.round(), 2u);
  EXPECT_EQ(schedule.attempt(), 1u);
  EXPECT_EQ(schedule.tasks(), kTasks);
  EXPECT_EQ(schedule.deadline_ms(), kStarted + 600000);
  EXPECT_EQ(schedule.MsLeft(kStarted + 100000), 500000u);
  EXPECT_EQ(schedule.resumed(), 1);
  EXPECT_EQ(schedule.rejected(), 1);
  EXPECT_TRUE(schedule.IsAccepted("site-b", "idem-site-b-2"));
  EXPECT_EQ(schedule.CheckTask("site-b", 2, 2001000000).code(), shared::Code::kAlreadyExists);
  EXPECT_TRUE(schedule.CheckTask("site-a", 2, 2001000002).ok());
  EXPECT_EQ(schedule.CheckTask("site-a", 2, 2001000001).code(), shared::Code::kInvalidArgument);

  // The round continues: site-a's update is stored with the new (versioned) open-round record.
  const std::vector<uint8_t> blob = {'a', 'a'};
  UpdateRecord u;
  u.round = 2;
  u.client_id = "site-a";
  u.task_id = 2001000002;
  u.idempotency_id = "idem-site-a-2";
  u.examples = 80;
  u.blob_digest_hex = shared::ToHex(shared::Sha256(blob));
  schedule.Accept(u.client_id, u.idempotency_id);
  ASSERT_TRUE(store_->AcceptUpdate(u, blob, schedule.ToOpenRound()).ok());
  EXPECT_TRUE(schedule.CheckQuorum().ok());
  Open();
  const OpenRound reopened = **store_->OpenRound();
  EXPECT_EQ(reopened, schedule.ToOpenRound());
  EXPECT_EQ(reopened.tasks, kTasks);
  EXPECT_EQ(reopened.resumed, 1);
  EXPECT_NE(RawValue(registry(), "default", "open_round").find("\"record_version\":1"),
            std::string::npos);
  std::vector<std::string> clients;
  ASSERT_TRUE(store_
                  ->ForEachUpdate(2,
                                  [&](const UpdateRecord& r, std::vector<uint8_t>) {
                                    clients.push_back(r.client_id);
                                    return shared::Status::Ok();
                                  })
                  .ok());
  EXPECT_EQ(clients, (std::vector<std::string>{"site-a", "site-b"}));
}

TEST_F(RegistryUpgradeTest, DriftRecordsDecodeAndThePolicyContinuesTheCampaign) {
  auto clients = store_->ListDriftClients();
  ASSERT_TRUE(clients.ok()) << clients.status().ToString();
  ASSERT_EQ(clients->size(), 2u);
  const ClientDrift& a = (*clients)[0];
  EXPECT_EQ(a.client_id, "site-a");
  EXPECT_TRUE(a.drifted);
  EXPECT_EQ(a.streak, 2);
  EXPECT_EQ(a.reports, 2u);
  EXPECT_EQ(a.alarms, 1u);
  EXPECT_EQ(a.window, 2u);
  EXPECT_EQ(a.onset_ms, kStarted - 5000);
  EXPECT_EQ(a.top_feature, "brightness");
  EXPECT_EQ((*clients)[1].client_id, "site-b");
  EXPECT_FALSE((*clients)[1].drifted);

  auto campaigns = store_->ListCampaigns();
  ASSERT_TRUE(campaigns.ok()) << campaigns.status().ToString();
  ASSERT_EQ(campaigns->size(), 1u);
  const Campaign& c = (*campaigns)[0];
  EXPECT_EQ(c.id, 1u);
  EXPECT_TRUE(c.running);
  EXPECT_EQ(c.first_round, 2u);
  EXPECT_EQ(c.last_round, 4u);
  EXPECT_EQ(c.trigger_version, 2u);
  EXPECT_EQ(c.connected, 3u);
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_EQ(c.clients[0].client_id, "site-a");
  EXPECT_EQ(c.augment, (json{{"brightness", 0.5}, {"gamma", 0.5}}));
  EXPECT_EQ(c.outcome, (json{{"version_before", 2}}));

  auto profile = store_->ReferenceProfile(2);
  ASSERT_TRUE(profile.ok() && profile->has_value());
  auto summary = drift::DecodeSummary(**profile);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->frames, 30u);
  EXPECT_FALSE(store_->ReferenceProfile(1)->has_value());

  DriftSettings settings;
  DriftPolicy policy(settings, store_.get());
  ASSERT_TRUE(policy.Init().ok());
  ASSERT_NE(policy.running(), nullptr);
  EXPECT_EQ(policy.FavouredClients(3), std::vector<std::string>{"site-a"});
  // The display form is what the old code showed (it stored the same JSON).
  EXPECT_EQ(ToJson(policy.clients().at("site-a")),
            json::parse(RawValue(registry(), "drift", keys::DriftClientKey("site-a"))));
  EXPECT_EQ(ToJson(policy.campaigns()[0]),
            json::parse(RawValue(registry(), "drift", keys::CampaignKey(1))));
}

TEST_F(RegistryUpgradeTest, RolloutsDecodeAndListAsBefore) {
  auto rollouts = store_->ListRollouts();
  ASSERT_TRUE(rollouts.ok()) << rollouts.status().ToString();
  ASSERT_EQ(rollouts->size(), 2u);
  const Rollout& old = (*rollouts)[0];
  EXPECT_EQ(old.state, "superseded");
  EXPECT_EQ(old.steps.size(), 2u);
  const Rollout& canary = (*rollouts)[1];
  EXPECT_EQ(canary.id, 2u);
  EXPECT_EQ(canary.state, "canary");
  EXPECT_EQ(canary.cohort, (std::vector<std::string>{"site-a", "site-b"}));
  EXPECT_EQ(canary.previous_target, "fedge-model-1.fmodel");
  EXPECT_EQ(canary.canary_percent, 50);
  ASSERT_EQ(canary.reports.count("site-a"), 1u);
  EXPECT_EQ(canary.reports.at("site-a")["accuracy"], 0.8);

  RolloutManager manager(ReleaseSettings{}, store_.get(), nullptr, [] { return kStarted; });
  ASSERT_TRUE(manager.Init().ok());
  const json listed = manager.List();
  ASSERT_EQ(listed["rollouts"].size(), 2u);
  // Newest first; each as the old code showed it (it stored the same JSON).
  EXPECT_EQ(listed["rollouts"][0],
            json::parse(RawValue(registry(), "rollouts", keys::RolloutKey(2))));
  EXPECT_EQ(listed["rollouts"][1],
            json::parse(RawValue(registry(), "rollouts", keys::RolloutKey(1))));
  const json rows = manager.StatusRows();
  EXPECT_EQ(rows[0]["stage"], "canary 50%");
  EXPECT_EQ(rows[0]["installed"], 1);
}

}  // namespace
}  // namespace fedge::coordinator
