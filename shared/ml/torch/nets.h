#pragma once
// Internal to fedge_ml (includes LibTorch headers): the network definitions behind Model.
// Only model.cc and nets.cc include this file.

#include <torch/nn/module.h>

#include <memory>

namespace fedge::ml {

// Base of every architecture: a module with a single-tensor forward from normalized NCHW
// images to logits [n, classes].
struct NetImpl : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // Logits for inference only. REQUIRES: no autograd (NoGradGuard) and eval(); x is float NCHW.
  // The same function as forward() up to float rounding; a net may override it with a faster
  // path (cnn_color does, see nets.cc).
  virtual torch::Tensor Infer(const torch::Tensor& x) { return forward(x); }
};

// The architectures of Model::Create (see model.h for their PyTorch definitions), with the
// widths of an arch string (arch.h); "cnn_small" is MakeCnnSmall(32, 64, 128, 10) and
// "cnn_color" MakeCnnColor(32, 64, 64, 128, 10). Parameters keep the module's default init;
// Model re-draws them from its seed.
std::shared_ptr<NetImpl> MakeCnnSmall(int64_t c1, int64_t c2, int64_t f1, int64_t classes);
std::shared_ptr<NetImpl> MakeCnnColor(int64_t c1, int64_t c2, int64_t c3, int64_t f1,
                                      int64_t classes);
std::shared_ptr<NetImpl> MakeMobileNetSmall();

}  // namespace fedge::ml
