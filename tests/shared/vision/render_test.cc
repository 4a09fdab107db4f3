#include "shared/vision/render.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/videoio.hpp>
#include <set>
#include <sstream>

#include "tests/temp_dir.h"

namespace fedge::vision {
namespace {

// A white rectangle (rows 6..21, cols 8..19) on black, like a Fashion-MNIST item.
std::vector<uint8_t> Item() {
  std::vector<uint8_t> item(784, 0);
  for (int y = 6; y < 22; ++y) {
    for (int x = 8; x < 20; ++x) item[y * 28 + x] = 255;
  }
  return item;
}

Image Render(const SiteConditions& c, uint64_t rng_seed = 1) {
  std::mt19937_64 rng(rng_seed);
  return RenderFrame(Item(), c, rng);
}

// Mean of channel `ch` (-1: all) over the square [x0, x0+side) x [y0, y0+side).
double Mean(const Image& img, int x0, int y0, int side, int ch = -1) {
  double sum = 0;
  int n = 0;
  for (int y = y0; y < y0 + side; ++y) {
    for (int x = x0; x < x0 + side; ++x) {
      for (int c = 0; c < 3; ++c) {
        if (ch >= 0 && c != ch) continue;
        sum += img.pixels[(y * img.width + x) * 3 + c];
        ++n;
      }
    }
  }
  return sum / n;
}

double MeanAll(const Image& img, int ch = -1) { return Mean(img, 0, 0, img.width, ch); }

TEST(RenderTest, FrameIsDeterministicForASeedAndJitteredAcrossSeeds) {
  SiteConditions c;
  c.noise_std = 5;
  const Image a = Render(c, 42), b = Render(c, 42), other = Render(c, 43);
  ASSERT_TRUE(a.Valid());
  EXPECT_EQ(a.width, 96);
  EXPECT_EQ(a.height, 96);
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_NE(a.pixels, other.pixels);
  std::mt19937_64 rng(1);
  const Image big = RenderFrame(Item(), c, rng, 128);
  EXPECT_EQ(big.width, 128);
  EXPECT_TRUE(big.Valid());
}

TEST(RenderTest, ItemIsClearlyVisibleOverTheBackground) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const Image img = Render(SiteConditions{}, seed);
    const double centre = Mean(img, 40, 40, 16);
    const double corner = Mean(img, 0, 0, 8);
    EXPECT_GT(centre, 200) << seed;
    EXPECT_LT(corner, 110) << seed;
  }
}

TEST(RenderTest, RejectsWrongItemSizeAndFrameSize) {
  std::mt19937_64 rng(1);
  std::vector<uint8_t> short_item(700);
  EXPECT_FALSE(RenderFrame(short_item, SiteConditions{}, rng).Valid());
  EXPECT_FALSE(RenderFrame(Item(), SiteConditions{}, rng, 8).Valid());
}

TEST(RenderTest, ExposureAndGammaChangeBrightness) {
  SiteConditions dark, bright, low_gamma, high_gamma;
  dark.exposure = 0.7;
  bright.exposure = 1.3;
  low_gamma.gamma = 0.8;
  high_gamma.gamma = 1.25;
  const double neutral = MeanAll(Render(SiteConditions{}));
  EXPECT_LT(MeanAll(Render(dark)), neutral - 10);
  EXPECT_GT(MeanAll(Render(bright)), neutral + 10);
  EXPECT_GT(MeanAll(Render(low_gamma)), neutral + 5);
  EXPECT_LT(MeanAll(Render(high_gamma)), neutral - 5);
}

TEST(RenderTest, ColourGainsCastTheFrame) {
  SiteConditions warm;
  warm.color_gain = {0.85, 1.0, 1.15};  // B, G, R
  const Image neutral = Render(SiteConditions{});
  const Image cast = Render(warm);
  EXPECT_NEAR(MeanAll(cast, 1), MeanAll(neutral, 1), 0.01);
  EXPECT_GT(MeanAll(cast, 2), MeanAll(neutral, 2) * 1.1);
  EXPECT_LT(MeanAll(cast, 0), MeanAll(neutral, 0) * 0.9);
}

