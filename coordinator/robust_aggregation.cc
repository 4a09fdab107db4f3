#include "coordinator/robust_aggregation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "coordinator/norm_bound.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {

constexpr AggregationMethod kMethods[] = {
    AggregationMethod::kFedAvg, AggregationMethod::kMedian, AggregationMethod::kTrimmedMean,
    AggregationMethod::kMultiKrum, AggregationMethod::kCenteredClip};

// An update as one flat vector of changes from the base (all tensors, in order).
using Delta = std::vector<double>;

Result<std::vector<Delta>> Deltas(std::vector<SiteUpdate>& updates,
                                  const shared::TensorBundle& base) {
  std::vector<Delta> out;
  out.reserve(updates.size());
  const size_t n = static_cast<size_t>(base.NumElements());
  for (SiteUpdate& u : updates) {
    if (u.values.tensors.size() != base.tensors.size()) {
      return Status::InvalidArgument("the update of " + u.client_id + " has " +
                                     std::to_string(u.values.tensors.size()) +
                                     " tensors, the model " + std::to_string(base.tensors.size()));
    }
    Delta d;
    d.reserve(n);
    for (size_t t = 0; t < base.tensors.size(); ++t) {
      const std::vector<float>& b = base.tensors[t].data;
      const std::vector<float>& v = u.values.tensors[t].data;
      if (v.size() != b.size()) {
        return Status::InvalidArgument("the update of " + u.client_id + " has " +
                                       std::to_string(v.size()) + " values in tensor '" +
                                       base.tensors[t].name + "', the model " +
                                       std::to_string(b.size()));
      }
      for (size_t j = 0; j < b.size(); ++j) {
        d.push_back(static_cast<double>(v[j]) - static_cast<double>(b[j]));
      }
    }
    u.values = {};  // the delta holds it now
    out.push_back(std::move(d));
  }
  return out;
}

shared::TensorBundle Apply(const shared::TensorBundle& base, const Delta& delta) {
  shared::TensorBundle out = base;
  size_t k = 0;
  for (shared::Tensor& t : out.tensors) {
    for (float& v : t.data) v = static_cast<float>(static_cast<double>(v) + delta[k++]);
  }
  return out;
}

double Dist2(const Delta& a, const Delta& b) {
  double s = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    const double d = a[j] - b[j];
    s += d * d;
  }
  return s;
}

double Norm(const Delta& a) {
  double s = 0;
  for (double v : a) s += v * v;
  return std::sqrt(s);
}

// MedianOf in place: reorders `v`. REQUIRES: `v` not empty.
double MedianInPlace(std::vector<double>& v) {
  const size_t k = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  const double upper = v[k];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k));
  return (lower + upper) / 2;
}

// Per coordinate, `fn` of the N values of that coordinate (in the updates' order).
template <typename Fn>
Delta Coordinatewise(const std::vector<Delta>& xs, Fn&& fn) {
  Delta out(xs.front().size());
  std::vector<double> column(xs.size());
  for (size_t j = 0; j < out.size(); ++j) {
    for (size_t i = 0; i < xs.size(); ++i) column[i] = xs[i][j];
    out[j] = fn(column);
  }
  return out;
}

Delta Median(const std::vector<Delta>& xs) { return Coordinatewise(xs, MedianInPlace); }

Result<Delta> TrimmedMean(const std::vector<Delta>& xs, double beta) {
  if (!(beta >= 0 && beta < 0.5)) {
    return Status::InvalidArgument("rounds.trim_fraction must be in [0, 0.5), not " +
                                   std::to_string(beta));
  }
  const size_t n = xs.size();
  const auto trim = static_cast<size_t>(std::floor(beta * static_cast<double>(n)));
  return Coordinatewise(xs, [trim, n](std::vector<double>& c) {
    auto first = c.begin() + static_cast<std::ptrdiff_t>(trim);
    auto last = c.end() - static_cast<std::ptrdiff_t>(trim);
    if (trim > 0) {
      std::nth_element(c.begin(), first, c.end());  // the `trim` smallest before `first`
      std::nth_element(first, last - 1, c.end());   // the `trim` largest from `last`
    }
    double s = 0;
    for (auto it = first; it != last; ++it) s += *it;
    return s / static_cast<double>(n - 2 * trim);
  });
}

Result<RobustResult> MultiKrum(const std::vector<Delta>& xs, const std::vector<SiteUpdate>& sites,
                               const AggregationSettings& a, const shared::TensorBundle& base) {
  const size_t n = xs.size();
  const auto f = static_cast<size_t>(std::max(0, a.krum_byzantine));
  if (n < 2 * f + 3) {
    return Status::InvalidArgument("multi_krum with rounds.krum_byzantine = " + std::to_string(f) +
                                   " needs at least " + std::to_string(2 * f + 3) +
                                   " updates; the round has " + std::to_string(n));
  }
  const size_t m = a.krum_select > 0 ? std::min(n, static_cast<size_t>(a.krum_select)) : n - f;
  std::vector<std::vector<double>> d2(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = i + 1; k < n; ++k) d2[i][k] = d2[k][i] = Dist2(xs[i], xs[k]);
  }
  std::vector<std::pair<double, size_t>> scores;  // (score, index): ties broken by site order
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> others;
    for (size_t k = 0; k < n; ++k) {
      if (k != i) others.push_back(d2[i][k]);
    }
    std::sort(others.begin(), others.end());
    const double score = std::accumulate(
        others.begin(), others.begin() + static_cast<std::ptrdiff_t>(n - f - 2), 0.0);
    scores.emplace_back(score, i);
  }
  std::sort(scores.begin(), scores.end());
  std::vector<size_t> chosen;
  for (size_t r = 0; r < m; ++r) chosen.push_back(scores[r].second);
  std::sort(chosen.begin(), chosen.end());  // sum in site order
  Delta mean(xs.front().size(), 0.0);
  double total = 0;
  RobustResult out;
  for (size_t i : chosen) {
    const double w = static_cast<double>(sites[i].weight);
    total += w;
    for (size_t j = 0; j < mean.size(); ++j) mean[j] += w * xs[i][j];
    out.selected.push_back(sites[i].client_id);
  }
  for (double& v : mean) v /= total;
  out.model = Apply(base, mean);
  return out;
}

