// fedge-sim's attackers: each attack against its formula on a tiny model, who attacks, and the
// [adversary] table's errors.

#include "simulations/adversary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

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
  std::ofstream(path) << "[adversary]\nfraction = 0.2\nkind = \"fang\"\n";
  auto file = shared::ConfigFile::Load(path);
  ASSERT_TRUE(file.ok());
  auto a = LoadAdversary(*file);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("adversary.kind"), std::string::npos);
  EXPECT_NE(a.status().message().find("min_max"), std::string::npos);
}

TEST(AdversaryTest, AlieZIsThePapersZMax) {
  // s = floor(n / 2 + 1) - f; z = Phi^-1((n - s) / n).
  EXPECT_NEAR(AlieZ(10, 2), 0.253347103, 1e-8);   // s = 4, Phi^-1(0.60)
  EXPECT_NEAR(AlieZ(20, 4), 0.385320466, 1e-8);   // s = 7, Phi^-1(0.65)
  EXPECT_NEAR(AlieZ(50, 12), 0.582841507, 1e-8);  // s = 14, Phi^-1(0.72)
}

TEST(AdversaryTest, AlieIpmAndMinMaxFollowTheirFormulas) {
  const shared::TensorBundle base = Values(1, 2);
  // Changes (0, 1) and (2, 3): mean (1, 2), sample std (sqrt 2, sqrt 2).
  const shared::TensorBundle u1 = Values(1, 3), u2 = Values(3, 5);
  const std::vector<const shared::TensorBundle*> benign = {&u1, &u2};
  const shared::TensorBundle alie = CraftAlie(benign, base, 0.5);
  EXPECT_FLOAT_EQ(alie.tensors[0].data[0], static_cast<float>(1 + 1 - 0.5 * std::sqrt(2.0)));
  EXPECT_FLOAT_EQ(alie.tensors[0].data[1], static_cast<float>(2 + 2 - 0.5 * std::sqrt(2.0)));
  const shared::TensorBundle ipm = CraftIpm(benign, base, 0.1);
  EXPECT_FLOAT_EQ(ipm.tensors[0].data[0], 1 - 0.1f * 1);
  EXPECT_FLOAT_EQ(ipm.tensors[0].data[1], 2 - 0.1f * 2);
  // min-max: mean - gamma x std with the largest gamma whose distance to each benign change is
  // at most theirs (|(2, 2)| = 2 sqrt 2): |(1, 1) + gamma sqrt 2 (1, 1)| <= 2 sqrt 2 gives
  // gamma = 1 / sqrt 2, so the crafted change is (0, 1): u1 itself, at the boundary.
  const shared::TensorBundle mm = CraftMinMax(benign, base);
  EXPECT_NEAR(mm.tensors[0].data[0], 1, 1e-6);
  EXPECT_NEAR(mm.tensors[0].data[1], 3, 1e-6);
}

TEST(AdversaryTest, CollusionSendsOneCraftedUpdateFromEveryMembersBenignOne) {
  AdversarySettings a = Kind("ipm", 1.0);
  Collusion collusion(a, {"s1", "s2"}, 10, std::chrono::seconds(30));
  const shared::TensorBundle base = Values(1, 2);
  shared::TensorBundle t1 = Values(1, 3), t2 = Values(3, 5);  // changes (0, 1) and (2, 3)
  auto h1 = collusion.TamperFor("s1"), h2 = collusion.TamperFor("s2");
  std::thread other([&] { h2(base, &t2); });  // each waits for the other's benign update
  h1(base, &t1);
  other.join();
  // -1 x the mean change (1, 2): both send (0, 0).
  EXPECT_EQ(t1.tensors[0].data, t2.tensors[0].data);
  EXPECT_FLOAT_EQ(t1.tensors[0].data[0], 0);
  EXPECT_FLOAT_EQ(t1.tensors[0].data[1], 0);
  // A member alone (the other was not sampled) gives up waiting and uses its own update.
  Collusion short_wait(a, {"s1", "s2"}, 10, std::chrono::milliseconds(50));
  shared::TensorBundle alone = Values(3, 5);
  short_wait.TamperFor("s1")(base, &alone);
  EXPECT_FLOAT_EQ(alone.tensors[0].data[0], 1 - 2.0f);
  EXPECT_FLOAT_EQ(alone.tensors[0].data[1], 2 - 3.0f);
}

}  // namespace
}  // namespace fedge::sim
