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
