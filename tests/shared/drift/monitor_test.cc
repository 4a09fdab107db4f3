#include "shared/drift/monitor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace fedge::drift {
namespace {

constexpr int kClasses = 10;

// Synthetic camera-site frames. Every feature is drawn independently; only the brightness mean
// changes between the scenarios below.
class FrameGenerator {
 public:
  explicit FrameGenerator(uint64_t seed, bool outputs = true) : rng_(seed), outputs_(outputs) {}

  FrameObservation Next(double brightness_mean = 0.45) {
    FrameObservation f;
    f.brightness = Normal(brightness_mean, 0.08, 0, 1);
    f.contrast = Normal(0.18, 0.04, 0, 0.5);
    f.sharpness = Normal(2.2, 0.35, 0, 4);
    f.saturation = Normal(0.35, 0.10, 0, 1);
    f.clipped = std::min(1.0, std::exponential_distribution<double>(50.0)(rng_));  // mean 0.02
    if (outputs_) {
      // confidence ~ Beta(6, 1.5) (mean 0.8), entropy falling with it plus noise.
      const double a = std::gamma_distribution<double>(6.0)(rng_);
      const double b = std::gamma_distribution<double>(1.5)(rng_);
      f.has_output = true;
      f.confidence = a / (a + b);
      f.entropy = Normal(0.05 + 0.9 * (1 - f.confidence), 0.05, 0, 1);
      f.predicted_class = std::uniform_int_distribution<int>(0, kClasses - 1)(rng_);
    }
    return f;
  }

  Summary Reference(int frames) {
    Summary s;
    for (int i = 0; i < frames; ++i) s.Add(Next(), kClasses);
    return s;
  }

 private:
  double Normal(double mean, double sd, double lo, double hi) {
    return std::clamp(std::normal_distribution<double>(mean, sd)(rng_), lo, hi);
  }

