#pragma once
// The synthetic model and client updates the benchmarks share: a ~1M-parameter layout and
// deterministic pseudo-random updates, so every benchmark (and every process of one) sees
// the same values.

#include <chrono>
#include <cstdint>

#include "shared/codec/tensor_bundle.h"

namespace fedge::sim {

// Wall seconds since `t` on the steady clock.
inline double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// ~1M parameters (998,314) in 8 tensors, shaped like a small CNN with a wide dense layer.
// Data is empty.
shared::TensorBundle MakeBenchLayout();

// Overwrites `update` (already shaped: every tensor's data sized to its shape) with client
// `i`'s values, uniform in [-0.1, 0.1), and returns its example count (50..5999).
// Deterministic in `i`.
uint64_t FillBenchUpdate(uint64_t i, shared::TensorBundle* update);

}  // namespace fedge::sim
