#pragma once
// Drift statistics: per-frame features binned on fixed histogram edges, mergeable summaries of
// sets of frames (counts only, so they can be sent to and merged by the coordinator), the
// distances PSI and binned Kolmogorov-Smirnov between a reference and a current histogram, and
// the Page-Hinkley change detector.
//
// Fixed edges (rather than edges fitted to the reference) make every summary comparable and
// mergeable with every other: a histogram is kBins counts over RangeOf(feature), bin i covering
// [lo + i * (hi - lo) / kBins, lo + (i + 1) * (hi - lo) / kBins); values below lo fall in bin 0,
// values at or above hi in bin kBins - 1.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::drift {

// The per-frame features. The first five describe the image (vision::ImageStats), the last two
// the model's output on it (only when a model ran).
enum class Feature : uint8_t {
  kBrightness = 0,
  kContrast,
  kSharpness,
  kSaturation,
  kClipped,
  kConfidence,
  kEntropy,
};
inline constexpr int kNumFeatures = 7;
inline constexpr int kBins = 10;

// "brightness", "contrast", "sharpness", "saturation", "clipped", "confidence", "entropy".
std::string_view FeatureName(Feature f);
// The inverse of FeatureName; nullopt for an unknown name (exact, lower case).
std::optional<Feature> FeatureFromName(std::string_view name);
// True for the model-output features (confidence, entropy).
bool IsOutputFeature(Feature f);
// All features in enum order (the index of a feature is static_cast<int>(f)).
std::array<Feature, kNumFeatures> AllFeatures();

struct FeatureRange {
  double lo;
  double hi;
};
// brightness [0,1], contrast [0,0.5], sharpness [0,4], saturation [0,1], clipped [0,1],
// confidence [0,1], entropy [0,1] (entropy of the class probabilities / ln(num_classes)).
FeatureRange RangeOf(Feature f);
// The bin of `value` on the fixed edges described at the top of this file, in [0, kBins).
// Exactly at an inner edge the upper bin is chosen. REQUIRES: finite value (NaN goes to bin 0).
int BinOf(Feature f, double value);

// One frame's features; the output fields only when a model ran on the frame.
struct FrameObservation {
  double brightness = 0, contrast = 0, sharpness = 0, saturation = 0, clipped = 0;  // ImageStats
  bool has_output = false;
  double confidence = 0;  // top-1 probability
  double entropy = 0;     // normalised to [0, 1]
  int predicted_class = -1;

  // The value of feature f (an output feature reads the output fields even if !has_output).
  double Value(Feature f) const;
};

// Mergeable summary of a set of frames: histograms on the fixed edges, counts only.
// Invariants (checked by Validate, kept by Add and Merge): each histogram is empty (never
// observed) or has kBins counts; a non-empty image-feature histogram sums to `frames`, a
// non-empty output-feature histogram to `outputs`; outputs <= frames; `classes` is empty or sums
// to `outputs`.
struct Summary {
  uint64_t frames = 0;                                   // frames added
  uint64_t outputs = 0;                                  // of which had model outputs
  std::array<std::vector<uint64_t>, kNumFeatures> hist;  // indexed by Feature
  // Sum of each feature's values clamped to its range (0 when not observed): exact means, so
  // that a narrow distribution sliding across a bin edge is not mistaken for a shift.
  std::array<double, kNumFeatures> sum{};
  std::vector<uint64_t> classes;  // predicted-class counts (size = num_classes) or empty