TEST(RenderTest, NoiseHasTheRequestedStandardDeviation) {
  SiteConditions noisy;
  noisy.noise_std = 8;
  const Image clean = Render(SiteConditions{}), dirty = Render(noisy);
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < clean.pixels.size(); ++i) {
    const double d = static_cast<double>(dirty.pixels[i]) - clean.pixels[i];
    sum += d;
    sum_sq += d * d;
  }
  const double n = static_cast<double>(clean.pixels.size());
  const double std = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  EXPECT_GT(std, 7.0);
  EXPECT_LT(std, 8.5);
}

TEST(RenderTest, BlurSmoothsEdges) {
  SiteConditions blurred;
  blurred.blur_sigma = 1.0;
  auto edge_energy = [](const Image& img) {
    double e = 0;
    for (int y = 0; y < img.height; ++y) {
      for (int x = 0; x + 1 < img.width; ++x) {
        const int d = img.pixels[(y * img.width + x + 1) * 3] - img.pixels[(y * img.width + x) * 3];
        e += d * d;  // squared: blurring keeps the total variation of a step, not its energy
      }
    }
    return e;
  };
  EXPECT_LT(edge_energy(Render(blurred)), 0.8 * edge_energy(Render(SiteConditions{})));
}

TEST(RenderTest, SiteConditionsAreModerateVariedAndDeterministic) {
  std::set<int> qualities;
  for (int site = 0; site < 200; ++site) {
    const SiteConditions c = SiteConditionsForIndex(site, 9);
    EXPECT_GE(c.exposure, 0.7);
    EXPECT_LE(c.exposure, 1.3);
    EXPECT_GE(c.gamma, 0.8 - 1e-9);
    EXPECT_LE(c.gamma, 1.25 + 1e-9);
    for (double g : c.color_gain) EXPECT_TRUE(g >= 0.85 && g <= 1.15) << g;
    EXPECT_GE(c.noise_std, 0);
    EXPECT_LE(c.noise_std, 8);
    EXPECT_GE(c.blur_sigma, 0);
    EXPECT_LE(c.blur_sigma, 1.0);
    EXPECT_GE(c.jpeg_quality, 60);
    EXPECT_LE(c.jpeg_quality, 95);
    qualities.insert(c.jpeg_quality);
    // The item stays clearly brighter than the background.
    const Image img = Render(c, site);
    EXPECT_GT(Mean(img, 40, 40, 16) - Mean(img, 0, 0, 8), 60) << "site " << site;
  }
  EXPECT_GT(qualities.size(), 15u);
  const SiteConditions a = SiteConditionsForIndex(3, 9), b = SiteConditionsForIndex(3, 9);
  EXPECT_EQ(a.exposure, b.exposure);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_NE(a.exposure, SiteConditionsForIndex(4, 9).exposure);
  EXPECT_NE(a.exposure, SiteConditionsForIndex(3, 10).exposure);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Items {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
};

Items MakeItems(int n) {
  Items items;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> item = Item();
    for (int x = 0; x < 28; ++x) item[i % 28 * 28 + x] = 255;  // differ per frame
    items.pixels.insert(items.pixels.end(), item.begin(), item.end());
    items.labels.push_back(i % 10);
  }
  return items;
}

TEST(RenderTest, WriteSiteVideoWritesFramesAndMatchingLabels) {
  testing::TempDir dir("video");
  const Items items = MakeItems(12);
  SiteConditions c = SiteConditionsForIndex(2, 5);
  c.jpeg_quality = 95;
  const std::string video = dir.path() + "/site2.avi", labels = dir.path() + "/site2.csv";
  ASSERT_TRUE(WriteSiteVideo(video, labels, items.pixels, items.labels, c).ok());

  std::string expected = "frame_id,label\n";
  for (int i = 0; i < 12; ++i)
    expected += "site2#" + std::to_string(i) + "," + std::to_string(i % 10) + "\n";
  EXPECT_EQ(ReadText(labels), expected);
  EXPECT_EQ(VideoFrameId(video, 7), "site2#7");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) ++files, (void)e;
  EXPECT_EQ(files, 2);  // no temporaries left behind

  cv::VideoCapture capture(video);
  ASSERT_TRUE(capture.isOpened());
  std::mt19937_64 rng(c.seed);
  cv::Mat frame;
  int count = 0;
  while (capture.read(frame)) {
    ASSERT_EQ(frame.cols, 96);
    ASSERT_EQ(frame.rows, 96);
    ASSERT_EQ(frame.channels(), 3);
    const Image want = RenderFrame(std::span(items.pixels).subspan(count * 784, 784), c, rng);
    double diff = 0;
    for (size_t i = 0; i < want.pixels.size(); ++i)
      diff += std::abs(frame.data[i] - want.pixels[i]);
    EXPECT_LT(diff / want.pixels.size(), 6.0) << "frame " << count;
    ++count;
  }
  EXPECT_EQ(count, 12);
}

