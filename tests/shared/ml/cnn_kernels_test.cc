#include "shared/ml/torch/cnn_kernels.h"

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

// relu(max_pool2d(conv2d(x, weight, bias, padding 1), 2)) written out in double, on a CHW image
// with real channel counts; the result is HWC with oc channels.
std::vector<double> ReferenceConvReluPool(int64_t h, int64_t w, int64_t ic, int64_t oc,
                                          const std::vector<float>& chw,
                                          const std::vector<float>& weight,
                                          const std::vector<float>& bias) {
  std::vector<double> conv(h * w * oc);
  for (int64_t o = 0; o < oc; ++o) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        double sum = bias[o];
        for (int64_t c = 0; c < ic; ++c) {
          for (int64_t t = 0; t < 9; ++t) {
            const int64_t yy = y + t / 3 - 1, xx = x + t % 3 - 1;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            sum += static_cast<double>(chw[(c * h + yy) * w + xx]) * weight[(o * ic + c) * 9 + t];
          }
        }
        conv[(y * w + x) * oc + o] = sum;
      }
    }
  }
  std::vector<double> out((h / 2) * (w / 2) * oc);
  for (int64_t y = 0; y < h / 2; ++y) {
    for (int64_t x = 0; x < w / 2; ++x) {
      for (int64_t o = 0; o < oc; ++o) {
        double m = 0;  // relu
        for (int64_t k = 0; k < 4; ++k) {
          m = std::max(m, conv[((2 * y + k / 2) * w + 2 * x + k % 2) * oc + o]);
        }
        out[(y * (w / 2) + x) * oc + o] = m;
      }
    }
  }
  return out;
}

TEST(ConvReluPoolTest, MatchesDirectConvolutionWithPaddedChannels) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  struct Case {
    int64_t h, w, ic, oc;
  };
  // oc 32 and 16 use 16-channel blocks, 8 and 24 (padded from 5 and 17) 8-channel ones; odd
  // sizes leave a last row and column outside every window and pixel tails under 4.
  for (const Case& c : {Case{32, 32, 3, 32}, Case{16, 16, 32, 64}, Case{7, 9, 5, 5},
                        Case{6, 10, 12, 17}, Case{2, 2, 1, 16}}) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w << "x" << c.ic << " -> " << c.oc);
    std::vector<float> chw(c.ic * c.h * c.w), weight(c.oc * c.ic * 9), bias(c.oc);
    for (auto* v : {&chw, &weight, &bias}) {
      for (float& x : *v) x = normal(rng);
    }
    const std::vector<double> want = ReferenceConvReluPool(c.h, c.w, c.ic, c.oc, chw, weight, bias);

    // Padded channel counts as the inference pass uses them (input padded for ic > 3).
    const int64_t ic_pad = c.ic <= 3 ? c.ic : PaddedChannels(c.ic);
    const ConvReluPoolShape s{c.h, c.w, ic_pad, PaddedChannels(c.oc)};
    std::vector<float> padded((c.h + 2) * (c.w + 2) * ic_pad, 0.0f);
    for (int64_t ch = 0; ch < c.ic; ++ch) {
      for (int64_t y = 0; y < c.h; ++y) {
        for (int64_t x = 0; x < c.w; ++x) {
          padded[((y + 1) * (c.w + 2) + x + 1) * ic_pad + ch] = chw[(ch * c.h + y) * c.w + x];
        }
      }
    }
    std::vector<float> packed(s.PackedSize(), -7.0f), bias_pad(bias);
    bias_pad.resize(s.oc, 0.0f);
    PackConv3x3(s, weight.data(), c.oc, c.ic, packed.data());
    std::vector<float> out(s.out_h() * s.out_w() * s.oc, -7.0f);
    const int64_t split = s.out_h() / 2;
    for (auto [begin, end] : {std::pair{split, s.out_h()}, std::pair{int64_t{0}, split}}) {
      ConvReluPoolForward(s, padded.data(), packed.data(), bias_pad.data(), out.data(),
                          s.out_w() * s.oc, begin, end);
    }
    for (int64_t p = 0; p < s.out_h() * s.out_w(); ++p) {
      for (int64_t o = 0; o < s.oc; ++o) {
        const float got = out[p * s.oc + o];
        if (o >= c.oc) {
          EXPECT_EQ(got, 0.0f) << "padded channel " << o;
        } else {
          const double expected = want[p * c.oc + o];
          EXPECT_NEAR(got, expected, 1e-4 * (1.0 + std::abs(expected))) << p << " " << o;
        }
      }
    }
  }
}

TEST(ConvReluPoolTest, NaNPropagatesLikeReluOfMaxPool) {
  const ConvReluPoolShape s{2, 2, 1, 8};
  std::vector<float> padded(4 * 4, 0.0f), packed(s.PackedSize()), bias(8, 0.0f);
  std::vector<float> weight(8 * 9, 0.0f);
  for (int64_t o = 0; o < 8; ++o) weight[o * 9 + 4] = o % 2 == 0 ? 1.0f : -1.0f;  // centre tap
  PackConv3x3(s, weight.data(), 8, 1, packed.data());
  padded[1 * 4 + 1] = 2.0f;
  padded[2 * 4 + 2] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out(8);
  ConvReluPoolForward(s, padded.data(), packed.data(), bias.data(), out.data(), 8, 0, 1);
  for (float v : out) EXPECT_TRUE(std::isnan(v));
}

TEST(LinearTest, MatchesDirectProductWithPaddedOutputs) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  // 128 outputs take 64-wide blocks, 10 -> 16 one 16-wide block, 33 -> 40 16s and an 8.
  for (auto [in, out] : {std::pair<int64_t, int64_t>{1024, 128}, {128, 10}, {37, 33}}) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(testing::Message() << in << " -> " << out << (relu ? " relu" : ""));
      const int64_t out_pad = PaddedChannels(out);
      std::vector<float> x(in), weight(out * in), bias(out_pad, 0.0f);
      for (float& v : x) v = normal(rng);
      for (float& v : weight) v = normal(rng);
      for (int64_t o = 0; o < out; ++o) bias[o] = normal(rng);
      std::vector<float> wt(in * out_pad, -7.0f), y(out_pad, -7.0f);
      PackLinear(weight.data(), out, in, wt.data());
      LinearForward(x.data(), in, wt.data(), bias.data(), out_pad, relu, y.data());
      for (int64_t o = 0; o < out_pad; ++o) {
        double want = o < out ? bias[o] : 0.0;
        for (int64_t i = 0; o < out && i < in; ++i) {
          want += static_cast<double>(weight[o * in + i]) * x[i];
        }
        if (relu) want = std::max(want, 0.0);
        EXPECT_NEAR(y[o], want, 1e-4 * (1.0 + std::abs(want))) << o;
      }
    }
  }
}

}  // namespace
}  // namespace fedge::ml::kernels
