#include "client/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "coordinator/config.h"

namespace fedge {
namespace {

std::string Write(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / "fedge-config-test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

std::string Dir() {
  return (std::filesystem::temp_directory_path() / "fedge-config-test").string();
}

const char* kClient = R"([coordinator]
host = "coord.example"
port = 7443
[tls]
ca = "ca.crt"
cert = "client.crt"
key = "client.key"
[data]
partition = "dirichlet"
num_partitions = 10
index = 3
)";

TEST(ClientConfigTest, ResolvesPathsNextToTheFile) {
  auto c = client::LoadClientConfig(Write("client.toml", kClient));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "coord.example");
  EXPECT_EQ(c->data.index, 3);
  EXPECT_EQ(std::filesystem::path(c->tls.key).parent_path(),
            std::filesystem::temp_directory_path() / "fedge-config-test");
}

TEST(ClientConfigTest, CameraAndStoreSettings) {
  std::string text = std::string(kClient) + R"(source = "store"
[camera]
source = "rtsp://10.0.0.20/stream1"
fps = 5
width = 640
height = 360
frame_format = "jpeg"
[store]
disk_budget_mb = 64
max_age_days = 1.5
)";
  auto c = client::LoadClientConfig(Write("client-camera.toml", text));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data.source, "store");
  EXPECT_EQ(c->camera.source, "rtsp://10.0.0.20/stream1");
  EXPECT_DOUBLE_EQ(c->camera.fps, 5);
  EXPECT_EQ(c->camera.width, 640);
  EXPECT_EQ(c->camera.frame_format, "jpeg");
  EXPECT_EQ(c->store.disk_budget_bytes, 64u << 20);
  EXPECT_EQ(c->store.max_age_seconds, 129600);
  EXPECT_EQ(client::StoreDir(*c), c->state_dir + "/store");
  auto bad = client::LoadClientConfig(
      Write("client-bad-source.toml", std::string(kClient) + "source = \"camera\"\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("data.source"), std::string::npos);
}

TEST(ClientConfigTest, DriftMonitorSettings) {
  auto c = client::LoadClientConfig(Write("client-drift-default.toml", kClient));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->drift.enabled);
  EXPECT_EQ(c->drift.reference, "local");
  EXPECT_EQ(c->drift.monitor.features.size(), 5u);  // the image features
  EXPECT_DOUBLE_EQ(c->drift.monitor.min_shift, 0.03);
  c = client::LoadClientConfig(Write("client-drift.toml", std::string(kClient) + R"([drift]
window = 50
features = "brightness, sharpness,entropy"
psi_threshold = 0.3
min_shift = 0.05
ph_delta = 0.1
ph_lambda = 2.5
ph_min_windows = 3
reference = "global"
profile_frames = 500
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->drift.monitor.window, 50);
  EXPECT_EQ(c->drift.monitor.features,
            (std::vector<drift::Feature>{drift::Feature::kBrightness, drift::Feature::kSharpness,
                                         drift::Feature::kEntropy}));
  EXPECT_DOUBLE_EQ(c->drift.monitor.psi_threshold, 0.3);
  EXPECT_DOUBLE_EQ(c->drift.monitor.min_shift, 0.05);
  EXPECT_DOUBLE_EQ(c->drift.monitor.detector.delta, 0.1);
  EXPECT_DOUBLE_EQ(c->drift.monitor.detector.lambda, 2.5);
  EXPECT_EQ(c->drift.monitor.detector.min_samples, 3);
  EXPECT_EQ(c->drift.reference, "global");
  EXPECT_EQ(c->drift.profile_frames, 500);
  auto all = client::LoadClientConfig(
      Write("client-drift-all.toml", std::string(kClient) + "[drift]\nfeatures = \"all\"\n"));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->drift.monitor.features.size(), 7u);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"features = \"brightness,hue\"", "unknown feature 'hue'"},
      {"features = \"contrast,contrast\"", "contrast"},
      {"reference = \"neighbour\"", "drift.reference"},
      {"window = 3", "drift.window"},
      {"min_shift = 2", "drift.min_shift"},
      {"ph_lambda = 0", "drift.ph_lambda"},
      {"windw = 100", "unknown key"}};
  for (const auto& [line, what] : bad) {
    auto b = client::LoadClientConfig(
        Write("client-drift-bad.toml", std::string(kClient) + "[drift]\n" + line + "\n"));
    ASSERT_FALSE(b.ok()) << line;
    EXPECT_NE(b.status().message().find(what), std::string::npos) << b.status().message();
  }
}

