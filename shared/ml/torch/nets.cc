// Network definitions: "cnn_small" with its custom kernels, "cnn_color" and "mobilenet_small".
// Narrow torch includes keep this translation unit cheaper to parse than <torch/torch.h>.
#include "shared/ml/torch/nets.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shared/ml/torch/cnn_kernels.h"

namespace fedge::ml {
namespace {

// The network runs in channels-last (NHWC) memory format: oneDNN convolutions then produce NHWC
// outputs, which the fused pooling kernels need (and even ATen's own NHWC max-pool is ~10x faster
// than its scalar NCHW one; the NHWC network trains ~1.8x faster). Only the physical layout
// changes, not the results. For a single-channel input NCHW and NHWC share one memory layout, so
// restriding is free; .contiguous(ChannelsLast) would be a no-op there because PyTorch treats the
// size-1 channel dimension as already channels-last, and the convolution would stay NCHW.
torch::Tensor ChannelsLast(const torch::Tensor& x) {
  if (x.dim() == 4 && x.size(1) == 1 && x.is_contiguous()) {
    return x.as_strided(x.sizes(), {x.size(2) * x.size(3), 1, x.size(3), 1});
  }
  return x.contiguous(torch::MemoryFormat::ChannelsLast);
}

// relu(max_pool2d(x, 2)) as one autograd op over channels-last data; see cnn_kernels.h.
// Output is channels-last; the argmax (uint8 per output) is saved for backward.
class MaxPool2Relu : public torch::autograd::Function<MaxPool2Relu> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input) {
    TORCH_CHECK(input.dim() == 4 && input.scalar_type() == torch::kFloat,
                "MaxPool2Relu expects a 4-d float tensor");
    const torch::Tensor x = ChannelsLast(input);
    const kernels::PoolShape shape = Shape(x);
    auto out = torch::empty({shape.n, shape.c, shape.out_h(), shape.out_w()},
                            x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    auto arg = torch::empty({shape.n, shape.out_h(), shape.out_w(), shape.c},
                            x.options().dtype(torch::kByte));
    const float* in = x.data_ptr<float>();
    float* out_data = out.data_ptr<float>();
    uint8_t* arg_data = arg.data_ptr<uint8_t>();
    at::parallel_for(0, shape.rows(), kGrainRows, [&](int64_t begin, int64_t end) {
      kernels::MaxPool2ReluForward(shape, in, out_data, arg_data, begin, end);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["sizes"] = x.sizes().vec();
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    const torch::Tensor grad_out = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    const kernels::PoolShape shape{sizes[0], sizes[2], sizes[3], sizes[1]};
    const auto options = grad_out.options().memory_format(torch::MemoryFormat::ChannelsLast);
    if (shape.rows() == 0 || shape.out_w() == 0) return {torch::zeros(sizes, options)};
    auto grad_in = torch::empty(sizes, options);
    const float* g = grad_out.data_ptr<float>();
    const uint8_t* arg_data = arg.data_ptr<uint8_t>();
    float* gi = grad_in.data_ptr<float>();
    at::parallel_for(0, shape.rows(), kGrainRows, [&](int64_t begin, int64_t end) {
      kernels::MaxPool2ReluBackward(shape, g, arg_data, gi, begin, end);
    });
    return {grad_in};
  }

 private:
  static constexpr int64_t kGrainRows = 16;

  static kernels::PoolShape Shape(const torch::Tensor& x) {
    return {x.size(0), x.size(2), x.size(3), x.size(1)};
  }
};

// conv2d(x, weight, bias) with a 3x3 kernel for a single-channel x that needs no gradient (the
// input images); output channels-last. See cnn_kernels.h.
class Conv3x3SingleChannel : public torch::autograd::Function<Conv3x3SingleChannel> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    TORCH_CHECK(input.dim() == 4 && input.size(1) == 1 && input.size(2) >= 3 &&
                    input.size(3) >= 3 && !input.requires_grad() &&
                    input.scalar_type() == torch::kFloat,
                "Conv3x3SingleChannel expects float [n, 1, h >= 3, w >= 3] data without grad");
    TORCH_CHECK(weight.dim() == 4 && weight.size(1) == 1 && weight.size(2) == 3 &&
                    weight.size(3) == 3 && bias.dim() == 1 && bias.size(0) == weight.size(0),
                "Conv3x3SingleChannel expects weight [oc, 1, 3, 3] and bias [oc]");
    const torch::Tensor x = input.contiguous();  // [n, 1, h, w] is [n, h, w]
    const torch::Tensor taps = weight.detach().reshape({weight.size(0), 9}).t().contiguous();
    const torch::Tensor b = bias.detach().contiguous();
    const kernels::Conv3x3Shape shape{x.size(0), x.size(2), x.size(3), weight.size(0)};
    auto out = torch::empty({shape.n, shape.oc, shape.out_h(), shape.out_w()},
                            x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const float* in = x.data_ptr<float>();
    const float* taps_data = taps.data_ptr<float>();
    const float* bias_data = b.data_ptr<float>();
    float* out_data = out.data_ptr<float>();
    at::parallel_for(0, shape.rows(), kGrainRows, [&](int64_t begin, int64_t end) {
      kernels::Conv3x3Forward(shape, in, taps_data, bias_data, out_data, begin, end);
    });
    ctx->save_for_backward({x});
    ctx->saved_data["oc"] = shape.oc;
    return out;
  }

  // Weight and bias gradients: each thread sums a contiguous block of rows into its own buffer,
  // then the buffers are added (deterministic for a given thread count).
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const int64_t oc = ctx->saved_data["oc"].toInt();
    const kernels::Conv3x3Shape shape{x.size(0), x.size(2), x.size(3), oc};
    const torch::Tensor grad_out = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    const int64_t blocks =
        std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), shape.rows()));
    auto partial = torch::zeros({blocks, 10, oc}, grad_out.options());  // 9 taps + bias
    const float* in = x.data_ptr<float>();
    const float* g = grad_out.data_ptr<float>();
    float* partial_data = partial.data_ptr<float>();
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        float* sums = partial_data + block * 10 * oc;
        kernels::Conv3x3BackwardWeights(shape, in, g, sums, sums + 9 * oc,
                                        shape.rows() * block / blocks,
                                        shape.rows() * (block + 1) / blocks);
      }
    });
    const torch::Tensor total = partial.sum(0);  // [10, oc]
    torch::Tensor grad_weight = total.narrow(0, 0, 9).t().reshape({oc, 1, 3, 3}).contiguous();
    torch::Tensor grad_bias = total[9].clone();
    return {torch::Tensor(), grad_weight, grad_bias};
  }

 private:
  static constexpr int64_t kGrainRows = 16;
};

