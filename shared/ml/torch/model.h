#pragma once
// Models, local training and evaluation. LibTorch stays behind the pimpl: this header exposes
// plain types only, so code that includes it never parses torch headers.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/data/augment.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/data/metrics.h"

namespace fedge::ml {

struct TrainOptions {
  int epochs = 1;
  int batch_size = 64;
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  uint64_t seed = 0;  // epoch e shuffles with std::mt19937_64(seed + e)
  // Random augmentation of each training batch (augment.h), drawn from its own engine seeded
  // from `seed`. Off by default; when off, training is bitwise what it was without it.
  AugmentOptions augment;
};

// One example's classification by Model::Predict.
struct Prediction {
  int label = 0;         // argmax of the logits (as Evaluate counts it)
  float confidence = 0;  // softmax probability of `label`
  float entropy = 0;     // of the softmax distribution, in nats: 0 .. log(num_classes)
};

struct TrainResult {
  int64_t examples = 0;  // examples processed, summed over epochs
  int64_t steps = 0;     // optimizer steps
  double mean_loss = 0;  // mean per-example training loss over all epochs
  double seconds = 0;    // wall time
};

// Names of the base architectures Model::Create accepts (each also with widths: see Create).
std::vector<std::string> KnownArchitectures();

// A classifier with its parameters. Movable, not copyable (copy with State()/LoadState()); a
// moved-from Model may only be assigned to or destroyed. Not thread-safe: use one Model per
// thread. Torch's intra-op threads are process-wide; set them with ConfigureRuntime (runtime.h).
//
// Implementation note: "cnn_small" runs in channels-last layout with its own kernels for the
// first convolution and for relu+max-pool (cnn_kernels.h) and oneDNN/OpenBLAS for the rest;
// it computes the function and gradients of the PyTorch module above (up to float rounding).
// "cnn_color" and "mobilenet_small" also run channels-last ("cnn_color" with the relu+max-pool
// kernel); simulations/benchmarks/torch_reference.py holds their PyTorch twins. A single
// "cnn_color" image in Predict or Evaluate (a forward pass of one example) skips LibTorch's
// operators: packed weights and fused conv+bias+relu+max-pool kernels (cnn_kernels.h), the same
// function up to float rounding, ~2-4x faster at batch 1.
class Model {
 public:
  // Known architectures, all with 10 classes, in PyTorch terms:
  // "cnn_small" for 1x28x28 inputs (225,034 parameters):
  //   c1 = Conv2d(1,32,3); c2 = Conv2d(32,64,3); f1 = Linear(64*5*5,128); f2 = Linear(128,10)
  //   forward: x = maxpool2(relu(c1(x))); x = maxpool2(relu(c2(x))); f2(relu(f1(flatten(x))))
  // "cnn_color" for 3x32x32 RGB inputs (188,810 parameters), no normalization layers:
  //   c1 = Conv2d(3,32,3,padding=1); c2 = Conv2d(32,64,3,padding=1);
  //   c3 = Conv2d(64,64,3,padding=1); f1 = Linear(64*4*4,128); f2 = Linear(128,10)
  //   forward: x = maxpool2(relu(c1(x))); x = maxpool2(relu(c2(x))); x = maxpool2(relu(c3(x)));
  //            f2(relu(f1(flatten(x))))
  // "mobilenet_small" for 3x32x32 RGB inputs (73,130 parameters), MobileNet-style:
  //   conv(i,o,k,s,g) = Conv2d(i,o,k,stride=s,padding=k//2,groups=g,bias=False);
  //   gn(c) = GroupNorm(8,c); act = relu6
  //   stem = conv(3,16,3,1,1), stem_gn = gn(16); blocks b1..b6 = sep(16,32,1), sep(32,64,2),
  //   sep(64,64,1), sep(64,128,2), sep(128,128,1), sep(128,256,2) where sep(i,o,s) has
  //   dw = conv(i,i,3,s,i), dw_gn = gn(i), pw = conv(i,o,1,1,1), pw_gn = gn(o) and computes
  //   act(pw_gn(pw(act(dw_gn(dw(x)))))); fc = Linear(256,10)
  //   forward: x = act(stem_gn(stem(x))); x = b6(...b1(x)); fc(mean of x over H and W)
  // Conv and Linear parameters follow PyTorch's default init distribution,
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a private generator seeded with `seed`
  // (GroupNorm: weight 1, bias 0): same seed -> bitwise same State(), independent of torch's
  // global RNG and of other threads.
  // Width variants (arch.h): "cnn_small/c1=A,c2=B,f1=C" and "cnn_color/c1=A,c2=B,c3=C,f1=D"
  // are the same networks with those output widths (the plain names are the default widths,
  // bitwise as before); pruning (prune.h) produces them. mobilenet_small has no width variants.
  // InvalidArgument for an unknown or malformed arch (see ParseArch; an unknown base's message
  // lists the known ones).
  static shared::Result<Model> Create(const std::string& arch, uint64_t seed);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const std::string& arch() const;  // as given to Create (its one canonical spelling)
  // Input shape (channels, height, width) and class count the architecture expects.
  int64_t input_channels() const;
  int64_t input_height() const;
  int64_t input_width() const;
  int num_classes() const;
  int64_t NumParameters() const;

  // Copies of all tensors, named like "c1.weight", in a fixed order (parameters, then buffers).
  shared::TensorBundle State() const;
  // Replaces all tensors. InvalidArgument naming the tensor on a missing, extra or duplicate
  // name, a wrong shape or data size, or a non-finite value; the model is unchanged on error.
  // Tensors may come in any order.
  shared::Status LoadState(const shared::TensorBundle& state);

  // Trains with SGD + momentum (a fresh optimizer each call, like torch.optim.SGD) on the
  // cross-entropy loss over data[indices]; epoch e visits `indices` in the order of a shuffle
  // with std::mt19937_64(options.seed + e); the last batch of an epoch may be smaller.
  // Batches are gathered from `data` directly (no copy of the dataset).
  // With options.augment enabled, each gathered batch is augmented (a copy; `data` is never
  // written) by an Augmenter seeded from options.seed before the forward pass.
  // InvalidArgument if options (including augment) are out of range, `data` is inconsistent or does
  // not match the architecture's input shape, or an index/label is out of range; Internal on a
  // torch error. Empty `indices` trains on nothing (examples == 0).
  shared::Result<TrainResult> Train(const Dataset& data, std::span<const int64_t> indices,
                                    const TrainOptions& options);

  // Evaluates under NoGradGuard and eval(); empty `indices` means the whole dataset. The result
  // has per-class metrics, the confusion matrix and the mean loss (see MetricsFromConfusion).
  // batch_size caps the examples per forward pass (internally at most 64, which keeps the
  // activations in cache); results do not depend on it.
  // Errors as in Train, and InvalidArgument for batch_size < 1.
  shared::Result<EvalResult> Evaluate(const Dataset& data, std::span<const int64_t> indices,
                                      int batch_size = 1000) const;

  // Classifies `n` examples, `batch` holding n * C * H * W normalized values (NCHW, the
  // architecture's input shape), under NoGradGuard and eval(); one Prediction per example.
  // If `probabilities` is not null it is resized to n * num_classes() and receives the softmax
  // rows (each sums to 1 up to rounding). Labels equal Evaluate's argmax for the same inputs.
  // InvalidArgument for n < 0, a batch size other than n * C * H * W, or a non-finite value;
  // Internal on a torch error. n == 0 gives an empty result.
  shared::Result<std::vector<Prediction>> Predict(
      std::span<const float> batch, int64_t n, std::vector<float>* probabilities = nullptr) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace fedge::ml
