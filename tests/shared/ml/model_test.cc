#include "shared/ml/torch/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace fedge::ml {
namespace {

using shared::Code;
using shared::TensorBundle;

// Linearly separable 1x28x28 images: class c has a bright 4x4 square at its own position on a
// noisy background. `per_class` examples per class, labels interleaved.
Dataset SeparableDataset(int per_class, uint32_t seed) {
  Dataset data;
  data.size = 10 * per_class;
  data.channels = 1;
  data.height = 28;
  data.width = 28;
  data.images.resize(data.size * 28 * 28);
  data.labels.resize(data.size);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(-0.5f, 0.3f);
  for (int64_t i = 0; i < data.size; ++i) {
    const int c = static_cast<int>(i % 10);
    data.labels[i] = c;
    float* img = data.images.data() + i * 28 * 28;
    for (int p = 0; p < 28 * 28; ++p) img[p] = noise(rng);
    const int row = 4 + (c / 5) * 12, col = 2 + (c % 5) * 5;
    for (int r = row; r < row + 4; ++r) {
      for (int k = col; k < col + 4; ++k) img[r * 28 + k] = 2.0f;
    }
  }
  return data;
}

Model MakeModel(uint64_t seed) {
  auto model = Model::Create("cnn_small", seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

const shared::Tensor* Find(const TensorBundle& b, const std::string& name) {
  for (const auto& t : b.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(ModelTest, UnknownArchIsInvalidArgumentListingKnownOnes) {
  auto model = Model::Create("resnet9000", 0);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), Code::kInvalidArgument);
  EXPECT_NE(model.status().message().find("resnet9000"), std::string::npos);
  EXPECT_NE(model.status().message().find("cnn_small"), std::string::npos);
}

TEST(ModelTest, CnnSmallHasTheReferenceLayout) {
  Model model = MakeModel(0);
  EXPECT_EQ(model.arch(), "cnn_small");
  EXPECT_EQ(model.NumParameters(), 225034);
  EXPECT_EQ(model.input_channels(), 1);
  EXPECT_EQ(model.input_height(), 28);
  EXPECT_EQ(model.num_classes(), 10);
  TensorBundle state = model.State();
  EXPECT_EQ(state.NumElements(), 225034);
  std::vector<std::string> names;
  for (const auto& t : state.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"c1.weight", "c1.bias", "c2.weight", "c2.bias",
                                             "f1.weight", "f1.bias", "f2.weight", "f2.bias"}));
  EXPECT_EQ(state.tensors[0].shape, (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(state.tensors[2].shape, (std::vector<int64_t>{64, 32, 3, 3}));
  EXPECT_EQ(state.tensors[4].shape, (std::vector<int64_t>{128, 1600}));
  EXPECT_EQ(state.tensors[7].shape, (std::vector<int64_t>{10}));
}

TEST(ModelTest, CreateIsDeterministicPerSeed) {
  TensorBundle a = MakeModel(42).State();
  TensorBundle b = MakeModel(42).State();
  TensorBundle c = MakeModel(43).State();
  ASSERT_TRUE(a.SameLayout(b));
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].data, b.tensors[i].data) << a.tensors[i].name;  // bitwise
    EXPECT_NE(a.tensors[i].data, c.tensors[i].data) << a.tensors[i].name;
  }
}

TEST(ModelTest, InitFollowsPyTorchDefaultBounds) {
  TensorBundle state = MakeModel(7).State();
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses its layer's weight fan-in.
  const std::vector<std::pair<std::string, double>> bounds = {
      {"c1.weight", 1 / 3.0},  {"c1.bias", 1 / 3.0},  {"c2.weight", 1 / std::sqrt(288.0)},
      {"f1.weight", 1 / 40.0}, {"f1.bias", 1 / 40.0}, {"f2.weight", 1 / std::sqrt(128.0)}};
  for (const auto& [name, bound] : bounds) {
    const shared::Tensor* t = Find(state, name);
    ASSERT_NE(t, nullptr) << name;
    float max_abs = 0;
    for (float v : t->data) max_abs = std::max(max_abs, std::abs(v));
    EXPECT_LE(max_abs, bound) << name;
    EXPECT_GT(max_abs, 0.8 * bound) << name;
  }
}

