#pragma once
// Exact, order-independent FedAvg. Each update's contribution n_i * w_i is converted to
// fixed point (2^-32 resolution) and added into integer sums (int64, spilling into 128 bits
// when a bound says they could overflow). Integer addition is associative, so the aggregate is
// bitwise identical whatever order updates arrive in and however they are batched. Memory is
// O(model size) however many updates are folded: 8 bytes per parameter for the sums (24 once
// a spill or a huge value needs the 128-bit ones) plus at most 8 pending updates.
// docs/aggregation.md explains the precision, range and batching.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

// Not thread-safe: one owner (the round engine, on its strand) calls every method.
class FedAvgAccumulator {
 public:
  static constexpr int kFractionBits = 32;
  // Upper bound on Options::max_pending_updates.
  static constexpr size_t kMaxPendingUpdates = 8;

  struct Options {
    // Fold() validates an update at once but may keep it pending and add up to this many
    // updates to the sums together, one cache-sized block of parameters at a time, so the
    // sums are read and written once per batch instead of once per update. The result does
    // not depend on it. Clamped to [1, kMaxPendingUpdates]; 1 adds every update at once.
    size_t max_pending_updates = kMaxPendingUpdates;
    // Fewer pending updates if they would hold more than this many bytes of fp32 values.
    size_t max_pending_bytes = size_t{256} << 20;
    // Use the portable kernels even if the CPU has AVX-512 (tests compare both).
    bool portable_kernels = false;
  };

  // `layout` gives the names and shapes every update must match (its data is ignored).
  explicit FedAvgAccumulator(const shared::TensorBundle& layout);
  FedAvgAccumulator(const shared::TensorBundle& layout, const Options& options);

  // The checks Fold() does, without changing anything: InvalidArgument naming the problem
  // (and the tensor) for weight 0, a total weight that would overflow 64 bits, a layout
  // mismatch, a wrong value count, NaN/Inf or a value whose weight * |value| is outside the
  // fixed-point range; ResourceExhausted after 2^40 updates (the sums could overflow).
  shared::Status Validate(const shared::TensorBundle& update, uint64_t weight) const;

  // Adds `weight` * update (weight = the update's example count). On error (see Validate)
  // nothing is folded and `update` is untouched. On success the && overload has taken the
  // values (`update` is left valid but unspecified) and may keep them pending until a later
  // Fold(), Flush() or Finalize(); the const& overload adds them (with any pending updates)
  // before it returns and keeps no reference. Prefer && when the caller is done with the
  // update: batching makes it faster.
  shared::Status Fold(const shared::TensorBundle& update, uint64_t weight);
  shared::Status Fold(shared::TensorBundle&& update, uint64_t weight);

  // Adds the pending updates to the sums now and frees their values. Never changes the
  // result.
  void Flush();

  // Sum of the weights and number of updates folded (pending ones included).
  uint64_t total_weight() const { return total_weight_; }
  uint64_t updates() const { return updates_; }

  // Weighted mean of everything folded so far, rounded to fp32. Flushes first; folding may
  // continue afterwards. InvalidArgument if nothing was folded.
  shared::Result<shared::TensorBundle> Finalize();

  // "avx512" or "portable": the kernels this accumulator runs.
  const char* kernel_name() const;

 private:
  struct Kernels;  // the per-element loops, portable or AVX-512 (fedavg.cc)
  using Values = std::vector<std::vector<float>>;  // one vector per layout tensor

  // One validated update waiting to be added to the sums.
  struct Pending {
    Values owned;                    // the values taken by Fold(&&)
    std::vector<const float*> data;  // per tensor: owned's, or the caller's during Fold(const&)
    double scale = 0;                // weight * 2^32
    uint64_t bound = 0;              // >= every |term| if narrow
    bool narrow = false;             // every |term| < 2^60
  };

  // Validate()'s checks; sets `*max_term` to the largest |value| * weight * 2^32.
  shared::Status Check(const shared::TensorBundle& update, uint64_t weight, double* max_term) const;
  // Fills in slots_[pending_] (whose data is set) and counts it as pending.
  void Commit(uint64_t weight, double max_term);
  // Adds fast_ into wide_ (allocating it) and zeroes fast_.
  void Spill();

  shared::TensorBundle layout_;  // names and shapes only (data empty)
  // The sum for element k (tensors concatenated) is fast_[k] + wide_[k]: narrow updates are
  // added to fast_ while fast_bound_ proves no |fast_[k]| can exceed 2^63 - 1; wide_ stays
  // empty until a spill or a wide update needs it.
  std::vector<int64_t> fast_;
  std::vector<__int128> wide_;
  uint64_t fast_bound_ = 0;
  std::vector<Pending> slots_;  // [0, pending_) hold updates not yet in the sums
  size_t pending_ = 0;
  size_t capacity_ = 1;  // updates kept before a flush
  const Kernels* kernels_ = nullptr;
  uint64_t total_weight_ = 0;
  uint64_t updates_ = 0;
};

// A per-site share cap (`[rounds] max_client_share`): the weights min(w_i, cap) in which no one
// exceeds `share_ppm` millionths of their sum. Returns the largest integer cap for which that
// holds, or nullopt when no weight is over its share already (the weights stand as they are).
// With fewer sites than 1/share the cap cannot hold for any cap above 0; then it is the smallest
// weight (every site weighs the same). REQUIRES: share_ppm in [1, 1000000].
std::optional<uint64_t> ShareCap(const std::vector<uint64_t>& weights, uint32_t share_ppm);

}  // namespace fedge::coordinator
