#pragma once
// Robust aggregation strategies ([rounds] aggregation): the round's model from all of its
// updates at once, for federations where some sites may send poison. Each works on the updates'
// changes from the round's model (delta_i = update_i - base) and returns base + the aggregate
// change. Everything is computed in double in a fixed order (updates sorted by site id, values
// in tensor order), so the same set of updates gives the same bytes in any arrival order and
// when a resumed round folds them again.
//
// Memory: every strategy here holds all N updates (N x model size in fp32), plus one double
// per parameter; the coordinate-wise ones add N doubles of scratch. FedAvg (coordinator/fedavg.h)
// stays O(model size).
//
//   median        coordinate-wise median (Yin et al. 2018); unweighted: one vote per site.
//   trimmed_mean  coordinate-wise mean after dropping the floor(beta * N) smallest and largest
//                 values of each coordinate (Yin et al. 2018); unweighted.
//   multi_krum    Krum scores (sum of squared distances to the N - f - 2 nearest other
//                 updates, Blanchard et al. 2017); the m lowest-scored updates are averaged,
//                 weighted by their example counts (El Mhamdi et al. 2018).
//   centered_clip centered clipping (Karimireddy et al. 2021): starting from the
//                 coordinate-wise median, `iterations` times v += mean_i(clip_tau(x_i - v));
//                 with bucketing (Karimireddy et al. 2022) the x_i are the means of buckets of
//                 `bucket_size` updates in a seeded random order. tau = 0: each iteration uses
//                 the median distance of the x_i to v.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

enum class AggregationMethod { kFedAvg, kMedian, kTrimmedMean, kMultiKrum, kCenteredClip };

// "fedavg", "median", ... ; InvalidArgument listing the valid names otherwise.
shared::Result<AggregationMethod> ParseAggregationMethod(const std::string& name);
const char* AggregationName(AggregationMethod method);

struct AggregationSettings {
  AggregationMethod method = AggregationMethod::kFedAvg;
  double trim_fraction = 0.2;  // trimmed_mean: beta, in [0, 0.5)
  int krum_byzantine = 1;      // multi_krum: f, the attackers it must tolerate
  int krum_select = 0;         // multi_krum: m, updates averaged (0: N - f)
  double clip_radius = 0;      // centered_clip: tau (0: the median distance, per iteration)
  int clip_iterations = 3;     // centered_clip: l
  int bucket_size = 2;         // centered_clip: s (1: no bucketing)
  // Before any strategy: each update's change is scaled to at most this multiple of the
  // round's median change norm (0: off). Needs all updates, so it reads them back under fedavg
  // too.
  double adaptive_norm_multiple = 0;
  // Every strategy except fedavg reads all of the round's updates back at once.
  bool NeedsAllUpdates() const {
    return method != AggregationMethod::kFedAvg || adaptive_norm_multiple > 0;
  }
};

struct SiteUpdate {
  std::string client_id;
  uint64_t weight = 0;          // its fold weight (example count, capped)
  shared::TensorBundle values;  // the full model it sent (same layout as the base)
};

struct RobustResult {
  shared::TensorBundle model;
  // multi_krum: the sites whose updates were averaged (sorted); empty for the other methods.
  std::vector<std::string> selected;
};

// The round's model by `settings.method` (not kFedAvg: that is FedAvgAccumulator's). `seed`
// orders the buckets. InvalidArgument for no updates, a layout mismatch, or settings that
// cannot work with N updates (multi_krum needs N > 2f + 2; trim_fraction must leave one value).
shared::Result<RobustResult> RobustAggregate(std::vector<SiteUpdate> updates,
                                             const shared::TensorBundle& base,
                                             const AggregationSettings& settings, uint64_t seed);

// The median of `values` (the mean of the middle two for an even count); 0 for none.
double MedianOf(std::vector<double> values);

// Scales every update whose change norm exceeds `multiple` x the median change norm down to
// it. Returns the sites clipped (sorted). REQUIRES: multiple > 0.
shared::Result<std::vector<std::string>> ClipToMedianNorm(std::vector<SiteUpdate>* updates,
                                                          const shared::TensorBundle& base,
                                                          double multiple);

}  // namespace fedge::coordinator
