// The round engine's defence (coordinator/round_defence.cc) with fakes: five sites, one of
// which sends a scaled update. The scores are committed with the version, the attacker is
// quarantined (told why with a typed code), gets no task in the next round, and an admin can
// lift the quarantine; with revoke_after the defence revokes it.

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "coordinator/round_engine.h"
#include "tests/coordinator/fake_model.h"
#include "tests/coordinator/fake_peer.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using testing::FakeInitialModel;
using testing::FakePeer;
using testing::MakeUpdate;

class RoundDefenceTest : public ::testing::Test {
 protected:
  void Start(const DefenceSettings& defence, int rounds, uint64_t min_train_examples = 1) {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    CoordinatorConfig config;
    config.data_dir = dir_.path() + "/data";
    config.rounds.count = rounds;
    // Sized to every site, as kits are: the defence lowers both by the sites it removes.
    config.rounds.min_clients = 5;
    config.rounds.min_fit = min_fit_;
    config.rounds.timeout_seconds = 600;
    config.rounds.evaluate = false;
    config.defence = defence;
    config.rounds.min_train_examples = min_train_examples;
    engine_ = std::make_unique<RoundEngine>(net::asio::make_strand(io_), store_.get(), config,
                                            nullptr, FakeInitialModel);
    engine_->set_close_client([this](const std::string& id) { closed_.push_back(id); });
    ASSERT_TRUE(engine_->Init().ok());
    engine_->set_round_callback([this](const RoundSummary& s) { summaries_.push_back(s); });
    for (int i = 0; i < 5; ++i) {
      peers_.push_back(std::make_shared<FakePeer>("site-" + std::to_string(i)));
      ClientHello hello;
      hello.train_examples = registered_[i];
      engine_->Connected(peers_.back(), hello);
    }
    net::asio::co_spawn(engine_->executor(), engine_->Run(/*exit_when_done=*/true),
                        [this](std::exception_ptr) { run_returned_ = true; });
  }

  void TearDown() override {
    if (!engine_) return;
    engine_->Stop();
    RunUntil([&] { return run_returned_; });
  }

  void RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      ASSERT_NE(io_.run_one_for(std::chrono::seconds(10)), 0u) << "the engine went idle";
    }
  }

  // Every peer in `who` answers its offer number `n` of `round`: site-4 with a change 10x
  // the others'.
  void Answer(const std::vector<int>& who, size_t n, uint64_t round) {
    RunUntil([&] {
      for (int i : who) {
        if (peers_[i]->offers.size() <= n) return false;
      }
      return true;
    });
    for (int i : who) {
      const float delta = i == 4 ? 10.0f : 1.0f + 0.05f * static_cast<float>(i);
      engine_->SubmitUpdate(
          peers_[i],
          MakeUpdate(peers_[i]->offers[n].task_id,
                     "u" + std::to_string(round) + "-" + std::to_string(i), 100, delta, round));
    }
  }

  fedge::testing::TempDir dir_{"round_defence"};
  net::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RoundEngine> engine_;
  std::vector<std::shared_ptr<FakePeer>> peers_;
  std::vector<RoundSummary> summaries_;
  std::vector<std::string> closed_;
  std::vector<uint64_t> registered_ = std::vector<uint64_t>(5, 100);  // each site's Hello
  int min_fit_ = 5;
  bool run_returned_ = false;
};

