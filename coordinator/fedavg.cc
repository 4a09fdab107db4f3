#include "coordinator/fedavg.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using shared::TensorBundle;

namespace {

constexpr double kScale = 4294967296.0;  // 2^kFractionBits
// |n * w| * 2^32 must stay below this so a sum of up to 2^40 terms cannot overflow 127 bits.
constexpr double kMaxTerm = 1.4e26;  // ~2^86.9 fixed-point units
constexpr uint64_t kMaxUpdates = uint64_t{1} << 40;
// An update is narrow if every |term| < 2^60: a batch of up to 8 narrow updates then adds
// less than 2^63 to any int64 sum, and the bound bookkeeping fits in a uint64.
constexpr double kNarrowTerm = 0x1p60;
static_assert(FedAvgAccumulator::kMaxPendingUpdates <= 8, "8 narrow terms < 2^63");
constexpr uint64_t kFastLimit = uint64_t{1} << 63;  // |fast_[k]| <= fast_bound_ < this
// Parameters per block in Flush(): the block's int64 sums (32 KiB) stay in L1/L2 while the
// pending updates' slices of the block are added to them.
constexpr size_t kBlock = 4096;
constexpr int32_t kAbsMask = 0x7fffffff;
constexpr int32_t kInfBits = 0x7f800000;  // |v| bit patterns >= this are Inf or NaN

// The loops below are written so g++ -O2/-O3 vectorises them. They are compiled twice: for
// the baseline ISA and, on x86-64, for AVX-512, whose vcvttpd2qq/vcvtqq2pd convert 8 doubles
// to or from int64 at once (SSE2/AVX2 have no packed double<->int64 conversions).
#define FEDGE_INLINE inline __attribute__((always_inline))

// max(m, largest |v[j]| as its bit pattern): non-negative floats order like their bits, and
// the result is >= kInfBits if some value is Inf or NaN.
FEDGE_INLINE int32_t MaxAbsBitsRange(const float* __restrict v, size_t n, int32_t m) {
  for (size_t j = 0; j < n; ++j) {
    int32_t bits;
    std::memcpy(&bits, v + j, sizeof(bits));
    bits &= kAbsMask;
    m = bits > m ? bits : m;
  }
  return m;
}

// MaxAbsBitsRange(v, n, 0), reading 4 segments of v side by side and prefetching 4 KiB ahead
// in each: one stream from memory is latency-bound; this keeps more cache misses in flight
// (~1.5x faster on the benchmark machine).
FEDGE_INLINE int32_t MaxAbsBitsLoop(const float* v, size_t n) {
  constexpr size_t kSegments = 4, kChunk = 256, kAhead = 1024;  // in floats
  const size_t seg = n / kSegments;
  int32_t m = 0;
  for (size_t o = 0; o < seg; o += kChunk) {
    const size_t len = std::min(kChunk, seg - o);
    for (size_t s = 0; s < kSegments; ++s) {
      const float* p = v + s * seg + o;
      for (size_t x = kAhead; x < kAhead + len && o + x < seg; x += 16) __builtin_prefetch(p + x);
      m = MaxAbsBitsRange(p, len, m);
    }
  }
  return MaxAbsBitsRange(v + kSegments * seg, n - kSegments * seg, m);
}

// sums[j] += sum over k < K of trunc(v[k][offset + j] * scales[k]), for j < n. Adding K updates
// in one pass loads and stores each sum once and keeps K + 1 streams from memory in flight.
// REQUIRES: no partial sum or term reaches 2^63 in magnitude.
template <int K>
FEDGE_INLINE void AddTermsLoop(const float* const* v, size_t offset, size_t n, const double* scales,
                               int64_t* __restrict sums) {
  const float* __restrict src[K];
  double scale[K];
  for (int k = 0; k < K; ++k) {
    src[k] = v[k] + offset;
    scale[k] = scales[k];
  }
  for (size_t j = 0; j < n; ++j) {
    int64_t sum = sums[j];
    for (int k = 0; k < K; ++k)
      sum += static_cast<int64_t>(static_cast<double>(src[k][j]) * scale[k]);
    sums[j] = sum;
  }
}

// out[j] = sums[j] / denom, rounded to double then to float.
FEDGE_INLINE void MeanLoop(const int64_t* __restrict sums, size_t n, double denom,
                           float* __restrict out) {
  for (size_t j = 0; j < n; ++j) out[j] = static_cast<float>(static_cast<double>(sums[j]) / denom);
}

using AddTermsFn = void (*)(const float* const* v, size_t offset, size_t n, const double* scales,
                            int64_t* sums);

// Instantiates the kernels for one instruction set (ATTR: a target attribute or nothing).
#define FEDGE_KERNELS(SUFFIX, ATTR)                                                           \
  ATTR int32_t MaxAbsBits##SUFFIX(const float* v, size_t n) { return MaxAbsBitsLoop(v, n); }  \
  template <int K>                                                                            \
  ATTR void AddTerms##SUFFIX(const float* const* v, size_t offset, size_t n, const double* s, \
                             int64_t* sums) {                                                 \
    AddTermsLoop<K>(v, offset, n, s, sums);                                                   \
  }                                                                                           \
  ATTR void Mean##SUFFIX(const int64_t* sums, size_t n, double denom, float* out) {           \
    MeanLoop(sums, n, denom, out);                                                            \
  }

