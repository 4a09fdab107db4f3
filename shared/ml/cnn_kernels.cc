#include "shared/ml/cnn_kernels.h"

#include <algorithm>

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

// One output pixel of the 3x3 convolution; OC > 0 is a compile-time channel count (so the
// accumulators stay in registers), OC == 0 means use `oc`.
template <int64_t OC>
[[gnu::always_inline]] inline void ConvPixel(const float* __restrict top, int64_t w,
                                             const float* __restrict taps,
                                             const float* __restrict bias, float* __restrict out,
                                             int64_t oc) {
  const int64_t channels = OC > 0 ? OC : oc;
  float acc[OC > 0 ? OC : 1];
  float* a = OC > 0 ? acc : out;
  for (int64_t o = 0; o < channels; ++o) a[o] = bias[o];
  for (int64_t t = 0; t < 9; ++t) {
    const float v = top[(t / 3) * w + t % 3];
    const float* tap = taps + t * channels;
    for (int64_t o = 0; o < channels; ++o) a[o] += v * tap[o];
  }
  if constexpr (OC > 0) {
    for (int64_t o = 0; o < OC; ++o) out[o] = acc[o];
  }
}

template <int64_t OC>
[[gnu::always_inline]] inline void ConvRows(const Conv3x3Shape& s, const float* in,
                                            const float* taps, const float* bias, float* out,
                                            int64_t row_begin, int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oy = row % oh_count;
    const float* top = in + (n * s.h + oy) * s.w;
    float* dst = out + row * ow_count * s.oc;
    for (int64_t ox = 0; ox < ow_count; ++ox) {
      ConvPixel<OC>(top + ox, s.w, taps, bias, dst + ox * s.oc, s.oc);
    }
  }
}

// Pixels per block in the weight-gradient loop: the block's output gradients stay in L1 while
// the nine taps are accumulated one after the other.
constexpr int64_t kConvBlockPixels = 64;

template <int64_t OC>
[[gnu::always_inline]] inline void ConvGradRow(const float* __restrict top, int64_t w,
                                               const float* __restrict grad, int64_t pixels,
                                               float* __restrict grad_taps,
                                               float* __restrict grad_bias, int64_t oc) {
  const int64_t channels = OC > 0 ? OC : oc;
  for (int64_t p0 = 0; p0 < pixels; p0 += kConvBlockPixels) {
    const int64_t p1 = std::min(pixels, p0 + kConvBlockPixels);
    for (int64_t t = 0; t < 9; ++t) {
      const float* src = top + (t / 3) * w + t % 3;
      float* gt = grad_taps + t * channels;
      for (int64_t p = p0; p < p1; ++p) {
        const float v = src[p];
        const float* g = grad + p * channels;
        for (int64_t o = 0; o < channels; ++o) gt[o] += v * g[o];
      }
    }
    for (int64_t p = p0; p < p1; ++p) {
      const float* g = grad + p * channels;
      for (int64_t o = 0; o < channels; ++o) grad_bias[o] += g[o];
    }
  }
}

}  // namespace

__attribute__((target_clones("arch=haswell", "default"))) void Conv3x3Forward(
    const Conv3x3Shape& s, const float* in, const float* taps, const float* bias, float* out,
    int64_t row_begin, int64_t row_end) {
  if (s.oc == 32) {
    ConvRows<32>(s, in, taps, bias, out, row_begin, row_end);
  } else {
    ConvRows<0>(s, in, taps, bias, out, row_begin, row_end);
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void Conv3x3BackwardWeights(
    const Conv3x3Shape& s, const float* in, const float* grad_out, float* grad_taps,
    float* grad_bias, int64_t row_begin, int64_t row_end) {
  const int64_t oh_count = s.out_h(), ow_count = s.out_w();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / oh_count, oy = row % oh_count;
    const float* top = in + (n * s.h + oy) * s.w;
    const float* grad = grad_out + row * ow_count * s.oc;
    if (s.oc == 32) {
      ConvGradRow<32>(top, s.w, grad, ow_count, grad_taps, grad_bias, s.oc);
    } else {
      ConvGradRow<0>(top, s.w, grad, ow_count, grad_taps, grad_bias, s.oc);
    }
  }
}

__attribute__((target_clones("arch=haswell", "default"))) void MaxPool2ReluForward(
    const PoolShape& s, const float* in, float* out, uint8_t* arg, int64_t row_begin,
    int64_t row_end) {
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

__attribute__((target_clones("arch=haswell", "default"))) void MaxPool2ReluBackward(
    const PoolShape& s, const float* grad_out, const uint8_t* arg, float* grad_in,
    int64_t row_begin, int64_t row_end) {
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
