// fedge-sim's attackers: each attack against its formula on a tiny model, who attacks, and the
// [adversary] table's errors.

#include "simulations/adversary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fedge::sim {
namespace {

shared::TensorBundle Values(float a, float b) {
  shared::TensorBundle t;
  t.tensors.push_back({"w", {2}, {a, b}});
  return t;
}

AdversarySettings Kind(const std::string& kind, double scale = 1) {
  AdversarySettings a;
  a.fraction = 0.2;
  a.kind = kind;
  a.scale = scale;
  return a;
}

TEST(AdversaryTest, SignFlipAndScalingFollowTheirFormulas) {
  const shared::TensorBundle base = Values(1, 2);
  shared::TensorBundle trained = Values(1.5f, 1);  // change (0.5, -1)
  MakeTamper(Kind("sign_flip"), 1)(base, &trained);
  EXPECT_EQ(trained.tensors[0].data, (std::vector<float>{0.5f, 3}));  // base - change
  trained = Values(1.5f, 1);
  MakeTamper(Kind("scaling", 10), 1)(base, &trained);
  EXPECT_EQ(trained.tensors[0].data, (std::vector<float>{6, -8}));  // base + 10 change
}

TEST(AdversaryTest, NoiseReplacesTheTrainingWithGaussianNoiseAroundTheBase) {
  AdversarySettings a = Kind("noise");
  a.noise_std = 0.5;
  shared::TensorBundle base;
  base.tensors.push_back({"w", {20000}, std::vector<float>(20000, 3.0f)});
  shared::TensorBundle trained = base;
  MakeTamper(a, 7)(base, &trained);
  double sum = 0, sq = 0;
  for (float v : trained.tensors[0].data) {
    sum += v - 3.0;
    sq += (v - 3.0) * (v - 3.0);
  }
  const double n = 20000;
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(std::sqrt(sq / n), 0.5, 0.02);
}

TEST(AdversaryTest, LabelFlipChangesOnlyItsOwnCopyOfItsTrainingLabels) {
  auto shared_data = std::make_shared<ml::Dataset>();
  shared_data->size = 4;
  shared_data->num_classes = 10;
  shared_data->labels = {0, 3, 9, 5};
  client::LocalData data;
  data.dataset = shared_data;
  data.train = {0, 1, 2};
  data.eval = {3};
  data.class_counts.assign(10, 0);
  EXPECT_FALSE(MakeTamper(Kind("label_flip"), 1));  // it trains honestly on poisoned labels
  FlipTrainingLabels(&data);
  EXPECT_EQ(data.dataset->labels, (std::vector<int64_t>{9, 6, 0, 5}));  // held-out 5 kept
  EXPECT_EQ(shared_data->labels, (std::vector<int64_t>{0, 3, 9, 5}));   // others' copy intact
  EXPECT_EQ(data.class_counts[9], 1u);
  EXPECT_EQ(data.class_counts[6], 1u);
  EXPECT_EQ(data.class_counts[0], 1u);
}

TEST(AdversaryTest, TheLastSitesAttack) {
  AdversarySettings a = Kind("sign_flip");
  a.fraction = 0.2;
  EXPECT_EQ(a.Count(20), 4);
  EXPECT_FALSE(a.Attacker(15, 20));
  EXPECT_TRUE(a.Attacker(16, 20));
  EXPECT_EQ(a.Count(10), 2);
  a.fraction = 0;
  EXPECT_FALSE(a.Attacker(9, 10));
}

TEST(AdversaryTest, AnUnknownAttackNamesTheKeyAndTheChoices) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "fedge-adversary.toml").string();
  std::ofstream(path) << "[adversary]\nfraction = 0.2\nkind = \"alie\"\n";
  auto file = shared::ConfigFile::Load(path);
  ASSERT_TRUE(file.ok());
  auto a = LoadAdversary(*file);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("adversary.kind"), std::string::npos);
  EXPECT_NE(a.status().message().find("label_flip"), std::string::npos);
}

}  // namespace
}  // namespace fedge::sim
