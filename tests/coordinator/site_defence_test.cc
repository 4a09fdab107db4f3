// The defence's scores and standings (coordinator/site_defence.h): hand-computed examples,
// arrival-order independence, and the quarantine and revocation rules.

#include "coordinator/site_defence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace fedge::coordinator {
namespace {

shared::TensorBundle Model(std::vector<float> values) {
  shared::TensorBundle b;
  b.tensors.push_back({"w", {static_cast<int64_t>(values.size())}, std::move(values)});
  return b;
}

// Sites a..e whose one-value model moved from 0 by `changes`.
std::vector<SiteUpdate> Updates(const std::vector<float>& changes) {
  std::vector<SiteUpdate> out;
  for (size_t i = 0; i < changes.size(); ++i) {
    out.push_back({std::string(1, static_cast<char>('a' + i)), 10, Model({changes[i]})});
  }
  return out;
}

const UpdateScore& Of(const std::vector<UpdateScore>& scores, const std::string& id) {
  return *std::find_if(scores.begin(), scores.end(),
                       [&](const UpdateScore& s) { return s.client_id == id; });
}

TEST(SiteDefenceTest, AScaledUpdateIsFlaggedForNormAndDistanceByHand) {
  // Changes 1, 1, 1, 1, 10: the reference (median) is 1; norms 1,1,1,1,10 have median 1 and
  // MAD 0, so the scale is the floor 0.05 x 1 and e's z_norm = (10 - 1) / 0.05 = 180; its
  // distance 9 over the same floor is 180 too; every cosine is 1 (z_direction 0).
  auto scores = ScoreUpdates(Updates({1, 1, 1, 1, 10}), Model({0}), DefenceSettings{});
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 5u);
  const UpdateScore& e = Of(*scores, "e");
  EXPECT_NEAR(e.norm, 10, 1e-12);
  EXPECT_NEAR(e.distance, 9, 1e-12);
  EXPECT_NEAR(e.cosine, 1, 1e-12);
  EXPECT_NEAR(e.z_norm, 180, 1e-6);
  EXPECT_NEAR(e.z_distance, 180, 1e-6);
  EXPECT_NEAR(e.z_direction, 0, 1e-12);
  EXPECT_NEAR(e.score, 180, 1e-6);
  EXPECT_EQ(e.reasons, (std::vector<std::string>{kFlagNorm, kFlagDistance}));
  for (const char* honest : {"a", "b", "c", "d"}) {
    EXPECT_FALSE(Of(*scores, honest).flagged()) << honest;
    EXPECT_EQ(Of(*scores, honest).score, 0) << honest;
  }
}

TEST(SiteDefenceTest, ASignFlippedUpdateIsFlaggedForDistanceAndDirectionByHand) {
  // Changes 1, 1, 1, 1, -1: every norm is 1 (z_norm 0); e's distance to the reference 1 is 2,
  // z = 2 / 0.05 = 40; its cosine is -1 against the others' 1, z = 2 / 0.05 = 40.
  auto scores = ScoreUpdates(Updates({1, 1, 1, 1, -1}), Model({0}), DefenceSettings{});
  ASSERT_TRUE(scores.ok());
  const UpdateScore& e = Of(*scores, "e");
  EXPECT_NEAR(e.z_norm, 0, 1e-12);
  EXPECT_NEAR(e.z_distance, 40, 1e-6);
  EXPECT_NEAR(e.cosine, -1, 1e-12);
  EXPECT_NEAR(e.z_direction, 40, 1e-6);
  EXPECT_EQ(e.reasons, (std::vector<std::string>{kFlagDistance, kFlagDirection}));
}

TEST(SiteDefenceTest, HonestSpreadIsNotFlagged) {
  // Sites that differ by tens of percent, as non-IID sites do, are within the default 5 robust z.
  auto scores =
      ScoreUpdates(Updates({0.8f, 1.0f, 1.1f, 0.9f, 1.2f, 1.05f}), Model({0}), DefenceSettings{});
  ASSERT_TRUE(scores.ok());
  for (const UpdateScore& s : *scores) EXPECT_FALSE(s.flagged()) << s.client_id << " " << s.score;
}

TEST(SiteDefenceTest, ScoresDoNotDependOnArrivalOrder) {
  std::vector<SiteUpdate> updates;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0, 1);
  for (int i = 0; i < 9; ++i) {
    std::vector<float> v(50);
    for (float& x : v) x = noise(rng) * (i == 8 ? 5.0f : 1.0f);
    updates.push_back({"site-" + std::to_string(i), 10, Model(std::move(v))});
  }
  const shared::TensorBundle base = Model(std::vector<float>(50, 0.25f));
  auto first = ScoreUpdates(updates, base, DefenceSettings{});
  ASSERT_TRUE(first.ok());
  for (int shuffle = 0; shuffle < 5; ++shuffle) {
    std::shuffle(updates.begin(), updates.end(), rng);
    auto again = ScoreUpdates(updates, base, DefenceSettings{});
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(again->size(), first->size());
    for (size_t i = 0; i < first->size(); ++i) {
      EXPECT_EQ((*again)[i].client_id, (*first)[i].client_id);
      EXPECT_EQ((*again)[i].score, (*first)[i].score);  // bit for bit
      EXPECT_EQ((*again)[i].reasons, (*first)[i].reasons);
    }
  }
  EXPECT_TRUE(Of(*first, "site-8").flagged());
}

