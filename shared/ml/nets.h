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
};

// The architectures of Model::Create (see model.h for their PyTorch definitions). Parameters
// keep the module's default init; Model re-draws them from its seed.
std::shared_ptr<NetImpl> MakeCnnSmall();
std::shared_ptr<NetImpl> MakeCnnColor();
std::shared_ptr<NetImpl> MakeMobileNetSmall();

}  // namespace fedge::ml
