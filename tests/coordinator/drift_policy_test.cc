// The coordinator's drift policy against a real RocksDB store: report validation, persistence
// (windows in a row), min_clients / min_fraction, cooldown, one campaign per drift episode,
// focus for the campaign's rounds, outcome, and state kept across a restart.
#include "coordinator/drift_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;
using testing::TempDir;

drift::Summary Window(uint64_t frames) {
  drift::Summary s;
  drift::FrameObservation f;
  f.brightness = 0.4;
  for (uint64_t i = 0; i < frames; ++i) s.Add(f, 10);
  return s;
}

DriftReportIn Good(uint64_t window, double score, bool drifted, uint64_t onset = 0) {
  DriftReportIn r;
  r.model_version = 3;
  r.window = window;
  r.score = score;
  r.top_feature = "brightness";
  r.drifted = drifted;
  r.detector = 0.5;
  r.distances = {{"brightness", score}};
  r.summary = Window(50);
  r.onset_ms = drifted ? (onset ? onset : 1000) : 0;
  r.captured_ms = 5000 + window;
  return r;
}

class DriftPolicyTest : public ::testing::Test {
 protected:
  DriftPolicyTest() : dir_("drift_policy") { Reopen(); }

  void Reopen() {
    policy_.reset();
    store_.reset();
    auto s = Store::Open(dir_.path() + "/db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    settings_.score_threshold = 0.5;
    settings_.persistence = 2;
    settings_.min_clients = 2;
    settings_.min_fraction = 0.0;
    settings_.campaign_rounds = 3;
    settings_.cooldown_rounds = 2;
    policy_ = std::make_unique<DriftPolicy>(settings_, store_.get());
    ASSERT_TRUE(policy_->Init().ok());
  }

  void Report(const std::string& id, const DriftReportIn& r) {
    ASSERT_TRUE(policy_->OnReport(id, r, /*newest_version=*/3, /*now_ms=*/9000).ok());
  }
  std::optional<Campaign> Trigger(const std::set<std::string>& connected, uint64_t base_round) {
    auto c = policy_->MaybeTrigger(connected, base_round, /*head_version=*/3, 10000);
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : std::nullopt;
  }

  TempDir dir_;
  DriftSettings settings_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DriftPolicy> policy_;
};

TEST(ValidateDriftReportTest, NamesTheBadField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::function<void(DriftReportIn&)> spoil;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](DriftReportIn& r) { r.model_version = 0; }, "model_version 0"},
      {[](DriftReportIn& r) { r.model_version = 4; }, "newest 3"},
      {[nan](DriftReportIn& r) { r.score = nan; }, "score"},
      {[](DriftReportIn& r) { r.score = 2e6; }, "score"},
      {[](DriftReportIn& r) { r.detector = -1; }, "detector"},
      {[](DriftReportIn& r) { r.top_feature = "hue"; }, "top_feature 'hue'"},
      {[](DriftReportIn& r) {
         r.distances = {{"hue", 1.0}};
       },
       "unknown feature 'hue'"},
      {[](DriftReportIn& r) {
         r.distances = {{"contrast", 1.0}, {"contrast", 2.0}};
       },
       "two distances"},
      {[](DriftReportIn& r) {
         r.distances = {{"contrast", -1.0}};
       },
       "distance of 'contrast'"},
      {[](DriftReportIn& r) { r.summary = drift::Summary(); }, "0 frames"},
      {[](DriftReportIn& r) { r.summary.hist[0][0] += 7; }, "brightness"},
      {[](DriftReportIn& r) { r.drifted = true; }, "without an onset"},
      {[](DriftReportIn& r) { r.onset_ms = 4; }, "onset time without drift"},
  };
  EXPECT_TRUE(ValidateDriftReport(Good(0, 0.1, false), 3).ok());
  for (const Case& c : cases) {
    DriftReportIn r = Good(0, 0.1, false);
    c.spoil(r);
    shared::Status s = ValidateDriftReport(r, 3);
    EXPECT_EQ(s.code(), shared::Code::kInvalidArgument) << c.message;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
  }
}