Delta CenteredClip(std::vector<Delta> xs, const AggregationSettings& a, uint64_t seed) {
  const size_t s = static_cast<size_t>(std::max(1, a.bucket_size));
  if (s > 1 && xs.size() > 1) {
    // Bucketing: a seeded random order (Fisher-Yates on a fixed generator, the same on every
    // platform), then the mean of each run of s.
    std::vector<size_t> order(xs.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 rng(seed);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    std::vector<Delta> buckets;
    for (size_t b = 0; b < order.size(); b += s) {
      const size_t end = std::min(order.size(), b + s);
      Delta mean(xs.front().size(), 0.0);
      for (size_t r = b; r < end; ++r) {
        for (size_t j = 0; j < mean.size(); ++j) mean[j] += xs[order[r]][j];
      }
      for (double& v : mean) v /= static_cast<double>(end - b);
      buckets.push_back(std::move(mean));
    }
    xs = std::move(buckets);
  }
  Delta v = Median(xs);
  std::vector<double> dist(xs.size());
  for (int it = 0; it < std::max(1, a.clip_iterations); ++it) {
    for (size_t i = 0; i < xs.size(); ++i) dist[i] = std::sqrt(Dist2(xs[i], v));
    double tau = a.clip_radius;
    if (tau <= 0) {
      tau = MedianOf(dist);
    }
    Delta step(v.size(), 0.0);
    for (size_t i = 0; i < xs.size(); ++i) {
      const double scale = dist[i] > tau ? tau / dist[i] : 1.0;
      for (size_t j = 0; j < v.size(); ++j) step[j] += (xs[i][j] - v[j]) * scale;
    }
    for (size_t j = 0; j < v.size(); ++j) v[j] += step[j] / static_cast<double>(xs.size());
  }
  return v;
}

}  // namespace

Result<AggregationMethod> ParseAggregationMethod(const std::string& name) {
  for (AggregationMethod m : kMethods) {
    if (name == AggregationName(m)) return m;
  }
  return Status::InvalidArgument(
      "unknown aggregation '" + name +
      "'; use fedavg, median, trimmed_mean, multi_krum or centered_clip");
}

const char* AggregationName(AggregationMethod method) {
  switch (method) {
    case AggregationMethod::kFedAvg:
      return "fedavg";
    case AggregationMethod::kMedian:
      return "median";
    case AggregationMethod::kTrimmedMean:
      return "trimmed_mean";
    case AggregationMethod::kMultiKrum:
      return "multi_krum";
    case AggregationMethod::kCenteredClip:
      return "centered_clip";
  }
  return "fedavg";
}

Result<RobustResult> RobustAggregate(std::vector<SiteUpdate> updates,
                                     const shared::TensorBundle& base,
                                     const AggregationSettings& settings, uint64_t seed) {
  if (updates.empty()) return Status::InvalidArgument("no updates to aggregate");
  std::sort(updates.begin(), updates.end(),
            [](const SiteUpdate& x, const SiteUpdate& y) { return x.client_id < y.client_id; });
  FEDGE_ASSIGN_OR_RETURN(std::vector<Delta> xs, Deltas(updates, base));
  switch (settings.method) {
    case AggregationMethod::kMedian:
      return RobustResult{Apply(base, Median(xs)), {}};
    case AggregationMethod::kTrimmedMean: {
      FEDGE_ASSIGN_OR_RETURN(Delta d, TrimmedMean(xs, settings.trim_fraction));
      return RobustResult{Apply(base, d), {}};
    }
    case AggregationMethod::kMultiKrum:
      return MultiKrum(xs, updates, settings, base);
    case AggregationMethod::kCenteredClip:
      return RobustResult{Apply(base, CenteredClip(std::move(xs), settings, seed)), {}};
    case AggregationMethod::kFedAvg:
      break;
  }
  return Status::InvalidArgument("fedavg is folded by FedAvgAccumulator, not RobustAggregate");
}

double MedianOf(std::vector<double> values) { return values.empty() ? 0.0 : MedianInPlace(values); }

Result<std::vector<std::string>> ClipToMedianNorm(std::vector<SiteUpdate>* updates,
                                                  const shared::TensorBundle& base,
                                                  double multiple) {
  std::vector<double> norms;
  for (const SiteUpdate& u : *updates) {
    FEDGE_ASSIGN_OR_RETURN(double n, UpdateNorm(u.values, base));
    norms.push_back(n);
  }
  std::vector<std::string> clipped;
  if (norms.empty()) return clipped;
  const double bound = multiple * MedianOf(norms);
  if (!(bound > 0)) return clipped;  // most updates did not move: nothing to scale to
  for (size_t i = 0; i < updates->size(); ++i) {
    if (norms[i] <= bound) continue;
    SiteUpdate& u = (*updates)[i];
    FEDGE_RETURN_IF_ERROR(ClipToNorm(&u.values, base, bound).status());
    clipped.push_back(u.client_id);
  }
  std::sort(clipped.begin(), clipped.end());
  return clipped;
}

}  // namespace fedge::coordinator
