#pragma once
// Deterministic partitioning of example indices across federated clients.
// Every function draws from std::mt19937_64(seed) only, so equal arguments give equal results
// (for a given standard library: std::shuffle and std::gamma_distribution are implementation
// specific). Thread-safe: no shared state.

#include <cstdint>
#include <span>
#include <vector>

namespace fedge::ml {

// Shuffles 0..n-1 and cuts it into `parts` contiguous pieces whose sizes differ by at most one.
// Returns `parts` vectors (empty result if parts <= 0; n < 0 is treated as 0).
std::vector<std::vector<int64_t>> PartitionIid(int64_t n, int parts, uint64_t seed);

// Label-skewed split (as in the Python reference): for each class c in [0, num_classes), shuffle
// the indices with label c, draw p ~ Dirichlet(alpha, ..., alpha) over parts (normalised gamma
// draws) and cut the shuffled list at floor(cumsum(p) * count). Small alpha -> each class lands
// on few parts. If every gamma draw underflows to 0 (tiny alpha), the class goes to one random
// part (the alpha -> 0 limit). Indices whose label is outside [0, num_classes) are left out.
// Returns `parts` vectors (empty result if parts <= 0 or alpha is not positive and finite).
std::vector<std::vector<int64_t>> PartitionDirichlet(std::span<const int64_t> labels,
                                                     int num_classes, int parts, double alpha,
                                                     uint64_t seed);

// Pathological non-IID split (McMahan et al.): sort indices by label (ties by index), cut them
// into parts * shards_per_part contiguous shards of near-equal size and give each part
// shards_per_part randomly chosen shards. Returns `parts` vectors (empty if either count <= 0).
std::vector<std::vector<int64_t>> PartitionShards(std::span<const int64_t> labels, int parts,
                                                  int shards_per_part, uint64_t seed);

struct HoldoutSplit {
  std::vector<int64_t> train, eval;  // each sorted ascending
};

// Randomly moves round(eval_fraction * indices.size()) of `indices` to `eval`, the rest to
// `train`. eval_fraction is clamped to [0, 1].
HoldoutSplit SplitHoldout(std::span<const int64_t> indices, double eval_fraction, uint64_t seed);

}  // namespace fedge::ml
