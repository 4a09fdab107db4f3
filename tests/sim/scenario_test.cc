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
  EXPECT_FLOAT_EQ(a->augment.brightness, 0.2f);
  EXPECT_EQ(a->augment.crop_pad, 2);
  EXPECT_TRUE(a->augment.Enabled());
  EXPECT_EQ(a->frames_per_client, 300);
  EXPECT_EQ(a->frame_format, "jpeg");
  auto bad = LoadScenario(Write("fedge-bad-camera.toml", "[camera]\nframe_format = \"gif\"\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("camera.frame_format"), std::string::npos);
  bad = LoadScenario(Write("fedge-bad-augment.toml", "[augment]\ngamma = 5\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("augment.gamma"), std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
