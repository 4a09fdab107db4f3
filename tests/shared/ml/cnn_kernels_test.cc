#include "shared/ml/cnn_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace fedge::ml::kernels {
namespace {

// NHWC index.
int64_t At(const PoolShape& s, int64_t n, int64_t y, int64_t x, int64_t c) {
  return ((n * s.h + y) * s.w + x) * s.c + c;
}

// PyTorch's relu-then-maxpool, written out: relu each input, then the first maximum of the
// window in row-major order wins, as in ATen's `val > max || isnan(val)` (so a NaN wins, a
// later NaN over an earlier one); backward sends the output gradient to
// that position unless the relu output there is <= 0.
void Reference(const PoolShape& s, const std::vector<float>& in, const std::vector<float>& grad_out,
               std::vector<float>& out, std::vector<float>& grad_in) {
  out.assign(s.n * s.out_h() * s.out_w() * s.c, 0.0f);
  grad_in.assign(in.size(), 0.0f);
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t oy = 0; oy < s.out_h(); ++oy) {
      for (int64_t ox = 0; ox < s.out_w(); ++ox) {
        for (int64_t c = 0; c < s.c; ++c) {
          float best = 0;
          int64_t best_index = -1;
          for (int64_t k = 0; k < 4; ++k) {
            const int64_t i = At(s, n, 2 * oy + k / 2, 2 * ox + k % 2, c);
            const float relu = std::isnan(in[i]) ? in[i] : std::max(in[i], 0.0f);
            if (best_index < 0 || relu > best || std::isnan(relu)) {
              best = relu;
              best_index = i;
            }
          }
          const int64_t o = ((n * s.out_h() + oy) * s.out_w() + ox) * s.c + c;
          out[o] = best;
          if (best > 0 || std::isnan(best)) grad_in[best_index] = grad_out[o];
        }
      }
    }
  }
}

void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      EXPECT_TRUE(std::isnan(a[i]) && std::isnan(b[i])) << i;
    } else {
      EXPECT_EQ(a[i], b[i]) << i;
    }
  }
}

TEST(MaxPool2ReluTest, MatchesReluThenMaxPoolIncludingTiesNaNAndOddSizes) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (const PoolShape& s : {PoolShape{2, 6, 6, 5}, PoolShape{3, 11, 11, 8}, PoolShape{1, 5, 4, 3},
                             PoolShape{2, 4, 7, 16}}) {
    SCOPED_TRACE(testing::Message() << s.n << "x" << s.h << "x" << s.w << "x" << s.c);
    std::vector<float> in(s.n * s.h * s.w * s.c);
    for (float& v : in) v = normal(rng);
    for (size_t i = 0; i < in.size(); i += 7) in[i] = 0.5f;  // ties
    in[3] = in[17] = std::numeric_limits<float>::quiet_NaN();
    in[9] = -std::numeric_limits<float>::quiet_NaN();
    std::vector<float> grad_out(s.n * s.out_h() * s.out_w() * s.c);
    for (float& v : grad_out) v = normal(rng);

    std::vector<float> want_out, want_grad;
    Reference(s, in, grad_out, want_out, want_grad);

    std::vector<float> out(want_out.size(), -7.0f);
    std::vector<uint8_t> arg(out.size(), 99);
    std::vector<float> grad_in(in.size(), -7.0f);  // every element must be written
    const int64_t split = s.rows() / 2;            // two calls, like two threads
    MaxPool2ReluForward(s, in.data(), out.data(), arg.data(), 0, split);
    MaxPool2ReluForward(s, in.data(), out.data(), arg.data(), split, s.rows());
    MaxPool2ReluBackward(s, grad_out.data(), arg.data(), grad_in.data(), split, s.rows());
    MaxPool2ReluBackward(s, grad_out.data(), arg.data(), grad_in.data(), 0, split);
    ExpectSameBits(out, want_out);
    ExpectSameBits(grad_in, want_grad);
    for (uint8_t a : arg) EXPECT_LE(a, kPoolNoGradient);
  }
}

