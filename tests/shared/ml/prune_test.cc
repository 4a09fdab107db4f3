// Structured pruning and int8 storage against real models: a pruned network must compute what
// the original computes with the removed channels zeroed, which only holds if every dependent
// layer (next convolution, flattened linear input, head) was sliced consistently.
#include "shared/ml/weights/prune.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "shared/ml/torch/model.h"
#include "shared/ml/weights/arch.h"
#include "shared/ml/weights/quantize.h"

namespace fedge::ml {
namespace {

using shared::Code;
using shared::Tensor;
using shared::TensorBundle;

Model Make(const std::string& arch, uint64_t seed) {
  auto model = Model::Create(arch, seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

Tensor& Find(TensorBundle& b, const std::string& name) {
  for (Tensor& t : b.tensors) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "no tensor " << name;
  static Tensor none;
  return none;
}

// `state` with the outputs of each pruned layer that `pruned` removed set to zero (weights and
// bias): the network the pruned one must equal.
TensorBundle ZeroRemoved(TensorBundle state, const Pruned& pruned) {
  for (const auto& [layer, kept] : pruned.kept) {
    Tensor& w = Find(state, layer + ".weight");
    Tensor& b = Find(state, layer + ".bias");
    const std::set<int64_t> keep(kept.begin(), kept.end());
    const int64_t row = static_cast<int64_t>(w.data.size()) / w.shape[0];
    for (int64_t o = 0; o < w.shape[0]; ++o) {
      if (keep.count(o) > 0) continue;
      std::fill(w.data.begin() + o * row, w.data.begin() + (o + 1) * row, 0.0f);
      b.data[o] = 0.0f;
    }
  }
  return state;
}

std::vector<float> RandomInputs(const Model& model, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(n * model.input_channels() * model.input_height() * model.input_width());
  for (float& v : x) v = normal(rng);
  return x;
}

std::vector<float> Probabilities(const Model& model, const std::vector<float>& x, int64_t n) {
  std::vector<float> probs;
  auto p = model.Predict(x, n, &probs);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return probs;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Prunes `arch` and checks the pruned model against the zeroed original on random inputs.
void ExpectPrunedEqualsZeroed(const std::string& arch, const PruneOptions& options,
                              const std::string& want_arch) {
  Model original = Make(arch, 11);
  auto pruned = PruneChannels(arch, original.State(), options);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->arch, want_arch);

  Model small = Make(pruned->arch, 0);
  ASSERT_TRUE(small.LoadState(pruned->state).ok());
  EXPECT_LT(small.NumParameters(), original.NumParameters());
  const int64_t n = 24;
  const std::vector<float> x = RandomInputs(original, n, 5);
  const std::vector<float> dense = Probabilities(original, x, n);
  ASSERT_TRUE(original.LoadState(ZeroRemoved(original.State(), *pruned)).ok());
  const std::vector<float> zeroed = Probabilities(original, x, n);
  const std::vector<float> from_pruned = Probabilities(small, x, n);
  // Equal up to float rounding (different summation lengths) ...
  EXPECT_LT(MaxAbsDiff(zeroed, from_pruned), 2e-5f);
  // ... while removing the channels changed the outputs far more than that tolerance, so a
  // wrongly sliced dependent layer could not pass.
  EXPECT_GT(MaxAbsDiff(dense, zeroed), 1e-3f);
}

TEST(PruneTest, PrunedCnnColorEqualsTheOriginalWithRemovedChannelsZeroed) {
  ExpectPrunedEqualsZeroed("cnn_color", {0.5, true}, "cnn_color/c1=16,c2=32,c3=32,f1=64");
}

TEST(PruneTest, PrunedCnnSmallEqualsTheOriginalWithRemovedChannelsZeroed) {
  ExpectPrunedEqualsZeroed("cnn_small", {0.25, false}, "cnn_small/c1=24,c2=48,f1=128");
  ExpectPrunedEqualsZeroed("cnn_small", {0.5, true}, "cnn_small/c1=16,c2=32,f1=64");
}

TEST(PruneTest, PruningAPrunedModelAgainWorks) {
  ExpectPrunedEqualsZeroed("cnn_color/c1=16,c2=32,c3=24,f1=64", {0.5, true},
                           "cnn_color/c1=8,c2=16,c3=12,f1=32");
}

TEST(PruneTest, KeepsTheLargestL1ChannelsAndTheLowerIndexOnTies) {
  TensorBundle state = Make("cnn_small", 3).State();
  Tensor& c1 = Find(state, "c1.weight");  // [32, 1, 3, 3]
  std::fill(c1.data.begin(), c1.data.end(), 0.1f);
  for (int64_t o : {3, 7, 20}) std::fill_n(c1.data.begin() + o * 9, 9, 1.0f);
  std::fill_n(c1.data.begin() + 5 * 9, 9, -1.0f);  // the L1 norm counts magnitudes
  PruneOptions options;
  options.fraction = 30.0 / 32.0;  // keep 2 of c1's 32: {3, 5, 7, 20} tie, 3 and 5 win
  options.prune_hidden = false;
  auto pruned = PruneChannels("cnn_small", state, options);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_FALSE(pruned->kept.empty());
  EXPECT_EQ(pruned->kept[0].first, "c1");
  EXPECT_EQ(pruned->kept[0].second, (std::vector<int64_t>{3, 5}));
  const Tensor& new_c1 = Find(pruned->state, "c1.weight");
  EXPECT_EQ(new_c1.shape, (std::vector<int64_t>{2, 1, 3, 3}));
  EXPECT_EQ(new_c1.data[0], 1.0f);
  EXPECT_EQ(new_c1.data[9], -1.0f);
  // c2's inputs are c1's channels 3 and 5, for every c2 filter that was kept.
  const Tensor& old_c2 = Find(state, "c2.weight");  // [64, 32, 3, 3]
  const Tensor& new_c2 = Find(pruned->state, "c2.weight");
  ASSERT_EQ(pruned->kept[1].first, "c2");
  const int64_t o_new = 0, o_old = pruned->kept[1].second[0];
  for (int k = 0; k < 9; ++k) {
    EXPECT_EQ(new_c2.data[(o_new * 2 + 0) * 9 + k], old_c2.data[(o_old * 32 + 3) * 9 + k]);
    EXPECT_EQ(new_c2.data[(o_new * 2 + 1) * 9 + k], old_c2.data[(o_old * 32 + 5) * 9 + k]);
  }
}

TEST(PruneTest, AlwaysKeepsAtLeastOneOutput) {
  auto pruned = PruneChannels("cnn_small/c1=1,c2=2,f1=3",
                              Make("cnn_small/c1=1,c2=2,f1=3", 1).State(), {0.9, true});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->arch, "cnn_small/c1=1,c2=1,f1=1");
  Model m = Make(pruned->arch, 0);
  EXPECT_TRUE(m.LoadState(pruned->state).ok());
}

TEST(PruneTest, FractionZeroReturnsTheSameNetwork) {
  const TensorBundle state = Make("cnn_color", 2).State();
  auto pruned = PruneChannels("cnn_color", state, {0.0, true});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->arch, "cnn_color");
  EXPECT_TRUE(pruned->kept.empty());
  ASSERT_TRUE(pruned->state.SameLayout(state));
  for (size_t i = 0; i < state.tensors.size(); ++i) {
    EXPECT_EQ(pruned->state.tensors[i].data, state.tensors[i].data);
  }
}

TEST(PruneTest, RejectsBadArchFractionAndState) {
  const TensorBundle state = Make("cnn_color", 2).State();
  auto expect_invalid = [](const shared::Result<Pruned>& r, const std::string& part) {
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  expect_invalid(PruneChannels("resnet", state, {}), "unknown model architecture");
  expect_invalid(PruneChannels("mobilenet_small", Make("mobilenet_small", 0).State(), {}),
                 "not supported");
  expect_invalid(PruneChannels("cnn_color", state, {-0.1, true}), "fraction");
  expect_invalid(PruneChannels("cnn_color", state, {1.0, true}), "fraction");
  expect_invalid(PruneChannels("cnn_color", state, {std::nan(""), true}), "fraction");
  expect_invalid(PruneChannels("cnn_color", Make("cnn_small", 0).State(), {}), "c1.weight");
  TensorBundle missing = state;
  missing.tensors.pop_back();
  expect_invalid(PruneChannels("cnn_color", missing, {}), "missing tensor 'f2.bias'");
  TensorBundle extra = state;
  extra.tensors.push_back({"f3.weight", {1}, {0.0f}});
  expect_invalid(PruneChannels("cnn_color", extra, {}), "unexpected tensor 'f3.weight'");
  TensorBundle duplicate = state;
  duplicate.tensors.push_back(state.tensors[0]);
  expect_invalid(PruneChannels("cnn_color", duplicate, {}), "duplicate tensor 'c1.weight'");
  TensorBundle short_data = state;
  short_data.tensors[2].data.pop_back();
  expect_invalid(PruneChannels("cnn_color", short_data, {}), "'c2.weight' has shape");
  TensorBundle nan = state;
  nan.tensors[4].data[7] = std::numeric_limits<float>::infinity();
  expect_invalid(PruneChannels("cnn_color", nan, {}), "non-finite value at 7");
  // Pruned state for the unpruned arch: the layout check catches it.
  auto pruned = PruneChannels("cnn_color", state, {});
  ASSERT_TRUE(pruned.ok());
  expect_invalid(PruneChannels("cnn_color", pruned->state, {}), "c1.weight");
}

TEST(ModelWidthsTest, WidthVariantsAreSmallerNetworksAndDefaultsAreUnchanged) {
  Model variant = Make("cnn_color/c1=16,c2=32,c3=32,f1=64", 0);
  // c1 16*27+16, c2 32*16*9+32, c3 32*32*9+32, f1 64*512+64, f2 10*64+10
  EXPECT_EQ(variant.NumParameters(), 448 + 4640 + 9248 + 32832 + 650);
  EXPECT_EQ(variant.arch(), "cnn_color/c1=16,c2=32,c3=32,f1=64");
  EXPECT_EQ(variant.input_channels(), 3);
  EXPECT_EQ(Make("cnn_color", 0).NumParameters(), 188810);
  EXPECT_EQ(Make("cnn_small/c1=8,c2=16,f1=32", 0).NumParameters(),
            8 * 9 + 8 + 16 * 8 * 9 + 16 + 32 * 400 + 32 + 10 * 32 + 10);
  auto bad = Model::Create("cnn_color/c1=16", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

// Linearly separable 1x28x28 images: class c has a bright 4x4 square at its own position.
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

TEST(QuantizeModelTest, Int8PerChannelWeightsKeepAccuracyAndPredictions) {
  const Dataset train = SeparableDataset(40, 1);
  const Dataset test = SeparableDataset(30, 2);
  Model model = Make("cnn_small", 0);
  std::vector<int64_t> indices(train.size);
  std::iota(indices.begin(), indices.end(), 0);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 32;
  ASSERT_TRUE(model.Train(train, indices, options).ok());
  auto fp32 = model.Evaluate(test, {});
  ASSERT_TRUE(fp32.ok());
  ASSERT_GT(fp32->accuracy, 0.9);
  std::vector<float> p_fp32;
  ASSERT_TRUE(model.Predict(test.images, test.size, &p_fp32).ok());

  auto stored = QuantizeBundle(model.State(), QuantScheme::kInt8PerChannel);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  auto restored = DequantizeBundle(*stored);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  ASSERT_TRUE(model.LoadState(*restored).ok());
  auto int8 = model.Evaluate(test, {});
  ASSERT_TRUE(int8.ok());
  EXPECT_GE(int8->accuracy, fp32->accuracy - 0.01);
  std::vector<float> p_int8;
  ASSERT_TRUE(model.Predict(test.images, test.size, &p_int8).ok());
  // The weights changed (by up to half a step each) but the outputs barely did.
  EXPECT_GT(MaxAbsDiff(p_fp32, p_int8), 0.0f);
  EXPECT_LT(MaxAbsDiff(p_fp32, p_int8), 0.05f);
}

}  // namespace
}  // namespace fedge::ml