  std::mt19937_64 rng_;
  bool outputs_;
};

// Feeds frames [0, frames) whose brightness mean is mean_at(frame index) and returns the frame
// index completing the first alarming window, or -1. Collects the window scores.
template <typename MeanAt>
int FirstAlarm(Monitor& monitor, FrameGenerator& gen, int frames, MeanAt mean_at,
               std::vector<double>* scores = nullptr) {
  for (int i = 0; i < frames; ++i) {
    const std::optional<WindowResult> r = monitor.Add(gen.Next(mean_at(i)));
    if (!r) continue;
    if (scores) scores->push_back(r->score);
    if (r->alarm) return i;
  }
  return -1;
}

TEST(MonitorOptionsTest, DefaultsAreValidAndEachBadFieldIsNamed) {
  EXPECT_TRUE(ValidateMonitorOptions({}).ok());
  const auto expect_invalid = [](MonitorOptions o, const std::string& field) {
    const shared::Status s = ValidateMonitorOptions(o);
    EXPECT_EQ(s.code(), shared::Code::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  };
  expect_invalid({.window = 9}, "window");
  expect_invalid({.window = 100001}, "window");
  expect_invalid({.features = {}}, "features");
  expect_invalid({.features = {Feature::kContrast, Feature::kContrast}}, "'contrast' listed twice");
  expect_invalid({.features = {static_cast<Feature>(7)}}, "unknown feature");
  expect_invalid({.psi_alpha = 0}, "psi_alpha");
  expect_invalid({.psi_alpha = NAN}, "psi_alpha");
  expect_invalid({.detector = {.delta = -0.1}}, "detector.delta");
  expect_invalid({.detector = {.lambda = 0}}, "detector.lambda");
  expect_invalid({.detector = {.lambda = INFINITY}}, "detector.lambda");
  expect_invalid({.detector = {.min_samples = 0}}, "detector.min_samples");
  expect_invalid({.psi_threshold = -1}, "psi_threshold");
}

TEST(MonitorTest, StationaryStreamDoesNotAlarm) {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    FrameGenerator gen(seed);
    Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
    std::vector<double> scores;
    EXPECT_EQ(FirstAlarm(
                  monitor, gen, 10000, [](int) { return 0.45; }, &scores),
              -1)
        << seed;
    EXPECT_EQ(scores.size(), 100u);
    EXPECT_FALSE(monitor.drifted());
  }
}

TEST(MonitorTest, AbruptStepIsAlarmedWithinThreeWindows) {
  for (uint64_t seed : {11u, 12u, 13u}) {
    FrameGenerator gen(seed);
    Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
    constexpr int kStep = 2050;  // mid-window
    const int alarm = FirstAlarm(monitor, gen, 6000, [](int i) { return i < kStep ? 0.45 : 0.2; });
    ASSERT_GE(alarm, kStep) << seed;
    EXPECT_LT(alarm - kStep, 300) << seed;
    EXPECT_TRUE(monitor.drifted());
  }
}

TEST(MonitorTest, GradualRampIsAlarmedWithin1000Frames) {
  for (uint64_t seed : {21u, 22u, 23u}) {
    FrameGenerator gen(seed);
    Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
    constexpr int kStart = 2000, kLength = 2000;
    const auto mean_at = [](int i) {
      const double t = std::clamp((i - kStart) / static_cast<double>(kLength), 0.0, 1.0);
      return 0.45 + t * (0.2 - 0.45);
    };
    const int alarm = FirstAlarm(monitor, gen, 8000, mean_at);
    ASSERT_GE(alarm, kStart) << seed;
    EXPECT_LT(alarm - kStart, 1000) << seed;
  }
}

TEST(MonitorTest, WindowResultScoresEachObservedFeatureAgainstTheReference) {
  FrameGenerator gen(7);
  const Summary reference = gen.Reference(1000);
  MonitorOptions all_features{.window = 10};
  const auto every = AllFeatures();
  all_features.features.assign(every.begin(), every.end());
  Monitor monitor(all_features, reference, kClasses);
  std::optional<WindowResult> r;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(monitor.pending_frames(), static_cast<uint64_t>(i));
    r = monitor.Add(gen.Next(0.7));
    EXPECT_EQ(r.has_value(), i == 9);
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 0u);
  EXPECT_EQ(r->summary.frames, 10u);
  EXPECT_EQ(r->summary.classes.size(), static_cast<size_t>(kClasses));
  EXPECT_EQ(monitor.pending_frames(), 0u);
  double max_psi = 0;
  for (Feature f : AllFeatures()) {
    const int i = static_cast<int>(f);
    EXPECT_DOUBLE_EQ(r->psi[i], Psi(reference.hist[i], r->summary.hist[i]));
    EXPECT_DOUBLE_EQ(r->ks[i], KsBinned(reference.hist[i], r->summary.hist[i]));
    max_psi = std::max(max_psi, r->psi[i]);
  }
  EXPECT_EQ(r->score, max_psi);
  EXPECT_EQ(r->top_feature, Feature::kBrightness);  // 0.45 -> 0.7: by far the largest
  EXPECT_EQ(r->over_threshold, r->score > 0.25);
  EXPECT_TRUE(r->over_threshold);
  EXPECT_FALSE(r->alarm);  // fewer than min_samples windows
  EXPECT_GT(r->detector_statistic, -1e-12);
  const std::optional<WindowResult> next = [&] {
    std::optional<WindowResult> w;
    for (int i = 0; i < 10; ++i) w = monitor.Add(gen.Next());
    return w;
  }();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->index, 1u);
}

