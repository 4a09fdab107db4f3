// The defence end to end (real mTLS sessions, real LibTorch training, a real registry): six
// Fashion-MNIST sites of which one is a real fedge client whose trainer scales its change by
// 10 (simulations/adversary.h). With [defence] quarantine_after = 2 the coordinator flags that
// site in rounds 1 and 2 and quarantines it, and only it; round 3 runs without it (although the
// scenario's min_clients is every site); report.json says so, with each round's accuracy beside
// a paired run in which that site is honest, and each round's aggregation record.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "simulations/runner.h"
#include "tests/temp_dir.h"

namespace fedge::sim {
namespace {

using nlohmann::json;

TEST(DefenceSimulationTest, AScalingAttackerIsQuarantinedAndNoHonestSiteIs) {
  testing::TempDir dir("defence_sim");
  const std::string path = dir.path() + "/defence.toml";
  std::ofstream(path) << R"([scenario]
name = "defence-test"
clients = 6
rounds = 3
[data]
partition = "dirichlet"
alpha = 0.5
max_train_per_client = 300
[training]
learning_rate = 0.05
momentum = 0.9
adaptive_norm_multiple = 100
[adversary]
fraction = 0.1
kind = "scaling"
scale = 10
paired = true
[defence]
quarantine_after = 2
window = 3
)";
  auto sc = LoadScenario(path);
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  RunOptions options;
  options.out_dir = dir.path() + "/out";
  options.quiet = true;
  auto report = RunScenario(*sc, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const json& d = (*report)["defence"];
  ASSERT_TRUE(d.is_object()) << report->dump(1);
  ASSERT_EQ(d["attackers"].size(), 1u);
  const std::string attacker = d["attackers"][0];
  EXPECT_EQ(d["sites"][attacker]["quarantined_round"], 2) << d.dump(1);
  EXPECT_EQ(d["sites"][attacker]["flagged_rounds"], json::array({1, 2}));
  EXPECT_EQ(d["final"]["attackers_quarantined"], 1);
  EXPECT_EQ(d["final"]["honest_quarantined"], 0) << d.dump(1);
  const json& rounds = (*report)["rounds"];
  ASSERT_EQ(rounds.size(), 3u);
  EXPECT_EQ(rounds[0]["clients"], 6);
  EXPECT_EQ(rounds[2]["sampled"], 5) << "the quarantined site gets no task in round 3";
  ASSERT_TRUE(rounds[2].contains("defence"));
  EXPECT_FALSE(rounds[2]["defence"]["scores"].contains(attacker));
  // The paired run: the same scenario with the attacker honest, round by round.
  for (const json& r : rounds) {
    EXPECT_TRUE(r["accuracy_without_attackers"].is_number()) << r.dump();
    EXPECT_EQ(r["aggregation"]["method"], "fedavg");
    EXPECT_EQ(r["aggregation"]["adaptive_norm_multiple"], 100);
  }
  EXPECT_TRUE((*report)["paired"]["final_accuracy_without_attackers"].is_number());
  EXPECT_TRUE(std::filesystem::exists(options.out_dir + "/without-attackers/report.json"));
  std::ifstream html(options.out_dir + "/report.html");
  std::string page((std::istreambuf_iterator<char>(html)), {});
  EXPECT_NE(page.find("id=\"chart-suspicion\""), std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
