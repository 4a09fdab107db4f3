#pragma once
// Exact, order-independent FedAvg. Each update's contribution n_i * w_i is converted to
// fixed point (2^-32 resolution) and added into 128-bit integer accumulators. Integer
// addition is associative, so the aggregate is bitwise identical whatever order updates
// arrive in, and memory is O(model size) however many updates are folded.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/status.h"
#include "shared/tensor_bundle.h"

namespace fedge::coordinator {

class FedAvgAccumulator {
 public:
  static constexpr int kFractionBits = 32;

  // `layout` gives the names and shapes every update must match.
  explicit FedAvgAccumulator(const shared::TensorBundle& layout);

  // Adds `weight` * update. InvalidArgument (naming the tensor) on a layout mismatch, a
  // non-finite value or a value too large for the fixed-point range; nothing is folded
  // then. REQUIRES: weight >= 1.
  shared::Status Fold(const shared::TensorBundle& update, uint64_t weight);

  uint64_t total_weight() const { return total_weight_; }
  uint64_t updates() const { return updates_; }
  // Weighted mean. FailedPrecondition-like InvalidArgument if nothing was folded.
  shared::Result<shared::TensorBundle> Finalize() const;

 private:
  shared::TensorBundle layout_;  // names and shapes only (data empty)
  std::vector<__int128> sums_;   // one per element, all tensors concatenated
  uint64_t total_weight_ = 0;
  uint64_t updates_ = 0;
};

}  // namespace fedge::coordinator
