// The update norm bound: exact arithmetic on small bundles.

#include "coordinator/norm_bound.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fedge::coordinator {
namespace {

shared::TensorBundle Bundle(float w0, float w1, float b0) {
  shared::TensorBundle b;
  b.tensors.push_back({"w", {2}, {w0, w1}});
  b.tensors.push_back({"b", {1}, {b0}});
  return b;
}

TEST(NormBoundTest, NormIsOfTheChangeAcrossAllTensors) {
  auto norm = UpdateNorm(Bundle(4, 1, 1), Bundle(1, 1, 5));  // change (3, 0, -4)
  ASSERT_TRUE(norm.ok());
  EXPECT_DOUBLE_EQ(*norm, 5.0);
}

TEST(NormBoundTest, AChangeAboveTheBoundIsScaledToIt) {
  shared::TensorBundle u = Bundle(4, 1, 1);
  auto norm = ClipToNorm(&u, Bundle(1, 1, 5), 2.5);
  ASSERT_TRUE(norm.ok());
  EXPECT_DOUBLE_EQ(*norm, 5.0);                 // the norm before clipping
  EXPECT_FLOAT_EQ(u.tensors[0].data[0], 2.5f);  // 1 + 3 / 2
  EXPECT_FLOAT_EQ(u.tensors[0].data[1], 1.0f);
  EXPECT_FLOAT_EQ(u.tensors[1].data[0], 3.0f);  // 5 - 4 / 2
  EXPECT_NEAR(*UpdateNorm(u, Bundle(1, 1, 5)), 2.5, 1e-6);
}

TEST(NormBoundTest, AChangeWithinTheBoundIsUntouched) {
  shared::TensorBundle u = Bundle(4, 1, 1);
  ASSERT_TRUE(ClipToNorm(&u, Bundle(1, 1, 5), 5.0).ok());
  EXPECT_EQ(u.tensors[0].data, (std::vector<float>{4, 1}));
  EXPECT_EQ(u.tensors[1].data, (std::vector<float>{1}));
}

TEST(NormBoundTest, AHugeChangeStaysFinite) {
  const float big = std::numeric_limits<float>::max();
  shared::TensorBundle u = Bundle(big, -big, big);
  auto norm = ClipToNorm(&u, Bundle(0, 0, 0), 1.0);
  ASSERT_TRUE(norm.ok());
  EXPECT_TRUE(std::isfinite(*norm));  // summed in double
  EXPECT_NEAR(*UpdateNorm(u, Bundle(0, 0, 0)), 1.0, 1e-6);
}

TEST(NormBoundTest, MismatchedLayoutsAndBadBoundsAreRefused) {
  shared::TensorBundle u = Bundle(1, 2, 3);
  shared::TensorBundle other;
  other.tensors.push_back({"w", {3}, {0, 0, 0}});
  other.tensors.push_back({"b", {1}, {0}});
  EXPECT_EQ(UpdateNorm(u, other).status().code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(ClipToNorm(&u, Bundle(0, 0, 0), 0.0).status().code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(ClipToNorm(&u, Bundle(0, 0, 0), std::nan("")).status().code(),
            shared::Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::coordinator
