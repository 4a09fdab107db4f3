#include "shared/drift/drift_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace fedge::drift {
namespace {

constexpr double kTol = 1e-12;

FrameObservation Frame(double brightness, bool has_output = false, double confidence = 0,
                       int predicted_class = -1) {
  FrameObservation f;
  f.brightness = brightness;
  f.contrast = 0.1;
  f.sharpness = 2.0;
  f.saturation = 0.3;
  f.clipped = 0.01;
  f.has_output = has_output;
  f.confidence = confidence;
  f.entropy = 1 - confidence;
  f.predicted_class = predicted_class;
  return f;
}

// Three frames, two with outputs, 4 classes.
Summary ThreeFrames() {
  Summary s;
  s.Add(Frame(0.05), 4);
  s.Add(Frame(0.45, true, 0.9, 2), 4);
  s.Add(Frame(0.95, true, 0.6, 0), 4);
  return s;
}

void ExpectInvalid(const shared::Status& status, const std::string& needle) {
  EXPECT_EQ(status.code(), shared::Code::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find(needle), std::string::npos)
      << "'" << status.message() << "' should mention '" << needle << "'";
}

TEST(FeatureTest, NamesRoundTripAndOutputFeaturesAreKnown) {
  for (Feature f : AllFeatures()) EXPECT_EQ(FeatureFromName(FeatureName(f)), f);
  EXPECT_EQ(FeatureName(Feature::kSharpness), "sharpness");
  EXPECT_EQ(FeatureFromName("Brightness"), std::nullopt);
  EXPECT_EQ(FeatureFromName(""), std::nullopt);
  EXPECT_TRUE(IsOutputFeature(Feature::kConfidence));
  EXPECT_TRUE(IsOutputFeature(Feature::kEntropy));
  EXPECT_FALSE(IsOutputFeature(Feature::kClipped));
  EXPECT_EQ(RangeOf(Feature::kContrast).hi, 0.5);
  EXPECT_EQ(RangeOf(Feature::kSharpness).hi, 4);
}

TEST(BinOfTest, PlacesValuesOnTheFixedEdges) {
  EXPECT_EQ(BinOf(Feature::kBrightness, 0.0), 0);          // lo
  EXPECT_EQ(BinOf(Feature::kBrightness, -0.5), 0);         // below lo
  EXPECT_EQ(BinOf(Feature::kBrightness, 1.0), kBins - 1);  // hi
  EXPECT_EQ(BinOf(Feature::kBrightness, 7.0), kBins - 1);  // above hi
  EXPECT_EQ(BinOf(Feature::kBrightness, 0.999), kBins - 1);
  // Exactly on an inner edge: the upper bin; just below it: the lower one.
  for (int i = 1; i < kBins; ++i) {
    const double edge = static_cast<double>(i) / kBins;
    EXPECT_EQ(BinOf(Feature::kBrightness, edge), i) << edge;
    EXPECT_EQ(BinOf(Feature::kBrightness, std::nextafter(edge, 0.0)), i - 1) << edge;
  }
  // Other ranges: contrast bins are 0.05 wide, sharpness bins 0.4.
  EXPECT_EQ(BinOf(Feature::kContrast, 0.15), 3);
  EXPECT_EQ(BinOf(Feature::kContrast, 0.149), 2);
  EXPECT_EQ(BinOf(Feature::kSharpness, 1.2), 3);
  EXPECT_EQ(BinOf(Feature::kSharpness, 3.99), 9);
  EXPECT_EQ(BinOf(Feature::kSharpness, 4.5), 9);
  EXPECT_EQ(BinOf(Feature::kEntropy, std::numeric_limits<double>::quiet_NaN()), 0);
}

TEST(SummaryTest, AddCountsFramesOutputsAndClasses) {
  const Summary s = ThreeFrames();
  EXPECT_EQ(s.frames, 3u);
  EXPECT_EQ(s.outputs, 2u);
  EXPECT_EQ(s.classes, (std::vector<uint64_t>{1, 0, 1, 0}));
  EXPECT_EQ(s.hist[0], (std::vector<uint64_t>{1, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(s.Observed(Feature::kConfidence), 2u);
  EXPECT_EQ(s.hist[static_cast<int>(Feature::kConfidence)][9], 1u);  // 0.9
  EXPECT_EQ(s.hist[static_cast<int>(Feature::kConfidence)][6], 1u);  // 0.6
  EXPECT_TRUE(s.Validate().ok());
  EXPECT_FALSE(s.Empty());
  // Bin centres 0.05, 0.45, 0.95 -> mean 1.45 / 3.
  EXPECT_NEAR(s.Mean(Feature::kBrightness), 1.45 / 3, kTol);
  EXPECT_TRUE(std::isnan(Summary{}.Mean(Feature::kBrightness)));
}

TEST(SummaryTest, AddIgnoresOutputsWithAClassOutOfRange) {
  Summary s;
  s.Add(Frame(0.5, true, 0.8, 4), 4);   // class 4 of 4: out of range
  s.Add(Frame(0.5, true, 0.8, -1), 4);  // no class
  EXPECT_EQ(s.frames, 2u);
  EXPECT_EQ(s.outputs, 0u);
  EXPECT_TRUE(s.hist[static_cast<int>(Feature::kConfidence)].empty());
  EXPECT_TRUE(s.Validate().ok());
  // Without class counts, outputs are counted whatever the class.
  Summary no_classes;
  no_classes.Add(Frame(0.5, true, 0.8, -1), 0);
  EXPECT_EQ(no_classes.outputs, 1u);
  EXPECT_TRUE(no_classes.classes.empty());
  EXPECT_TRUE(no_classes.Validate().ok());
}

TEST(SummaryTest, MergeAddsCountsAndAcceptsEmptySides) {
  Summary a = ThreeFrames();
  ASSERT_TRUE(a.Merge(ThreeFrames()).ok());
  EXPECT_EQ(a.frames, 6u);
  EXPECT_EQ(a.outputs, 4u);
  EXPECT_EQ(a.classes, (std::vector<uint64_t>{2, 0, 2, 0}));
  EXPECT_EQ(a.hist[0][4], 2u);
  EXPECT_TRUE(a.Validate().ok());

  Summary empty;
  ASSERT_TRUE(empty.Merge(ThreeFrames()).ok());
  EXPECT_EQ(empty.frames, 3u);
  EXPECT_EQ(empty.classes.size(), 4u);
  ASSERT_TRUE(empty.Merge(Summary{}).ok());
  EXPECT_EQ(empty.frames, 3u);
  EXPECT_TRUE(empty.Validate().ok());
}

TEST(SummaryTest, MergeRejectsMismatchesAndLeavesTheSummaryUnchanged) {
  const Summary original = ThreeFrames();
  Summary a = original;

  Summary other_classes;
  other_classes.Add(Frame(0.5, true, 0.5, 1), 5);
  ExpectInvalid(a.Merge(other_classes), "5 classes");

  Summary bad_bins = ThreeFrames();
  bad_bins.hist[1].resize(7);
  ExpectInvalid(a.Merge(bad_bins), "'contrast' has 7 bins");

  Summary missing = ThreeFrames();
  missing.hist[2].clear();
  ExpectInvalid(a.Merge(missing), "'sharpness' is missing");

  Summary no_classes = ThreeFrames();
  no_classes.classes.clear();
  ExpectInvalid(a.Merge(no_classes), "class counts are missing");

  Summary huge = ThreeFrames();
  huge.frames = std::numeric_limits<uint64_t>::max();
  ExpectInvalid(a.Merge(huge), "overflows");

  Summary huge_cell = ThreeFrames();
  huge_cell.hist[3][3] = std::numeric_limits<uint64_t>::max();
  ExpectInvalid(a.Merge(huge_cell), "'saturation' overflows");

  EXPECT_EQ(a.frames, original.frames);
  EXPECT_EQ(a.outputs, original.outputs);
  EXPECT_EQ(a.hist, original.hist);
  EXPECT_EQ(a.classes, original.classes);
}

TEST(SummaryTest, ValidateNamesEachInconsistency) {
  Summary s = ThreeFrames();
  s.hist[1].resize(11);
  ExpectInvalid(s.Validate(), "histogram 'contrast' has 11 bins, expected 10");

  s = ThreeFrames();
  s.hist[0][0] = 5;
  ExpectInvalid(s.Validate(), "histogram 'brightness' sums to 7, expected frames = 3");

  s = ThreeFrames();
  s.hist[static_cast<int>(Feature::kEntropy)][0] += 1;
  ExpectInvalid(s.Validate(), "histogram 'entropy' sums to 3, expected outputs = 2");

  s = ThreeFrames();
  s.outputs = 4;
  ExpectInvalid(s.Validate(), "outputs (4) exceed frames (3)");

  s = ThreeFrames();
  s.classes[3] = 1;
  ExpectInvalid(s.Validate(), "class counts sum to 3, expected outputs = 2");

  s = ThreeFrames();
  ExpectInvalid(s.Validate(/*max_frames=*/2), "3 frames, more than the limit 2");
  ExpectInvalid(s.Validate(1000, /*max_classes=*/3), "4 classes, more than the limit 3");

  s = ThreeFrames();
  s.hist[4][1] = std::numeric_limits<uint64_t>::max();  // plus 3 in bin 0
  ExpectInvalid(s.Validate(), "'clipped' sums to more than 2^64");
}

TEST(SummaryTest, SumsGiveExactMeansAndAreValidated) {
  Summary s = ThreeFrames();
  // Brightness 0.05 + 0.45 + 0.95 = 1.45 over 3 frames; confidence (0.9 + 0.6) over 2 outputs.
  EXPECT_NEAR(s.sum[static_cast<int>(Feature::kBrightness)], 1.45, 1e-12);
  EXPECT_NEAR(s.Mean(Feature::kBrightness), 1.45 / 3, 1e-12);
  EXPECT_NEAR(s.Mean(Feature::kConfidence), 0.75, 1e-12);
  // Values outside the range count at its ends: sharpness 9 is 4 (the top of [0, 4]).
  Summary clamp;
  FrameObservation f = Frame(0.5);
  f.sharpness = 9;
  clamp.Add(f, 0);
  EXPECT_DOUBLE_EQ(clamp.Mean(Feature::kSharpness), 4.0);
  ASSERT_TRUE(s.Merge(ThreeFrames()).ok());
  EXPECT_NEAR(s.Mean(Feature::kBrightness), 1.45 / 3, 1e-12);
  EXPECT_TRUE(s.Validate().ok());
  Summary bad = ThreeFrames();
  bad.sum[static_cast<int>(Feature::kBrightness)] = 3.5;  // above 1 * 3 frames
  ExpectInvalid(bad.Validate(), "sum of 'brightness'");
  bad.sum[static_cast<int>(Feature::kBrightness)] = std::nan("");
  ExpectInvalid(bad.Validate(), "sum of 'brightness'");
  EXPECT_TRUE(std::isnan(Summary().Mean(Feature::kBrightness)));
}

TEST(PsiTest, MatchesHandComputedValues) {
  // r = {2,1,1} (R=4), c = {0,1,3} (C=4), alpha = 0.5, B = 3: denominators 4 + 1.5 = 5.5.
  //   p = {2.5, 1.5, 1.5} / 5.5 = {5, 3, 3} / 11;  q = {0.5, 1.5, 3.5} / 5.5 = {1, 3, 7} / 11.
  //   PSI = (1-5)/11 ln(1/5) + 0 + (7-3)/11 ln(7/3) = 4/11 (ln 5 + ln 7/3) = 4/11 ln(35/3)
  //       = 0.89335846...
  const std::vector<uint64_t> r = {2, 1, 1}, c = {0, 1, 3};
  EXPECT_NEAR(Psi(r, c), 4.0 / 11.0 * std::log(35.0 / 3.0), kTol);
  EXPECT_NEAR(Psi(r, c), 0.8933584628, 1e-9);
  // Symmetric in its arguments (the Jeffreys divergence).
  EXPECT_NEAR(Psi(c, r), Psi(r, c), kTol);

  // Different totals: r = {1,1,1,1} (R=4), c = {0,0,2,6} (C=8), alpha = 1, B = 4:
  //   p = 2/8 = 3/12 each; q = {1, 1, 3, 7} / 12.
  //   PSI = 2 * (1-3)/12 ln(1/3) + 0 + (7-3)/12 ln(7/3) = 1/3 ln 3 + 1/3 ln(7/3) = ln(7) / 3.
  EXPECT_NEAR(Psi(std::vector<uint64_t>{1, 1, 1, 1}, std::vector<uint64_t>{0, 0, 2, 6}, 1.0),
              std::log(7.0) / 3.0, kTol);
}

TEST(PsiTest, IsZeroForIdenticalOrEmptyAndGrowsWithShift) {
  const std::vector<uint64_t> base = {0, 5, 20, 50, 20, 5, 0, 0, 0, 0};
  EXPECT_EQ(Psi(base, base), 0);
  // Same proportions, different totals: only smoothing differs, so nearly 0.
  std::vector<uint64_t> doubled = base;
  for (auto& v : doubled) v *= 2;
  EXPECT_LT(Psi(base, doubled), 0.01);
  EXPECT_EQ(Psi(base, std::vector<uint64_t>(10, 0)), 0);
  EXPECT_EQ(Psi(std::vector<uint64_t>(10, 0), base), 0);
  double previous = 0;
  for (int shift = 1; shift <= 4; ++shift) {
    std::vector<uint64_t> moved(10, 0);
    for (int i = 0; i + shift < 10; ++i) moved[i + shift] = base[i];
    const double psi = Psi(base, moved);
    EXPECT_GT(psi, previous) << shift;
    previous = psi;
  }
  EXPECT_GT(previous, 1.0);
}

TEST(KsBinnedTest, MatchesHandComputedValues) {
  // F_r = {2/4, 3/4, 1}, F_c = {0, 1/4, 1}: differences 1/2, 1/2, 0 -> 0.5.
  EXPECT_NEAR(KsBinned(std::vector<uint64_t>{2, 1, 1}, std::vector<uint64_t>{0, 1, 3}), 0.5, kTol);
  // F_r = {1/4, 2/4, 3/4, 1}, F_c = {3/8, 3/8, 4/8, 1}: differences 1/8, 1/8, 1/4, 0 -> 0.25.
  EXPECT_NEAR(KsBinned(std::vector<uint64_t>{1, 1, 1, 1}, std::vector<uint64_t>{3, 0, 1, 4}), 0.25,
              kTol);
  EXPECT_EQ(KsBinned(std::vector<uint64_t>{1, 2}, std::vector<uint64_t>{2, 4}), 0);
  EXPECT_EQ(KsBinned(std::vector<uint64_t>{1, 2}, std::vector<uint64_t>{0, 0}), 0);
  // Disjoint supports: 1.
  EXPECT_NEAR(KsBinned(std::vector<uint64_t>{5, 0}, std::vector<uint64_t>{0, 3}), 1.0, kTol);
}

TEST(PageHinkleyTest, FollowsTheHandComputedTable) {
  // delta = 0.1, lambda = 1, min_samples = 3:
  //   t  x  xbar  m = m + (x - xbar - delta)   M      PH     alarm
  //   1  0  0     -0.1                         -0.1   0      no
  //   2  0  0     -0.2                         -0.2   0      no
  //   3  0  0     -0.3                         -0.3   0      no
  //   4  1  0.25  -0.3 + 0.65 = 0.35           -0.3   0.65   no
  //   5  1  0.4   0.35 + 0.5  = 0.85           -0.3   1.15   yes
  //   6  1  0.5   0.85 + 0.4  = 1.25           -0.3   1.55   yes (no automatic reset)
  PageHinkley ph({.delta = 0.1, .lambda = 1.0, .min_samples = 3});
  const double x[] = {0, 0, 0, 1, 1, 1};
  const double xbar[] = {0, 0, 0, 0.25, 0.4, 0.5};
  const double stat[] = {0, 0, 0, 0.65, 1.15, 1.55};
  const bool alarm[] = {false, false, false, false, true, true};
  for (int t = 0; t < 6; ++t) {
    EXPECT_EQ(ph.Update(x[t]), alarm[t]) << t;
    EXPECT_NEAR(ph.mean(), xbar[t], kTol) << t;
    EXPECT_NEAR(ph.statistic(), stat[t], kTol) << t;
    EXPECT_EQ(ph.samples(), t + 1);
  }
  ph.Reset();
  EXPECT_EQ(ph.samples(), 0);
  EXPECT_EQ(ph.statistic(), 0);
  EXPECT_EQ(ph.mean(), 0);
}

TEST(PageHinkleyTest, WaitsForMinSamples) {
  // delta = 0.1, min_samples = 3: x = 0, 5, 5.
  //   t=2: xbar 2.5, m = -0.1 + 2.4 = 2.3, M = -0.1, PH = 2.4 > 1 but t < 3: no alarm.
  //   t=3: xbar 10/3, m = 2.3 + (5 - 10/3 - 0.1) = 3.8667, PH = 3.9667: alarm.
  PageHinkley ph({.delta = 0.1, .lambda = 1.0, .min_samples = 3});
  EXPECT_FALSE(ph.Update(0));
  EXPECT_FALSE(ph.Update(5));
  EXPECT_NEAR(ph.statistic(), 2.4, kTol);
  EXPECT_TRUE(ph.Update(5));
  EXPECT_NEAR(ph.statistic(), 2.4 + 5 - 10.0 / 3 - 0.1 + 0.0, 1e-9);
  EXPECT_FALSE(ph.Update(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(ph.samples(), 3);
}

TEST(PageHinkleyTest, ConstantSequenceNeverAlarmsAndAStepDoes) {
  PageHinkley ph;  // delta 0.05, lambda 1, min_samples 5
  for (int t = 0; t < 10000; ++t) ASSERT_FALSE(ph.Update(0.1)) << t;
  EXPECT_NEAR(ph.statistic(), 0, 1e-9);
  int alarm_at = -1;
  for (int t = 0; t < 10 && alarm_at < 0; ++t) {
    if (ph.Update(0.6)) alarm_at = t;
  }
  // Each step sample adds about 0.6 - 0.1 - 0.05 = 0.45: the third one passes lambda = 1.
  EXPECT_EQ(alarm_at, 2);
}

}  // namespace
}  // namespace fedge::drift
