#include "shared/bundle_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fedge::shared {
namespace {

TensorBundle Sample() {
  TensorBundle b;
  b.tensors.push_back({"w", {2, 3}, {1, 2, 3, 4, 5, 6}});
  b.tensors.push_back({"b", {3}, {-0.5f, 0.25f, 1e-7f}});
  return b;
}

TEST(BundleCodecTest, RoundTripsExactly) {
  TensorBundle b = Sample();
  Result<std::vector<uint8_t>> bytes = EncodeBundle(b);
  ASSERT_TRUE(bytes.ok());
  // Payload is 9 floats plus framing, not a multiple of it.
  EXPECT_LT(bytes->size(), 9 * 4 + 200u);
  Result<TensorBundle> back = DecodeBundle(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(b.SameLayout(*back));
  for (size_t i = 0; i < b.tensors.size(); ++i) EXPECT_EQ(b.tensors[i].data, back->tensors[i].data);
}

TEST(BundleCodecTest, Fp16HalvesThePayloadWithinHalfPrecision) {
  TensorBundle b = Sample();
  auto fp32 = EncodeBundle(b);
  auto fp16 = EncodeBundle(b, wire::Codec::Fp16);
  ASSERT_TRUE(fp32.ok() && fp16.ok()) << fp16.status().ToString();
  auto back = DecodeBundle(*fp16);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(b.SameLayout(*back));
  for (size_t t = 0; t < b.tensors.size(); ++t) {
    for (size_t i = 0; i < b.tensors[t].data.size(); ++i) {
      float v = b.tensors[t].data[i];
      // 11 significant bits; 1e-7 is below fp16's smallest subnormal step (6e-8) x 2.
      EXPECT_NEAR(back->tensors[t].data[i], v, std::fabs(v) / 1024 + 6e-8f) << t << "," << i;
    }
  }
  EXPECT_EQ(back->tensors[0].data, b.tensors[0].data);  // small integers are exact
}

TEST(BundleCodecTest, Int8QuartersThePayloadWithinHalfAStep) {
  TensorBundle b = Sample();
  auto fp32 = EncodeBundle(b);
  auto int8 = EncodeBundle(b, wire::Codec::Int8);
  ASSERT_TRUE(fp32.ok() && int8.ok()) << int8.status().ToString();
  auto back = DecodeBundle(*int8);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  // Per-tensor scale max|v| / 127: w has scale 6/127, b 0.5/127.
  const float steps[] = {6.0f / 127, 0.5f / 127};
  for (size_t t = 0; t < b.tensors.size(); ++t) {
    for (size_t i = 0; i < b.tensors[t].data.size(); ++i) {
      EXPECT_NEAR(back->tensors[t].data[i], b.tensors[t].data[i], steps[t] / 2 + 1e-7f);
    }
  }
  EXPECT_FLOAT_EQ(back->tensors[0].data[5], 6.0f);  // the largest value maps to 127 exactly
  // An all-zero tensor has no scale to derive; it still round-trips.
  TensorBundle zeros;
  zeros.tensors.push_back({"z", {4}, {0, 0, 0, 0}});
  auto z = DecodeBundle(*EncodeBundle(zeros, wire::Codec::Int8));
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->tensors[0].data, zeros.tensors[0].data);
}

TEST(BundleCodecTest, LossyCodecsShrinkTheBytesOnTheWire) {
  TensorBundle b;
  b.tensors.push_back({"w", {100, 100}, std::vector<float>(10000)});
  for (size_t i = 0; i < 10000; ++i) b.tensors[0].data[i] = std::sin(static_cast<float>(i));
  auto fp32 = EncodeBundle(b), fp16 = EncodeBundle(b, wire::Codec::Fp16),
       int8 = EncodeBundle(b, wire::Codec::Int8);
  ASSERT_TRUE(fp32.ok() && fp16.ok() && int8.ok());
  EXPECT_LT(static_cast<double>(fp16->size()) / fp32->size(), 0.51);
  EXPECT_LT(static_cast<double>(int8->size()) / fp32->size(), 0.26);
}

TEST(BundleCodecTest, LossyCodecsRefuseWhatTheyCannotRepresent) {
  TensorBundle big;
  big.tensors.push_back({"big", {2}, {1.0f, 70000.0f}});
  auto fp16 = EncodeBundle(big, wire::Codec::Fp16);
  ASSERT_FALSE(fp16.ok());
  EXPECT_NE(fp16.status().message().find("fp16's range"), std::string::npos);
  TensorBundle nan = Sample();
  nan.tensors[0].data[0] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(EncodeBundle(nan, wire::Codec::Int8).ok());
  auto topk = EncodeBundle(Sample(), wire::Codec::TopKInt8);
  ASSERT_FALSE(topk.ok());
  EXPECT_NE(topk.status().message().find("not supported"), std::string::npos);
}

TEST(BundleCodecTest, RejectsNonFiniteValuesNamingTheTensor) {
  TensorBundle b = Sample();
  b.tensors[1].data[2] = std::numeric_limits<float>::quiet_NaN();
  auto bytes = EncodeBundle(b);
  ASSERT_TRUE(bytes.ok());
  Result<TensorBundle> back = DecodeBundle(*bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), Code::kInvalidArgument);
  EXPECT_NE(back.status().message().find("tensor b"), std::string::npos);
}

TEST(BundleCodecTest, RejectsShapePayloadMismatchOnEncode) {
  TensorBundle b = Sample();
  b.tensors[0].shape = {4, 3};
  EXPECT_EQ(EncodeBundle(b).status().code(), Code::kInvalidArgument);
}

TEST(BundleCodecTest, EnforcesLimits) {
  auto bytes = EncodeBundle(Sample());
  ASSERT_TRUE(bytes.ok());
  DecodeLimits limits;
  limits.max_elements = 8;
  EXPECT_EQ(DecodeBundle(*bytes, limits).status().code(), Code::kResourceExhausted);
  limits = {};
  limits.max_tensors = 1;
  EXPECT_EQ(DecodeBundle(*bytes, limits).status().code(), Code::kResourceExhausted);
}

TEST(BundleCodecTest, RejectsNonBundles) {
  std::vector<uint8_t> junk(100, 7);
  EXPECT_EQ(DecodeBundle(junk).status().code(), Code::kCorruption);
  auto bytes = EncodeBundle(Sample());
  std::vector<uint8_t> cut(bytes->begin(), bytes->begin() + 40);
  EXPECT_FALSE(DecodeBundle(cut).ok());
}

}  // namespace
}  // namespace fedge::shared