// Two conv + two linear layers; widths are parameters so pruned variants can reuse it.
struct CnnImpl : NetImpl {
  CnnImpl(int64_t w1, int64_t w2, int64_t hidden, int64_t classes)
      : c1(register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, w1, 3)))),
        c2(register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(w1, w2, 3)))),
        f1(register_module("f1", torch::nn::Linear(w2 * 5 * 5, hidden))),
        f2(register_module("f2", torch::nn::Linear(hidden, classes))) {}

  torch::Tensor forward(torch::Tensor x) override {
    // Same function as maxpool2(relu(c1(x))) etc., with custom kernels for c1 and the pooling.
    x = MaxPool2Relu::apply(Conv3x3SingleChannel::apply(x, c1->weight, c1->bias));
    x = MaxPool2Relu::apply(c2->forward(x));
    return f2->forward(torch::relu(f1->forward(x.flatten(1))));
  }

  torch::nn::Conv2d c1;
  torch::nn::Conv2d c2;
  torch::nn::Linear f1;
  torch::nn::Linear f2;
};

// cnn_color's inference path: each convolution with its bias, relu and max-pool is one kernel
// call (cnn_kernels.h) on per-thread buffers, the linear layers are plain loops, and the
// weights are packed once and re-packed only when a parameter changes (its version counter or
// storage). Examples run one after the other; each layer's rows are split across threads when
// every thread gets at least kMinMacsPerThread multiply-adds. Meant for single frames: on
// batches oneDNN's convolutions are cheaper per image for the default widths (measured at
// batch 4 on one core: ~280 vs ~340 us of CPU per image), so Infer uses it for
// n <= kMaxDirectBatch only.
class CnnColorInference {
 public:
  // params: c1, c2, c3 weight and bias, then f1 and f2 weight and bias (module order).
  // x: [n, 3, h, w] float. Returns logits [n, classes].
  torch::Tensor Run(const std::vector<torch::Tensor>& params, const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == 3 && x.scalar_type() == torch::kFloat,
                "cnn_color expects float [n, 3, h, w] input");
    if (Stale(params) || x.size(2) != h_ || x.size(3) != w_) Pack(params, x.size(2), x.size(3));
    const torch::Tensor images = x.contiguous();
    const int64_t n = images.size(0);
    auto logits = torch::empty({n, classes_}, images.options());
    const float* in = images.data_ptr<float>();
    float* out = logits.data_ptr<float>();
    const int64_t per_image = 3 * h_ * w_;
    if (scratch_.empty()) scratch_.assign(scratch_size_, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      Example(in + i * per_image, out + i * classes_, scratch_.data());
    }
    return logits;
  }

 private:
  // Below this many multiply-adds per thread a layer runs on the calling thread only (an
  // OpenMP hand-off costs a few microseconds).
  static constexpr int64_t kMinMacsPerThread = 100000;

  bool Stale(const std::vector<torch::Tensor>& params) const {
    if (params.size() != versions_.size()) return true;
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i]._version() != versions_[i] || params[i].data_ptr() != storage_[i]) return true;
    }
    return false;
  }

  static std::vector<float> Floats(const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }

  static std::vector<float> Padded(const torch::Tensor& bias, int64_t size) {
    std::vector<float> out = Floats(bias);
    out.resize(size, 0.0f);
    return out;
  }

  void Pack(const std::vector<torch::Tensor>& params, int64_t h, int64_t w) {
    TORCH_CHECK(params.size() == 10, "cnn_color has 10 parameter tensors");
    h_ = h;
    w_ = w;
    const int64_t c1 = params[0].size(0), c2 = params[2].size(0), c3 = params[4].size(0);
    const int64_t hidden = params[6].size(0);
    classes_ = params[8].size(0);
    TORCH_CHECK(h % 8 == 0 && w % 8 == 0 && params[6].size(1) == c3 * (h / 8) * (w / 8),
                "cnn_color: input size does not match f1");
    layers_[0] = {h, w, 3, kernels::PaddedChannels(c1)};
    layers_[1] = {h / 2, w / 2, layers_[0].oc, kernels::PaddedChannels(c2)};
    layers_[2] = {h / 4, w / 4, layers_[1].oc, kernels::PaddedChannels(c3)};
    const int64_t real_ic[3] = {3, c1, c2};
    for (int l = 0; l < 3; ++l) {
      const kernels::ConvReluPoolShape& s = layers_[l];
      conv_[l].assign(s.PackedSize(), 0.0f);
      const std::vector<float> weight = Floats(params[2 * l]);
      kernels::PackConv3x3(s, weight.data(), params[2 * l].size(0), real_ic[l], conv_[l].data());
      bias_[l] = Padded(params[2 * l + 1], s.oc);
    }
    // f1 reads the flattened NCHW activations; ours are NHWC with padded channels.
    const int64_t c3_pad = layers_[2].oc, cells = (h / 8) * (w / 8);
    hidden_pad_ = kernels::PaddedChannels(hidden);
    const torch::Tensor f1 = torch::constant_pad_nd(
        params[6].detach().reshape({hidden, c3, h / 8, w / 8}), {0, 0, 0, 0, 0, c3_pad - c3});
    const std::vector<float> f1_nhwc = Floats(f1.permute({0, 2, 3, 1}));
    f1_.resize(cells * c3_pad * hidden_pad_);
    kernels::PackLinear(f1_nhwc.data(), hidden, cells * c3_pad, f1_.data());
    bias_[3] = Padded(params[7], hidden_pad_);
    const std::vector<float> f2 =
        Floats(torch::constant_pad_nd(params[8].detach(), {0, hidden_pad_ - hidden}));
    f2_.resize(hidden_pad_ * kernels::PaddedChannels(classes_));
    kernels::PackLinear(f2.data(), classes_, hidden_pad_, f2_.data());
    bias_[4] = Padded(params[9], kernels::PaddedChannels(classes_));
    // Scratch: padded inputs of the three convolutions, f1's input, hidden units, logits.
    offsets_[0] = 0;
    for (int l = 0; l < 3; ++l) {
      const kernels::ConvReluPoolShape& s = layers_[l];
      offsets_[l + 1] = offsets_[l] + (s.h + 2) * (s.w + 2) * s.ic;
    }
    offsets_[4] = offsets_[3] + cells * c3_pad;
    offsets_[5] = offsets_[4] + hidden_pad_;
    scratch_size_ = offsets_[5] + kernels::PaddedChannels(classes_);
    scratch_.clear();  // borders must be zero: a fresh buffer
    versions_.clear();
    storage_.clear();
    for (const torch::Tensor& p : params) {
      versions_.push_back(p._version());
      storage_.push_back(p.data_ptr());
    }
  }

  // One image (CHW) to its logits. `scratch` holds scratch_size_ floats with zero borders.
  void Example(const float* image, float* logits, float* scratch) const {
    float* in0 = scratch + offsets_[0];
    const int64_t row0 = (w_ + 2) * 3;
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 0; y < h_; ++y) {
        const float* src = image + (c * h_ + y) * w_;
        float* dst = in0 + (y + 1) * row0 + 3 + c;
        for (int64_t x = 0; x < w_; ++x) dst[3 * x] = src[x];
      }
    }
    for (int l = 0; l < 3; ++l) {
      const kernels::ConvReluPoolShape& s = layers_[l];
      const float* in = scratch + offsets_[l];
      float* out;
      int64_t out_row;
      if (l < 2) {  // into the interior of the next layer's padded input
        out_row = (s.out_w() + 2) * s.oc;
        out = scratch + offsets_[l + 1] + out_row + s.oc;
      } else {
        out_row = s.out_w() * s.oc;
        out = scratch + offsets_[3];
      }
      const int64_t grain = (kMinMacsPerThread + s.MacsPerRow() - 1) / s.MacsPerRow();
      at::parallel_for(0, s.out_h(), grain, [&](int64_t begin, int64_t end) {
        kernels::ConvReluPoolForward(s, in, conv_[l].data(), bias_[l].data(), out, out_row, begin,
                                     end);
      });
    }
    float* hidden = scratch + offsets_[4];
    float* out = scratch + offsets_[5];
    kernels::LinearForward(scratch + offsets_[3], offsets_[4] - offsets_[3], f1_.data(),
                           bias_[3].data(), hidden_pad_, /*relu=*/true, hidden);
    kernels::LinearForward(hidden, hidden_pad_, f2_.data(), bias_[4].data(),
                           kernels::PaddedChannels(classes_), /*relu=*/false, out);
    std::copy(out, out + classes_, logits);
  }

  std::vector<int64_t> versions_;
  std::vector<const void*> storage_;
  int64_t h_ = 0, w_ = 0, classes_ = 0, hidden_pad_ = 0;
  kernels::ConvReluPoolShape layers_[3];
  std::vector<float> conv_[3], bias_[5], f1_, f2_;
  int64_t offsets_[6] = {}, scratch_size_ = 0;
  std::vector<float> scratch_;  // scratch_size_ floats, borders zero
};

