// Network definitions: "cnn_small" with its custom kernels, "cnn_color" and "mobilenet_small".
// Narrow torch includes keep this translation unit cheaper to parse than <torch/torch.h>.
#include "shared/ml/nets.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <algorithm>
#include <string>

#include "shared/ml/cnn_kernels.h"

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

  torch::nn::Conv2d c1, c2, c3;
  torch::nn::Linear f1, f2;
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
