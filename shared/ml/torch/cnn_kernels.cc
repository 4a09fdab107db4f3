#include "shared/ml/torch/cnn_kernels.h"

#include <algorithm>
#include <vector>

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

// Output channels per block of ConvReluPoolForward's packed weights: 16 when they divide the
// (padded) count, else 8.
inline int OcBlock(int64_t oc) { return oc % 16 == 0 ? 16 : 8; }

// P adjacent output pixels of one convolution row, 8 * NV output channels (one packed block),
// accumulated in registers. `src` is the padded input at the window of the first pixel; `wblk`
// the block's packed weights [9][ic][8 * NV]; `out` receives P x (8 * NV) floats with a pixel
// stride of `oc`.
template <int NV, int P>
[[gnu::always_inline]] inline void ConvTile(const float* __restrict src, int64_t in_row, int64_t ic,
                                            const float* __restrict wblk, float* __restrict out,
                                            int64_t oc) {
  Vec8 acc[P][NV];
  for (int p = 0; p < P; ++p) {
    for (int j = 0; j < NV; ++j) acc[p][j] = Vec8{};
  }
  for (int t = 0; t < 9; ++t) {
    const float* s = src + (t / 3) * in_row + (t % 3) * ic;
    const float* wt = wblk + t * ic * 8 * NV;
    for (int64_t c = 0; c < ic; ++c) {
      Vec8 wv[NV];
      for (int j = 0; j < NV; ++j) wv[j] = Load8(wt + c * 8 * NV + 8 * j);
      for (int p = 0; p < P; ++p) {
        const float v = s[p * ic + c];
        for (int j = 0; j < NV; ++j) acc[p][j] += v * wv[j];
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    for (int j = 0; j < NV; ++j) Store8(out + p * oc + 8 * j, acc[p][j]);
  }
}

// One convolution row (without bias) of w pixels x oc channels into `out` (w x oc).
template <int NV>
[[gnu::always_inline]] inline void ConvRow(const ConvReluPoolShape& s, const float* src,
                                           const float* packed, float* out) {
  constexpr int kP = 4;
  const int64_t in_row = (s.w + 2) * s.ic;
  for (int64_t ob = 0; ob < s.oc; ob += 8 * NV) {
    const float* wblk = packed + 9 * s.ic * ob;
    int64_t x = 0;
    for (; x + kP <= s.w; x += kP) {
      ConvTile<NV, kP>(src + x * s.ic, in_row, s.ic, wblk, out + x * s.oc + ob, s.oc);
    }
    for (; x < s.w; ++x) {
      ConvTile<NV, 1>(src + x * s.ic, in_row, s.ic, wblk, out + x * s.oc + ob, s.oc);
    }
  }
}

template <int NV>
[[gnu::always_inline]] inline void ConvReluPoolRows(const ConvReluPoolShape& s, const float* in,
                                                    const float* packed, const float* bias,
                                                    float* out, int64_t out_row_stride,
                                                    int64_t row_begin, int64_t row_end,
                                                    float* __restrict rows) {
  const int64_t in_row = (s.w + 2) * s.ic;
  float* __restrict top = rows;
  float* __restrict bottom = rows + s.w * s.oc;
  for (int64_t r = row_begin; r < row_end; ++r) {
    ConvRow<NV>(s, in + 2 * r * in_row, packed, top);
    ConvRow<NV>(s, in + (2 * r + 1) * in_row, packed, bottom);
    float* __restrict dst = out + r * out_row_stride;
    for (int64_t x = 0; x < s.out_w(); ++x) {
      const float* p0 = top + 2 * x * s.oc;
      const float* p1 = bottom + 2 * x * s.oc;
      for (int64_t o = 0; o < s.oc; ++o) {
        // Same order and NaN rule as PoolPixel; the bias is the same for the whole window.
        float m = p0[o];
        const float v1 = p0[s.oc + o], v2 = p1[o], v3 = p1[s.oc + o];
        if (v1 > m || v1 != v1) m = v1;
        if (v2 > m || v2 != v2) m = v2;
        if (v3 > m || v3 != v3) m = v3;
        m += bias[o];
        dst[x * s.oc + o] = (m > 0.0f || m != m) ? m : 0.0f;
      }
    }
  }
}

template <int NV>
[[gnu::always_inline]] inline void LinearBlock(const float* __restrict x, int64_t in,
                                               const float* __restrict wt, int64_t out_pad,
                                               const float* __restrict bias, bool relu,
                                               float* __restrict y) {
  Vec8 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = Load8(bias + 8 * j);
  for (int64_t i = 0; i < in; ++i) {
    const float v = x[i];
    for (int j = 0; j < NV; ++j) acc[j] += v * Load8(wt + i * out_pad + 8 * j);
  }
  for (int j = 0; j < NV; ++j) {
    if (relu) {
      const Vec8 zero = {};
      acc[j] = acc[j] > zero ? acc[j] : zero;
    }
    Store8(y + 8 * j, acc[j]);
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

void PackConv3x3(const ConvReluPoolShape& s, const float* weight, int64_t real_oc, int64_t real_ic,
                 float* packed) {
  const int block = OcBlock(s.oc);
  std::fill(packed, packed + s.PackedSize(), 0.0f);
  for (int64_t o = 0; o < real_oc; ++o) {
    const int64_t ob = o / block * block, lane = o % block;
    for (int64_t c = 0; c < real_ic; ++c) {
      for (int t = 0; t < 9; ++t) {
        packed[9 * s.ic * ob + (t * s.ic + c) * block + lane] = weight[(o * real_ic + c) * 9 + t];
      }
    }
  }
}

FEDGE_KERNEL_CLONES void ConvReluPoolForward(const ConvReluPoolShape& s, const float* in,
                                             const float* packed, const float* bias, float* out,
                                             int64_t out_row_stride, int64_t row_begin,
                                             int64_t row_end) {
  std::vector<float> rows(2 * s.w * s.oc);
  if (OcBlock(s.oc) == 16) {
    ConvReluPoolRows<2>(s, in, packed, bias, out, out_row_stride, row_begin, row_end, rows.data());
  } else {
    ConvReluPoolRows<1>(s, in, packed, bias, out, out_row_stride, row_begin, row_end, rows.data());
  }
}

void PackLinear(const float* weight, int64_t out, int64_t in, float* wt) {
  const int64_t out_pad = PaddedChannels(out);
  std::fill(wt, wt + in * out_pad, 0.0f);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) wt[i * out_pad + o] = weight[o * in + i];
  }
}

FEDGE_KERNEL_CLONES void LinearForward(const float* x, int64_t in, const float* wt,
                                       const float* bias, int64_t out_pad, bool relu, float* y) {
  int64_t o = 0;
  for (; o + 64 <= out_pad; o += 64) LinearBlock<8>(x, in, wt + o, out_pad, bias + o, relu, y + o);
  for (; o + 16 <= out_pad; o += 16) LinearBlock<2>(x, in, wt + o, out_pad, bias + o, relu, y + o);
  for (; o < out_pad; o += 8) LinearBlock<1>(x, in, wt + o, out_pad, bias + o, relu, y + o);
}

}  // namespace fedge::ml::kernels