// "cnn_color": three padded 3x3 convolutions, each followed by relu and 2x2 max-pooling
// (32 -> 16 -> 8 -> 4), then two linear layers. No normalization layers (FedAvg-friendly).
// Widths are parameters so pruned variants can reuse it.
struct CnnColorImpl : NetImpl {
  CnnColorImpl(int64_t w1, int64_t w2, int64_t w3, int64_t hidden, int64_t classes)
      : c1(register_module("c1", torch::nn::Conv2d(Options(3, w1)))),
        c2(register_module("c2", torch::nn::Conv2d(Options(w1, w2)))),
        c3(register_module("c3", torch::nn::Conv2d(Options(w2, w3)))),
        f1(register_module("f1", torch::nn::Linear(w3 * 4 * 4, hidden))),
        f2(register_module("f2", torch::nn::Linear(hidden, classes))) {}

  static torch::nn::Conv2dOptions Options(int64_t in, int64_t out) {
    return torch::nn::Conv2dOptions(in, out, 3).padding(1);
  }

  torch::Tensor forward(torch::Tensor x) override {
    // Channels-last input makes oneDNN produce channels-last outputs for the pooling kernel.
    x = MaxPool2Relu::apply(c1->forward(ChannelsLast(x)));
    x = MaxPool2Relu::apply(c2->forward(x));
    x = MaxPool2Relu::apply(c3->forward(x));
    return f2->forward(torch::relu(f1->forward(x.flatten(1))));
  }