FEDGE_KERNELS(Portable, )
#if defined(__GNUC__) && defined(__x86_64__)
#define FEDGE_HAVE_AVX512 1
FEDGE_KERNELS(Avx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))))
#endif

// sums[j] += trunc(v[j] * scale) for terms of any size within kMaxTerm (rare: not vectorised).
void AddWideTerms(const float* v, size_t n, double scale, __int128* sums) {
  for (size_t j = 0; j < n; ++j) {
    const double term = static_cast<double>(v[j]) * scale;  // exact: see docs/aggregation.md
    if (std::fabs(term) < 0x1p63) {
      sums[j] += static_cast<int64_t>(term);
    } else {
      sums[j] += static_cast<__int128>(term);
    }
  }
}

std::string Quoted(const std::string& name) { return "'" + name + "'"; }

Status CheckLayout(const TensorBundle& layout, const TensorBundle& update) {
  if (layout.SameLayout(update)) return Status::Ok();
  for (size_t i = 0; i < layout.tensors.size() && i < update.tensors.size(); ++i) {
    if (layout.tensors[i].name != update.tensors[i].name ||
        layout.tensors[i].shape != update.tensors[i].shape) {
      return Status::InvalidArgument(
          "update tensor " + std::to_string(i) + " (" + Quoted(update.tensors[i].name) +
          ") does not match the model's " + Quoted(layout.tensors[i].name) + " in name or shape");
    }
  }
  return Status::InvalidArgument("update has " + std::to_string(update.tensors.size()) +
                                 " tensors, the model has " +
                                 std::to_string(layout.tensors.size()));
}

}  // namespace

struct FedAvgAccumulator::Kernels {
  const char* name;
  int32_t (*max_abs_bits)(const float* v, size_t n);
  AddTermsFn add_terms[4];  // [i] adds 2^i updates
  void (*mean)(const int64_t* sums, size_t n, double denom, float* out);

  // The AVX-512 kernels if the CPU and OS support them and !portable, else the portable ones.
  static const Kernels* Select(bool portable) {
    static constexpr Kernels kPortable = {
        "portable",
        MaxAbsBitsPortable,
        {AddTermsPortable<1>, AddTermsPortable<2>, AddTermsPortable<4>, AddTermsPortable<8>},
        MeanPortable};
#ifdef FEDGE_HAVE_AVX512
    static constexpr Kernels kAvx512 = {
        "avx512",
        MaxAbsBitsAvx512,
        {AddTermsAvx512<1>, AddTermsAvx512<2>, AddTermsAvx512<4>, AddTermsAvx512<8>},
        MeanAvx512};
    // libgcc also checks that the OS saves the AVX-512 registers (XCR0).
    static const bool avx512 =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    if (avx512 && !portable) return &kAvx512;
#endif
    return &kPortable;
  }

  // sums[j] += the terms of the `count` updates v[0..count) (count <= 8), block by block.
  void AddNarrow(const float* const* v, const double* scales, size_t count, size_t n,
                 int64_t* sums) const {
    for (size_t b = 0; b < n; b += kBlock) {
      const size_t len = std::min(kBlock, n - b);
      size_t done = 0;
      for (int i = 3; i >= 0; --i) {
        if ((count - done) >= (size_t{1} << i)) {
          add_terms[i](v + done, b, len, scales + done, sums + b);
          done += size_t{1} << i;
        }
      }
    }
  }
};