TEST(SiteDefenceTest, TooFewUpdatesAreNotScoredAndABadLayoutIsRefused) {
  DefenceSettings d;
  d.min_updates = 5;
  auto few = ScoreUpdates(Updates({1, 1, 1, 10}), Model({0}), d);
  ASSERT_TRUE(few.ok());
  EXPECT_TRUE(few->empty());
  std::vector<SiteUpdate> bad = Updates({1, 1, 1, 1, 1});
  bad[2].values = Model({1, 2});
  auto refused = ScoreUpdates(bad, Model({0}), d);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("c does not have the model's tensors"),
            std::string::npos);
}

UpdateScore Score(const std::string& id, bool flagged) {
  UpdateScore s;
  s.client_id = id;
  s.score = flagged ? 9 : 1;
  if (flagged) s.reasons = {kFlagNorm};
  return s;
}

TEST(SiteDefenceTest, QuarantineAfterKFlagsInTheWindowAndClearingRestartsIt) {
  DefenceSettings d;
  d.window = 4;
  d.quarantine_after = 2;
  SiteStanding st;
  StandingChange c = ApplyScore(st, 1, Score("x", true), d, 1000);
  EXPECT_FALSE(c.quarantined);
  c = ApplyScore(c.standing, 2, Score("x", false), d, 2000);
  c = ApplyScore(c.standing, 3, Score("x", false), d, 3000);
  c = ApplyScore(c.standing, 4, Score("x", false), d, 4000);
  c = ApplyScore(c.standing, 5, Score("x", true), d, 5000);
  EXPECT_FALSE(c.quarantined) << "round 1's flag left the window of 4";
  c = ApplyScore(c.standing, 6, Score("x", true), d, 6000);
  EXPECT_TRUE(c.quarantined);
  EXPECT_TRUE(c.standing.quarantined);
  EXPECT_EQ(c.standing.quarantined_round, 6u);
  EXPECT_NE(c.standing.quarantine_reason.find("flagged in 2 of its last 4 rounds"),
            std::string::npos)
      << c.standing.quarantine_reason;
  // Already quarantined: no second transition.
  StandingChange again = ApplyScore(c.standing, 7, Score("x", true), d, 7000);
  EXPECT_FALSE(again.quarantined);
  EXPECT_TRUE(again.standing.quarantined);
  SiteStanding cleared = ClearQuarantine(again.standing, "admin", 7);
  EXPECT_FALSE(cleared.quarantined);
  EXPECT_EQ(FlaggedInWindow(cleared, d.window), 0) << "flags before the clearing do not count";
  c = ApplyScore(cleared, 8, Score("x", true), d, 8000);
  EXPECT_FALSE(c.quarantined);
  c = ApplyScore(c.standing, 9, Score("x", true), d, 9000);
  EXPECT_TRUE(c.quarantined);
}

TEST(SiteDefenceTest, AResumedRoundReplacesItsScoreAndRevocationFiresOnce) {
  DefenceSettings d;
  d.window = 3;
  d.quarantine_after = 3;
  d.revoke_after = 2;
  StandingChange c = ApplyScore(SiteStanding{}, 1, Score("x", true), d, 1);
  // Round 1 scored again after a resume: still one flag, not two.
  c = ApplyScore(c.standing, 1, Score("x", true), d, 2);
  EXPECT_EQ(c.standing.scores.size(), 1u);
  EXPECT_FALSE(c.revoke);
  c = ApplyScore(c.standing, 2, Score("x", true), d, 3);
  EXPECT_TRUE(c.revoke);
  EXPECT_EQ(c.standing.revoked_round, 2u);
  EXPECT_FALSE(c.standing.quarantined);
  c = ApplyScore(c.standing, 3, Score("x", true), d, 4);
  EXPECT_FALSE(c.revoke) << "revoked once";
  EXPECT_TRUE(c.quarantined);
}

TEST(SiteDefenceTest, HistoryIsBounded) {
  DefenceSettings d;
  d.window = 5;
  StandingChange c;
  for (uint64_t r = 1; r <= 50; ++r) c = ApplyScore(c.standing, r, Score("x", false), d, r);
  EXPECT_EQ(c.standing.scores.size(), 20u);
  EXPECT_EQ(c.standing.scores.front().round, 31u);
}

TEST(StandingRecordTest, RoundTripsAndACorruptRecordSaysWhat) {
  DefenceSettings d;
  d.quarantine_after = 1;
  StandingChange c = ApplyScore(SiteStanding{}, 4, Score("site-9", true), d, 1234);
  auto back = DecodeStanding(EncodeStanding(c.standing));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(c.standing));
  EXPECT_EQ(back->scores.at(0).client_id, "site-9");
  auto bad = DecodeStanding(R"({"record_version": 1, "scores": []})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("standing record is malformed"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace fedge::coordinator
