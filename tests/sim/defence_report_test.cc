// report.json's defence section from hand-made round summaries.

#include "simulations/defence_report.h"

#include <gtest/gtest.h>

namespace fedge::sim {
namespace {

using nlohmann::json;

coordinator::RoundSummary Round(uint64_t round, json scores, json quarantined) {
  coordinator::RoundSummary s;
  s.round = round;
  json flagged = json::array();
  for (const auto& [id, v] : scores.items()) {
    if (!v["reasons"].empty()) flagged.push_back(id);
  }
  s.defence = {{"threshold", 3.5},
               {"scores", scores},
               {"flagged", flagged},
               {"quarantined", quarantined},
               {"revoked", json::array()}};
  return s;
}

json Score(double score, bool flagged) {
  return {{"score", score}, {"reasons", flagged ? json::array({"norm"}) : json::array()}};
}

TEST(DefenceReportTest, PrecisionAndRecallByRoundTenAndAtTheEnd) {
  const std::vector<std::string> ids = {"s1", "s2", "s3", "s4"};
  std::vector<coordinator::RoundSummary> rounds;
  rounds.push_back(Round(1,
                         {{"s1", Score(0.5, false)},
                          {"s2", Score(1, false)},
                          {"s3", Score(9, true)},
                          {"s4", Score(8, true)}},
                         json::array({"s3"})));
  // s4 is quarantined late (round 11), and honest s1 too.
  rounds.push_back(Round(11,
                         {{"s1", Score(5, true)}, {"s2", Score(1, false)}, {"s4", Score(8, true)}},
                         json::array({"s1", "s4"})));
  const json d = DefenceReport(rounds, ids, {"s3", "s4"});
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d["by_round_10"]["quarantined"], 1);
  EXPECT_EQ(d["by_round_10"]["precision"], 1.0);
  EXPECT_EQ(d["by_round_10"]["recall"], 0.5);
  EXPECT_EQ(d["final"]["quarantined"], 3);
  EXPECT_EQ(d["final"]["honest_quarantined"], 1);
  EXPECT_DOUBLE_EQ(d["final"]["precision"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(d["final"]["recall"], 1.0);
  EXPECT_EQ(d["sites"]["s3"]["attacker"], true);
  EXPECT_EQ(d["sites"]["s3"]["quarantined_round"], 1);
  EXPECT_TRUE(d["sites"]["s2"]["quarantined_round"].is_null());
  EXPECT_EQ(d["sites"]["s4"]["flagged_rounds"], json::array({1, 11}));
  EXPECT_EQ(d["sites"]["s1"]["scores"].size(), 2u);
}

TEST(DefenceReportTest, UnscoredRunsHaveNoSectionAndNoAttackersMeansNoRecall) {
  std::vector<coordinator::RoundSummary> plain(3);
  EXPECT_TRUE(DefenceReport(plain, {"s1"}, {}).is_null());
  const json d = DefenceReport({Round(1, {{"s1", Score(1, false)}}, json::array())}, {"s1"}, {});
  EXPECT_TRUE(d["final"]["recall"].is_null());
  EXPECT_TRUE(d["final"]["precision"].is_null());
  EXPECT_EQ(d["final"]["honest_quarantined"], 0);
}

}  // namespace
}  // namespace fedge::sim