FedAvgAccumulator::FedAvgAccumulator(const TensorBundle& layout)
    : FedAvgAccumulator(layout, Options()) {}

FedAvgAccumulator::FedAvgAccumulator(const TensorBundle& layout, const Options& options)
    : kernels_(Kernels::Select(options.portable_kernels)) {
  layout_.tensors.reserve(layout.tensors.size());
  for (const auto& t : layout.tensors) layout_.tensors.push_back({t.name, t.shape, {}});
  const auto elements = static_cast<size_t>(layout.NumElements());
  fast_.assign(elements, 0);
  const size_t update_bytes = std::max<size_t>(1, elements * sizeof(float));
  capacity_ = std::clamp<size_t>(options.max_pending_updates, 1, kMaxPendingUpdates);
  capacity_ = std::clamp<size_t>(options.max_pending_bytes / update_bytes, 1, capacity_);
}

const char* FedAvgAccumulator::kernel_name() const { return kernels_->name; }

Status FedAvgAccumulator::Validate(const TensorBundle& update, uint64_t weight) const {
  double max_term;
  return Check(update, weight, &max_term);
}

Status FedAvgAccumulator::Check(const TensorBundle& update, uint64_t weight,
                                double* max_term) const {
  if (weight == 0) return Status::InvalidArgument("update has an example count of 0");
  if (weight > std::numeric_limits<uint64_t>::max() - total_weight_) {
    return Status::InvalidArgument("update's example count " + std::to_string(weight) +
                                   " would overflow the round's 64-bit total");
  }
  if (updates_ >= kMaxUpdates) {
    return Status::ResourceExhausted("2^40 updates folded; the 128-bit sums could overflow");
  }
  FEDGE_RETURN_IF_ERROR(CheckLayout(layout_, update));
  const double scale = static_cast<double>(weight) * kScale;
  *max_term = 0;
  for (size_t i = 0; i < update.tensors.size(); ++i) {
    const auto& t = update.tensors[i];
    const size_t n = t.data.size();
    if (static_cast<int64_t>(n) != t.NumElements()) {
      return Status::InvalidArgument("update tensor " + Quoted(t.name) + " has " +
                                     std::to_string(n) + " values, its shape needs " +
                                     std::to_string(t.NumElements()));
    }
    const int32_t bits = kernels_->max_abs_bits(t.data.data(), n);
    if (bits >= kInfBits) {
      return Status::InvalidArgument("update tensor " + Quoted(t.name) +
                                     " has a non-finite value (NaN or Inf)");
    }
    // Products round monotonically, so the largest |v| gives the largest |term|.
    const float max_abs = std::bit_cast<float>(bits);
    const double term = static_cast<double>(max_abs) * scale;
    if (term > kMaxTerm) {
      return Status::InvalidArgument(
          "update tensor " + Quoted(t.name) + " has a value too large for exact averaging: |" +
          std::to_string(max_abs) + "| x example count " + std::to_string(weight) + " exceeds " +
          std::to_string(kMaxTerm / kScale));
    }
    *max_term = std::max(*max_term, term);
  }
  return Status::Ok();
}

Status FedAvgAccumulator::Fold(const TensorBundle& update, uint64_t weight) {
  double max_term;
  FEDGE_RETURN_IF_ERROR(Check(update, weight, &max_term));
  // Not copied: added in place with the pending updates, before the caller gets it back.
  if (slots_.size() == pending_) slots_.emplace_back();
  Pending& p = slots_[pending_];
  p.owned.clear();
  p.data.resize(update.tensors.size());
  for (size_t i = 0; i < p.data.size(); ++i) p.data[i] = update.tensors[i].data.data();
  Commit(weight, max_term);
  Flush();
  return Status::Ok();
}

Status FedAvgAccumulator::Fold(TensorBundle&& update, uint64_t weight) {
  double max_term;
  FEDGE_RETURN_IF_ERROR(Check(update, weight, &max_term));
  if (slots_.size() == pending_) slots_.emplace_back();
  Pending& p = slots_[pending_];
  p.owned.resize(update.tensors.size());
  p.data.resize(update.tensors.size());
  for (size_t i = 0; i < p.data.size(); ++i) {
    p.owned[i] = std::move(update.tensors[i].data);
    p.data[i] = p.owned[i].data();
  }
  Commit(weight, max_term);
  if (pending_ == capacity_) Flush();
  return Status::Ok();
}