TEST_F(DriftPolicyTest, GarbageChangesNothing) {
  DriftReportIn r = Good(0, std::numeric_limits<double>::infinity(), true);
  EXPECT_FALSE(policy_->OnReport("a", r, 3, 1).ok());
  EXPECT_TRUE(policy_->clients().empty());
}

TEST_F(DriftPolicyTest, StreakCountsWindowsInARowOverTheThreshold) {
  Report("a", Good(0, 0.9, false));
  EXPECT_EQ(policy_->clients().at("a").streak, 1);
  Report("a", Good(1, 0.9, true));
  EXPECT_EQ(policy_->clients().at("a").streak, 2);
  Report("a", Good(0, 0.9, true));  // the client's monitor restarted: a new streak
  EXPECT_EQ(policy_->clients().at("a").streak, 1);
  EXPECT_EQ(policy_->clients().at("a").reports, 3u);
  Report("a", Good(1, 0.9, true));
  EXPECT_EQ(policy_->clients().at("a").streak, 2);
  Report("a", Good(2, 0.2, false));  // below the threshold: the streak ends
  EXPECT_EQ(policy_->clients().at("a").streak, 0);
  Report("a", Good(3, 0.9, true));
  Report("a", Good(5, 0.9, true));  // window 4 missing: not in a row
  EXPECT_EQ(policy_->clients().at("a").streak, 1);
  DriftReportIn other = Good(6, 0.9, true);
  other.model_version = 2;  // another reference: the streak restarts
  Report("a", other);
  EXPECT_EQ(policy_->clients().at("a").streak, 1);
}

TEST_F(DriftPolicyTest, FiresOnPersistentDriftOfEnoughConnectedClients) {
  const std::set<std::string> all = {"a", "b", "c", "d"};
  Report("a", Good(0, 0.9, true));
  Report("a", Good(1, 0.9, true));
  EXPECT_FALSE(Trigger(all, 10));  // one client, min_clients 2
  Report("b", Good(0, 0.9, true));
  EXPECT_FALSE(Trigger(all, 10));  // b: one window only
  Report("b", Good(1, 0.9, true));
  EXPECT_FALSE(Trigger({"a", "c"}, 10));  // b is not connected
  std::optional<Campaign> c = Trigger(all, 10);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, 1u);
  EXPECT_EQ(c->first_round, 11u);
  EXPECT_EQ(c->last_round, 13u);
  EXPECT_EQ(c->trigger_version, 3u);
  ASSERT_EQ(c->clients.size(), 2u);
  EXPECT_EQ(c->clients[0].client_id, "a");
  EXPECT_EQ(c->clients[1].client_id, "b");
  // While it runs, nothing else fires; its rounds favour a and b from their onset.
  EXPECT_FALSE(Trigger(all, 10));
  EXPECT_EQ(policy_->FocusSince("a", 11), 1000u);
  EXPECT_EQ(policy_->FocusSince("a", 13), 1000u);
  EXPECT_FALSE(policy_->FocusSince("a", 14));
  EXPECT_FALSE(policy_->FocusSince("c", 12));
  EXPECT_EQ(policy_->FavouredClients(12), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(policy_->FavouredClients(10).empty());
}

TEST_F(DriftPolicyTest, LateDriftedClientsJoinTheRunningCampaign) {
  const std::set<std::string> all = {"a", "b", "c", "d"};
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true));
    Report(id, Good(1, 0.9, true));
  }
  Report("c", Good(0, 0.9, true));  // drifted, one window over: a member, not yet persistent
  Report("d", Good(0, 0.1, false));
  std::optional<Campaign> c = Trigger(all, 0);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->clients.size(), 3u);
  EXPECT_EQ(c->clients[2].client_id, "c");
  EXPECT_FALSE(policy_->FocusSince("d", 1));
  Report("d", Good(1, 0.9, true, 2000));
  EXPECT_EQ(policy_->running()->clients.size(), 3u);  // one window is not persistent
  Report("d", Good(2, 0.9, true, 2000));
  ASSERT_EQ(policy_->running()->clients.size(), 4u);
  EXPECT_EQ(policy_->FocusSince("d", 2), 2000u);
  Reopen();
  EXPECT_EQ(policy_->running()->clients.size(), 4u);
}

