#include "shared/drift/drift_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace fedge::drift {
namespace {

constexpr std::array<std::string_view, kNumFeatures> kNames = {
    "brightness", "contrast", "sharpness", "saturation", "clipped", "confidence", "entropy"};

constexpr std::array<FeatureRange, kNumFeatures> kRanges = {{
    {0, 1},    // brightness
    {0, 0.5},  // contrast
    {0, 4},    // sharpness
    {0, 1},    // saturation
    {0, 1},    // clipped
    {0, 1},    // confidence
    {0, 1},    // entropy
}};

int Index(Feature f) { return static_cast<int>(f); }

// Lower edge of bin i of feature range r (i in [0, kBins]).
double Edge(const FeatureRange& r, int i) { return r.lo + (r.hi - r.lo) * i / kBins; }

uint64_t Sum(std::span<const uint64_t> counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  return total;
}

// a + b, or nullopt on overflow.
std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  if (a > std::numeric_limits<uint64_t>::max() - b) return std::nullopt;
  return a + b;
}

// Sum of counts, or nullopt on overflow (untrusted summaries can hold anything).
std::optional<uint64_t> CheckedSum(std::span<const uint64_t> counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) {
    auto next = CheckedAdd(total, c);
    if (!next) return std::nullopt;
    total = *next;
  }
  return total;
}

std::string Str(uint64_t v) { return std::to_string(v); }

}  // namespace

std::string_view FeatureName(Feature f) {
  const int i = Index(f);
  return i >= 0 && i < kNumFeatures ? kNames[i] : std::string_view("unknown");
}

std::optional<Feature> FeatureFromName(std::string_view name) {
  for (int i = 0; i < kNumFeatures; ++i) {
    if (kNames[i] == name) return static_cast<Feature>(i);
  }
  return std::nullopt;
}

bool IsOutputFeature(Feature f) { return f == Feature::kConfidence || f == Feature::kEntropy; }

std::array<Feature, kNumFeatures> AllFeatures() {
  std::array<Feature, kNumFeatures> all;
  for (int i = 0; i < kNumFeatures; ++i) all[i] = static_cast<Feature>(i);
  return all;
}

FeatureRange RangeOf(Feature f) { return kRanges[Index(f)]; }

int BinOf(Feature f, double value) {
  const FeatureRange r = RangeOf(f);
  if (!(value >= r.lo)) return 0;  // also NaN
  if (value >= r.hi) return kBins - 1;
  int bin = static_cast<int>((value - r.lo) / (r.hi - r.lo) * kBins);
  if (bin > kBins - 1) bin = kBins - 1;
  // The division can round across an edge; settle on the edges as Edge() computes them.
  if (bin > 0 && value < Edge(r, bin)) --bin;
  if (bin < kBins - 1 && value >= Edge(r, bin + 1)) ++bin;
  return bin;
}

double FrameObservation::Value(Feature f) const {
  switch (f) {
    case Feature::kBrightness:
      return brightness;
    case Feature::kContrast:
      return contrast;
    case Feature::kSharpness:
      return sharpness;
    case Feature::kSaturation:
      return saturation;
    case Feature::kClipped:
      return clipped;
    case Feature::kConfidence:
      return confidence;
    case Feature::kEntropy:
      return entropy;
  }
  return 0;
}

void Summary::Add(const FrameObservation& f, int num_classes) {
  if (classes.empty() && num_classes > 0) classes.assign(static_cast<size_t>(num_classes), 0);
  bool output = f.has_output;
  if (output && !classes.empty()) {
    output = f.predicted_class >= 0 && static_cast<size_t>(f.predicted_class) < classes.size();
  }
  ++frames;
  if (output) ++outputs;
  if (output && !classes.empty()) ++classes[static_cast<size_t>(f.predicted_class)];
  for (Feature feature : AllFeatures()) {
    if (IsOutputFeature(feature) && !output) continue;
    std::vector<uint64_t>& h = hist[Index(feature)];
    if (h.empty()) h.assign(kBins, 0);
    const double v = f.Value(feature);
    ++h[BinOf(feature, v)];
    const FeatureRange r = RangeOf(feature);
    sum[Index(feature)] += std::isfinite(v) ? std::clamp(v, r.lo, r.hi) : r.lo;
  }
}

