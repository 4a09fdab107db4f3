// CreateRelease (coordinator/release_create.h) with a fake accuracy function: no LibTorch.

#include "coordinator/release_create.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/arch.h"
#include "shared/release/repository.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

namespace rel = shared::release;

// A registry model of `arch` with small deterministic weights (no LibTorch).
ExportedModel FakeModel(const std::string& arch, uint64_t version) {
  auto info = ml::ParseArch(arch);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  shared::TensorBundle state;
  for (const auto& [name, shape] : ml::ChainStateLayout(*info)) {
    shared::Tensor t{name, shape, {}};
    t.data.resize(static_cast<size_t>(t.NumElements()));
    for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = 0.01f * static_cast<float>(i % 13);
    state.tensors.push_back(std::move(t));
  }
  ExportedModel m;
  m.blob = *shared::EncodeBundle(state);
  m.record.version = version;
  m.record.arch = arch;
  m.record.digest_hex = shared::ToHex(shared::Sha256(m.blob));
  m.record.size_bytes = m.blob.size();
  return m;
}

class CreateReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KeysInitOptions k;
    k.key_dir = dir_.path() + "/keys";
    k.repo = repo_;
    k.now = rel::SystemNow();
    ASSERT_TRUE(InitKeys(k).ok());
    options_.repo = repo_;
    options_.out = out_;
    options_.build.now = k.now;
    options_.gate.max_drop_points = 1.0;
  }

  // A fake accuracy function answering `answers` in turn and recording the archs asked about.
  AccuracyFn Answers(std::vector<double> answers) {
    asked_.clear();
    return [this, answers](const std::string& arch, const shared::TensorBundle&) {
      asked_.push_back(arch);
      return shared::Result<double>(answers.at(asked_.size() - 1));
    };
  }

  testing::TempDir dir_{"release-create"};
  std::string repo_ = dir_.path() + "/repo";
  std::string out_ = dir_.path() + "/out.fdga";
  CreateReleaseOptions options_;
  std::vector<std::string> asked_;
};

TEST_F(CreateReleaseTest, GatePassesWritesPublishesAndRecordsAccuracy) {
  options_.publish = true;
  auto r = CreateRelease(FakeModel("cnn_small", 7), {}, options_, Answers({0.895, 0.9}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(asked_, (std::vector<std::string>{"cnn_small", "cnn_small"}));  // candidate, then ref
  EXPECT_FALSE(r->refused);
  EXPECT_TRUE(r->verdict.ok());
  EXPECT_NE(r->gate_line.find("passed"), std::string::npos) << r->gate_line;
  EXPECT_DOUBLE_EQ(*r->candidate_accuracy, 0.895);
  EXPECT_DOUBLE_EQ(*r->reference_accuracy, 0.9);
  EXPECT_EQ(r->path, out_);
  EXPECT_EQ(r->counter, 1u);
  ASSERT_TRUE(r->published.has_value());
  EXPECT_EQ(r->published->release_counter, 1u);
  auto written = shared::ReadFile(out_, 1 << 26);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, r->bytes);
  auto artifact = ml::DecodeArtifact(*written);
  ASSERT_TRUE(artifact.ok()) << artifact.status().ToString();
  EXPECT_DOUBLE_EQ(artifact->metrics.at("val_accuracy"), 0.895);
  EXPECT_DOUBLE_EQ(artifact->metrics.at("registry_version"), 7);
  // The next release follows the repository's highest counter.
  auto second = CreateRelease(FakeModel("cnn_small", 8), {}, options_, Answers({0.9, 0.9}));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->counter, 2u);
}

TEST_F(CreateReleaseTest, GateRefusalWritesAndPublishesNothing) {
  options_.publish = true;
  auto r = CreateRelease(FakeModel("cnn_small", 7), {}, options_, Answers({0.80, 0.90}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->refused);
  EXPECT_EQ(r->verdict.code(), shared::Code::kPermissionDenied);
  EXPECT_NE(r->gate_line.find("failed"), std::string::npos) << r->gate_line;
  EXPECT_FALSE(r->bytes.empty());  // measured, reported, not written
  EXPECT_TRUE(r->path.empty());
  EXPECT_FALSE(r->published.has_value());
  EXPECT_FALSE(std::filesystem::exists(out_));
  EXPECT_EQ(*HighestReleaseCounter(repo_), 0u);
}

TEST_F(CreateReleaseTest, SkippedGateMeasuresNothing) {
  options_.gate.mode = GateMode::kSkip;
  auto r = CreateRelease(FakeModel("cnn_small", 7), {}, options_, AccuracyFn());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->refused);
  EXPECT_FALSE(r->candidate_accuracy.has_value());
  EXPECT_TRUE(r->gate_line.empty());
  EXPECT_TRUE(std::filesystem::exists(out_));
  EXPECT_FALSE(r->published.has_value());
  auto artifact = ml::DecodeArtifact(r->bytes);
  ASSERT_TRUE(artifact.ok());
  EXPECT_EQ(artifact->metrics.count("val_accuracy"), 0u);
}

TEST_F(CreateReleaseTest, ReportModeWithKnownReferenceNeverRefuses) {
  options_.gate.mode = GateMode::kReport;
  options_.gate.reference_accuracy = 0.9;
  options_.gate.record_accuracy = false;
  options_.build.prune_fraction = 0.5;
  auto r = CreateRelease(FakeModel("cnn_small", 7), {}, options_, Answers({0.5}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(asked_.size(), 1u);       // the candidate only: the reference's accuracy was given
  EXPECT_NE(asked_[0], "cnn_small");  // the pruned architecture
  EXPECT_EQ(r->arch, asked_[0]);
  EXPECT_EQ(r->verdict.code(), shared::Code::kPermissionDenied);
  EXPECT_FALSE(r->refused);
  EXPECT_TRUE(std::filesystem::exists(out_));
  auto artifact = ml::DecodeArtifact(r->bytes);
  ASSERT_TRUE(artifact.ok());
  EXPECT_EQ(artifact->metrics.count("val_accuracy"), 0u);
}

}  // namespace
}  // namespace fedge::coordinator