TEST_F(DriftPolicyTest, CampaignRoundsAugmentForTheDriftedFeatures) {
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true));
    Report(id, Good(1, 0.9, true));  // top feature: brightness
  }
  std::optional<Campaign> c = Trigger({"a", "b"}, 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->augment, (json{{"brightness", 0.5}, {"gamma", 0.5}}));
  std::optional<ml::AugmentOptions> a = policy_->CampaignAugment(2);
  ASSERT_TRUE(a);
  EXPECT_FLOAT_EQ(a->brightness, 0.5f);
  EXPECT_FLOAT_EQ(a->gamma, 0.5f);
  EXPECT_EQ(a->contrast, 0.0f);
  EXPECT_FALSE(policy_->CampaignAugment(9));  // after the campaign
  ClientDrift blur;
  blur.top_feature = "sharpness";
  ClientDrift fog;
  fog.top_feature = "contrast";
  EXPECT_EQ(CampaignAugmentFor({blur, fog}),
            (json{{"blur_prob", 0.5}, {"noise_std", 0.05}, {"contrast", 0.5}}));
  // Off: no augmentation (a fresh policy, not loading the stored campaign).
  settings_.campaign_augment = false;
  policy_ = std::make_unique<DriftPolicy>(settings_, store_.get());
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true));
    Report(id, Good(1, 0.9, true));
  }
  c = Trigger({"a", "b"}, 0);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->augment.empty());
  EXPECT_FALSE(policy_->CampaignAugment(1));
}

TEST_F(DriftPolicyTest, MinFractionOfConnectedClients) {
  settings_.min_fraction = 0.5;
  policy_ = std::make_unique<DriftPolicy>(settings_, store_.get());
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true));
    Report(id, Good(1, 0.9, true));
  }
  EXPECT_FALSE(Trigger({"a", "b", "c", "d", "e"}, 0));  // 2 of 5 < 50%
  EXPECT_TRUE(Trigger({"a", "b", "c", "d"}, 0));        // 2 of 4
}

TEST_F(DriftPolicyTest, OutcomeCooldownAndOneCampaignPerDriftEpisode) {
  const std::set<std::string> all = {"a", "b", "c"};
  json before = {{"accuracy", 0.8},
                 {"per_client", {{"a", {{"accuracy", 0.5}}}, {"b", {{"accuracy", 0.6}}}}}};
  ASSERT_TRUE(policy_->OnRoundDone(10, 3, before, 1).ok());
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true, 1000));
    Report(id, Good(1, 0.9, true, 1000));
  }
  ASSERT_TRUE(Trigger(all, 10));
  json after = {{"accuracy", 0.85},
                {"per_client", {{"a", {{"accuracy", 0.8}}}, {"b", {{"accuracy", 0.9}}}}}};
  auto ended = policy_->OnRoundDone(12, 5, after, 2);
  ASSERT_TRUE(ended.ok());
  EXPECT_FALSE(ended->has_value());  // round 12 is not the last
  ended = policy_->OnRoundDone(13, 6, after, 3);
  ASSERT_TRUE(ended.ok() && ended->has_value());
  const json& o = (*ended)->outcome;
  EXPECT_EQ(o["version_before"], 3);
  EXPECT_EQ(o["version_after"], 6);
  EXPECT_DOUBLE_EQ(o["accuracy_before"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(o["drifted_accuracy_before"].get<double>(), 0.55);
  EXPECT_DOUBLE_EQ(o["accuracy_after"].get<double>(), 0.85);
  EXPECT_DOUBLE_EQ(o["drifted_accuracy_after"].get<double>(), 0.85);
  EXPECT_EQ(policy_->running(), nullptr);

  // The same drift (same onset) does not start another campaign, even after the cooldown.
  Report("a", Good(2, 0.9, true, 1000));
  Report("b", Good(2, 0.9, true, 1000));
  EXPECT_FALSE(Trigger(all, 20));
  // A new episode does, but not during the cooldown (2 rounds after round 13).
  Report("a", Good(3, 0.9, true, 3000));
  Report("a", Good(4, 0.9, true, 3000));
  EXPECT_FALSE(Trigger(all, 14));
  std::optional<Campaign> second = Trigger(all, 15);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, 2u);
  EXPECT_EQ(second->first_round, 16u);
}

