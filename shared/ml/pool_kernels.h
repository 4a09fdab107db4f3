#pragma once
// Fused relu(max_pool2d(x, kernel 2, stride 2)) over NHWC (channels-last) fp32 data: plain C++
// kernels behind the "cnn_small" pooling layers in model.cc. Internal to fedge_ml.
//
// Why: LibTorch 1.13 runs relu, max-pool (int64 indices), zero-fill, max-pool backward and
// relu backward as five memory-bound passes; these two do one pass each way with one uint8 of
// argmax per output. relu(maxpool(x)) == maxpool(relu(x)) and the gradients match PyTorch's
// relu-then-pool exactly (first maximum in row-major window order wins, as in ATen; a NaN wins
// and propagates; the gradient is zero where the output is <= 0).

#include <cstdint>

namespace fedge::ml::kernels {

// arg value for an output that relu set to zero (no gradient flows).
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

}  // namespace fedge::ml::kernels
