#include "shared/ml/pool_kernels.h"

#include <algorithm>

namespace fedge::ml::kernels {
namespace {

// One output pixel: c channels of four input pixels. Branch-free selects on __restrict pointers
// so that GCC vectorizes the channel loop.
inline void PoolPixel(const float* __restrict p0, const float* __restrict p1,
                      const float* __restrict p2, const float* __restrict p3, float* __restrict out,
                      uint8_t* __restrict arg, int64_t c) {
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

inline void UnpoolPixel(const float* __restrict g, const uint8_t* __restrict arg,
                        float* __restrict q0, float* __restrict q1, float* __restrict q2,
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

}  // namespace

__attribute__((target_clones("avx2", "default"))) void MaxPool2ReluForward(const PoolShape& s,
                                                                           const float* in,
                                                                           float* out, uint8_t* arg,
                                                                           int64_t row_begin,
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

__attribute__((target_clones("avx2", "default"))) void MaxPool2ReluBackward(
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
