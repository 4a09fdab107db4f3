#include "shared/codec/bundle_codec.h"

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

TensorBundle Ramp(size_t n, float step) {
  TensorBundle b;
  b.tensors.push_back({"w", {static_cast<int64_t>(n)}, std::vector<float>(n)});
  for (size_t i = 0; i < n; ++i) b.tensors[0].data[i] = step * static_cast<float>(i);
  return b;
}

TEST(BundleCodecTest, TopKSendsTheLargestDifferencesAndKeepsTheRestAsResidual) {
  TensorBundle base = Sample();
  TensorBundle updated = Sample();
  // Differences: w += {0.1, -2, 0.3, 0, 0.5, 1}; b += {0, 0, 4}.
  const float dw[] = {0.1f, -2.0f, 0.3f, 0.0f, 0.5f, 1.0f};
  for (int i = 0; i < 6; ++i) updated.tensors[0].data[i] += dw[i];
  updated.tensors[1].data[2] += 4.0f;
  Digest digest{};
  digest[0] = 9;
  TensorBundle residual;
  auto bytes = EncodeTopKDelta(updated, base, digest, 0.34, &residual);  // k = 3 of 6, 2 of 3
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeUpdate(*bytes, {}, base, digest);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const float step = 2.0f / 127;  // max sent |d| of w is 2
  for (int i = 0; i < 6; ++i) {
    const float sent = back->tensors[0].data[i] - base.tensors[0].data[i];
    if (i == 1 || i == 5 || i == 4) {
      EXPECT_NEAR(sent, dw[i], step / 2 + 1e-6f) << i;
    } else {
      EXPECT_EQ(sent, 0.0f) << i;
    }
    // Error feedback: what was not sent is exactly what is left to send.
    EXPECT_NEAR(sent + residual.tensors[0].data[i], dw[i], 1e-6f) << i;
  }
  EXPECT_NEAR(back->tensors[1].data[2] - base.tensors[1].data[2], 4.0f, 1e-5f);
  // Next round with no new change: the largest residual (0.3 at w[2]) goes out now.
  auto again = EncodeTopKDelta(base, base, digest, 0.17, &residual);  // k = 1 of 6
  ASSERT_TRUE(again.ok());
  auto back2 = DecodeUpdate(*again, {}, base, digest);
  ASSERT_TRUE(back2.ok());
  EXPECT_NEAR(back2->tensors[0].data[2] - base.tensors[0].data[2], 0.3f, 0.3f / 254 + 1e-6f);
}

TEST(BundleCodecTest, TopKAtFivePercentCostsUnderAThirtiethOfFp32) {
  TensorBundle base = Ramp(100000, 0.0f);
  TensorBundle updated = base;
  for (size_t i = 0; i < 100000; ++i) updated.tensors[0].data[i] = std::sin(float(i) * 0.37f);
  TensorBundle residual;
  auto fp32 = EncodeBundle(updated);
  auto topk = EncodeTopKDelta(updated, base, Digest{}, 0.05, &residual);
  ASSERT_TRUE(fp32.ok() && topk.ok());
  const double ratio = static_cast<double>(topk->size()) / fp32->size();
  EXPECT_LT(ratio, 0.035) << ratio;  // 5% of values at ~1 value byte + ~1.2 position bytes
  EXPECT_GT(ratio, 0.0125);          // at least the int8 values themselves
}

TEST(BundleCodecTest, DeltasAreNeverTakenForModelsOrForTheWrongBase) {
  TensorBundle base = Sample();
  Digest digest{};
  digest[5] = 1;
  TensorBundle residual;
  auto bytes = EncodeTopKDelta(Sample(), base, digest, 0.5, &residual);
  ASSERT_TRUE(bytes.ok());
  auto as_model = DecodeBundle(*bytes);
  ASSERT_FALSE(as_model.ok());
  EXPECT_NE(as_model.status().message().find("difference"), std::string::npos);
  Digest other = digest;
  other[5] = 2;
  auto wrong = DecodeUpdate(*bytes, {}, base, other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("not against the task's model"), std::string::npos);
  TensorBundle reshaped = base;
  reshaped.tensors[0].shape = {3, 2};
  EXPECT_FALSE(DecodeUpdate(*bytes, {}, reshaped, digest).ok());
  // A dense update passes through DecodeUpdate unchanged.
  auto dense = DecodeUpdate(*EncodeBundle(Sample()), {}, base, digest);
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(dense->tensors[0].data, Sample().tensors[0].data);
}

std::vector<uint8_t> HandMadeTopK(std::vector<uint8_t> positions, std::vector<uint8_t> values,
                                  bool with_base = true) {
  flatbuffers::FlatBufferBuilder fbb;
  auto name = fbb.CreateString("w");
  std::vector<int64_t> shape = {4};
  auto sh = fbb.CreateVector(shape);
  auto data = fbb.CreateVector(values);
  auto idx = fbb.CreateVector(positions);
  auto td = wire::CreateTensorData(fbb, name, sh, wire::Codec::TopKInt8, 0.5f, data, idx);
  std::vector<flatbuffers::Offset<wire::TensorData>> v = {td};
  auto tensors = fbb.CreateVector(v);
  Digest d{};
  auto base = with_base ? fbb.CreateVector(d.data(), d.size()) : 0;
  fbb.Finish(wire::CreateBundle(fbb, tensors, base), wire::BundleIdentifier());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

TEST(BundleCodecTest, TopKPositionsAreChecked) {
  BundleInfo info;
  // Positions 1 and 3 (gaps 1, 1): values 2*0.5 and -4*0.5.
  auto good = DecodeBundle(HandMadeTopK({1, 1}, {2, 0xfc}), {}, &info);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_TRUE(info.is_delta);
  EXPECT_EQ(good->tensors[0].data, (std::vector<float>{0, 1.0f, 0, -2.0f}));
  auto beyond = DecodeBundle(HandMadeTopK({1, 2}, {2, 2}), {}, &info);
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.status().message().find("beyond"), std::string::npos);
  auto truncated = DecodeBundle(HandMadeTopK({0x81}, {2}), {}, &info);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  EXPECT_FALSE(DecodeBundle(HandMadeTopK({0, 0}, {1}), {}, &info).ok());  // left over
  auto no_base = DecodeBundle(HandMadeTopK({0}, {1}, false), {}, &info);
  ASSERT_FALSE(no_base.ok());
  EXPECT_NE(no_base.status().message().find("no base model"), std::string::npos);
}

}  // namespace
}  // namespace fedge::shared