// A narrow distribution sitting on a bin edge (0.3 for brightness): a window slightly to one
// side has a large PSI, but its mean moved by far less than min_shift, so it does not count.
TEST(MonitorTest, ANarrowDistributionCrossingABinEdgeIsNotAShift) {
  std::mt19937_64 rng(5);
  auto frame = [&rng](double centre) {
    FrameObservation f;
    f.brightness = centre + std::uniform_real_distribution<double>(-0.004, 0.004)(rng);
    f.contrast = 0.15;
    f.sharpness = 2.05;
    f.saturation = 0.35;
    return f;
  };
  Summary reference;
  for (int i = 0; i < 2000; ++i) reference.Add(frame(0.3), 0);  // half in bin 2, half in bin 3
  MonitorOptions options;
  Monitor gated(options, reference, 0);
  options.min_shift = 0;
  Monitor ungated(options, reference, 0);
  std::optional<WindowResult> g, u;
  for (int i = 0; i < 100; ++i) {
    const FrameObservation f = frame(0.296);  // all but a few in bin 2; mean moved by 0.004
    g = gated.Add(f);
    u = ungated.Add(f);
  }
  ASSERT_TRUE(g && u);
  EXPECT_GT(u->score, 0.25);  // the histogram distance alone calls it a large shift
  EXPECT_EQ(g->score, 0);
  EXPECT_FALSE(g->over_threshold);
  EXPECT_EQ(g->psi[0], u->psi[0]);  // still reported
  // A real shift of the same narrow distribution passes the gate.
  for (int i = 0; i < 100; ++i) g = gated.Add(frame(0.25));
  ASSERT_TRUE(g);
  EXPECT_GT(g->score, 0.25);
  EXPECT_EQ(g->top_feature, Feature::kBrightness);
}

TEST(MonitorTest, FeaturesNotListedDoNotEnterTheScore) {
  FrameGenerator gen(31);
  const Summary reference = gen.Reference(5000);
  MonitorOptions options;
  options.features = {Feature::kContrast, Feature::kSharpness};
  Monitor monitor(options, reference, kClasses);
  for (int i = 0; i < 3000; ++i) {
    const std::optional<WindowResult> r = monitor.Add(gen.Next(i < 1000 ? 0.45 : 0.1));
    if (!r) continue;
    // Compared and reported, but not scored.
    if (i >= 1100) {
      EXPECT_GT(r->psi[static_cast<int>(Feature::kBrightness)], 0.25);
      EXPECT_GT(r->ks[static_cast<int>(Feature::kBrightness)], 0);
    }
    EXPECT_TRUE(r->top_feature == Feature::kContrast || r->top_feature == Feature::kSharpness);
    EXPECT_LT(r->score, 0.5);
    ASSERT_FALSE(r->alarm) << "window " << r->index;
  }
  // The same stream with brightness scored alarms.
  FrameGenerator again(31);
  Monitor all(MonitorOptions{}, again.Reference(5000), kClasses);
  EXPECT_GE(FirstAlarm(all, again, 3000, [](int i) { return i < 1000 ? 0.45 : 0.1; }), 1000);
}

// Frames whose model outputs have collapsed to low confidence; images unchanged.
FrameObservation LowConfidence(FrameObservation f) {
  f.confidence = 0.15;
  f.entropy = 0.95;
  return f;
}

TEST(MonitorTest, OutputFeaturesAreIgnoredWhenTheReferenceHasNone) {
  FrameGenerator ref_gen(41, /*outputs=*/false);
  FrameGenerator gen(42);
  MonitorOptions all_features;
  const auto every = AllFeatures();
  all_features.features.assign(every.begin(), every.end());
  Monitor monitor(all_features, ref_gen.Reference(5000), kClasses);
  EXPECT_EQ(monitor.reference().outputs, 0u);
  for (int i = 0; i < 3000; ++i) {
    const std::optional<WindowResult> r = monitor.Add(LowConfidence(gen.Next()));
    if (!r) continue;
    EXPECT_EQ(r->summary.outputs, 100u);
    EXPECT_EQ(r->psi[static_cast<int>(Feature::kConfidence)], 0);
    EXPECT_EQ(r->psi[static_cast<int>(Feature::kEntropy)], 0);
    EXPECT_EQ(r->ks[static_cast<int>(Feature::kEntropy)], 0);
    EXPECT_FALSE(IsOutputFeature(r->top_feature));
    ASSERT_FALSE(r->alarm) << "window " << r->index;
  }
  // With outputs in the reference and scored, the collapse alone (after 1000 normal frames) is
  // alarmed.
  FrameGenerator with_outputs(41);
  Monitor scored(all_features, with_outputs.Reference(5000), kClasses);
  int alarm_at = -1;
  for (int i = 0; i < 3000 && alarm_at < 0; ++i) {
    const FrameObservation f = gen.Next();
    const std::optional<WindowResult> r = scored.Add(i < 1000 ? f : LowConfidence(f));
    if (r && r->alarm) {
      alarm_at = i;
      EXPECT_TRUE(IsOutputFeature(r->top_feature));
    }
  }
  EXPECT_GE(alarm_at, 1000);
  EXPECT_LT(alarm_at, 1300);
}

