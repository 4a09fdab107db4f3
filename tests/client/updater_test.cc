// Unit tests of the client's A/B release slots and health check (client/updater.h).

#include "client/updater.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "shared/crypto/crypto.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/weights/prune.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

std::vector<uint8_t> ArtifactBytes(const std::string& arch, uint64_t counter,
                                   const shared::TensorBundle* state_override = nullptr) {
  auto model = ml::Model::Create(arch, counter);
  EXPECT_TRUE(model.ok());
  shared::TensorBundle state = state_override ? *state_override : model->State();
  ml::Artifact a;
  a.arch = arch;
  a.input_shape = {model->input_channels(), model->input_height(), model->input_width()};
  a.num_classes = model->num_classes();
  a.tensors = *ml::QuantizeBundle(state, ml::QuantScheme::kInt8PerChannel);
  a.model_id = "m";
  a.version = counter;
  a.compatibility = {arch, {1, 28, 28}, "1.0.0"};
  auto bytes = ml::EncodeArtifact(a);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return *bytes;
}

SlotStore::Slot Describe(const std::string& id, uint64_t counter,
                         const std::vector<uint8_t>& bytes) {
  return {id, "m-" + std::to_string(counter) + ".fdga", counter,
          shared::ToHex(shared::Sha256(bytes))};
}

TEST(SlotStoreTest, FirstInstallWritesSlotAAndActivates) {
  testing::TempDir dir("slots");
  SlotStore slots(dir.path());
  ASSERT_FALSE(slots.Active()->has_value());
  EXPECT_EQ(*slots.Inactive(), "a");
  auto bytes = ArtifactBytes("cnn_small", 1);
  ASSERT_TRUE(slots.Write("a", Describe("a", 1, bytes), bytes).ok());
  ASSERT_TRUE(slots.Activate("a").ok());
  auto active = slots.Active();
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->id, "a");
  EXPECT_EQ((*active)->counter, 1u);
  EXPECT_EQ(*slots.Inactive(), "b");
  EXPECT_EQ(*slots.Read("a"), bytes);
}

TEST(SlotStoreTest, CrashBetweenWriteAndFlipKeepsTheOldSlotActive) {
  testing::TempDir dir("slots");
  auto v1 = ArtifactBytes("cnn_small", 1);
  auto v2 = ArtifactBytes("cnn_small", 2);
  {
    SlotStore slots(dir.path());
    ASSERT_TRUE(slots.Write("a", Describe("a", 1, v1), v1).ok());
    ASSERT_TRUE(slots.Activate("a").ok());
    ASSERT_TRUE(slots.Write("b", Describe("b", 2, v2), v2).ok());
    // "Crash": the process ends before Activate("b").
  }
  SlotStore reopened(dir.path());
  auto active = reopened.Active();
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->id, "a");
  EXPECT_EQ((*active)->counter, 1u);
  EXPECT_EQ(*reopened.Read("a"), v1);
  // The next update overwrites the unfinished slot b again, never the active one.
  EXPECT_EQ(*reopened.Inactive(), "b");
}

TEST(SlotStoreTest, TornArtifactInASlotIsRefused) {
  testing::TempDir dir("slots");
  SlotStore slots(dir.path());
  auto v1 = ArtifactBytes("cnn_small", 1);
  ASSERT_TRUE(slots.Write("a", Describe("a", 1, v1), v1).ok());
  // A crash inside the artifact write with a non-atomic writer would leave a prefix.
  std::filesystem::resize_file(dir.path() + "/slot-a/artifact.fdga", v1.size() / 2);
  auto r = slots.Read("a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), shared::Code::kCorruption);
}

TEST(SlotStoreTest, GarbagePointerIsCorruption) {
  testing::TempDir dir("slots");
  std::ofstream(dir.path() + "/active") << "c\n";
  SlotStore slots(dir.path());
  EXPECT_EQ(slots.Active().status().code(), shared::Code::kCorruption);
}

TEST(LoadActiveReleaseTest, RunsTheActiveSlotsModel) {
  testing::TempDir state("state");
  EXPECT_FALSE(LoadActiveRelease(state.path())->has_value());
  SlotStore slots(state.path() + "/release");
  auto v1 = ArtifactBytes("cnn_small", 1);
  ASSERT_TRUE(slots.Write("a", Describe("a", 1, v1), v1).ok());
  EXPECT_FALSE(LoadActiveRelease(state.path())->has_value()) << "written but not activated";
  ASSERT_TRUE(slots.Activate("a").ok());
  auto r = LoadActiveRelease(state.path());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->counter, 1u);
  EXPECT_EQ((*r)->model.arch(), "cnn_small");
}

TEST(HealthCheckTest, PassesAGoodModelAndRefusesMismatchedTensorsAndSlowModels) {
  auto good = ml::DecodeArtifact(ArtifactBytes("cnn_small", 1));
  ASSERT_TRUE(good.ok());
  double median = -1;
  EXPECT_TRUE(HealthCheck(*good, 3, 10000, &median).ok());
  EXPECT_GE(median, 0);
  EXPECT_EQ(HealthCheck(*good, 3, 1e-9, &median).code(), shared::Code::kDeadlineExceeded);
  // Tensors of a pruned network under the dense arch's name.
  auto dense = ml::Model::Create("cnn_small", 1);
  auto pruned = ml::PruneChannels("cnn_small", dense->State(), {0.5, true});
  ASSERT_TRUE(pruned.ok());
  auto bad = ml::DecodeArtifact(ArtifactBytes("cnn_small", 2, &pruned->state));
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_FALSE(HealthCheck(*bad, 3, 10000, &median).ok());
}

TEST(HealthCheckTest, RunsTheGivenRecentFrames) {
  auto good = ml::DecodeArtifact(ArtifactBytes("cnn_small", 1));
  ASSERT_TRUE(good.ok());
  double median = -1;
  std::vector<float> frames(2 * 28 * 28, 0.25f);
  EXPECT_TRUE(HealthCheck(*good, 3, 10000, &median, frames).ok());
  // A broken frame is refused: only the given frames can contain one (synthetic inputs are
  // always finite).
  frames[7] = std::numeric_limits<float>::quiet_NaN();
  shared::Status s = HealthCheck(*good, 3, 10000, &median, frames);
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("non-finite input"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace fedge::client