TEST(CoordinatorConfigTest, DriftPolicySettings) {
  const std::string head = "[tls]\nca = \"ca.crt\"\ncert = \"c.crt\"\nkey = \"c.key\"\n";
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator-drift.toml", head + R"([drift]
score_threshold = 0.4
persistence = 4
min_clients = 3
min_fraction = 0.25
campaign_rounds = 6
cooldown_rounds = 1
focus_fraction = 0.6
update_weight = 3
campaign_augment = false
campaign_lr_scale = 0.25
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->drift.enabled);
  EXPECT_DOUBLE_EQ(c->drift.score_threshold, 0.4);
  EXPECT_EQ(c->drift.persistence, 4);
  EXPECT_EQ(c->drift.min_clients, 3);
  EXPECT_DOUBLE_EQ(c->drift.min_fraction, 0.25);
  EXPECT_EQ(c->drift.campaign_rounds, 6);
  EXPECT_EQ(c->drift.cooldown_rounds, 1);
  EXPECT_DOUBLE_EQ(c->drift.focus_fraction, 0.6);
  EXPECT_EQ(c->drift.update_weight, 3);
  EXPECT_FALSE(c->drift.campaign_augment);
  EXPECT_DOUBLE_EQ(c->drift.campaign_lr_scale, 0.25);
  auto defaults = coordinator::LoadCoordinatorConfig(Write("coordinator-drift-def.toml", head));
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_DOUBLE_EQ(defaults->drift.campaign_lr_scale, 0.5);
  auto zero = coordinator::LoadCoordinatorConfig(
      Write("coordinator-drift-lr.toml", head + "[drift]\ncampaign_lr_scale = 0\n"));
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("drift.campaign_lr_scale"), std::string::npos);
  auto bad = coordinator::LoadCoordinatorConfig(
      Write("coordinator-drift-bad.toml", head + "[drift]\nfocus_fraction = 1.0\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("drift.focus_fraction"), std::string::npos);
}

TEST(CoordinatorConfigTest, ReleaseSettings) {
  const std::string head = "[tls]\nca = \"ca.crt\"\ncert = \"c.crt\"\nkey = \"c.key\"\n";
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator-release.toml", head + R"([release]
repo = "releases/repo"
max_accuracy_drop = 0.02
canary_timeout_seconds = 900
min_canary_reports = 2
auto_promote = false
online_keys = "keys/online"
timestamp_hours = 12
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->release.repo, Dir() + "/releases/repo");  // next to the file
  EXPECT_DOUBLE_EQ(c->release.max_accuracy_drop, 0.02);
  EXPECT_EQ(c->release.canary_timeout_seconds, 900);
  EXPECT_EQ(c->release.min_canary_reports, 2);
  EXPECT_FALSE(c->release.auto_promote);
  EXPECT_EQ(c->release.online_keys, Dir() + "/keys/online");
  EXPECT_EQ(c->release.timestamp_hours, 12);
  auto defaults = coordinator::LoadCoordinatorConfig(Write("coordinator-release-def.toml", head));
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->release.repo.empty());  // releases off
  EXPECT_TRUE(defaults->release.auto_promote);
  EXPECT_DOUBLE_EQ(defaults->release.max_accuracy_drop, 0.01);
  auto keys_only = coordinator::LoadCoordinatorConfig(
      Write("coordinator-release-keys.toml", head + "[release]\nonline_keys = \"k\"\n"));
  ASSERT_FALSE(keys_only.ok());
  EXPECT_NE(keys_only.status().message().find("release.repo"), std::string::npos);
  auto bad = coordinator::LoadCoordinatorConfig(
      Write("coordinator-release-bad.toml", head + "[release]\nmax_accuracy_drop = 2\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("release.max_accuracy_drop"), std::string::npos);
}

TEST(ClientConfigTest, IndexOutsidePartitionsIsAnError) {
  std::string text = kClient;
  text.replace(text.find("index = 3"), 9, "index = 10");
  auto c = client::LoadClientConfig(Write("client-bad.toml", text));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("client-bad.toml"), std::string::npos);
  EXPECT_NE(c.status().message().find("data.index"), std::string::npos);
}

// kClient with `lines` added to its [coordinator] table.
std::string WithCoordinatorKeys(const std::string& lines) {
  std::string text = kClient;
  text.insert(text.find("port = 7443\n") + 12, lines);
  return text;
}

TEST(ClientConfigTest, NetworkTimeoutsHaveTodaysDefaults) {
  auto c = client::LoadClientConfig(Write("client-timeouts-default.toml", kClient));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->resolve_timeout_ms, 10000);
  EXPECT_EQ(c->connect_timeout_ms, 10000);
  EXPECT_EQ(c->handshake_timeout_ms, 10000);
  EXPECT_EQ(c->welcome_timeout_ms, 15000);
  EXPECT_EQ(c->write_timeout_ms, 60000);
  EXPECT_EQ(c->idle_heartbeats, 12);
}

TEST(ClientConfigTest, NetworkTimeoutsAreRead) {
  auto c = client::LoadClientConfig(
      Write("client-timeouts.toml",
            WithCoordinatorKeys("resolve_timeout_ms = 1500\nconnect_timeout_ms = 2500\n"
                                "handshake_timeout_ms = 3500\nwelcome_timeout_ms = 4500\n"
                                "write_timeout_ms = 5500\nidle_heartbeats = 4\n")));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->resolve_timeout_ms, 1500);
  EXPECT_EQ(c->connect_timeout_ms, 2500);
  EXPECT_EQ(c->handshake_timeout_ms, 3500);
  EXPECT_EQ(c->welcome_timeout_ms, 4500);
  EXPECT_EQ(c->write_timeout_ms, 5500);
  EXPECT_EQ(c->idle_heartbeats, 4);
}