TEST(RenderTest, WriteSiteVideoUsesTheSitesJpegQuality) {
  testing::TempDir dir("quality");
  const Items items = MakeItems(6);
  SiteConditions c;
  c.noise_std = 6;
  c.jpeg_quality = 60;
  ASSERT_TRUE(WriteSiteVideo(dir.path() + "/low.avi", dir.path() + "/low.csv", items.pixels,
                             items.labels, c)
                  .ok());
  c.jpeg_quality = 95;
  ASSERT_TRUE(WriteSiteVideo(dir.path() + "/high.avi", dir.path() + "/high.csv", items.pixels,
                             items.labels, c)
                  .ok());
  EXPECT_GT(std::filesystem::file_size(dir.path() + "/high.avi"),
            std::filesystem::file_size(dir.path() + "/low.avi") * 5 / 4);
}

TEST(RenderTest, WriteSiteVideoRejectsBadArgumentsAndUnwritablePaths) {
  testing::TempDir dir("video-bad");
  const Items items = MakeItems(3);
  const std::string csv = dir.path() + "/v.csv";
  std::vector<int64_t> two_labels = {1, 2};
  EXPECT_EQ(WriteSiteVideo(dir.path() + "/v.avi", csv, items.pixels, two_labels, {}).code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(WriteSiteVideo(dir.path() + "/v.mp4", csv, items.pixels, items.labels, {}).code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(WriteSiteVideo(dir.path() + "/v.avi", csv, items.pixels, items.labels, {}, 0).code(),
            shared::Code::kInvalidArgument);
  const std::string missing_dir = dir.path() + "/no/such/dir/v.avi";
  shared::Status s = WriteSiteVideo(missing_dir, csv, items.pixels, items.labels, {});
  EXPECT_EQ(s.code(), shared::Code::kIOError);
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(csv));
}

double StdAll(const Image& img) {
  const double mean = MeanAll(img);
  double sum_sq = 0;
  for (uint8_t v : img.pixels) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / img.pixels.size());
}

TEST(RenderTest, DefaultContrastAndHazeLeaveFramesUnchanged) {
  for (int site = 0; site < 5; ++site) {
    const SiteConditions defaults = SiteConditionsForIndex(site, 3);
    SiteConditions explicit_neutral = defaults;
    explicit_neutral.contrast = 1.0;
    explicit_neutral.haze = 0.0;
    EXPECT_EQ(Render(defaults, site).pixels, Render(explicit_neutral, site).pixels) << site;
  }
  EXPECT_EQ(SiteConditions{}.contrast, 1.0);
  EXPECT_EQ(SiteConditions{}.haze, 0.0);
}

TEST(RenderTest, ContrastScalesAroundMidGreyAndHazeVeilsInBrightGrey) {
  SiteConditions flat, veiled;
  flat.contrast = 0;  // every value -> 128
  veiled.haze = 1;    // every value -> 200
  for (uint8_t v : Render(flat).pixels) ASSERT_EQ(v, 128);
  for (uint8_t v : Render(veiled).pixels) ASSERT_EQ(v, 200);
}

TEST(RenderTest, HazeRaisesTheMeanAndLowersTheSpread) {
  SiteConditions hazy;
  hazy.haze = 0.5;
  const Image clear = Render(SiteConditions{}), fog = Render(hazy);
  EXPECT_GT(MeanAll(fog), MeanAll(clear) + 20);
  EXPECT_LT(StdAll(fog), 0.6 * StdAll(clear));
}

TEST(RenderTest, ContrastBelowOneLowersTheSpread) {
  SiteConditions low, high;
  low.contrast = 0.5;
  high.contrast = 1.3;
  const double neutral = StdAll(Render(SiteConditions{}));
  EXPECT_LT(StdAll(Render(low)), 0.6 * neutral);
  EXPECT_GT(StdAll(Render(high)), 1.1 * neutral);
}

}  // namespace
}  // namespace fedge::vision
