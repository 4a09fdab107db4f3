// Inference paths of the networks (nets.h) against their LibTorch forward(): this test includes
// LibTorch headers, as nets.h does.
#include "shared/ml/torch/nets.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>

#include <memory>
#include <string>
#include <vector>

namespace fedge::ml {
namespace {

// Re-draws all parameters (the biases too, so that they matter) from a seeded generator.
void Randomize(torch::nn::Module& net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : net.parameters()) p.uniform_(-0.3, 0.3);
}

// Max |Infer(x) - forward(x)| under NoGradGuard and eval(), relative to 1 + max |forward(x)|.
double MaxDiff(NetImpl& net, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  net.eval();
  const torch::Tensor want = net.forward(x);
  const torch::Tensor got = net.Infer(x);
  EXPECT_EQ(got.sizes(), want.sizes());
  return (got - want).abs().max().item<double>() / (1.0 + want.abs().max().item<double>());
}

TEST(NetsTest, CnnColorInferMatchesForward) {
  struct Widths {
    int64_t c1, c2, c3, f1;
  };
  // Default widths, the 50%-pruned ones, and counts that are not multiples of 8.
  for (const Widths& w : {Widths{32, 64, 64, 128}, Widths{16, 32, 32, 64}, Widths{5, 12, 20, 33}}) {
    SCOPED_TRACE(testing::Message() << w.c1 << "," << w.c2 << "," << w.c3 << "," << w.f1);
    std::shared_ptr<NetImpl> net = MakeCnnColor(w.c1, w.c2, w.c3, w.f1, 10);
    Randomize(*net, 7);
    for (int64_t n : {1, 3}) {  // one image takes the direct path, a batch forward()
      SCOPED_TRACE(n);
      const torch::Tensor x = torch::randn({n, 3, 32, 32});
      const double diff = MaxDiff(*net, x);
      EXPECT_LT(diff, 1e-5);
    }
    // A non-contiguous (channels-last) image gives the same logits.
    const torch::Tensor x = torch::randn({1, 3, 32, 32});
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(net->Infer(x.contiguous(torch::MemoryFormat::ChannelsLast)).equal(net->Infer(x)));
  }
}

TEST(NetsTest, CnnColorInferSeesParameterChanges) {
  std::shared_ptr<NetImpl> net = MakeCnnColor(16, 32, 32, 64, 10);
  Randomize(*net, 1);
  const torch::Tensor x = torch::randn({1, 3, 32, 32});
  EXPECT_LT(MaxDiff(*net, x), 1e-5);  // packs the weights
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.mul_(-1.5);  // in place: the version counter moves
  }
  EXPECT_LT(MaxDiff(*net, x), 1e-5);
  Randomize(*net, 2);
  EXPECT_LT(MaxDiff(*net, x), 1e-5);
}

TEST(NetsTest, CnnColorInferIsTheSameOnOneAndTwoThreads) {
  std::shared_ptr<NetImpl> net = MakeCnnColor(32, 64, 64, 128, 10);
  Randomize(*net, 3);
  const torch::Tensor x = torch::randn({1, 3, 32, 32});
  torch::NoGradGuard no_grad;
  net->eval();
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one = net->Infer(x);
  at::set_num_threads(2);  // splits the rows of each layer
  EXPECT_TRUE(net->Infer(x).equal(one));
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace fedge::ml