  torch::Tensor Infer(const torch::Tensor& x) override {
    if (x.size(0) > kMaxDirectBatch) return forward(x);
    return inference_.Run({c1->weight, c1->bias, c2->weight, c2->bias, c3->weight, c3->bias,
                           f1->weight, f1->bias, f2->weight, f2->bias},
                          x);
  }

  torch::nn::Conv2d c1, c2, c3;
  torch::nn::Linear f1, f2;
  static constexpr int64_t kMaxDirectBatch = 1;
  CnnColorInference inference_;
};

constexpr int64_t kGroups = 8;  // GroupNorm groups; every width below is a multiple of 8

torch::Tensor Relu6(const torch::Tensor& x) { return torch::hardtanh(x, 0.0, 6.0); }

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(false));
}

torch::nn::GroupNorm Norm(int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(kGroups, channels));
}

// Depthwise-separable block: relu6(gn(dw3x3(x))) then relu6(gn(pw1x1(x))).
struct SeparableImpl : torch::nn::Module {
  SeparableImpl(int64_t in, int64_t out, int64_t stride)
      : dw(register_module("dw", Conv(in, in, 3, stride, in))),
        dw_gn(register_module("dw_gn", Norm(in))),
        pw(register_module("pw", Conv(in, out, 1, 1, 1))),
        pw_gn(register_module("pw_gn", Norm(out))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = Relu6(dw_gn->forward(dw->forward(x)));
    return Relu6(pw_gn->forward(pw->forward(x)));
  }

