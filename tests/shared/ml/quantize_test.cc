#include "shared/ml/weights/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace fedge::ml {
namespace {

using shared::Code;
using shared::Tensor;
using shared::TensorBundle;

// Conv-like weights whose output channels have very different ranges, a bias and a norm weight.
TensorBundle Weights(uint32_t seed) {
  std::mt19937 rng(seed);
  TensorBundle b;
  Tensor w{"c.weight", {6, 4, 3, 3}, {}};
  for (int64_t o = 0; o < 6; ++o) {
    std::uniform_real_distribution<float> u(-0.01f * std::pow(4.0f, o), 0.01f * std::pow(4.0f, o));
    for (int i = 0; i < 36; ++i) w.data.push_back(u(rng));
  }
  std::fill_n(w.data.begin() + 2 * 36, 36, 0.0f);  // an all-zero channel
  b.tensors.push_back(w);
  b.tensors.push_back({"c.bias", {6}, {0.5f, -0.25f, 1e-3f, 3.0f, -7.0f, 0.1f}});
  b.tensors.push_back(
      {"f.weight", {3, 5}, {1, -2, 3, -4, 5, 0.5f, 0.25f, -0.125f, 0, 1, 9, 8, 7, 6, -127}});
  return b;
}

TEST(QuantizeTest, PerChannelErrorIsAtMostHalfAScalePerChannel) {
  const TensorBundle in = Weights(1);
  auto stored = QuantizeBundle(in, QuantScheme::kInt8PerChannel);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_EQ(stored->size(), 3u);
  const StoredTensor& w = (*stored)[0];
  EXPECT_EQ(w.type, StoredType::kInt8);
  ASSERT_EQ(w.scales.size(), 6u);
  EXPECT_EQ(w.scales[2], 1.0f);  // all-zero channel
  // Channels with different ranges get different scales (max |w| / 127).
  EXPECT_GT(w.scales[5], 100 * w.scales[0]);
  EXPECT_EQ((*stored)[1].type, StoredType::kFp32);  // bias stays fp32
  auto out = DequantizeBundle(*stored);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_TRUE(out->SameLayout(in));
  EXPECT_EQ(out->tensors[1].data, in.tensors[1].data);  // bitwise
  for (size_t t : {0u, 2u}) {
    const Tensor& a = in.tensors[t];
    const Tensor& b = out->tensors[t];
    const StoredTensor& s = (*stored)[t];
    const size_t per = a.data.size() / a.shape[0];
    for (size_t i = 0; i < a.data.size(); ++i) {
      const float scale = s.scales[i / per];
      EXPECT_LE(std::fabs(a.data[i] - b.data[i]), 0.5f * scale * (1 + 1e-6f))
          << a.name << " value " << i;
      EXPECT_LE(std::abs(static_cast<int>(s.q[i])), 127);
    }
  }
  // The largest magnitude of each channel maps to +-127 exactly.
  EXPECT_EQ((*stored)[2].q[14], -127);
  EXPECT_FLOAT_EQ(out->tensors[2].data[14], -127.0f);
}

TEST(QuantizeTest, PerTensorUsesOneScaleAndIsCoarserThanPerChannel) {
  const TensorBundle in = Weights(2);
  auto per_tensor = QuantizeBundle(in, QuantScheme::kInt8PerTensor);
  auto per_channel = QuantizeBundle(in, QuantScheme::kInt8PerChannel);
  ASSERT_TRUE(per_tensor.ok() && per_channel.ok());
  ASSERT_EQ((*per_tensor)[0].scales.size(), 1u);
  auto a = DequantizeBundle(*per_tensor);
  auto b = DequantizeBundle(*per_channel);
  ASSERT_TRUE(a.ok() && b.ok());
  // Channel 0 (range 0.01) loses nearly everything under one scale for the whole tensor.
  double err_tensor = 0, err_channel = 0;
  for (int i = 0; i < 36; ++i) {
    err_tensor += std::fabs(a->tensors[0].data[i] - in.tensors[0].data[i]);
    err_channel += std::fabs(b->tensors[0].data[i] - in.tensors[0].data[i]);
  }
  EXPECT_GT(err_tensor, 10 * err_channel);
}

TEST(QuantizeTest, NoneKeepsEverythingFp32Bitwise) {
  const TensorBundle in = Weights(3);
  auto stored = QuantizeBundle(in, QuantScheme::kNone);
  ASSERT_TRUE(stored.ok());
  for (const StoredTensor& s : *stored) EXPECT_EQ(s.type, StoredType::kFp32);
  auto out = DequantizeBundle(*stored);
  ASSERT_TRUE(out.ok());
  for (size_t i = 0; i < in.tensors.size(); ++i)
    EXPECT_EQ(out->tensors[i].data, in.tensors[i].data);
}

TEST(QuantizeTest, SchemeNamesRoundTrip) {
  for (QuantScheme s :
       {QuantScheme::kNone, QuantScheme::kInt8PerTensor, QuantScheme::kInt8PerChannel}) {
    auto parsed = ParseQuantScheme(QuantSchemeName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(ParseQuantScheme("int4").status().code(), Code::kInvalidArgument);
}

TEST(QuantizeTest, RejectsNonFiniteAndMismatchedInput) {
  TensorBundle nan = Weights(4);
  nan.tensors[0].data[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(QuantizeBundle(nan, QuantScheme::kInt8PerChannel).status().code(),
            Code::kInvalidArgument);
  TensorBundle short_data = Weights(4);
  short_data.tensors[2].data.pop_back();
  EXPECT_EQ(QuantizeBundle(short_data, QuantScheme::kInt8PerChannel).status().code(),
            Code::kInvalidArgument);
}

TEST(QuantizeTest, DequantizeValidatesCountsScalesAndValues) {
  auto good = QuantizeBundle(Weights(5), QuantScheme::kInt8PerChannel);
  ASSERT_TRUE(good.ok());
  auto expect_invalid = [](std::vector<StoredTensor> tensors, const std::string& part) {
    auto r = DequantizeBundle(tensors);
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  auto v = *good;
  v[0].scales.pop_back();  // 5 scales for 6 channels
  expect_invalid(v, "has 5 scales");
  v = *good;
  v[0].scales[1] = 0;
  expect_invalid(v, "scale that is not finite and positive");
  v = *good;
  v[0].scales[1] = std::numeric_limits<float>::infinity();
  expect_invalid(v, "scale that is not finite and positive");
  v = *good;
  v[0].q.pop_back();
  expect_invalid(v, "holds 215 values, want 216");
  v = *good;
  v[0].q[0] = -128;
  expect_invalid(v, "-128");
  v = *good;
  v[1].values.push_back(1.0f);
  expect_invalid(v, "holds 7 values, want 6");
  v = *good;
  v[1].values[0] = std::numeric_limits<float>::quiet_NaN();
  expect_invalid(v, "non-finite value at 0");
  v = *good;
  v[2].shape = {3, -5};
  expect_invalid(v, "negative");
  v = *good;
  v[2].name = v[0].name;
  expect_invalid(v, "duplicate tensor");
  v = *good;
  v[1].scales = {1.0f};  // scales on an fp32 tensor
  expect_invalid(v, "c.bias");
}

}  // namespace
}  // namespace fedge::ml