TEST(MonitorTest, AStreamUnlikeTheReferenceFromTheStartIsOverThresholdOnEveryWindow) {
  // Page-Hinkley reacts to a rise of the scores, not to their level, so it cannot be relied on
  // for a stream unlike the reference from its first frame (see monitor.h); over_threshold
  // reports it on every window.
  FrameGenerator gen(71);
  Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
  int over = 0, windows = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::optional<WindowResult> r = monitor.Add(gen.Next(0.2));
    if (!r) continue;
    ++windows;
    over += r->over_threshold;
    EXPECT_GT(r->score, 2.0);
    EXPECT_EQ(r->top_feature, Feature::kBrightness);
  }
  EXPECT_EQ(windows, 20);
  EXPECT_EQ(over, windows);
}

TEST(MonitorTest, StaysDriftedAfterAnAlarmAndCanAlarmAgainOnALargerChange) {
  FrameGenerator gen(51);
  Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
  std::vector<uint64_t> alarms;
  for (int i = 0; i < 6000; ++i) {
    // 0.45 until 1000, 0.3 until 4000, then 0.05.
    const std::optional<WindowResult> r = monitor.Add(gen.Next(i < 1000   ? 0.45
                                                               : i < 4000 ? 0.3
                                                                          : 0.05));
    if (!r) continue;
    EXPECT_EQ(r->drifted, !alarms.empty() || r->alarm) << r->index;
    if (r->alarm) alarms.push_back(r->index);
  }
  // Window 10 holds frames 1000..1099, window 40 frames 4000..4099. Between them the detector
  // may fire again on the noise of the high scores (see monitor.h); the larger change must fire
  // within min_samples windows even if such an alarm has just reset the detector.
  ASSERT_GE(alarms.size(), 2u);
  EXPECT_GE(alarms[0], 10u);
  EXPECT_LE(alarms[0], 12u);
  EXPECT_TRUE(
      std::any_of(alarms.begin(), alarms.end(), [](uint64_t w) { return w >= 40 && w <= 44; }));
  EXPECT_TRUE(monitor.drifted());
}

TEST(MonitorTest, ResetInstallsANewReferenceAndClearsState) {
  FrameGenerator gen(61);
  Monitor monitor(MonitorOptions{}, gen.Reference(5000), kClasses);
  ASSERT_GE(FirstAlarm(monitor, gen, 3000, [](int i) { return i < 1000 ? 0.45 : 0.2; }), 1000);
  ASSERT_TRUE(monitor.drifted());
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(monitor.Add(gen.Next(0.2)));  // a partial window

  // A new model version trained on the new conditions: its reference is the darker scene.
  Summary dark;
  for (int i = 0; i < 5000; ++i) dark.Add(gen.Next(0.2), kClasses);
  monitor.Reset(dark);
  EXPECT_FALSE(monitor.drifted());
  EXPECT_EQ(monitor.pending_frames(), 0u);
  EXPECT_EQ(monitor.reference().frames, 5000u);
  std::optional<WindowResult> first;
  for (int i = 0; i < 100 && !first; ++i) first = monitor.Add(gen.Next(0.2));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->index, 0u);
  EXPECT_EQ(first->summary.frames, 100u);
  EXPECT_FALSE(first->drifted);
  EXPECT_EQ(FirstAlarm(monitor, gen, 10000, [](int) { return 0.2; }), -1);
  EXPECT_FALSE(monitor.drifted());
}

}  // namespace
}  // namespace fedge::drift
