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

// ---- Inference (no autograd) kernels behind "cnn_color"'s small-batch forward pass. ----
//
// At batch 1 LibTorch spends most of a cnn_color forward pass outside arithmetic (operator
// dispatch, oneDNN primitive set-up, allocations, OpenMP hand-offs per op); these kernels run
// a whole layer in one call on caller-owned buffers with weights packed once. Channel counts
// inside the pass are padded to multiples of 8 (PaddedChannels) with zero weights, so padded
// channels hold zeros.

// c rounded up to a multiple of 8.
inline int64_t PaddedChannels(int64_t c) { return (c + 7) / 8 * 8; }

// A 3x3 convolution with padding 1 and stride 1 over an h x w image with `ic` channels into
// `oc` channels (both the padded counts of the buffers), followed by bias, relu and 2x2
// max-pooling to h/2 x w/2 (floor).
struct ConvReluPoolShape {
  int64_t h = 0, w = 0, ic = 0, oc = 0;  // REQUIRES: oc % 8 == 0, h >= 2, w >= 2
  int64_t out_h() const { return h / 2; }
  int64_t out_w() const { return w / 2; }
  int64_t PackedSize() const { return 9 * ic * oc; }
  // Multiply-adds per pooled output row (two convolution rows): for choosing a thread split.
  int64_t MacsPerRow() const { return 2 * w * oc * 9 * ic; }
};

// Packs a PyTorch conv weight [real_oc, real_ic, 3, 3] into `packed` (shape.PackedSize()
// floats) for ConvReluPoolForward; channels from real_oc/real_ic up to shape.oc/shape.ic get
// zero weights. REQUIRES: real_oc <= shape.oc, real_ic <= shape.ic.
void PackConv3x3(const ConvReluPoolShape& shape, const float* weight, int64_t real_oc,
                 int64_t real_ic, float* packed);

// Computes pooled output rows [row_begin, row_end) of out_h():
//   out[r * out_row_stride + x * oc + o] = relu(bias[o] + max over the 2x2 window of conv).
// `in` is the image zero-padded by one pixel: (h + 2) x (w + 2) x ic floats, NHWC. NaN
// propagates as in PyTorch's relu(max_pool2d(...)). Rows may be computed on different threads.
void ConvReluPoolForward(const ConvReluPoolShape& shape, const float* in, const float* packed,
                         const float* bias, float* out, int64_t out_row_stride, int64_t row_begin,
                         int64_t row_end);

// A linear layer y = W x + b on one example. `wt` is W transposed and padded: in x out_pad
// floats with out_pad = PaddedChannels(out), zero beyond `out` columns. Writes out_pad floats
// (relu applied if `relu`); the padded outputs are relu(0 + bias) with zero padded bias.
void PackLinear(const float* weight, int64_t out, int64_t in, float* wt);
void LinearForward(const float* x, int64_t in, const float* wt, const float* bias, int64_t out_pad,
                   bool relu, float* y);

}  // namespace fedge::ml::kernels
