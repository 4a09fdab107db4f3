#include "shared/ml/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace fedge::ml {
namespace {

using Parts = std::vector<std::vector<int64_t>>;

// Dirichlet(alpha, ..., alpha) over `parts` via normalised Gamma(alpha, 1) draws. Returns a
// one-hot vector at a random part if all draws underflow to zero.
std::vector<double> DrawDirichlet(int parts, double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> p(parts);
  double sum = 0;
  for (double& x : p) sum += (x = gamma(rng));
  if (!(sum > 0) || !std::isfinite(sum)) {
    std::fill(p.begin(), p.end(), 0.0);
    p[std::uniform_int_distribution<int>(0, parts - 1)(rng)] = 1.0;
    return p;
  }
  for (double& x : p) x /= sum;
  return p;
}

}  // namespace

Parts PartitionIid(int64_t n, int parts, uint64_t seed) {
  if (parts <= 0) return {};
  n = std::max<int64_t>(n, 0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  Parts out(parts);
  int64_t begin = 0;
  for (int i = 0; i < parts; ++i) {
    int64_t end = n * (i + 1) / parts;
    out[i].assign(order.begin() + begin, order.begin() + end);
    begin = end;
  }
  return out;
}

Parts PartitionDirichlet(std::span<const int64_t> labels, int num_classes, int parts, double alpha,
                         uint64_t seed) {
  if (parts <= 0 || !(alpha > 0) || !std::isfinite(alpha)) return {};
  std::vector<std::vector<int64_t>> by_class(std::max(num_classes, 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 0 && labels[i] < num_classes) by_class[labels[i]].push_back(i);
  }
  std::mt19937_64 rng(seed);
  Parts out(parts);
  for (std::vector<int64_t>& ids : by_class) {
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<double> p = DrawDirichlet(parts, alpha, rng);
    const auto count = static_cast<int64_t>(ids.size());
    double cumulative = 0;
    int64_t begin = 0;
    for (int i = 0; i < parts; ++i) {
      cumulative += p[i];
      int64_t end = count;
      if (i + 1 < parts) {
        end = std::clamp(static_cast<int64_t>(cumulative * count), begin, count);
      }
      out[i].insert(out[i].end(), ids.begin() + begin, ids.begin() + end);
      begin = end;
    }
  }
  return out;
}

Parts PartitionShards(std::span<const int64_t> labels, int parts, int shards_per_part,
                      uint64_t seed) {
  if (parts <= 0 || shards_per_part <= 0) return {};
  std::vector<int64_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return labels[a] < labels[b]; });
  const int64_t shards = int64_t{parts} * shards_per_part;
  std::vector<int64_t> shard_ids(shards);
  std::iota(shard_ids.begin(), shard_ids.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(shard_ids.begin(), shard_ids.end(), rng);
  const auto n = static_cast<int64_t>(order.size());
  Parts out(parts);
  for (int64_t k = 0; k < shards; ++k) {
    const int64_t s = shard_ids[k];
    std::vector<int64_t>& part = out[k / shards_per_part];
    part.insert(part.end(), order.begin() + n * s / shards, order.begin() + n * (s + 1) / shards);
  }
  return out;
}

HoldoutSplit SplitHoldout(std::span<const int64_t> indices, double eval_fraction, uint64_t seed) {
  std::vector<int64_t> order(indices.begin(), indices.end());
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const double fraction = std::isnan(eval_fraction) ? 0.0 : std::clamp(eval_fraction, 0.0, 1.0);
  const auto eval_count = static_cast<size_t>(std::llround(fraction * order.size()));
  HoldoutSplit split;
  split.eval.assign(order.begin(), order.begin() + eval_count);
  split.train.assign(order.begin() + eval_count, order.end());
  std::sort(split.eval.begin(), split.eval.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

}  // namespace fedge::ml