  // Declared (so registered) in PyTorch's order: dw, dw_gn, pw, pw_gn.
  torch::nn::Conv2d dw;
  torch::nn::GroupNorm dw_gn;
  torch::nn::Conv2d pw;
  torch::nn::GroupNorm pw_gn;
};
TORCH_MODULE(Separable);

// "mobilenet_small": a 3x3 stem and six depthwise-separable blocks (32x32 -> 4x4), global
// average pooling and a linear classifier.
struct MobileNetSmallImpl : NetImpl {
  MobileNetSmallImpl()
      : stem(register_module("stem", Conv(3, 16, 3, 1, 1))),
        stem_gn(register_module("stem_gn", Norm(16))),
        b1(register_module("b1", Separable(16, 32, 1))),
        b2(register_module("b2", Separable(32, 64, 2))),
        b3(register_module("b3", Separable(64, 64, 1))),
        b4(register_module("b4", Separable(64, 128, 2))),
        b5(register_module("b5", Separable(128, 128, 1))),
        b6(register_module("b6", Separable(128, 256, 2))),
        fc(register_module("fc", torch::nn::Linear(256, 10))) {}

  torch::Tensor forward(torch::Tensor x) override {
    x = Relu6(stem_gn->forward(stem->forward(ChannelsLast(x))));
    for (Separable& block :
         {std::ref(b1), std::ref(b2), std::ref(b3), std::ref(b4), std::ref(b5), std::ref(b6)}) {
      x = block->forward(x);
    }
    return fc->forward(x.mean({2, 3}));
  }

  torch::nn::Conv2d stem;
  torch::nn::GroupNorm stem_gn;
  Separable b1, b2, b3, b4, b5, b6;
  torch::nn::Linear fc;
};

}  // namespace

std::shared_ptr<NetImpl> MakeCnnSmall(int64_t c1, int64_t c2, int64_t f1, int64_t classes) {
  return std::make_shared<CnnImpl>(c1, c2, f1, classes);
}
std::shared_ptr<NetImpl> MakeCnnColor(int64_t c1, int64_t c2, int64_t c3, int64_t f1,
                                      int64_t classes) {
  return std::make_shared<CnnColorImpl>(c1, c2, c3, f1, classes);
}
std::shared_ptr<NetImpl> MakeMobileNetSmall() { return std::make_shared<MobileNetSmallImpl>(); }

}  // namespace fedge::ml