  // Adds one frame. The first call with num_classes > 0 sizes `classes` to num_classes; later
  // calls keep that size. A frame whose output names a class outside [0, classes.size()) while
  // `classes` is sized has its output ignored (the frame counts as one without output), so that
  // the class counts keep summing to `outputs`.
  void Add(const FrameObservation& f, int num_classes);
  // Adds other's counts to this. InvalidArgument (and *this unchanged) when a histogram has a
  // size other than 0 or kBins, when both have class counts of different sizes, or when a count
  // would overflow. Does not check other's sums: Validate summaries from untrusted peers first.
  shared::Status Merge(const Summary& other);
  // Checks the invariants above, that each sum is finite and within [lo, hi] times its count,
  // and the limits frames <= max_frames and
  // classes.size() <= max_classes. InvalidArgument saying which part is wrong (feature name,
  // expected vs actual) otherwise.
  shared::Status Validate(uint64_t max_frames = 1u << 30, size_t max_classes = 1000) const;
  bool Empty() const { return frames == 0; }
  // Sum of the counts of f's histogram (0 when empty).
  uint64_t Observed(Feature f) const;
  // Mean of f's (range-clamped) values, sum / observed; NaN if f was never observed.
  double Mean(Feature f) const;
};

// Population stability index between a reference and a current histogram of the same size B,
// with additive smoothing alpha:
//   p_i = (r_i + alpha) / (R + alpha * B),  q_i = (c_i + alpha) / (C + alpha * B),
//   PSI = sum_i (q_i - p_i) * ln(q_i / p_i)
// where R = sum r_i and C = sum c_i. Every term is >= 0; PSI is symmetric in (p, q) (it is the
// Jeffreys divergence KL(q||p) + KL(p||q)). The smoothing keeps it finite when a bin is empty in
// one histogram and not the other (ln(q/0)), which is the normal case for a 100-frame window,
// and damps the weight of bins seen a handful of times. Common reading: < 0.1 no change,
// 0.1-0.25 moderate, > 0.25 large; note that with small samples the null value is not 0 (see
// monitor.h for measured values). Returns 0 if either histogram is all zeros.
// REQUIRES: reference.size() == current.size(), alpha > 0.
double Psi(std::span<const uint64_t> reference, std::span<const uint64_t> current,
           double alpha = 0.5);

// Two-sample Kolmogorov-Smirnov statistic on binned data: max over bins k of
// |F_ref(k) - F_cur(k)| with the unsmoothed empirical CDFs F(k) = sum_{i<=k} x_i / sum_i x_i.
// In [0, 1]; 0 if either histogram is all zeros. REQUIRES: reference.size() == current.size().
double KsBinned(std::span<const uint64_t> reference, std::span<const uint64_t> current);

struct PageHinkleyOptions {
  double delta = 0.05;  // tolerated increase per sample: drifts smaller than this are ignored
  double lambda = 1.0;  // alarm threshold on the statistic
  int min_samples = 5;  // no alarm before this many samples
};

// Page-Hinkley test for an increase in the mean of a sequence x_1, x_2, ... (here: per-window
// drift scores). For each sample t (1-based), in this order:
//   xbar_t = xbar_{t-1} + (x_t - xbar_{t-1}) / t        (running mean including x_t)
//   m_t    = m_{t-1} + (x_t - xbar_t - delta)          (m_0 = 0)
//   M_t    = min(M_{t-1}, m_t)                          (M_1 = m_1)
//   PH_t   = m_t - M_t
//   alarm  if t >= min_samples and PH_t > lambda.
// Under a stationary sequence m_t drifts down by about delta per sample and PH_t stays small;
// after a rise of the mean by more than delta, m_t climbs and PH_t grows until it passes lambda.
// Not thread-safe.
class PageHinkley {
 public:
  explicit PageHinkley(PageHinkleyOptions options = {});

  // Adds x (REQUIRES: finite; a non-finite x is ignored and returns false). Returns true if
  // this sample raises an alarm. The state is not reset on an alarm: call Reset.
  bool Update(double x);
  double statistic() const { return m_ - min_m_; }  // PH_t, 0 before any sample
  double mean() const { return mean_; }             // xbar_t, 0 before any sample
  int samples() const { return samples_; }
  const PageHinkleyOptions& options() const { return options_; }
  // Forgets all samples (options kept).
  void Reset();

 private:
  PageHinkleyOptions options_;
  int samples_ = 0;
  double mean_ = 0;
  double m_ = 0;
  double min_m_ = 0;
};

}  // namespace fedge::drift
