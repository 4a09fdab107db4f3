#include "shared/vision/preprocess.h"

#include <gtest/gtest.h>

namespace fedge::vision {
namespace {

constexpr float kTol = 1e-5f;

// 2x2 BGR: (B, G, R) = (10,20,30) (40,50,60) / (70,80,90) (100,110,120).
Image TwoByTwo() { return Image{2, 2, 3, {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}}; }

TEST(PreprocessTest, WritesRgbPlanesInChwOrderScaledTo01) {
  InputSpec spec{.channels = 3, .height = 2, .width = 2};
  std::vector<float> out(12);
  ASSERT_TRUE(Preprocess(TwoByTwo(), spec, out).ok());
  const float expected[12] = {30, 60, 90, 120, 20, 50, 80, 110, 10, 40, 70, 100};
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(out[i], expected[i] / 255.0f, kTol) << i;
}

TEST(PreprocessTest, NormalisesWithPerChannelMeanAndStddev) {
  InputSpec spec{.channels = 3,
                 .height = 2,
                 .width = 2,
                 .mean = {0.5f, 0.25f, 0.0f},
                 .stddev = {0.5f, 0.25f, 2.0f}};
  std::vector<float> out(12);
  ASSERT_TRUE(Preprocess(TwoByTwo(), spec, out).ok());
  EXPECT_NEAR(out[0], (30 / 255.0f - 0.5f) / 0.5f, kTol);    // R (0,0)
  EXPECT_NEAR(out[3], (120 / 255.0f - 0.5f) / 0.5f, kTol);   // R (1,1)
  EXPECT_NEAR(out[5], (50 / 255.0f - 0.25f) / 0.25f, kTol);  // G (0,1)
  EXPECT_NEAR(out[10], (70 / 255.0f) / 2.0f, kTol);          // B (1,0)
}

TEST(PreprocessTest, ShrinksWithAreaAveraging) {
  // 4x4 grey: 200 in the central 2x2, 0 elsewhere. Area averaging to 1x1 gives 800/16 = 50;
  // bilinear sampling of the centre would give 200.
  Image img{4, 4, 1, std::vector<uint8_t>(16, 0)};
  for (int i : {5, 6, 9, 10}) img.pixels[i] = 200;
  InputSpec spec{.channels = 1, .height = 1, .width = 1};
  std::vector<float> out(1);
  ASSERT_TRUE(Preprocess(img, spec, out).ok());
  EXPECT_NEAR(out[0], 50 / 255.0f, kTol);
}

TEST(PreprocessTest, EnlargesAConstantImageToTheSameConstant) {
  Image img{1, 1, 3, {10, 20, 30}};
  InputSpec spec{.channels = 3, .height = 3, .width = 3};
  std::vector<float> out(27);
  ASSERT_TRUE(Preprocess(img, spec, out).ok());
  for (int i = 0; i < 9; ++i) {
    EXPECT_NEAR(out[i], 30 / 255.0f, kTol);
    EXPECT_NEAR(out[9 + i], 20 / 255.0f, kTol);
    EXPECT_NEAR(out[18 + i], 10 / 255.0f, kTol);
  }
}

TEST(PreprocessTest, ConvertsBgrToGreyWithLumaWeights) {
  // Pure red -> 0.299 * 255 = 76; pure blue -> 0.114 * 255 = 29.
  Image img{2, 1, 3, {0, 0, 255, 255, 0, 0}};
  InputSpec spec{.channels = 1, .height = 1, .width = 2};
  std::vector<float> out(2);
  ASSERT_TRUE(Preprocess(img, spec, out).ok());
  EXPECT_NEAR(out[0], 76 / 255.0f, 1.01f / 255);
  EXPECT_NEAR(out[1], 29 / 255.0f, 1.01f / 255);
}

TEST(PreprocessTest, ReplicatesGreyIntoThreeChannels) {
  Image img{1, 1, 1, {100}};
  InputSpec spec{.channels = 3, .height = 1, .width = 1, .mean = {0, 0.1f, 0.2f}};
  std::vector<float> out(3);
  ASSERT_TRUE(Preprocess(img, spec, out).ok());
  EXPECT_NEAR(out[0], 100 / 255.0f, kTol);
  EXPECT_NEAR(out[1], 100 / 255.0f - 0.1f, kTol);
  EXPECT_NEAR(out[2], 100 / 255.0f - 0.2f, kTol);
}

TEST(PreprocessTest, RejectsBadSizesImagesAndSpecsWithoutWriting) {
  InputSpec spec{.channels = 3, .height = 2, .width = 2};
  std::vector<float> out(12, -7.0f);
  std::vector<float> small(11, -7.0f);
  EXPECT_EQ(Preprocess(TwoByTwo(), spec, small).code(), shared::Code::kInvalidArgument);
  Image broken = TwoByTwo();
  broken.pixels.pop_back();
  EXPECT_EQ(Preprocess(broken, spec, out).code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(Preprocess(Image{}, spec, out).code(), shared::Code::kInvalidArgument);
  InputSpec two_channels = spec;
  two_channels.channels = 2;
  EXPECT_EQ(Preprocess(TwoByTwo(), two_channels, std::span<float>(out).first(8)).code(),
            shared::Code::kInvalidArgument);
  InputSpec zero_std = spec;
  zero_std.stddev[1] = 0;
  EXPECT_EQ(Preprocess(TwoByTwo(), zero_std, out).code(), shared::Code::kInvalidArgument);
  for (float v : out) EXPECT_EQ(v, -7.0f);
}

TEST(PreprocessTest, BatchConcatenatesAndNamesTheBadImage) {
  InputSpec spec{.channels = 3, .height = 2, .width = 2};
  std::vector<Image> images = {TwoByTwo(), Image{1, 1, 1, {51}}};
  auto batch = PreprocessBatch(images, spec);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 24u);
  EXPECT_NEAR((*batch)[0], 30 / 255.0f, kTol);
  for (int i = 12; i < 24; ++i) EXPECT_NEAR((*batch)[i], 0.2f, kTol);
  images.push_back(Image{3, 3, 3, {}});
  auto bad = PreprocessBatch(images, spec);
  EXPECT_EQ(bad.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("image 2"), std::string::npos);
  auto empty = PreprocessBatch({}, spec);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(PreprocessTest, ResizeImageAveragesWhenShrinking) {
  Image img{4, 2, 1, {0, 100, 200, 200, 100, 0, 40, 40}};
  auto small = ResizeImage(img, 2, 1);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->width, 2);
  EXPECT_EQ(small->height, 1);
  EXPECT_EQ(small->channels, 1);
  EXPECT_EQ(small->pixels, (std::vector<uint8_t>{50, 120}));
  EXPECT_EQ(ResizeImage(img, 0, 1).status().code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(ResizeImage(Image{}, 2, 2).status().code(), shared::Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::vision
