// The release pipeline as a fedge-sim scenario, small: train -> prune -> federated fine-tuning
// -> int8 -> gate -> sign -> canary -> promote, then a regressed candidate that the canaries
// roll back. Real TLS, real training, real signing; report.json records every step.
#include <gtest/gtest.h>

#include <fstream>

#include "client/updater.h"
#include "simulations/runner.h"
#include "tests/temp_dir.h"

namespace fedge::sim {
namespace {

using nlohmann::json;
using shared::Result;

TEST(ReleaseSimulationTest, PrunedReleaseIsPromotedAndARegressedCanaryIsRolledBack) {
  testing::TempDir dir("release_sim");
  const std::string path = dir.path() + "/release.toml";
  std::ofstream(path) << R"([scenario]
name = "release-test"
clients = 4
rounds = 3
[data]
partition = "iid"
max_train_per_client = 1500
[training]
learning_rate = 0.05
batch_size = 32
[model]
arch = "cnn_small"
[release]
enabled = true
prune = 0.5
finetune_rounds = 2
gate_max_drop = 100
validation_examples = 1000
canary_percent = 50
max_accuracy_drop = 0.03
regress_prune = 0.8
)";
  Result<Scenario> sc = LoadScenario(path);
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  RunOptions options;
  options.out_dir = dir.path() + "/out";
  options.quiet = true;
  Result<json> report = RunScenario(*sc, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const json& r = (*report)["release"];
  ASSERT_TRUE(r.is_object()) << report->dump(2);
  EXPECT_EQ(r["result"], "promoted") << r.dump(2);
  EXPECT_EQ(r["regressed_result"], "rolled_back") << r.dump(2);

  std::vector<std::string> steps;
  for (const json& s : r["steps"]) steps.push_back(s["step"]);
  ASSERT_GE(steps.size(), 8u) << r["steps"].dump(2);
  EXPECT_EQ(steps[0], "dense model");
  EXPECT_EQ(steps[1], "prune");
  EXPECT_EQ(steps[2], "federated fine-tuning");
  EXPECT_EQ(steps[3], "release signed");

  // Pruning made a real, smaller network, which the clients then fine-tuned in two rounds.
  const json& prune = r["steps"][1];
  EXPECT_EQ(prune["arch"], "cnn_small/c1=16,c2=32,f1=64");
  EXPECT_LT(prune["parameters"].get<int64_t>(), r["steps"][0]["parameters"].get<int64_t>() / 2);
  const json& rounds = (*report)["rounds"];
  ASSERT_EQ(rounds.size(), 5u);  // 3 training rounds, 2 fine-tuning rounds
  EXPECT_EQ(rounds[4]["model_version"], r["steps"][2]["version"]);
  EXPECT_GT(rounds[4]["clients"].get<int>(), 0);

  // The artifact: int8, much smaller than the dense fp32 one.
  const json& b = r["benchmark"];
  EXPECT_GE(b["size_ratio"].get<double>(), 4.0) << b.dump();
  EXPECT_EQ(r["steps"][3]["quantization"], "int8_per_channel");

  // The regressed candidate: pruned again, its recipe says so, the gate skipped (and failing).
  json regressed;
  for (const json& s : r["steps"]) {
    if (s["step"] == "regressed signed") regressed = s;
  }
  ASSERT_TRUE(regressed.is_object()) << r["steps"].dump(2);
  EXPECT_EQ(regressed["arch"], "cnn_small/c1=4,c2=7,f1=13");
  EXPECT_NE(regressed["fine_tuning"], r["steps"][3]["fine_tuning"]);
  EXPECT_EQ(regressed["gate"].get<std::string>().rfind("skipped (", 0), 0u) << regressed.dump();

  // Rollouts as the coordinator recorded them: the release promoted after its canary, the
  // regressed one rolled back for an accuracy regression.
  const json& rollouts = r["rollouts"];
  ASSERT_EQ(rollouts.size(), 2u);
  EXPECT_EQ(rollouts[1]["state"], "promoted");
  EXPECT_EQ(rollouts[1]["cohort"].size(), 2u);
  EXPECT_EQ(rollouts[1]["reports"].size(), 4u);  // every client installed it
  EXPECT_EQ(rollouts[0]["state"], "rolled_back");
  EXPECT_NE(rollouts[0]["steps"].back()["detail"].get<std::string>().find("accuracy regression"),
            std::string::npos)
      << rollouts[0]["steps"].dump(2);
  // Every client ends on the promoted release, in its A/B slot on disk.
  const std::string good = rollouts[1]["target"];
  for (const auto& [client, report] : rollouts[0]["reports"].items()) {
    EXPECT_EQ(report["active_target"], good) << client;
  }
  for (const auto& entry :
       std::filesystem::directory_iterator(options.out_dir + "/project/clients")) {
    auto active = client::LoadActiveRelease(entry.path().string() + "/state");
    ASSERT_TRUE(active.ok() && active->has_value()) << entry.path();
    EXPECT_EQ((*active)->target, good) << entry.path();
  }
  // report.html lists both releases.
  std::ifstream html(options.out_dir + "/report.html");
  std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find(good), std::string::npos);
  EXPECT_NE(page.find("rolled_back"), std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
