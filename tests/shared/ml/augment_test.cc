#include "shared/ml/data/augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace fedge::ml {
namespace {

using shared::Code;

std::vector<float> Iota(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

TEST(AugmentTest, HFlipMirrorsEveryRowOfEveryChannel) {
  std::vector<float> image = Iota(2 * 2 * 3);  // c=2, h=2, w=3
  augment::HFlip(image, 2, 2, 3);
  EXPECT_EQ(image, (std::vector<float>{2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9}));
}

TEST(AugmentTest, ShiftReflectsAtTheBorders) {
  // 1 channel, 3x3: rows {0 1 2} {3 4 5} {6 7 8}.
  std::vector<float> scratch;
  std::vector<float> right = Iota(9);
  augment::Shift(right, 1, 3, 3, /*dy=*/0, /*dx=*/1, scratch);  // out(x) = in(x + 1)
  EXPECT_EQ(right, (std::vector<float>{1, 2, 1, 4, 5, 4, 7, 8, 7}));
  std::vector<float> up = Iota(9);
  augment::Shift(up, 1, 3, 3, /*dy=*/-1, /*dx=*/0, scratch);  // out(y) = in(y - 1)
  EXPECT_EQ(up, (std::vector<float>{3, 4, 5, 0, 1, 2, 3, 4, 5}));
}

TEST(AugmentTest, BlurUsesTheBinomialKernelWithReplicatedBorders) {
  std::vector<float> image(9, 0.0f);
  image[4] = 16.0f;  // an impulse in the middle of 3x3
  std::vector<float> scratch;
  augment::Blur(image, 1, 3, 3, scratch);
  EXPECT_EQ(image, (std::vector<float>{1, 2, 1, 2, 4, 2, 1, 2, 1}));
  std::vector<float> flat(2 * 4 * 4, 0.5f);  // constant images stay constant
  augment::Blur(flat, 2, 4, 4, scratch);
  for (float v : flat) EXPECT_FLOAT_EQ(v, 0.5f);
}

TEST(AugmentTest, AllOffIsNotEnabled) {
  AugmentOptions options;
  options.mean = {0.5f};
  EXPECT_FALSE(options.Enabled());
  options.hflip = true;
  EXPECT_TRUE(options.Enabled());
  EXPECT_FALSE(options.Photometric());
}

TEST(AugmentTest, BrightnessScalesPixelsInPixelSpace) {
  // Pixel p = x * 0.5 + 0.25; brightness multiplies p by f in [0.5, 1.5], then re-normalizes.
  AugmentOptions options;
  options.brightness = 0.5f;
  options.mean = {0.25f};
  options.stddev = {0.5f};
  const std::vector<float> pixels = {0.1f, 0.2f, 0.4f, 0.6f};
  std::vector<float> batch;
  for (float p : pixels) batch.push_back((p - 0.25f) / 0.5f);
  Augmenter augmenter(options, 3);
  augmenter.Apply(batch, 1, 1, 2, 2);
  const float f = (batch[0] * 0.5f + 0.25f) / pixels[0];
  EXPECT_GE(f, 0.5f);
  EXPECT_LE(f, 1.5f);
  EXPECT_NE(f, 1.0f);
  for (size_t i = 0; i < pixels.size(); ++i) {
    EXPECT_NEAR(batch[i] * 0.5f + 0.25f, std::min(1.0f, pixels[i] * f), 1e-5) << i;
  }
}

TEST(AugmentTest, ContrastKeepsTheMeanAndGammaKeepsTheEnds) {
  AugmentOptions contrast;
  contrast.contrast = 0.8f;
  std::vector<float> batch = {0.3f, 0.4f, 0.5f, 0.6f};  // mean 0.45, stays inside [0, 1]
  Augmenter(contrast, 5).Apply(batch, 1, 1, 2, 2);
  EXPECT_NEAR((batch[0] + batch[1] + batch[2] + batch[3]) / 4, 0.45f, 1e-6);
  const float f = (batch[3] - batch[0]) / 0.3f;
  EXPECT_NEAR(batch[1] - batch[0], 0.1f * f, 1e-6);

  AugmentOptions gamma;
  gamma.gamma = 1.0f;
  std::vector<float> ends = {0.0f, 1.0f, 0.25f, 0.5f};
  Augmenter(gamma, 5).Apply(ends, 1, 1, 2, 2);
  EXPECT_EQ(ends[0], 0.0f);
  EXPECT_EQ(ends[1], 1.0f);
  const float g = std::log(ends[2]) / std::log(0.25f);  // p^g
  EXPECT_NEAR(ends[3], std::pow(0.5f, g), 1e-5);
  EXPECT_NE(g, 1.0f);
}

AugmentOptions Everything() {
  AugmentOptions o;
  o.hflip = true;
  o.crop_pad = 2;
  o.brightness = 0.3f;
  o.contrast = 0.3f;
  o.gamma = 0.3f;
  o.blur_prob = 0.5f;
  o.noise_std = 0.02f;
  o.mean = {0.5f, 0.4f, 0.3f};
  o.stddev = {0.25f, 0.25f, 0.2f};
  return o;
}

TEST(AugmentTest, DeterministicPerSeedAndChangesTheBatch) {
  std::vector<float> original(4 * 3 * 8 * 8);
  for (size_t i = 0; i < original.size(); ++i) original[i] = std::sin(0.37f * i);
  std::vector<float> a = original, b = original, c = original;
  Augmenter(Everything(), 11).Apply(a, 4, 3, 8, 8);
  Augmenter(Everything(), 11).Apply(b, 4, 3, 8, 8);
  Augmenter(Everything(), 12).Apply(c, 4, 3, 8, 8);
  EXPECT_EQ(a, b);  // bitwise
  EXPECT_NE(a, c);
  EXPECT_NE(a, original);
  for (float v : a) ASSERT_TRUE(std::isfinite(v));
  // Pixel space stays in [0, 1]: channel 2 normalized values within [-1.5, 3.5].
  for (int i = 0; i < 4; ++i) {
    for (int p = 0; p < 64; ++p) {
      const float v = a[(i * 3 + 2) * 64 + p];
      EXPECT_GE(v, -1.5f - 1e-5f);
      EXPECT_LE(v, 3.5f + 1e-5f);
    }
  }
  // A second batch from the same augmenter draws new parameters.
  Augmenter augmenter(Everything(), 11);
  std::vector<float> first = original, second = original;
  augmenter.Apply(first, 4, 3, 8, 8);
  augmenter.Apply(second, 4, 3, 8, 8);
  EXPECT_EQ(first, a);
  EXPECT_NE(second, first);
}

TEST(AugmentTest, ValidateRejectsOutOfRangeValues) {
  EXPECT_TRUE(ValidateAugment(Everything(), 3, 8, 8).ok());
  EXPECT_TRUE(ValidateAugment(AugmentOptions{}, 1, 28, 28).ok());
  auto rejected = [](AugmentOptions o, int64_t channels = 3) {
    shared::Status s = ValidateAugment(o, channels, 8, 8);
    return !s.ok() && s.code() == Code::kInvalidArgument;
  };
  AugmentOptions o = Everything();
  o.crop_pad = 8;
  EXPECT_TRUE(rejected(o));
  o = Everything();
  o.brightness = -0.1f;
  EXPECT_TRUE(rejected(o));
  o = Everything();
  o.noise_std = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(rejected(o));
  o = Everything();
  o.stddev = {0.2f, 0.0f, 0.2f};
  EXPECT_TRUE(rejected(o));
  EXPECT_TRUE(rejected(Everything(), /*channels=*/1));  // 3 means for 1 channel
}

}  // namespace
}  // namespace fedge::ml
