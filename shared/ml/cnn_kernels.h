#pragma once
// Plain C++ fp32 kernels behind "cnn_small" in model.cc, for the layers where LibTorch 1.13 on
// CPU is slow. Internal to fedge_ml; data is NHWC (channels-last). Every kernel works on a
// range of output rows so callers can split the work across threads.
//
// Fused relu(max_pool2d(x, kernel 2, stride 2)): LibTorch runs relu, max-pool (int64 indices),
// zero-fill, max-pool backward and relu backward as five memory-bound passes; these kernels do
// one pass each way with one uint8 of argmax per output. relu(maxpool(x)) == maxpool(relu(x))
// and the gradients match PyTorch's relu-then-pool exactly (the first maximum in row-major
// window order wins, as in ATen's `val > max || isnan(val)`; the gradient is zero where the
// output is <= 0).
//
// 3x3 convolution of a single-channel image (the first layer): oneDNN's kernel for one input
// channel is several times slower per FLOP than its 32-channel second layer and scales poorly
// to two threads; replacing it took training from ~6,500 to ~8,900 img/s on 2 cores. A direct
// loop with register accumulators, vectorized over output channels.
//
// On x86-64 with GCC each public kernel is compiled twice (target_clones): baseline and x86-64-v3
// (AVX2 + FMA), chosen at load time from the CPU's features.

#include <cstdint>

namespace fedge::ml::kernels {

// arg value for a pooled output that relu set to zero (no gradient flows).
inline constexpr uint8_t kPoolNoGradient = 4;

struct PoolShape {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input; output is n x h/2 x w/2 x c (floor)
  int64_t out_h() const { return h / 2; }
  int64_t out_w() const { return w / 2; }
  int64_t rows() const { return n * out_h(); }  // units of work: one output row each
};

// Computes output rows [row_begin, row_end) of the n * out_h rows: out[n, oh, ow, c] and
// arg[n, oh, ow, c] in 0..3 (position of the maximum: 2 * dy + dx) or kPoolNoGradient.
// REQUIRES: in holds n*h*w*c floats; out and arg hold n*out_h*out_w*c elements.
void MaxPool2ReluForward(const PoolShape& shape, const float* in, float* out, uint8_t* arg,
                         int64_t row_begin, int64_t row_end);

// Writes the input rows under output rows [row_begin, row_end) of grad_in (n x h x w x c): the
// gradient at each window's arg position, zero elsewhere. Rows and columns that no window
// covers (odd h or w) are zeroed by the call that handles the last output row of each image.
void MaxPool2ReluBackward(const PoolShape& shape, const float* grad_out, const uint8_t* arg,
                          float* grad_in, int64_t row_begin, int64_t row_end);

// Valid (unpadded, stride 1) 3x3 convolution of n single-channel h x w images into oc channels.
struct Conv3x3Shape {
  int64_t n = 0, h = 0, w = 0, oc = 0;
  int64_t out_h() const { return h - 2; }
  int64_t out_w() const { return w - 2; }
  int64_t rows() const { return n * out_h(); }
};

// out[n, oy, ox, o] = bias[o] + sum_t in[n, oy + t/3, ox + t%3] * taps[t * oc + o] for output rows
// [row_begin, row_end) of n * out_h. `taps` is the weight [oc, 1, 3, 3] transposed to [9, oc].
// REQUIRES: h >= 3, w >= 3.
void Conv3x3Forward(const Conv3x3Shape& shape, const float* in, const float* taps,
                    const float* bias, float* out, int64_t row_begin, int64_t row_end);

// Adds the weight and bias gradients of output rows [row_begin, row_end) to grad_taps ([9, oc])
// and grad_bias ([oc]). grad_out is n x out_h x out_w x oc.
void Conv3x3BackwardWeights(const Conv3x3Shape& shape, const float* in, const float* grad_out,
                            float* grad_taps, float* grad_bias, int64_t row_begin, int64_t row_end);

}  // namespace fedge::ml::kernels
