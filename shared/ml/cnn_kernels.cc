#include "shared/ml/cnn_kernels.h"

#include <algorithm>

// See Load8 below.
#pragma GCC diagnostic ignored "-Wpsabi"

// Public kernels get an AVX2+FMA clone next to the baseline build on x86-64 with GCC, chosen at
// load time from the CPU's features ("arch=haswell" would be chosen by CPU model, not features).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FEDGE_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FEDGE_KERNEL_CLONES
#endif

namespace fedge::ml::kernels {
namespace {

// The helpers below are always inlined so that each target_clones variant of the public
// kernels compiles them for its own instruction set.

// One output pixel: c channels of four input pixels. Branch-free selects on __restrict pointers
// so that GCC vectorizes the channel loop.
[[gnu::always_inline]] inline void PoolPixel(const float* __restrict p0, const float* __restrict p1,
                                             const float* __restrict p2, const float* __restrict p3,
                                             float* __restrict out, uint8_t* __restrict arg,
                                             int64_t c) {
  for (int64_t i = 0; i < c; ++i) {
    float m = p0[i];
    uint8_t k = 0;
    const float v1 = p1[i], v2 = p2[i], v3 = p3[i];
    // Same predicate as ATen: (val > max) || isnan(val).
    if (v1 > m || v1 != v1) m = v1, k = 1;
    if (v2 > m || v2 != v2) m = v2, k = 2;
    if (v3 > m || v3 != v3) m = v3, k = 3;
    const bool keep = m > 0.0f || m != m;  // relu keeps NaN
    out[i] = keep ? m : 0.0f;
    arg[i] = keep ? k : kPoolNoGradient;
  }
}

[[gnu::always_inline]] inline void UnpoolPixel(const float* __restrict g,
                                               const uint8_t* __restrict arg, float* __restrict q0,
                                               float* __restrict q1, float* __restrict q2,
                                               float* __restrict q3, int64_t c) {
  for (int64_t i = 0; i < c; ++i) {
    const float v = g[i];
    const uint8_t k = arg[i];
    q0[i] = k == 0 ? v : 0.0f;
    q1[i] = k == 1 ? v : 0.0f;
    q2[i] = k == 2 ? v : 0.0f;
    q3[i] = k == 3 ? v : 0.0f;
  }
}

// 8 floats (GCC vector extension): one AVX register in the x86-64-v3 clone, two SSE registers in
// the baseline one. Used where plain loops leave accumulators on the stack.
using Vec8 = float __attribute__((vector_size(32)));

// Unaligned 8-float load and store. Vec8 by value would change the ABI between the clones, which
// GCC warns about (-Wpsabi, silenced above); these helpers are always inlined, so no call uses it.
[[gnu::always_inline]] inline Vec8 Load8(const float* p) {
  Vec8 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

[[gnu::always_inline]] inline void Store8(float* p, Vec8 v) { __builtin_memcpy(p, &v, sizeof(v)); }

// One output pixel of the 3x3 convolution. NV > 0: 8 * NV output channels with accumulators in
// registers. NV == 0: any channel count `oc`, accumulating in `out`.
template <int NV>
[[gnu::always_inline]] inline void ConvPixel(const float* __restrict top, int64_t w,
                                             const float* __restrict taps,
                                             const float* __restrict bias, float* __restrict out,
                                             int64_t oc) {
  if constexpr (NV > 0) {
    Vec8 acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = Load8(bias + 8 * j);
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) {
      const float v = top[(t / 3) * w + t % 3];
      for (int j = 0; j < NV; ++j) acc[j] += v * Load8(taps + (t * NV + j) * 8);
    }
    for (int j = 0; j < NV; ++j) Store8(out + 8 * j, acc[j]);
  } else {
    for (int64_t o = 0; o < oc; ++o) out[o] = bias[o];
    for (int64_t t = 0; t < 9; ++t) {
      const float v = top[(t / 3) * w + t % 3];
      for (int64_t o = 0; o < oc; ++o) out[o] += v * taps[t * oc + o];
    }
  }
}

template <int NV>
[[gnu::always_inline]] inline void ConvRows(const Conv3x3Shape& s, const float* in,
                                            const float* taps, const float* bias, float* out,
                                            int64_t row_begin, int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oy = row % oh_count;
    const float* top = in + (n * s.h + oy) * s.w;
    float* dst = out + row * ow_count * s.oc;
    for (int64_t ox = 0; ox < ow_count; ++ox) {
      ConvPixel<NV>(top + ox, s.w, taps, bias, dst + ox * s.oc, s.oc);
    }
  }
}

// Weight and bias gradients of one output row. The row's output gradients (out_w x oc floats)
// stay in L1 while the nine taps (and the bias) are accumulated one after the other; with
// NV > 0 (8 * NV channels) in registers.
template <int NV>
[[gnu::always_inline]] inline void ConvGradRow(const float* __restrict top, int64_t w,
                                               const float* __restrict grad, int64_t pixels,
                                               float* __restrict grad_taps,
                                               float* __restrict grad_bias, int64_t oc) {
  if constexpr (NV > 0) {
    constexpr int64_t kOc = 8 * NV;
    for (int t = 0; t < 10; ++t) {  // t == 9: the bias, whose "input" is 1
      Vec8 acc[NV] = {};
      if (t < 9) {
        const float* src = top + (t / 3) * w + t % 3;
        for (int64_t p = 0; p < pixels; ++p) {
          const float v = src[p];
          for (int j = 0; j < NV; ++j) acc[j] += v * Load8(grad + p * kOc + 8 * j);
        }
      } else {
        for (int64_t p = 0; p < pixels; ++p) {
          for (int j = 0; j < NV; ++j) acc[j] += Load8(grad + p * kOc + 8 * j);
        }
      }
      float* sum = t < 9 ? grad_taps + t * kOc : grad_bias;
      for (int j = 0; j < NV; ++j) Store8(sum + 8 * j, Load8(sum + 8 * j) + acc[j]);
    }
  } else {
    for (int64_t p = 0; p < pixels; ++p) {
      const float* g = grad + p * oc;
      for (int64_t t = 0; t < 9; ++t) {
        const float v = top[(t / 3) * w + t % 3 + p];
        for (int64_t o = 0; o < oc; ++o) grad_taps[t * oc + o] += v * g[o];
      }
      for (int64_t o = 0; o < oc; ++o) grad_bias[o] += g[o];
    }
  }
}

}  // namespace

