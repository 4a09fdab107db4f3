#include "shared/drift/monitor.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace fedge::drift {
namespace {

bool FiniteAtLeast(double v, double lo) { return std::isfinite(v) && v >= lo; }

}  // namespace

shared::Status ValidateMonitorOptions(const MonitorOptions& options) {
  using shared::Status;
  if (options.window < 10 || options.window > 100000) {
    return Status::InvalidArgument("monitor options: window must be in 10..100000, got " +
                                   std::to_string(options.window));
  }
  if (options.features.empty()) {
    return Status::InvalidArgument("monitor options: features must not be empty");
  }
  std::array<bool, kNumFeatures> seen{};
  for (Feature f : options.features) {
    const int i = static_cast<int>(f);
    if (i < 0 || i >= kNumFeatures) {
      return Status::InvalidArgument("monitor options: features: unknown feature " +
                                     std::to_string(i));
    }
    if (seen[i]) {
      return Status::InvalidArgument("monitor options: features: '" + std::string(FeatureName(f)) +
                                     "' listed twice");
    }
    seen[i] = true;
  }
  if (!FiniteAtLeast(options.psi_alpha, 0) || options.psi_alpha == 0) {
    return Status::InvalidArgument("monitor options: psi_alpha must be finite and > 0");
  }
  if (!FiniteAtLeast(options.psi_threshold, 0)) {
    return Status::InvalidArgument("monitor options: psi_threshold must be finite and >= 0");
  }
  if (!FiniteAtLeast(options.min_shift, 0) || options.min_shift > 1) {
    return Status::InvalidArgument("monitor options: min_shift must be in [0, 1]");
  }
  if (!FiniteAtLeast(options.detector.delta, 0)) {
    return Status::InvalidArgument("monitor options: detector.delta must be finite and >= 0");
  }
  if (!FiniteAtLeast(options.detector.lambda, 0) || options.detector.lambda == 0) {
    return Status::InvalidArgument("monitor options: detector.lambda must be finite and > 0");
  }
  if (options.detector.min_samples < 1) {
    return Status::InvalidArgument("monitor options: detector.min_samples must be >= 1");
  }
  return Status::Ok();
}

Monitor::Monitor(MonitorOptions options, Summary reference, int num_classes)
    : options_(std::move(options)),
      reference_(std::move(reference)),
      num_classes_(num_classes),
      detector_(options_.detector) {}

std::optional<WindowResult> Monitor::Add(const FrameObservation& frame) {
  window_.Add(frame, num_classes_);
  // window < 1 violates the contract; treat it as 1 rather than never finishing.
  if (window_.frames < static_cast<uint64_t>(std::max(options_.window, 1))) return std::nullopt;
  return FinishWindow();
}

WindowResult Monitor::FinishWindow() {
  WindowResult result;
  result.index = next_index_++;
  result.summary = std::exchange(window_, Summary{});
  // Every feature both sides observed is compared (reported); the listed ones that passed the
  // mean-shift gate make the score.
  for (Feature f : AllFeatures()) {
    const int i = static_cast<int>(f);
    const std::vector<uint64_t>& ref = reference_.hist[i];
    const std::vector<uint64_t>& cur = result.summary.hist[i];
    if (ref.size() != kBins || cur.size() != kBins) continue;
    if (reference_.Observed(f) == 0 || result.summary.Observed(f) == 0) continue;
    result.psi[i] = Psi(ref, cur, options_.psi_alpha);
    result.ks[i] = KsBinned(ref, cur);
  }
  bool scored = false;
  double best_ungated = -1;  // names top_feature while no feature passes the mean-shift gate
  for (Feature f : options_.features) {
    const int i = static_cast<int>(f);
    if (i < 0 || i >= kNumFeatures) continue;
    if (reference_.Observed(f) == 0 || result.summary.Observed(f) == 0) continue;
    if (reference_.hist[i].size() != kBins || result.summary.hist[i].size() != kBins) continue;
    const FeatureRange range = RangeOf(f);
    const double shift = std::abs(result.summary.Mean(f) - reference_.Mean(f));
    if (shift < options_.min_shift * (range.hi - range.lo)) {
      if (!scored && result.psi[i] > best_ungated) {
        best_ungated = result.psi[i];
        result.top_feature = f;
      }
      continue;
    }
    if (!scored || result.psi[i] > result.score) {
      result.score = result.psi[i];
      result.top_feature = f;
      scored = true;
    }
  }
  result.over_threshold = result.score > options_.psi_threshold;
  result.alarm = detector_.Update(result.score);
  result.detector_statistic = detector_.statistic();
  if (result.alarm) {
    drifted_ = true;
    detector_.Reset();
  }
  result.drifted = drifted_;
  return result;
}

void Monitor::Reset(Summary reference) {
  reference_ = std::move(reference);
  window_ = Summary{};
  detector_.Reset();
  next_index_ = 0;
  drifted_ = false;
}

}  // namespace fedge::drift
