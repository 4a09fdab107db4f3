// Tests of the colour architectures ("cnn_color", "mobilenet_small"), Predict and training
// with augmentation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "shared/ml/torch/model.h"

namespace fedge::ml {
namespace {

using shared::Code;
using shared::TensorBundle;

// 3x32x32 images: class c is a 6x6 square of its own colour (c % 3 picks the channel) at its
// own position, on a noisy background. Labels interleaved.
Dataset ColorDataset(int per_class, uint32_t seed) {
  Dataset data;
  data.size = 10 * per_class;
  data.channels = 3;
  data.height = 32;
  data.width = 32;
  data.images.resize(data.size * 3 * 32 * 32);
  data.labels.resize(data.size);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(-0.5f, 0.3f);
  for (int64_t i = 0; i < data.size; ++i) {
    const int c = static_cast<int>(i % 10);
    data.labels[i] = c;
    float* img = data.images.data() + i * 3 * 32 * 32;
    for (int p = 0; p < 3 * 32 * 32; ++p) img[p] = noise(rng);
    const int row = 4 + (c / 5) * 16, col = 1 + (c % 5) * 6;
    for (int r = row; r < row + 6; ++r) {
      for (int k = col; k < col + 6; ++k) img[(c % 3) * 1024 + r * 32 + k] = 2.0f;
    }
  }
  return data;
}

Model Make(const std::string& arch, uint64_t seed) {
  auto model = Model::Create(arch, seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

std::vector<int64_t> All(const Dataset& data) {
  std::vector<int64_t> all(data.size);
  std::iota(all.begin(), all.end(), 0);
  return all;
}

TEST(ColorModelTest, KnownArchitecturesListsAll) {
  EXPECT_EQ(KnownArchitectures(),
            (std::vector<std::string>{"cnn_small", "cnn_color", "mobilenet_small"}));
}

TEST(ColorModelTest, CnnColorHasTheDocumentedLayout) {
  Model model = Make("cnn_color", 0);
  EXPECT_EQ(model.NumParameters(), 188810);
  EXPECT_EQ(model.input_channels(), 3);
  EXPECT_EQ(model.input_height(), 32);
  EXPECT_EQ(model.input_width(), 32);
  EXPECT_EQ(model.num_classes(), 10);
  const TensorBundle state = model.State();
  std::vector<std::string> names;
  for (const auto& t : state.tensors) names.push_back(t.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"c1.weight", "c1.bias", "c2.weight", "c2.bias", "c3.weight",
                                      "c3.bias", "f1.weight", "f1.bias", "f2.weight", "f2.bias"}));
  EXPECT_EQ(state.tensors[0].shape, (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(state.tensors[4].shape, (std::vector<int64_t>{64, 64, 3, 3}));
  EXPECT_EQ(state.tensors[6].shape, (std::vector<int64_t>{128, 1024}));
}

TEST(ColorModelTest, MobileNetSmallHasTheDocumentedLayout) {
  Model model = Make("mobilenet_small", 0);
  EXPECT_EQ(model.NumParameters(), 73130);
  EXPECT_EQ(model.input_channels(), 3);
  EXPECT_EQ(model.input_height(), 32);
  EXPECT_EQ(model.input_width(), 32);
  const TensorBundle state = model.State();
  ASSERT_EQ(state.tensors.size(), 1u + 2u + 6u * 6u + 2u);  // convs have no bias
  EXPECT_EQ(state.tensors[0].name, "stem.weight");
  EXPECT_EQ(state.tensors[0].shape, (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(state.tensors[3].name, "b1.dw.weight");
  EXPECT_EQ(state.tensors[3].shape, (std::vector<int64_t>{16, 1, 3, 3}));  // depthwise
  EXPECT_EQ(state.tensors[6].name, "b1.pw.weight");
  EXPECT_EQ(state.tensors[6].shape, (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(state.tensors.back().name, "fc.bias");
  // GroupNorm starts as the identity affine map; depthwise weights use fan-in 9.
  for (const auto& t : state.tensors) {
    if (t.name.find("gn.weight") != std::string::npos) {
      EXPECT_EQ(t.data, std::vector<float>(t.data.size(), 1.0f)) << t.name;
    } else if (t.name.find("gn.bias") != std::string::npos) {
      EXPECT_EQ(t.data, std::vector<float>(t.data.size(), 0.0f)) << t.name;
    }
  }
  float max_abs = 0;
  for (float v : state.tensors[3].data) max_abs = std::max(max_abs, std::abs(v));
  EXPECT_LE(max_abs, 1 / 3.0f);
  EXPECT_GT(max_abs, 0.25f);
}

TEST(ColorModelTest, CreateIsDeterministicPerSeed) {
  for (const char* arch : {"cnn_color", "mobilenet_small"}) {
    const TensorBundle a = Make(arch, 42).State();
    const TensorBundle b = Make(arch, 42).State();
    const TensorBundle c = Make(arch, 43).State();
    ASSERT_TRUE(a.SameLayout(b)) << arch;
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      EXPECT_EQ(a.tensors[i].data, b.tensors[i].data) << arch << " " << a.tensors[i].name;
      if (a.tensors[i].name.find("_gn.") == std::string::npos) {
        EXPECT_NE(a.tensors[i].data, c.tensors[i].data) << arch << " " << a.tensors[i].name;
      }
    }
  }
}

TEST(ColorModelTest, TrainingOnColorDataReducesLoss) {
  const Dataset data = ColorDataset(12, 1);
  for (const char* arch : {"cnn_color", "mobilenet_small"}) {
    Model model = Make(arch, 0);
    auto before = model.Evaluate(data, {});
    ASSERT_TRUE(before.ok()) << before.status().ToString();
    TrainOptions options;
    options.epochs = 4;
    options.batch_size = 16;
    options.learning_rate = 0.02f;
    auto trained = model.Train(data, All(data), options);
    ASSERT_TRUE(trained.ok()) << arch << ": " << trained.status().ToString();
    EXPECT_EQ(trained->examples, 4 * 120);
    auto after = model.Evaluate(data, {});
    ASSERT_TRUE(after.ok());
    EXPECT_LT(after->loss, 0.7 * before->loss) << arch;
    EXPECT_GT(after->accuracy, before->accuracy) << arch;
  }
}

TEST(ColorModelTest, PredictMatchesEvaluateAndReturnsDistributions) {
  const Dataset data = ColorDataset(2, 2);
  Model model = Make("cnn_color", 3);
  std::vector<float> probs;
  auto predictions = model.Predict(data.images, data.size, &probs);
  ASSERT_TRUE(predictions.ok()) << predictions.status().ToString();
  ASSERT_EQ(predictions->size(), 20u);
  ASSERT_EQ(probs.size(), 20u * 10u);
  for (int64_t i = 0; i < data.size; ++i) {
    const Prediction& p = (*predictions)[i];
    const std::vector<int64_t> one = {i};
    auto eval = model.Evaluate(data, one);
    ASSERT_TRUE(eval.ok());
    const int64_t truth = data.labels[i];
    EXPECT_EQ(eval->confusion[truth * 10 + p.label], 1) << i;  // the same argmax
    const float* row = probs.data() + i * 10;
    double sum = 0, entropy = 0;
    for (int c = 0; c < 10; ++c) {
      sum += row[c];
      entropy -= row[c] * std::log(row[c]);
      EXPECT_LE(row[c], row[p.label]);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_FLOAT_EQ(p.confidence, row[p.label]);
    EXPECT_NEAR(p.entropy, entropy, 1e-4);
    EXPECT_GE(p.entropy, 0);
    EXPECT_LE(p.entropy, std::log(10.0) + 1e-5);
  }
  // Without the probabilities, and one frame at a time: the same answers.
  auto single = model.Predict(std::span<const float>(data.images).subspan(5 * 3072, 3072), 1);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ((*single)[0].label, (*predictions)[5].label);
  EXPECT_NEAR((*single)[0].confidence, (*predictions)[5].confidence, 1e-5);
}

TEST(ColorModelTest, PredictRejectsBadInput) {
  Model model = Make("mobilenet_small", 0);
  std::vector<float> frames(2 * 3072, 0.1f);
  EXPECT_EQ(model.Predict(frames, 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(model.Predict(frames, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(model.Predict(frames, -2).status().code(), Code::kInvalidArgument);
  Model gray = Make("cnn_small", 0);
  EXPECT_EQ(gray.Predict(frames, 2).status().code(), Code::kInvalidArgument);  // 784 per frame
  frames[4000] = std::numeric_limits<float>::quiet_NaN();
  auto nan = model.Predict(frames, 2);
  EXPECT_EQ(nan.status().code(), Code::kInvalidArgument);
  EXPECT_NE(nan.status().message().find("4000"), std::string::npos);
  auto empty = model.Predict({}, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  frames[4000] = 0;
  auto ok = model.Predict(frames, 2);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 2u);
}

TrainOptions Quick() {
  TrainOptions options;
  options.batch_size = 16;
  options.seed = 5;
  return options;
}

// All values of the trained model, tensor by tensor.
std::vector<std::vector<float>> TrainedState(const Dataset& data, const TrainOptions& options) {
  Model model = Make("cnn_color", 1);
  auto result = model.Train(data, All(data), options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  std::vector<std::vector<float>> values;
  for (auto& t : model.State().tensors) values.push_back(std::move(t.data));
  return values;
}

TEST(ColorModelTest, AugmentationOffIsBitwiseTheSameAsNoAugmentation) {
  const Dataset data = ColorDataset(4, 3);
  TrainOptions off = Quick();
  off.augment.mean = {0.5f, 0.5f, 0.5f};  // normalization alone enables nothing
  off.augment.stddev = {0.25f};
  EXPECT_EQ(TrainedState(data, Quick()), TrainedState(data, off));
}

TEST(ColorModelTest, AugmentationIsDeterministicPerSeedAndChangesTraining) {
  const Dataset data = ColorDataset(4, 3);
  const Dataset copy = data;
  TrainOptions on = Quick();
  on.augment.hflip = true;
  on.augment.crop_pad = 2;
  on.augment.brightness = 0.2f;
  on.augment.noise_std = 0.02f;
  on.augment.mean = {0.5f};
  on.augment.stddev = {0.25f};
  const auto a = TrainedState(data, on);
  EXPECT_EQ(a, TrainedState(data, on));
  EXPECT_NE(a, TrainedState(data, Quick()));
  TrainOptions other_seed = on;
  other_seed.seed = 6;
  EXPECT_NE(a, TrainedState(data, other_seed));
  EXPECT_EQ(data.images, copy.images);  // the dataset itself is never augmented

  TrainOptions bad = on;
  bad.augment.crop_pad = 32;
  Model model = Make("cnn_color", 1);
  EXPECT_EQ(model.Train(data, All(data), bad).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::ml
