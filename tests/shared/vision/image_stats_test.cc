#include "shared/vision/image_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fedge::vision {
namespace {

constexpr double kTol = 1e-12;

Image Grey(int width, int height, std::vector<uint8_t> pixels) {
  return Image{width, height, 1, std::move(pixels)};
}

// The same picture with B = G = R = the grey value.
Image ToBgr(const Image& grey) {
  Image bgr{grey.width, grey.height, 3, {}};
  for (uint8_t v : grey.pixels) bgr.pixels.insert(bgr.pixels.end(), {v, v, v});
  return bgr;
}

TEST(ImageStatsTest, ConstantImageHasExactBrightnessAndNoContrastOrSharpness) {
  const ImageStats s = ComputeImageStats(Grey(5, 4, std::vector<uint8_t>(20, 51)));
  EXPECT_DOUBLE_EQ(s.brightness, 51.0 / 255.0);  // = 0.2
  EXPECT_EQ(s.contrast, 0);
  EXPECT_EQ(s.sharpness, 0);
  EXPECT_EQ(s.saturation, 0);
  EXPECT_EQ(s.clipped, 0);
}

TEST(ImageStatsTest, CheckerboardMatchesHandComputedValues) {
  // 4x4 checkerboard of 20 and 120:
  //   mean = 70 -> brightness 70/255; every pixel is 50 from the mean -> std 50 -> 50/255.
  //   Interior pixels (1,1),(2,1),(1,2),(2,2): a 120 pixel has four 20 neighbours,
  //   L = 4*120 - 4*20 = 400; a 20 pixel gives L = 80 - 480 = -400. Two of each: mean 0,
  //   variance 400^2 = 160000 -> sharpness log10(160001).
  std::vector<uint8_t> px(16);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) px[y * 4 + x] = (x + y) % 2 == 0 ? 120 : 20;
  }
  const ImageStats s = ComputeImageStats(Grey(4, 4, px));
  EXPECT_NEAR(s.brightness, 70.0 / 255.0, kTol);
  EXPECT_NEAR(s.contrast, 50.0 / 255.0, kTol);
  EXPECT_NEAR(s.sharpness, std::log10(160001.0), kTol);
  EXPECT_EQ(s.clipped, 0);
}

TEST(ImageStatsTest, SaturationOfPureAndMixedColours) {
  // (B,G,R) = (0,0,200): (200-0)/200 = 1. (100,100,200): (200-100)/200 = 0.5.
  EXPECT_NEAR(ComputeImageStats(Image{1, 1, 3, {0, 0, 200}}).saturation, 1.0, kTol);
  EXPECT_NEAR(ComputeImageStats(Image{1, 1, 3, {100, 100, 200}}).saturation, 0.5, kTol);
  // Mean over pixels: (1 + 0.5 + 0 [black: max 0] + 0 [grey]) / 4 = 0.375.
  const Image mixed{4, 1, 3, {0, 0, 200, 100, 100, 200, 0, 0, 0, 90, 90, 90}};
  EXPECT_NEAR(ComputeImageStats(mixed).saturation, 0.375, kTol);
}

TEST(ImageStatsTest, ClippedCountsPixelsAtOrBeyondTheLimits) {
  // Luma <= 2: {0, 2}; >= 253: {253, 255}; 3 and 252 are not clipped -> 4/6.
  EXPECT_NEAR(ComputeImageStats(Grey(3, 2, {0, 2, 3, 252, 253, 255})).clipped, 4.0 / 6.0, kTol);
  // Colour: white and black are clipped, (0,0,255) has luma 0.299*255 = 76.2 and is not.
  const Image bgr{3, 1, 3, {255, 255, 255, 0, 0, 0, 0, 0, 255}};
  EXPECT_NEAR(ComputeImageStats(bgr).clipped, 2.0 / 3.0, kTol);
}

TEST(ImageStatsTest, GreyAndEqualBgrChannelsGiveTheSameStatistics) {
  std::vector<uint8_t> px(64);
  for (int i = 0; i < 64; ++i) px[i] = static_cast<uint8_t>((i * 37 + (i / 8) * 11) % 256);
  const Image grey = Grey(8, 8, px);
  const ImageStats g = ComputeImageStats(grey);
  const ImageStats c = ComputeImageStats(ToBgr(grey));
  EXPECT_NEAR(g.brightness, c.brightness, 1e-9);
  EXPECT_NEAR(g.contrast, c.contrast, 1e-9);
  EXPECT_NEAR(g.sharpness, c.sharpness, 1e-9);
  EXPECT_NEAR(g.clipped, c.clipped, 1e-9);
  EXPECT_EQ(g.saturation, 0);
  EXPECT_EQ(c.saturation, 0);
  EXPECT_GT(g.contrast, 0);
  EXPECT_GT(g.sharpness, 0);
}

TEST(ImageStatsTest, BlurLowersSharpness) {
  // 16x16 vertical edge (40 | 200), and the same edge smoothed by a horizontal [1 2 1]/4 blur.
  constexpr int kSide = 16;
  std::vector<uint8_t> edge(kSide * kSide), blurred(kSide * kSide);
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) edge[y * kSide + x] = x < kSide / 2 ? 40 : 200;
    for (int x = 0; x < kSide; ++x) {
      const int l = edge[y * kSide + std::max(x - 1, 0)];
      const int r = edge[y * kSide + std::min(x + 1, kSide - 1)];
      blurred[y * kSide + x] = static_cast<uint8_t>((l + 2 * edge[y * kSide + x] + r) / 4);
    }
  }
  const double sharp = ComputeImageStats(Grey(kSide, kSide, edge)).sharpness;
  const double soft = ComputeImageStats(Grey(kSide, kSide, blurred)).sharpness;
  EXPECT_GT(sharp, 0);
  EXPECT_LT(soft, sharp);
}

TEST(ImageStatsTest, SmallImagesHaveNoSharpnessAndInvalidImagesGiveZeros) {
  const ImageStats small = ComputeImageStats(Grey(2, 2, {0, 255, 255, 0}));
  EXPECT_EQ(small.sharpness, 0);
  EXPECT_NEAR(small.contrast, 127.5 / 255.0, kTol);
  const ImageStats invalid = ComputeImageStats(Image{4, 4, 3, {1, 2, 3}});
  EXPECT_EQ(invalid.brightness, 0);
  EXPECT_EQ(invalid.contrast, 0);
  EXPECT_EQ(invalid.sharpness, 0);
  EXPECT_EQ(invalid.saturation, 0);
  EXPECT_EQ(invalid.clipped, 0);
}

}  // namespace
}  // namespace fedge::vision