// Issue 16 item 10: one site reporting ever newer drift (a broken camera, a stolen key) used to
// start a campaign after every cooldown, for ever. After max_campaigns_per_client in a day it no
// longer starts one alone; another drifted site still does, and it joins.
TEST_F(DriftPolicyTest, OneSiteCannotKeepStartingCampaigns) {
  settings_.min_clients = 1;
  settings_.max_campaigns_per_client = 2;
  policy_ = std::make_unique<DriftPolicy>(settings_, store_.get());
  ASSERT_TRUE(policy_->Init().ok());
  const std::set<std::string> all = {"a", "b", "c"};
  uint64_t round = 10, window = 0, onset = 1000;
  auto episode = [&](const std::string& id) {
    onset += 1000;
    Report(id, Good(window++, 0.9, true, onset));
    Report(id, Good(window++, 0.9, true, onset));
  };
  auto finish = [&] {
    const json eval = {{"accuracy", 0.8}};
    for (uint64_t r = round + 1; r <= round + 3; ++r) {
      ASSERT_TRUE(policy_->OnRoundDone(r, 3, eval, 9500).ok());
    }
    round += 3 + 2;  // its rounds, then the cooldown
  };
  for (int i = 0; i < 2; ++i) {
    episode("a");
    ASSERT_TRUE(Trigger(all, round)) << "campaign " << i + 1;
    finish();
  }
  episode("a");
  EXPECT_FALSE(Trigger(all, round)) << "a third campaign for the same site in a day";
  episode("b");
  std::optional<Campaign> c = Trigger(all, round);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->clients.size(), 2u);  // b started it; a joins
}

TEST_F(DriftPolicyTest, StateAndCampaignsSurviveARestart) {
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true, 1000));
    Report(id, Good(1, 0.9, true, 1000));
  }
  ASSERT_TRUE(Trigger({"a", "b"}, 4));
  Reopen();
  ASSERT_EQ(policy_->clients().size(), 2u);
  EXPECT_EQ(policy_->clients().at("a").streak, 2);
  EXPECT_TRUE(policy_->clients().at("b").drifted);
  ASSERT_NE(policy_->running(), nullptr);
  EXPECT_EQ(policy_->running()->first_round, 5u);
  EXPECT_EQ(policy_->FocusSince("b", 6), 1000u);
  // The handled drift is remembered: once the campaign is over it does not fire again.
  ASSERT_TRUE(policy_->OnRoundDone(7, 9, json::object(), 1).ok());
  EXPECT_EQ(policy_->running(), nullptr);
  Reopen();
  Report("a", Good(2, 0.9, true, 1000));
  Report("b", Good(2, 0.9, true, 1000));
  EXPECT_FALSE(Trigger({"a", "b"}, 30));
  EXPECT_EQ(policy_->campaigns().size(), 1u);
  EXPECT_FALSE(policy_->campaigns()[0].running);
}

TEST_F(DriftPolicyTest, DisabledNeverFires) {
  settings_.enabled = false;
  policy_ = std::make_unique<DriftPolicy>(settings_, store_.get());
  for (const char* id : {"a", "b"}) {
    Report(id, Good(0, 0.9, true));
    Report(id, Good(1, 0.9, true));
  }
  EXPECT_FALSE(Trigger({"a", "b"}, 0));
  EXPECT_EQ(policy_->clients().size(), 2u);  // reports are still recorded for status
}

}  // namespace
}  // namespace fedge::coordinator