shared::Status Summary::Merge(const Summary& other) {
  auto new_frames = CheckedAdd(frames, other.frames);
  auto new_outputs = CheckedAdd(outputs, other.outputs);
  if (!new_frames || !new_outputs) {
    return shared::Status::InvalidArgument("summary merge: frame or output count overflows");
  }
  for (Feature f : AllFeatures()) {
    const size_t size = other.hist[Index(f)].size();
    if (size != 0 && size != kBins) {
      return shared::Status::InvalidArgument("summary merge: histogram '" +
                                             std::string(FeatureName(f)) + "' has " + Str(size) +
                                             " bins, expected " + Str(kBins));
    }
  }
  if (!classes.empty() && !other.classes.empty() && classes.size() != other.classes.size()) {
    return shared::Status::InvalidArgument("summary merge: class counts for " +
                                           Str(classes.size()) + " classes and for " +
                                           Str(other.classes.size()) + " classes");
  }
  // A histogram or class count kept on one side only would no longer sum to the merged count.
  for (Feature f : AllFeatures()) {
    const bool mine_empty = hist[Index(f)].empty(), theirs_empty = other.hist[Index(f)].empty();
    const uint64_t mine_count = IsOutputFeature(f) ? outputs : frames;
    const uint64_t theirs_count = IsOutputFeature(f) ? other.outputs : other.frames;
    if ((mine_empty && mine_count > 0 && !theirs_empty) ||
        (theirs_empty && theirs_count > 0 && !mine_empty)) {
      return shared::Status::InvalidArgument(
          "summary merge: histogram '" + std::string(FeatureName(f)) +
          "' is missing from one summary that has " + (IsOutputFeature(f) ? "outputs" : "frames"));
    }
  }
  if ((classes.empty() && outputs > 0 && !other.classes.empty()) ||
      (other.classes.empty() && other.outputs > 0 && !classes.empty())) {
    return shared::Status::InvalidArgument(
        "summary merge: class counts are missing from one summary that has outputs");
  }
  // Check every cell for overflow before changing anything.
  for (Feature f : AllFeatures()) {
    const auto& mine = hist[Index(f)];
    const auto& theirs = other.hist[Index(f)];
    if (mine.empty() || theirs.empty()) continue;
    for (int i = 0; i < kBins; ++i) {
      if (!CheckedAdd(mine[i], theirs[i])) {
        return shared::Status::InvalidArgument("summary merge: histogram '" +
                                               std::string(FeatureName(f)) + "' overflows");
      }
    }
  }
  for (size_t i = 0; i < classes.size() && i < other.classes.size(); ++i) {
    if (!CheckedAdd(classes[i], other.classes[i])) {
      return shared::Status::InvalidArgument("summary merge: class counts overflow");
    }
  }

  frames = *new_frames;
  outputs = *new_outputs;
  for (Feature f : AllFeatures()) {
    auto& mine = hist[Index(f)];
    const auto& theirs = other.hist[Index(f)];
    if (theirs.empty()) continue;
    if (mine.empty()) mine.assign(kBins, 0);
    for (int i = 0; i < kBins; ++i) mine[i] += theirs[i];
    sum[Index(f)] += other.sum[Index(f)];
  }
  if (classes.empty()) {
    classes = other.classes;
  } else if (!other.classes.empty()) {
    for (size_t i = 0; i < classes.size(); ++i) classes[i] += other.classes[i];
  }
  return shared::Status::Ok();
}

