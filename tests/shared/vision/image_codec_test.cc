#include "shared/vision/image_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "tests/temp_dir.h"

namespace fedge::vision {
namespace {

Image RandomImage(int width, int height, int channels, uint32_t seed) {
  Image img{width, height, channels, {}};
  img.pixels.resize(img.ExpectedBytes());
  std::mt19937 rng(seed);
  for (uint8_t& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return img;
}

Image Gradient(int width, int height) {
  Image img{width, height, 3, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      img.pixels.push_back(static_cast<uint8_t>(x * 4));
      img.pixels.push_back(static_cast<uint8_t>(y * 4));
      img.pixels.push_back(static_cast<uint8_t>(128));
    }
  }
  return img;
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

TEST(ImageCodecTest, PngRoundTripIsLosslessForColourAndGrey) {
  for (int channels : {1, 3}) {
    const Image img = RandomImage(37, 23, channels, 7);
    auto bytes = EncodeImage(img, ImageFormat::kPng);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto back = DecodeImage(*bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->width, 37);
    EXPECT_EQ(back->height, 23);
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, img.pixels);
  }
}

TEST(ImageCodecTest, PngIsDeterministicAndDependsOnPixels) {
  Image img = RandomImage(16, 16, 3, 1);
  auto a = EncodeImage(img, ImageFormat::kPng);
  auto b = EncodeImage(img, ImageFormat::kPng);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  img.pixels[5] ^= 1;
  auto c = EncodeImage(img, ImageFormat::kPng);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);
}

TEST(ImageCodecTest, JpegRoundTripIsCloseAndQualityMatters) {
  const Image img = Gradient(64, 48);
  auto high = EncodeImage(img, ImageFormat::kJpeg, 95);
  auto low = EncodeImage(img, ImageFormat::kJpeg, 20);
  ASSERT_TRUE(high.ok() && low.ok());
  EXPECT_GT(high->size(), low->size());
  ASSERT_GE(high->size(), 2u);
  EXPECT_EQ((*high)[0], 0xFF);  // JPEG SOI
  EXPECT_EQ((*high)[1], 0xD8);
  auto back = DecodeImage(*high);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->channels, 3);
  ASSERT_EQ(back->pixels.size(), img.pixels.size());
  double diff = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) diff += std::abs(back->pixels[i] - img.pixels[i]);
  EXPECT_LT(diff / img.pixels.size(), 3.0);
}

TEST(ImageCodecTest, EncodeRejectsInvalidImageAndQuality) {
  Image bad{4, 4, 3, std::vector<uint8_t>(10)};
  EXPECT_EQ(EncodeImage(bad, ImageFormat::kPng).status().code(), shared::Code::kInvalidArgument);
  Image two_channels{2, 2, 2, std::vector<uint8_t>(8)};
  EXPECT_EQ(EncodeImage(two_channels, ImageFormat::kPng).status().code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(EncodeImage(Gradient(4, 4), ImageFormat::kJpeg, 0).status().code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(EncodeImage(Gradient(4, 4), ImageFormat::kJpeg, 101).status().code(),
            shared::Code::kInvalidArgument);
}

TEST(ImageCodecTest, DecodeReportsGarbageAsCorruption) {
  std::vector<uint8_t> garbage(300);
  std::mt19937 rng(3);
  for (uint8_t& b : garbage) b = static_cast<uint8_t>(rng());
  garbage[0] = 'x';
  auto r = DecodeImage(garbage);
  EXPECT_EQ(r.status().code(), shared::Code::kCorruption);
  EXPECT_NE(r.status().message().find("not a PNG, JPEG or BMP"), std::string::npos);
  EXPECT_EQ(DecodeImage({}).status().code(), shared::Code::kCorruption);

  auto png = EncodeImage(RandomImage(20, 20, 3, 2), ImageFormat::kPng);
  ASSERT_TRUE(png.ok());
  std::vector<uint8_t> truncated(png->begin(), png->begin() + png->size() / 2);
  EXPECT_EQ(DecodeImage(truncated).status().code(), shared::Code::kCorruption);
  auto jpeg = EncodeImage(Gradient(20, 20), ImageFormat::kJpeg);
  ASSERT_TRUE(jpeg.ok());
  std::vector<uint8_t> jpeg_head(jpeg->begin(), jpeg->begin() + 10);
  EXPECT_EQ(DecodeImage(jpeg_head).status().code(), shared::Code::kCorruption);
}

TEST(ImageCodecTest, DecodeRefusesHugeDimensionsFromTheHeader) {
  auto png = EncodeImage(RandomImage(8, 8, 1, 4), ImageFormat::kPng);
  ASSERT_TRUE(png.ok());
  // IHDR width (big-endian) at offset 16: claim 10000 pixels.
  (*png)[16] = 0;
  (*png)[17] = 0;
  (*png)[18] = 0x27;
  (*png)[19] = 0x10;
  auto r = DecodeImage(*png);
  EXPECT_EQ(r.status().code(), shared::Code::kCorruption);
  EXPECT_NE(r.status().message().find("10000x8"), std::string::npos) << r.status().ToString();

  auto jpeg = EncodeImage(Gradient(8, 8), ImageFormat::kJpeg);
  ASSERT_TRUE(jpeg.ok());
  const uint8_t kSof0[] = {0xFF, 0xC0};
  auto sof = std::search(jpeg->begin(), jpeg->end(), std::begin(kSof0), std::end(kSof0));
  ASSERT_NE(sof, jpeg->end());
  sof[5] = 0x23;  // height 0x2328 = 9000
  sof[6] = 0x28;
  r = DecodeImage(*jpeg);
  EXPECT_EQ(r.status().code(), shared::Code::kCorruption);
  EXPECT_NE(r.status().message().find("8x9000"), std::string::npos) << r.status().ToString();
}

TEST(ImageCodecTest, ReadImageFileReadsNamesAndReportsMissingFiles) {
  testing::TempDir dir("codec");
  const Image img = RandomImage(9, 5, 3, 5);
  auto png = EncodeImage(img, ImageFormat::kPng);
  ASSERT_TRUE(png.ok());
  WriteFile(dir.path() + "/a.png", *png);
  auto read = ReadImageFile(dir.path() + "/a.png");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->pixels, img.pixels);

  auto missing = ReadImageFile(dir.path() + "/nope.png");
  EXPECT_EQ(missing.status().code(), shared::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.png"), std::string::npos);

  WriteFile(dir.path() + "/bad.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F'});
  auto bad = ReadImageFile(dir.path() + "/bad.jpg");
  EXPECT_EQ(bad.status().code(), shared::Code::kCorruption);
  EXPECT_NE(bad.status().message().find("bad.jpg"), std::string::npos);
}

}  // namespace
}  // namespace fedge::vision
