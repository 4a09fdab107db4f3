// A small drift scenario end to end (real TLS, real training, real stores): dusk falls on two
// of four camera sites; their monitors detect it on the device, the coordinator starts a
// retraining campaign with no human action, and report.json records it all.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "simulations/runner.h"
#include "tests/temp_dir.h"

namespace fedge::sim {
namespace {

using nlohmann::json;
using shared::Result;

TEST(DriftSimulationTest, DuskOnTwoSitesIsDetectedAndRetrainedWithoutHumanAction) {
  testing::TempDir dir("drift_sim");
  const std::string path = dir.path() + "/drift.toml";
  std::ofstream(path) << R"([scenario]
name = "drift-test"
clients = 4
rounds = 3
[data]
partition = "iid"
[camera]
enabled = true
frame_size = 32
frames_per_client = 400
test_frames = 200
[training]
learning_rate = 0.05
[model]
arch = "cnn_color"
[stream]
frames = 1200
step_frames = 100
label_budget = 40
label_delay_steps = 1
eval_frames = 100
[drift]
persistence = 2
min_clients = 2
campaign_rounds = 2
[[drift.events]]
kind = "dusk"
clients = [0, 1]
at_frame = 400
severity = 0.8
)";
  Result<Scenario> sc = LoadScenario(path);
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  RunOptions options;
  options.out_dir = dir.path() + "/out";
  options.quiet = true;
  Result<json> report = RunScenario(*sc, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const json& stream = (*report)["stream"];
  const json& windows = stream["windows"];
  ASSERT_EQ(windows.size(), 4u);
  std::vector<std::string> ids;
  for (const auto& [id, w] : windows.items()) ids.push_back(id);  // sorted: site-001..site-004

  // The drifted sites alarm within 300 frames of the onset (frame 400), never before it.
  for (int i = 0; i < 2; ++i) {
    std::optional<uint64_t> first_alarm;
    for (const json& w : windows[ids[i]]) {
      if (w["alarm"].get<bool>()) {
        first_alarm = w["frame"].get<uint64_t>();
        break;
      }
    }
    ASSERT_TRUE(first_alarm) << ids[i] << ": " << windows[ids[i]].dump();
    EXPECT_GT(*first_alarm, 400u) << ids[i];
    EXPECT_LE(*first_alarm, 700u) << ids[i];
  }

  // The coordinator started a campaign for exactly those sites after the first rounds, and it
  // ran its rounds during the stream.
  const json& campaigns = (*report)["drift"]["campaigns"];
  ASSERT_GE(campaigns.size(), 1u) << (*report)["drift"].dump();
  const json& c = campaigns[0];
  EXPECT_EQ(c["state"], "done");
  EXPECT_EQ(c["first_round"], 4);
  EXPECT_EQ(c["last_round"], 5);
  std::set<std::string> members;
  for (const json& m : c["clients"]) members.insert(m["client"].get<std::string>());
  EXPECT_EQ(members, (std::set<std::string>{ids[0], ids[1]}));
  EXPECT_TRUE(c["outcome"].contains("version_after"));
  ASSERT_EQ(stream["rounds_at_step"].size(), 2u);
  EXPECT_GE(stream["rounds_at_step"][0]["step"].get<int>(), 4);  // not before the dusk step
  EXPECT_EQ((*report)["rounds"].size(), 5u);

  // The untouched sites raised no alarm before the campaign's first round.
  const int campaign_step = stream["rounds_at_step"][0]["step"].get<int>();
  for (int i = 2; i < 4; ++i) {
    for (const json& w : windows[ids[i]]) {
      if (w["step"].get<int>() > campaign_step) break;
      EXPECT_FALSE(w["alarm"].get<bool>()) << ids[i] << " window " << w.dump();
    }
  }
  // The stream report has accuracy per step for every site and the paired evaluation.
  EXPECT_EQ(stream["stream_accuracy"][ids[0]].size(), 12u);
  const json& summary = stream["paired"]["summary"];
  ASSERT_TRUE(summary.contains("drifted_clients")) << stream["paired"].dump();
  EXPECT_EQ(summary["drifted_clients"]["clients"], 2);
  EXPECT_EQ(summary["untouched_clients"]["clients"], 2);
  // Dusk hurts the model from before the drift.
  EXPECT_LT(summary["drifted_clients"]["accuracy_after_drift_before_retraining"].get<double>(),
            summary["drifted_clients"]["pre_drift_accuracy"].get<double>());

  // report.html beside report.json draws every window (checked in Chromium by
  // tests/browser/report_page_browser_test).
  std::stringstream page;
  page << std::ifstream(options.out_dir + "/report.html").rdbuf();
  size_t windows_total = 0;
  for (const auto& [id, w] : windows.items()) windows_total += w.size();
  EXPECT_NE(page.str().find("<svg id=\"chart-drift\" class=\"chart\" data-points=\"" +
                            std::to_string(windows_total) + "\""),
            std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