TEST_F(RoundDefenceTest, AScaledSiteIsQuarantinedToldWhyAndOfferedNothingUntilCleared) {
  DefenceSettings d;
  d.window = 3;
  d.quarantine_after = 1;
  Start(d, 3);  // round 3 stays open (unanswered), so the engine is still serving below
  Answer({0, 1, 2, 3, 4}, 0, 1);
  RunUntil([&] { return summaries_.size() == 1; });
  // Committed with version 2: the scores and the quarantine.
  auto record = store_->GetModel(2);
  ASSERT_TRUE(record.ok());
  const nlohmann::json& view = record->metrics.at("defence");
  EXPECT_EQ(view.at("flagged"), nlohmann::json::array({"site-4"}));
  EXPECT_EQ(view.at("quarantined"), nlohmann::json::array({"site-4"}));
  EXPECT_GT(view.at("scores").at("site-4").at("score").get<double>(), d.threshold);
  EXPECT_EQ(summaries_[0].defence, view);
  auto standing = store_->GetStanding("site-4");
  ASSERT_TRUE(standing.ok() && standing->has_value());
  EXPECT_TRUE((*standing)->quarantined);
  EXPECT_EQ((*standing)->quarantined_round, 1u);
  auto honest = store_->GetStanding("site-0");
  ASSERT_TRUE(honest.ok() && honest->has_value());
  EXPECT_FALSE((*honest)->quarantined);
  // Told with the typed subject, not only in words.
  ASSERT_FALSE(peers_[4]->errors.empty());
  EXPECT_EQ(peers_[4]->errors.back().subject, wire::ErrorSubject::Standing);
  EXPECT_EQ(peers_[4]->errors.back().status.code(), shared::Code::kPermissionDenied);
  EXPECT_NE(peers_[4]->errors.back().status.message().find("fedgectl unquarantine site-4"),
            std::string::npos);
  EXPECT_EQ(engine_->Snapshot()["quarantined"], nlohmann::json::array({"site-4"}));
  // Round 2 samples the four others only, although min_clients and min_fit are 5.
  Answer({0, 1, 2, 3}, 1, 2);
  RunUntil([&] { return summaries_.size() == 2; });
  EXPECT_EQ(peers_[4]->offers.size(), 1u) << "a quarantined site gets no task";
  EXPECT_EQ(summaries_[1].sampled, 4);
  // A reconnect is told again.
  const size_t told = peers_[4]->errors.size();
  ClientHello hello;
  hello.train_examples = 100;
  engine_->Connected(peers_[4], hello);
  RunUntil([&] { return peers_[4]->errors.size() > told; });
  EXPECT_EQ(peers_[4]->errors.back().subject, wire::ErrorSubject::Standing);
  // An admin lifts it: stored, and the status says so.
  std::optional<shared::Result<nlohmann::json>> cleared;
  engine_->ClearQuarantine("site-4", "admin-1",
                           [&](shared::Result<nlohmann::json> r) { cleared = std::move(r); });
  RunUntil([&] { return cleared.has_value(); });
  ASSERT_TRUE(cleared->ok()) << cleared->status().ToString();
  EXPECT_EQ((**cleared)["cleared_by"], "admin-1");
  auto after = store_->GetStanding("site-4");
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_FALSE((*after)->quarantined);
  EXPECT_EQ((*after)->cleared_round, 2u);
  RunUntil([&] { return engine_->Snapshot()["quarantined"].empty(); });
  // Clearing a site that is not quarantined says so.
  std::optional<shared::Result<nlohmann::json>> again;
  engine_->ClearQuarantine("site-0", "admin-1",
                           [&](shared::Result<nlohmann::json> r) { again = std::move(r); });
  RunUntil([&] { return again.has_value(); });
  EXPECT_EQ(again->status().code(), shared::Code::kNotFound);
}

TEST_F(RoundDefenceTest, RevokeAfterRevokesThroughTheRegistryAndClosesTheSession) {
  DefenceSettings d;
  d.window = 2;
  d.revoke_after = 1;
  Start(d, 1);
  Answer({0, 1, 2, 3, 4}, 0, 1);
  RunUntil([&] { return summaries_.size() == 1; });
  auto revoked = store_->GetRevocation("site-4");
  ASSERT_TRUE(revoked.ok() && revoked->has_value());
  EXPECT_EQ((*revoked)->revoked_by, "defence");
  EXPECT_NE((*revoked)->reason.find("defence.revoke_after = 1"), std::string::npos);
  EXPECT_EQ(closed_, std::vector<std::string>{"site-4"});
  for (int i = 0; i < 4; ++i) {
    auto r = store_->GetRevocation("site-" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << i;
  }
}

// [rounds] min_train_examples: a site with (almost) nothing to train on is not sampled, so it
// gets no vote under a robust strategy (a broken camera whose store kept one frame).
TEST_F(RoundDefenceTest, ASiteWithTooFewTrainingExamplesIsNotSampled) {
  registered_[4] = 1;
  min_fit_ = 4;
  Start(DefenceSettings{}, 1, /*min_train_examples=*/64);
  Answer({0, 1, 2, 3}, 0, 1);
  RunUntil([&] { return summaries_.size() == 1; });
  EXPECT_EQ(summaries_[0].sampled, 4);
  EXPECT_TRUE(peers_[4]->offers.empty());
}

TEST_F(RoundDefenceTest, WithoutTheDefenceNothingIsScored) {
  Start(DefenceSettings{}, 1);
  Answer({0, 1, 2, 3, 4}, 0, 1);
  RunUntil([&] { return summaries_.size() == 1; });
  auto record = store_->GetModel(2);
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->metrics.contains("defence"));
  EXPECT_TRUE(summaries_[0].defence.is_null());
  auto standings = store_->ListStandings();
  ASSERT_TRUE(standings.ok());
  EXPECT_TRUE(standings->empty());
}

}  // namespace
}  // namespace fedge::coordinator