TEST(ModelTest, StateRoundTripsThroughLoadState) {
  Model source = MakeModel(1);
  Model target = MakeModel(2);
  TensorBundle state = source.State();
  ASSERT_TRUE(target.LoadState(state).ok());
  TensorBundle loaded = target.State();
  ASSERT_TRUE(loaded.SameLayout(state));
  for (size_t i = 0; i < state.tensors.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].data, state.tensors[i].data) << state.tensors[i].name;
  }
  // Any order is accepted.
  std::reverse(state.tensors.begin(), state.tensors.end());
  EXPECT_TRUE(MakeModel(3).LoadState(state).ok());
  // State() is a copy: editing it does not touch the model.
  TensorBundle copy = source.State();
  copy.tensors[0].data[0] += 1.0f;
  EXPECT_NE(source.State().tensors[0].data[0], copy.tensors[0].data[0]);
}

void ExpectRejected(Model& model, const TensorBundle& state, const std::string& name) {
  const TensorBundle before = model.State();
  shared::Status status = model.LoadState(state);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Code::kInvalidArgument);
  EXPECT_NE(status.message().find(name), std::string::npos) << status.message();
  // Nothing was applied.
  const TensorBundle after = model.State();
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    EXPECT_EQ(before.tensors[i].data, after.tensors[i].data);
  }
}

TEST(ModelTest, LoadStateRejectsBadInputNamingTheTensor) {
  Model model = MakeModel(0);
  const TensorBundle good = MakeModel(5).State();

  TensorBundle wrong_shape = good;
  wrong_shape.tensors[2].shape = {32, 64, 3, 3};  // same element count, wrong shape
  ExpectRejected(model, wrong_shape, "c2.weight");

  TensorBundle short_data = good;
  short_data.tensors[5].data.pop_back();
  ExpectRejected(model, short_data, "f1.bias");

  TensorBundle missing = good;
  missing.tensors.pop_back();
  ExpectRejected(model, missing, "f2.bias");

  TensorBundle extra = good;
  extra.tensors.push_back({"f3.weight", {1}, {0.0f}});
  ExpectRejected(model, extra, "f3.weight");

  TensorBundle duplicate = good;
  duplicate.tensors.push_back(good.tensors[1]);
  ExpectRejected(model, duplicate, "c1.bias");

  TensorBundle nan = good;
  nan.tensors.back().data[3] = std::numeric_limits<float>::quiet_NaN();
  ExpectRejected(model, nan, "f2.bias");

  TensorBundle inf = good;
  inf.tensors[0].data[0] = std::numeric_limits<float>::infinity();
  ExpectRejected(model, inf, "c1.weight");
}

TEST(ModelTest, TrainingOnSeparableDataReducesLossAndRaisesAccuracy) {
  const Dataset train = SeparableDataset(40, 1);
  const Dataset test = SeparableDataset(20, 2);
  Model model = MakeModel(0);
  auto before = model.Evaluate(test, {});
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->examples, 200);
  EXPECT_LT(before->accuracy, 0.4);

  std::vector<int64_t> indices(train.size);
  std::iota(indices.begin(), indices.end(), 0);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 32;
  auto result = model.Train(train, indices, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->examples, 800);
  EXPECT_EQ(result->steps, 2 * 13);  // ceil(400 / 32) per epoch
  EXPECT_GT(result->seconds, 0);
  EXPECT_TRUE(std::isfinite(result->mean_loss));

  auto after = model.Evaluate(test, {});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(after->accuracy, 0.9);
  EXPECT_LT(after->loss, 0.5 * before->loss);
  EXPECT_GT(after->macro_f1, 0.9);
  EXPECT_EQ(std::accumulate(after->confusion.begin(), after->confusion.end(), int64_t{0}), 200);
}