TEST(ClientConfigTest, NetworkTimeoutOutOfRangeIsOneLineNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"resolve_timeout_ms = 5",
       "key 'coordinator.resolve_timeout_ms': must be between 10 and "
       "600000, got 5"},
      {"handshake_timeout_ms = 600001",
       "key 'coordinator.handshake_timeout_ms': must be between 10 and 600000, got 600001"},
      {"welcome_timeout_ms = 0",
       "key 'coordinator.welcome_timeout_ms': must be between 10 and 600000, got 0"},
      {"write_timeout_ms = 99",
       "key 'coordinator.write_timeout_ms': must be between 100 and 3600000, got 99"},
      {"idle_heartbeats = 1",
       "key 'coordinator.idle_heartbeats': must be between 2 and 1000, got 1"},
  };
  for (const auto& [line, expected] : cases) {
    auto c = client::LoadClientConfig(
        Write("client-timeout-range.toml", WithCoordinatorKeys(line + "\n")));
    ASSERT_FALSE(c.ok()) << line;
    EXPECT_EQ(c.status().code(), shared::Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find("client-timeout-range.toml: " + expected),
              std::string::npos)
        << c.status().message();
    EXPECT_EQ(c.status().message().find('\n'), std::string::npos) << "one line";
  }
}

TEST(CoordinatorConfigTest, AugmentationAndTopKSettings) {
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator-aug.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[rounds]
codec = "topk_int8"
topk_fraction = 0.1
[augment]
hflip = true
noise_std = 0.02
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rounds.training.codec, "topk_int8");
  EXPECT_DOUBLE_EQ(c->rounds.training.topk_fraction, 0.1);
  EXPECT_TRUE(c->rounds.training.augment.hflip);
  EXPECT_FLOAT_EQ(c->rounds.training.augment.noise_std, 0.02f);
  EXPECT_FALSE(c->rounds.training.augment.contrast > 0);
}

TEST(CoordinatorConfigTest, MinFitAboveMinClientsIsRejectedWithReason) {
  auto path = Write("coordinator.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[rounds]
min_clients = 2
min_fit = 3
)");
  auto c = coordinator::LoadCoordinatorConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rounds.min_fit"), std::string::npos);
  EXPECT_NE(c.status().message().find("no round could ever complete"), std::string::npos);
}

// Issue 17: the strategy and its settings come from [rounds]; a multi_krum that could never
// run with the round's quorum is refused when the config is read, not when a round closes.
TEST(CoordinatorConfigTest, AggregationIsReadAndAnImpossibleMultiKrumIsRefused) {
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator-agg.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[rounds]
min_clients = 6
min_fit = 5
aggregation = "multi_krum"
krum_byzantine = 1
max_update_norm = 2.5
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rounds.aggregation.method, coordinator::AggregationMethod::kMultiKrum);
  EXPECT_DOUBLE_EQ(c->rounds.max_update_norm, 2.5);
  c = coordinator::LoadCoordinatorConfig(Write("coordinator-agg2.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[rounds]
min_clients = 6
min_fit = 4
aggregation = "multi_krum"
)"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rounds.min_fit"), std::string::npos);
  EXPECT_NE(c.status().message().find("at least 5 updates"), std::string::npos);
}

TEST(CoordinatorConfigTest, DefenceIsReadAndAnUnreachableQuarantineIsRefused) {
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator-defence.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[defence]
threshold = 4
window = 6
quarantine_after = 3
revoke_after = 5
)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c->defence.threshold, 4);
  EXPECT_EQ(c->defence.window, 6);
  EXPECT_EQ(c->defence.quarantine_after, 3);
  EXPECT_EQ(c->defence.revoke_after, 5);
  EXPECT_TRUE(c->defence.Scoring());
  auto off = coordinator::LoadCoordinatorConfig(Write("coordinator-nodefence.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
)"));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->defence.Scoring()) << "off by default";
  c = coordinator::LoadCoordinatorConfig(Write("coordinator-defence2.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[defence]
window = 4
quarantine_after = 5
)"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("defence.quarantine_after"), std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("could never be reached"), std::string::npos);
}

TEST(CoordinatorConfigTest, UnknownCodecIsRejectedWithTheChoices) {
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator3.toml", R"([tls]
ca = "ca.crt"
cert = "c.crt"
key = "c.key"
[rounds]
codec = "bf16"
)"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rounds.codec"), std::string::npos);
  EXPECT_NE(c.status().message().find("fp32, fp16, int8 or topk_int8"), std::string::npos);
}

TEST(CoordinatorConfigTest, MissingTlsKeyIsNamed) {
  auto c = coordinator::LoadCoordinatorConfig(Write("coordinator2.toml", "[server]\nport = 1\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tls.ca"), std::string::npos);
}

}  // namespace
}  // namespace fedge