FEDGE_KERNEL_CLONES void Conv3x3Forward(const Conv3x3Shape& s, const float* in, const float* taps,
                                        const float* bias, float* out, int64_t row_begin,
                                        int64_t row_end) {
  if (s.oc == 32) {
    ConvRows<4>(s, in, taps, bias, out, row_begin, row_end);
  } else {
    ConvRows<0>(s, in, taps, bias, out, row_begin, row_end);
  }
}

FEDGE_KERNEL_CLONES void Conv3x3BackwardWeights(const Conv3x3Shape& s, const float* in,
                                                const float* grad_out, float* grad_taps,
                                                float* grad_bias, int64_t row_begin,
                                                int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oy = row % oh_count;
    const float* top = in + (n * s.h + oy) * s.w;
    const float* grad = grad_out + row * ow_count * s.oc;
    if (s.oc == 32) {
      ConvGradRow<4>(top, s.w, grad, ow_count, grad_taps, grad_bias, s.oc);
    } else {
      ConvGradRow<0>(top, s.w, grad, ow_count, grad_taps, grad_bias, s.oc);
    }
  }
}

FEDGE_KERNEL_CLONES void MaxPool2ReluForward(const PoolShape& s, const float* in, float* out,
                                             uint8_t* arg, int64_t row_begin, int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w(), c = s.c;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oh = row % oh_count;
    const float* top = in + ((n * s.h + 2 * oh) * s.w) * c;
    const float* bottom = top + s.w * c;
    const int64_t out_offset = row * ow_count * c;
    for (int64_t ow = 0; ow < ow_count; ++ow) {
      const int64_t x = 2 * ow * c, o = out_offset + ow * c;
      PoolPixel(top + x, top + x + c, bottom + x, bottom + x + c, out + o, arg + o, c);
    }
  }
}

FEDGE_KERNEL_CLONES void MaxPool2ReluBackward(const PoolShape& s, const float* grad_out,
                                              const uint8_t* arg, float* grad_in, int64_t row_begin,
                                              int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w(), c = s.c;
  const int64_t row_floats = s.w * c;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oh = row % oh_count;
    float* top = grad_in + ((n * s.h + 2 * oh) * s.w) * c;
    float* bottom = top + row_floats;
    const int64_t out_offset = row * ow_count * c;
    for (int64_t ow = 0; ow < ow_count; ++ow) {
      const int64_t x = 2 * ow * c, o = out_offset + ow * c;
      UnpoolPixel(grad_out + o, arg + o, top + x, top + x + c, bottom + x, bottom + x + c, c);
    }
    if (s.w % 2 != 0) {  // last column: in no window
      std::fill(top + (s.w - 1) * c, top + s.w * c, 0.0f);
      std::fill(bottom + (s.w - 1) * c, bottom + s.w * c, 0.0f);
    }
    if (s.h % 2 != 0 && oh == oh_count - 1) {  // last row: in no window
      float* last = grad_in + ((n * s.h + s.h - 1) * s.w) * c;
      std::fill(last, last + row_floats, 0.0f);
    }
  }
}

}  // namespace fedge::ml::kernels