TEST(ModelTest, TrainingIsReproducibleForTheSameSeeds) {
  const Dataset train = SeparableDataset(10, 3);
  std::vector<int64_t> indices(train.size);
  std::iota(indices.begin(), indices.end(), 0);
  TrainOptions options;
  options.seed = 9;
  Model a = MakeModel(4);
  Model b = MakeModel(4);
  auto ra = a.Train(train, indices, options);
  auto rb = b.Train(train, indices, options);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_DOUBLE_EQ(ra->mean_loss, rb->mean_loss);
  EXPECT_EQ(a.State().tensors[0].data, b.State().tensors[0].data);
  // A different shuffle seed visits the examples in another order.
  Model c = MakeModel(4);
  options.seed = 10;
  auto rc = c.Train(train, indices, options);
  ASSERT_TRUE(rc.ok());
  EXPECT_NE(a.State().tensors[0].data, c.State().tensors[0].data);
}

TEST(ModelTest, EvaluateOnIndicesMatchesWholeDatasetAndCountsSubsets) {
  const Dataset data = SeparableDataset(15, 4);
  Model model = MakeModel(3);
  std::vector<int64_t> all(data.size);
  std::iota(all.begin(), all.end(), 0);
  auto whole = model.Evaluate(data, {}, 7);  // passes of 7 examples, the last one smaller
  auto indexed = model.Evaluate(data, all);
  ASSERT_TRUE(whole.ok() && indexed.ok());
  EXPECT_EQ(whole->confusion, indexed->confusion);
  EXPECT_NEAR(whole->loss, indexed->loss, 1e-5);

  const std::vector<int64_t> subset = {0, 10, 20, 3};  // classes 0, 0, 0, 3
  auto part = model.Evaluate(data, subset);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->examples, 4);
  int64_t class0 = 0;
  for (int p = 0; p < 10; ++p) class0 += part->confusion[0 * 10 + p];
  EXPECT_EQ(class0, 3);
}

TEST(ModelTest, TrainAndEvaluateRejectBadInput) {
  Model model = MakeModel(0);
  Dataset data = SeparableDataset(2, 5);
  const std::vector<int64_t> ok_indices = {0, 1, 2};
  TrainOptions options;

  const std::vector<int64_t> out_of_range = {0, 20};
  auto r = model.Train(data, out_of_range, options);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("20"), std::string::npos);
  EXPECT_EQ(model.Evaluate(data, out_of_range).status().code(), Code::kInvalidArgument);

  TrainOptions bad_batch;
  bad_batch.batch_size = 0;
  EXPECT_EQ(model.Train(data, ok_indices, bad_batch).status().code(), Code::kInvalidArgument);
  TrainOptions bad_lr;
  bad_lr.learning_rate = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(model.Train(data, ok_indices, bad_lr).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(model.Evaluate(data, ok_indices, 0).status().code(), Code::kInvalidArgument);

  Dataset bad_label = data;
  bad_label.labels[1] = 10;
  EXPECT_EQ(model.Train(bad_label, ok_indices, options).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(model.Evaluate(bad_label, {}).status().code(), Code::kInvalidArgument);

  Dataset wrong_shape = data;
  wrong_shape.height = 32;
  EXPECT_EQ(model.Train(wrong_shape, ok_indices, options).status().code(), Code::kInvalidArgument);
  Dataset short_images = data;
  short_images.images.resize(10);
  EXPECT_EQ(model.Evaluate(short_images, {}).status().code(), Code::kInvalidArgument);

  // Nothing to train on is not an error.
  auto empty = model.Train(data, {}, options);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->examples, 0);
  EXPECT_EQ(empty->steps, 0);
}

TEST(ModelTest, MovedModelKeepsItsState) {
  Model a = MakeModel(8);
  const TensorBundle state = a.State();
  Model b = std::move(a);
  EXPECT_EQ(b.State().tensors[0].data, state.tensors[0].data);
  Model c = MakeModel(9);
  c = std::move(b);
  EXPECT_EQ(c.State().tensors[0].data, state.tensors[0].data);
}

}  // namespace
}  // namespace fedge::ml
