#include "simulations/scenario.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fedge::sim {
namespace {

std::string Write(const std::string& name, const std::string& text) {
  std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(ScenarioTest, QuickstartFileLoads) {
  auto s = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/quickstart.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->clients, 10);
  EXPECT_EQ(s->partition, "dirichlet");
  EXPECT_DOUBLE_EQ(s->alpha, 0.5);
  EXPECT_EQ(s->arch, "cnn_small");
}

TEST(ScenarioTest, BadValuesNameTheKey) {
  auto s = LoadScenario(Write("fedge-bad-scenario.toml", "[data]\npartition = \"random\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("data.partition"), std::string::npos);
  s = LoadScenario(Write("fedge-bad-scenario2.toml", "[scenario]\nclients = 0\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("scenario.clients"), std::string::npos);
  s = LoadScenario(Write("fedge-bad-scenario3.toml", "[scenario]\nclinets = 3\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unknown key"), std::string::npos);
  s = LoadScenario(Write("fedge-bad-scenario4.toml", "[training]\ncodec = \"zip\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.codec"), std::string::npos);
  EXPECT_NE(s.status().message().find("fp32, fp16, int8 or topk_int8"), std::string::npos);
}

// Issue 17: the aggregation strategy is chosen in a scenario as in coordinator.toml's [rounds].
TEST(ScenarioTest, AggregationStrategyLoadsAndABadOneNamesTheKey) {
  auto s = LoadScenario(Write("fedge-agg-scenario.toml",
                              "[training]\naggregation = \"centered_clip\"\nbucket_size = 3\n"
                              "adaptive_norm_multiple = 2.5\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->aggregation.method, coordinator::AggregationMethod::kCenteredClip);
  EXPECT_EQ(s->aggregation.bucket_size, 3);
  EXPECT_DOUBLE_EQ(s->aggregation.adaptive_norm_multiple, 2.5);
  s = LoadScenario(Write("fedge-agg-scenario2.toml", "[training]\naggregation = \"krum\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.aggregation"), std::string::npos);
  EXPECT_NE(s.status().message().find("multi_krum"), std::string::npos);
  s = LoadScenario(Write("fedge-agg-scenario4.toml",
                         "[scenario]\nclients = 4\n[training]\naggregation = \"multi_krum\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("needs 5 updates per round; the quorum is 4"),
            std::string::npos)
      << s.status().ToString();
  s = LoadScenario(Write("fedge-agg-scenario3.toml", "[training]\ntrim_fraction = 0.5\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.trim_fraction"), std::string::npos);
}

TEST(ScenarioTest, DefenceLoadsAndABadKeyIsNamed) {
  auto s = LoadScenario(
      Write("fedge-defence-scenario.toml", "[defence]\nquarantine_after = 2\nwindow = 5\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->defence.quarantine_after, 2);
  EXPECT_EQ(s->defence.window, 5);
  s = LoadScenario(Write("fedge-defence-scenario2.toml", "[defence]\nthreshhold = 2\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("defence.threshhold"), std::string::npos)
      << s.status().message();
}

TEST(ScenarioTest, ABrokenCameraNeedsCamerasAndAKnownFault) {
  auto s = LoadScenario(
      Write("fedge-broken-camera.toml", "[adversary]\nfraction = 0.1\nkind = \"broken_camera\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("needs [camera] enabled = true"), std::string::npos)
      << s.status().message();
  s = LoadScenario(Write("fedge-broken-camera2.toml",
                         "[camera]\nenabled = true\n[adversary]\nfraction = 0.1\nkind = "
                         "\"broken_camera\"\ncamera_fault = \"frozen\"\npaired = true\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->adversary.camera_fault, "frozen");
  EXPECT_TRUE(s->adversary.paired);
  // The shipped scenario loads as documented.
  s = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/broken_camera.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->adversary.kind, "broken_camera");
  EXPECT_EQ(s->adversary.Count(s->clients), 2);
  EXPECT_TRUE(s->adversary.paired);
  s = LoadScenario(Write("fedge-broken-camera3.toml",
                         "[camera]\nenabled = true\n[adversary]\nfraction = 0.1\nkind = "
                         "\"broken_camera\"\ncamera_fault = \"cracked\"\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("adversary.camera_fault"), std::string::npos);
}

TEST(ScenarioTest, DriftScenarioLoadsStreamMonitorPolicyAndEvents) {
  auto s = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/drift.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->camera);
  EXPECT_EQ(s->stream_frames, 4000);
  EXPECT_EQ(s->step_frames, 200);
  EXPECT_EQ(s->label_budget, 100);
  EXPECT_EQ(s->label_delay_steps, 1);
  EXPECT_EQ(s->monitor.window, 100);
  EXPECT_EQ(s->drift.persistence, 2);
  EXPECT_EQ(s->drift.campaign_rounds, 5);
  EXPECT_EQ(s->rounds, 20);
  ASSERT_EQ(s->timeline.events.size(), 1u);
  EXPECT_EQ(s->timeline.events[0].kind, DriftKind::kDusk);
  EXPECT_EQ(s->timeline.events[0].clients, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(s->timeline.events[0].at_frame, 1000u);
  auto no_camera = LoadScenario(Write("fedge-stream-no-camera.toml", "[stream]\nframes = 100\n"));
  ASSERT_FALSE(no_camera.ok());
  EXPECT_NE(no_camera.status().message().find("stream.frames"), std::string::npos);
  auto no_stream = LoadScenario(
      Write("fedge-events-no-stream.toml",
            "[camera]\nenabled = true\n[[drift.events]]\nkind = \"fog\"\nclients = [0]\n"));
  ASSERT_FALSE(no_stream.ok());
  EXPECT_NE(no_stream.status().message().find("stream.frames"), std::string::npos);
  auto bad_client = LoadScenario(
      Write("fedge-events-bad-client.toml",
            "[scenario]\nclients = 3\n[camera]\nenabled = true\n[stream]\nframes = 100\n"
            "[[drift.events]]\nkind = \"fog\"\nclients = [0, 3]\n"));
  ASSERT_FALSE(bad_client.ok());
  EXPECT_NE(bad_client.status().message().find("drift.events[0].clients"), std::string::npos)
      << bad_client.status().message();
  auto bad_policy = LoadScenario(Write("fedge-bad-policy.toml", "[drift]\npersistence = 0\n"));
  ASSERT_FALSE(bad_policy.ok());
  EXPECT_NE(bad_policy.status().message().find("drift.persistence"), std::string::npos);
}

TEST(ScenarioTest, CameraScenarioLoadsWithItsSettings) {
  auto s = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/camera.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->camera);
  EXPECT_EQ(s->clients, 10);
  EXPECT_EQ(s->frame_size, 96);
  EXPECT_EQ(s->arch, "cnn_color");
  auto a =
      LoadScenario(Write("fedge-augment.toml",
                         "[augment]\nbrightness = 0.2\ncrop_pad = 2\n[camera]\n"
                         "enabled = true\nframes_per_client = 300\nframe_format = \"jpeg\"\n"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FLOAT_EQ(a->training.augment.brightness, 0.2f);
  EXPECT_EQ(a->training.augment.crop_pad, 2);
  EXPECT_TRUE(a->training.augment.Enabled());
  EXPECT_EQ(a->frames_per_client, 300);
  EXPECT_EQ(a->frame_format, "jpeg");
  auto bad = LoadScenario(Write("fedge-bad-camera.toml", "[camera]\nframe_format = \"gif\"\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("camera.frame_format"), std::string::npos);
  bad = LoadScenario(Write("fedge-bad-augment.toml", "[augment]\ngamma = 5\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("augment.gamma"), std::string::npos);
}

TEST(ScenarioTest, ReleaseScenariosLoadAndBadReleaseSettingsNameTheKey) {
  auto s = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/release.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->release.enabled);
  EXPECT_DOUBLE_EQ(s->release.prune, 0.5);
  EXPECT_EQ(s->release.finetune_rounds, 3);
  EXPECT_EQ(s->release.quantize, "int8");
  EXPECT_DOUBLE_EQ(s->release.canary_percent, 30);
  EXPECT_DOUBLE_EQ(s->release.regress_prune, 0);
  auto rb = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/release_rollback.toml");
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_DOUBLE_EQ(rb->release.regress_prune, 0.7);
  auto quick = LoadScenario(std::string(FEDGE_SOURCE_DIR) + "/simulations/quickstart.toml");
  ASSERT_TRUE(quick.ok());
  EXPECT_FALSE(quick->release.enabled);
  EXPECT_EQ(quick->max_train_per_client, 0);

  auto bad = LoadScenario(
      Write("fedge-bad-release.toml", "[release]\nenabled = true\nquantize = \"int4\"\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("release.quantize"), std::string::npos);
  bad = LoadScenario(Write("fedge-bad-release2.toml", "[release]\nprune = 1.0\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("release.prune"), std::string::npos);
  bad = LoadScenario(Write("fedge-bad-release3.toml",
                           "[camera]\nenabled = true\n[model]\narch = \"cnn_color\"\n"
                           "[release]\nenabled = true\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("camera.enabled = false"), std::string::npos);
  bad = LoadScenario(Write("fedge-bad-release4.toml",
                           "[model]\narch = \"mobilenet_small\"\n[release]\nenabled = true\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cannot be pruned"), std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