shared::Status Summary::Validate(uint64_t max_frames, size_t max_classes) const {
  using shared::Status;
  if (frames > max_frames) {
    return Status::InvalidArgument("summary: " + Str(frames) + " frames, more than the limit " +
                                   Str(max_frames));
  }
  if (outputs > frames) {
    return Status::InvalidArgument("summary: outputs (" + Str(outputs) + ") exceed frames (" +
                                   Str(frames) + ")");
  }
  if (classes.size() > max_classes) {
    return Status::InvalidArgument("summary: class counts for " + Str(classes.size()) +
                                   " classes, more than the limit " + Str(max_classes));
  }
  for (Feature f : AllFeatures()) {
    const std::vector<uint64_t>& h = hist[Index(f)];
    if (h.empty()) continue;
    const std::string name(FeatureName(f));
    if (h.size() != kBins) {
      return Status::InvalidArgument("summary: histogram '" + name + "' has " + Str(h.size()) +
                                     " bins, expected " + Str(kBins));
    }
    const uint64_t expected = IsOutputFeature(f) ? outputs : frames;
    const char* what = IsOutputFeature(f) ? "outputs" : "frames";
    const FeatureRange r = RangeOf(f);
    const double s = sum[Index(f)], n = static_cast<double>(expected);
    const double slack = 1e-9 * std::max(1.0, n);
    if (!std::isfinite(s) || s < r.lo * n - slack || s > r.hi * n + slack) {
      return Status::InvalidArgument("summary: sum of '" + name + "' is " + std::to_string(s) +
                                     ", not within [" + std::to_string(r.lo) + ", " +
                                     std::to_string(r.hi) + "] times its " + Str(expected) + " " +
                                     what);
    }
    const std::optional<uint64_t> total = CheckedSum(h);
    if (total != expected) {
      return Status::InvalidArgument("summary: histogram '" + name + "' sums to " +
                                     (total ? Str(*total) : std::string("more than 2^64")) +
                                     ", expected " + what + " = " + Str(expected));
    }
  }
  if (!classes.empty()) {
    const std::optional<uint64_t> total = CheckedSum(classes);
    if (total != outputs) {
      return Status::InvalidArgument("summary: class counts sum to " +
                                     (total ? Str(*total) : std::string("more than 2^64")) +
                                     ", expected outputs = " + Str(outputs));
    }
  }
  return Status::Ok();
}

uint64_t Summary::Observed(Feature f) const { return Sum(hist[Index(f)]); }

double Summary::Mean(Feature f) const {
  const uint64_t total = Observed(f);
  if (total == 0) return std::numeric_limits<double>::quiet_NaN();
  return sum[Index(f)] / static_cast<double>(total);
}

double Psi(std::span<const uint64_t> reference, std::span<const uint64_t> current, double alpha) {
  const uint64_t r_total = Sum(reference);
  const uint64_t c_total = Sum(current);
  if (r_total == 0 || c_total == 0 || reference.size() != current.size()) return 0;
  const double bins = static_cast<double>(reference.size());
  const double r_norm = static_cast<double>(r_total) + alpha * bins;
  const double c_norm = static_cast<double>(c_total) + alpha * bins;
  double psi = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double p = (static_cast<double>(reference[i]) + alpha) / r_norm;
    const double q = (static_cast<double>(current[i]) + alpha) / c_norm;
    psi += (q - p) * std::log(q / p);
  }
  return psi;
}

double KsBinned(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const uint64_t r_total = Sum(reference);
  const uint64_t c_total = Sum(current);
  if (r_total == 0 || c_total == 0 || reference.size() != current.size()) return 0;
  uint64_t r_cum = 0, c_cum = 0;
  double ks = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    r_cum += reference[i];
    c_cum += current[i];
    const double d = std::abs(static_cast<double>(r_cum) / static_cast<double>(r_total) -
                              static_cast<double>(c_cum) / static_cast<double>(c_total));
    ks = std::max(ks, d);
  }
  return ks;
}

PageHinkley::PageHinkley(PageHinkleyOptions options) : options_(options) {}

bool PageHinkley::Update(double x) {
  if (!std::isfinite(x)) return false;
  ++samples_;
  mean_ += (x - mean_) / samples_;
  m_ += x - mean_ - options_.delta;
  min_m_ = samples_ == 1 ? m_ : std::min(min_m_, m_);
  return samples_ >= options_.min_samples && statistic() > options_.lambda;
}

void PageHinkley::Reset() {
  samples_ = 0;
  mean_ = 0;
  m_ = 0;
  min_m_ = 0;
}

}  // namespace fedge::drift