void FedAvgAccumulator::Commit(uint64_t weight, double max_term) {
  Pending& p = slots_[pending_++];
  p.scale = static_cast<double>(weight) * kScale;
  p.narrow = max_term < kNarrowTerm;
  p.bound = p.narrow ? static_cast<uint64_t>(std::ceil(max_term)) : 0;
  total_weight_ += weight;
  ++updates_;
}

void FedAvgAccumulator::Spill() {
  if (wide_.empty()) wide_.assign(fast_.size(), 0);
  for (size_t k = 0; k < fast_.size(); ++k) wide_[k] += fast_[k];
  std::fill(fast_.begin(), fast_.end(), 0);
  fast_bound_ = 0;
}

// Adds the pending updates tensor by tensor, block by block: each block of kBlock int64 sums
// is loaded and stored once per batch while the narrow updates' slices are added to it (one
// pass for up to 8 updates). Wide updates (some |term| >= 2^60; rare) go to wide_ directly.
void FedAvgAccumulator::Flush() {
  if (pending_ == 0) return;
  uint64_t batch_bound = 0;  // < 8 * 2^60: no overflow
  bool any_wide = false;
  for (size_t i = 0; i < pending_; ++i) {
    batch_bound += slots_[i].bound;
    any_wide = any_wide || !slots_[i].narrow;
  }
  if (batch_bound >= kFastLimit - fast_bound_) Spill();
  fast_bound_ += batch_bound;
  if (any_wide && wide_.empty()) wide_.assign(fast_.size(), 0);
  size_t base = 0;
  for (size_t t = 0; t < layout_.tensors.size(); ++t) {
    const auto n = static_cast<size_t>(layout_.tensors[t].NumElements());
    const float* v[kMaxPendingUpdates];
    double scales[kMaxPendingUpdates];
    size_t narrow = 0;
    for (size_t i = 0; i < pending_; ++i) {
      const Pending& p = slots_[i];
      if (p.narrow) {
        v[narrow] = p.data[t];
        scales[narrow++] = p.scale;
      } else {
        AddWideTerms(p.data[t], n, p.scale, wide_.data() + base);
      }
    }
    kernels_->AddNarrow(v, scales, narrow, n, fast_.data() + base);
    base += n;
  }
  for (size_t i = 0; i < pending_; ++i) slots_[i].owned.clear();  // frees the values
  pending_ = 0;
}

// Every path rounds the exact integer sum s to double (correctly: int64 and __int128
// conversions both round to nearest), divides by (total weight) * 2^32 and rounds to float,
// so the result depends on s alone, never on how it was split between fast_ and wide_.
Result<TensorBundle> FedAvgAccumulator::Finalize() {
  if (total_weight_ == 0) return Status::InvalidArgument("no update was folded");
  Flush();
  TensorBundle out = layout_;
  const double denom = static_cast<double>(total_weight_) * kScale;
  size_t base = 0;
  for (auto& t : out.tensors) {
    const auto n = static_cast<size_t>(t.NumElements());
    t.data.resize(n);
    if (wide_.empty()) {
      kernels_->mean(fast_.data() + base, n, denom, t.data.data());
    } else {
      for (size_t j = 0; j < n; ++j) {
        const __int128 s = wide_[base + j] + fast_[base + j];
        t.data[j] = static_cast<float>(static_cast<double>(s) / denom);
      }
    }
    base += n;
  }
  return out;
}

std::optional<uint64_t> ShareCap(const std::vector<uint64_t>& weights, uint32_t share_ppm) {
  if (weights.empty()) return std::nullopt;
  // Does every min(w, cap) stay within share_ppm / 10^6 of their sum? g(cap) = share * sum -
  // cap is concave in cap and g(0) = 0, so the caps that fit form one interval [0, best].
  auto fits = [&](uint64_t cap) {
    unsigned __int128 sum = 0;
    for (uint64_t w : weights) sum += std::min(w, cap);
    return static_cast<unsigned __int128>(cap) * 1000000u <= sum * share_ppm;
  };
  const uint64_t largest = *std::max_element(weights.begin(), weights.end());
  if (fits(largest)) return std::nullopt;
  uint64_t lo = 0, hi = largest;  // fits(lo), !fits(hi)
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  const uint64_t smallest = *std::min_element(weights.begin(), weights.end());
  return std::max(lo, std::min<uint64_t>(smallest, largest));
}

}  // namespace fedge::coordinator