TEST(MaxPool2ReluTest, AllNegativeWindowGivesZeroAndNoGradient) {
  const PoolShape s{1, 2, 2, 1};
  const std::vector<float> in = {-1.0f, -2.0f, -0.5f, -3.0f};
  float out = 1.0f;
  uint8_t arg = 0;
  MaxPool2ReluForward(s, in.data(), &out, &arg, 0, 1);
  EXPECT_EQ(out, 0.0f);
  EXPECT_EQ(arg, kPoolNoGradient);
  const float grad_out = 5.0f;
  std::vector<float> grad_in(4, 1.0f);
  MaxPool2ReluBackward(s, &grad_out, &arg, grad_in.data(), 0, 1);
  EXPECT_EQ(grad_in, std::vector<float>(4, 0.0f));
}

// Direct definition of conv2d(x, weight [oc, 1, 3, 3], bias) and of its weight and bias
// gradients, in double precision.
struct ConvReference {
  std::vector<double> out, grad_taps, grad_bias;
};

ConvReference ReferenceConv(const Conv3x3Shape& s, const std::vector<float>& in,
                            const std::vector<float>& taps, const std::vector<float>& bias,
                            const std::vector<float>& grad_out) {
  ConvReference r;
  r.out.assign(s.n * s.out_h() * s.out_w() * s.oc, 0.0);
  r.grad_taps.assign(9 * s.oc, 0.0);
  r.grad_bias.assign(s.oc, 0.0);
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t y = 0; y < s.out_h(); ++y) {
      for (int64_t x = 0; x < s.out_w(); ++x) {
        const int64_t o_base = ((n * s.out_h() + y) * s.out_w() + x) * s.oc;
        for (int64_t o = 0; o < s.oc; ++o) {
          double sum = bias[o];
          for (int64_t t = 0; t < 9; ++t) {
            const double v = in[(n * s.h + y + t / 3) * s.w + x + t % 3];
            sum += v * taps[t * s.oc + o];
            r.grad_taps[t * s.oc + o] += v * grad_out[o_base + o];
          }
          r.out[o_base + o] = sum;
          r.grad_bias[o] += grad_out[o_base + o];
        }
      }
    }
  }
  return r;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tolerance * (1.0 + std::abs(want[i]))) << i;
  }
}

TEST(Conv3x3Test, MatchesDirectConvolutionAndItsWeightGradient) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  // oc = 32 takes the register-blocked path, other counts the generic one.
  for (const Conv3x3Shape& s :
       {Conv3x3Shape{4, 28, 28, 32}, Conv3x3Shape{3, 7, 5, 5}, Conv3x3Shape{2, 3, 3, 17}}) {
    SCOPED_TRACE(testing::Message() << s.n << "x" << s.h << "x" << s.w << " -> " << s.oc);
    std::vector<float> in(s.n * s.h * s.w), taps(9 * s.oc), bias(s.oc);
    std::vector<float> grad_out(s.n * s.out_h() * s.out_w() * s.oc);
    for (auto* v : {&in, &taps, &bias, &grad_out}) {
      for (float& x : *v) x = normal(rng);
    }
    const ConvReference want = ReferenceConv(s, in, taps, bias, grad_out);

    std::vector<float> out(want.out.size(), -7.0f);
    const int64_t split = s.rows() / 3;
    Conv3x3Forward(s, in.data(), taps.data(), bias.data(), out.data(), split, s.rows());
    Conv3x3Forward(s, in.data(), taps.data(), bias.data(), out.data(), 0, split);
    ExpectNear(out, want.out, 1e-5);

    // Gradients accumulate: start from 1 and add two row ranges.
    std::vector<float> grad_taps(9 * s.oc, 1.0f), grad_bias(s.oc, 1.0f);
    Conv3x3BackwardWeights(s, in.data(), grad_out.data(), grad_taps.data(), grad_bias.data(), 0,
                           split);
    Conv3x3BackwardWeights(s, in.data(), grad_out.data(), grad_taps.data(), grad_bias.data(), split,
                           s.rows());
    std::vector<double> want_taps = want.grad_taps, want_bias = want.grad_bias;
    for (double& v : want_taps) v += 1.0;
    for (double& v : want_bias) v += 1.0;
    ExpectNear(grad_taps, want_taps, 1e-4);
    ExpectNear(grad_bias, want_bias, 1e-4);
  }
}

}  // namespace
}  // namespace fedge::ml::kernels
