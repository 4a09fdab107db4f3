// The client's drift plumbing: reference statistics see exactly the pixels the live monitor
// sees, observations are normalised as the drift statistics expect, profiles summarise a
// model's outputs, and the live monitor reports windows with a drift onset.
#include "client/live_monitor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "client/camera_data.h"

namespace fedge::client {
namespace {

vision::Image Noise(int w, int h, int channels, uint64_t seed, int lo = 0, int hi = 255) {
  vision::Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.resize(img.ExpectedBytes());
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  for (uint8_t& p : img.pixels) p = static_cast<uint8_t>(d(rng));
  return img;
}

TEST(ImageFromInputTest, InvertsPreprocessForColourAndGrey) {
  for (int channels : {3, 1}) {
    const vision::InputSpec spec = InputSpecFor(channels, 32, 32);
    const vision::Image img = Noise(32, 32, channels, 7);
    std::vector<float> input(spec.Floats());
    ASSERT_TRUE(vision::Preprocess(img, spec, input).ok());
    const vision::Image back = ImageFromInput(input, spec);
    ASSERT_EQ(back.channels, channels);
    ASSERT_EQ(back.pixels.size(), img.pixels.size());
    int worst = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) {
      worst = std::max(worst, std::abs(int(back.pixels[i]) - int(img.pixels[i])));
    }
    EXPECT_LE(worst, 1) << channels << " channel(s)";  // float rounding only
    // Same statistics as the frame itself (B, G, R order is kept).
    const vision::ImageStats a = vision::ComputeImageStats(img);
    const vision::ImageStats b = vision::ComputeImageStats(back);
    EXPECT_NEAR(a.brightness, b.brightness, 1e-3);
    EXPECT_NEAR(a.saturation, b.saturation, 1e-2);
  }
}

TEST(ObservationTest, NormalisesEntropyAndKeepsTheClass) {
  vision::ImageStats stats;
  stats.brightness = 0.3;
  stats.sharpness = 2.0;
  ml::Prediction p;
  p.label = 4;
  p.confidence = 0.6f;
  p.entropy = static_cast<float>(std::log(10.0) / 2);
  drift::FrameObservation f = Observation(stats, &p, 10);
  EXPECT_TRUE(f.has_output);
  EXPECT_DOUBLE_EQ(f.brightness, 0.3);
  EXPECT_DOUBLE_EQ(f.sharpness, 2.0);
  EXPECT_NEAR(f.confidence, 0.6, 1e-6);
  EXPECT_NEAR(f.entropy, 0.5, 1e-6);
  EXPECT_EQ(f.predicted_class, 4);
  EXPECT_FALSE(Observation(stats, nullptr, 10).has_output);
}

TEST(ComputeProfileTest, SummarisesImagesAndOutputsOfTheFirstFrames) {
  auto model = ml::Model::Create("cnn_color", 1);
  ASSERT_TRUE(model.ok());
  const vision::InputSpec spec = InputSpecFor(3, 32, 32);
  ml::Dataset data;
  data.size = 40;
  data.channels = 3;
  data.height = 32;
  data.width = 32;
  data.labels.assign(40, 0);
  data.images.resize(40 * spec.Floats());
  for (int i = 0; i < 40; ++i) {
    // Half dark, half bright frames.
    vision::Image img = Noise(32, 32, 3, i, i < 20 ? 0 : 180, i < 20 ? 60 : 255);
    ASSERT_TRUE(
        vision::Preprocess(img, spec,
                           std::span<float>(data.images.data() + i * spec.Floats(), spec.Floats()))
            .ok());
  }
  std::vector<int64_t> indices(40);
  for (int i = 0; i < 40; ++i) indices[i] = 39 - i;  // bright ones first
  auto profile = ComputeProfile(*model, data, indices, spec, /*max_frames=*/20);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  EXPECT_EQ(profile->frames, 20u);
  EXPECT_EQ(profile->outputs, 20u);
  EXPECT_TRUE(profile->Validate().ok());
  uint64_t classes = 0;
  for (uint64_t c : profile->classes) classes += c;
  EXPECT_EQ(classes, 20u);
  EXPECT_GT(profile->Mean(drift::Feature::kBrightness), 0.7);  // only the bright frames
  auto all = ComputeProfile(*model, data, indices, spec, 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->frames, 40u);
  EXPECT_LT(all->Mean(drift::Feature::kBrightness), profile->Mean(drift::Feature::kBrightness));
}

TEST(FocusIndicesTest, OversamplesRecentFramesUpToTheFractionAndTheRepeatCap) {
  // 10 examples captured at t = 0..9; train on all but #5.
  std::vector<int64_t> captured(10), train = {0, 1, 2, 3, 4, 6, 7, 8, 9};
  for (int i = 0; i < 10; ++i) captured[i] = i;
  // Recent (t >= 7): #7, #8, #9, 3 of 9. For 50%: x >= (4.5 - 3) / 0.5 = 3 extra draws.
  std::vector<int64_t> out = FocusIndices(train, captured, 7, 0.5);
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(std::vector<int64_t>(out.begin(), out.begin() + 9), train);
  EXPECT_EQ(std::vector<int64_t>(out.begin() + 9, out.end()), (std::vector<int64_t>{7, 8, 9}));
  // One recent frame (#9) of 9 for 90%: 63 wanted, capped at 3 more (4 in all).
  out = FocusIndices(train, captured, 9, 0.9);
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(std::count(out.begin(), out.end(), 9), static_cast<long>(kMaxFocusRepeats));
  // Nothing recent, already enough, or no fraction: unchanged.
  EXPECT_EQ(FocusIndices(train, captured, 100, 0.5), train);
  EXPECT_EQ(FocusIndices(train, captured, 0, 0.5), train);
  EXPECT_EQ(FocusIndices(train, captured, 7, 0.0), train);
}

drift::FrameObservation Frame(std::mt19937_64& rng, double brightness) {
  std::normal_distribution<double> n(0, 0.05);
  drift::FrameObservation f;
  f.brightness = std::clamp(brightness + n(rng), 0.0, 1.0);
  f.contrast = std::clamp(0.2 + n(rng) / 2, 0.0, 0.5);
  f.sharpness = 2.0 + n(rng);
  return f;
}

TEST(LiveMonitorTest, ReportsWindowsAndTheOnsetOfDrift) {
  DriftMonitorSettings settings;
  settings.monitor.window = 50;
  settings.monitor.features = {drift::Feature::kBrightness, drift::Feature::kContrast,
                               drift::Feature::kSharpness};
  LiveMonitor live(settings);
  std::mt19937_64 rng(3);
  EXPECT_FALSE(live.Observe(Frame(rng, 0.5), 1000));  // no reference yet: nothing monitored
  drift::Summary reference;
  for (int i = 0; i < 3000; ++i) reference.Add(Frame(rng, 0.5), 0);
  live.SetReference(7, reference, "local", 0);
  EXPECT_EQ(live.version(), 7u);
  EXPECT_EQ(live.source(), "local");
  std::vector<DriftWindow> windows;
  for (int i = 0; i < 1500; ++i) {
    // Dusk from frame 1000 on; frame i is captured at 1,000,000 + 100 i ms.
    auto w = live.Observe(Frame(rng, i < 1000 ? 0.5 : 0.2), 1'000'000 + 100 * i);
    if (w) windows.push_back(*w);
  }
  ASSERT_EQ(windows.size(), 30u);
  for (size_t k = 0; k < windows.size(); ++k) {
    EXPECT_EQ(windows[k].result.index, k);
    EXPECT_EQ(windows[k].model_version, 7u);
    EXPECT_EQ(windows[k].captured_ms, 1'000'000u + 100 * (50 * k + 49));
  }
  for (size_t k = 0; k < 20; ++k) EXPECT_FALSE(windows[k].result.drifted) << k;
  const DriftWindow& first = windows[20];  // frames 1000..1049: the step
  EXPECT_TRUE(first.result.alarm);
  EXPECT_TRUE(first.result.drifted);
  EXPECT_EQ(first.onset_ms, 1'000'000u + 100 * 1000);
  EXPECT_EQ(first.result.top_feature, drift::Feature::kBrightness);
  EXPECT_EQ(windows.back().onset_ms, first.onset_ms);  // the onset stays until a new reference
  // A new reference (a new model version) restarts the monitor.
  live.SetReference(8, reference, "global", 0);
  std::optional<DriftWindow> w;
  for (int i = 0; i < 50; ++i) w = live.Observe(Frame(rng, 0.5), 2'000'000 + i);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->result.index, 0u);
  EXPECT_EQ(w->model_version, 8u);
  EXPECT_EQ(w->reference, "global");
  EXPECT_FALSE(w->result.drifted);
  EXPECT_EQ(w->onset_ms, 0u);
}

}  // namespace
}  // namespace fedge::client
