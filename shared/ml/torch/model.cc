// The LibTorch side of fedge_ml: model state, training, evaluation and inference (the network
// definitions are in nets.cc). Narrow torch includes keep this translation unit cheaper to
// parse than <torch/torch.h>.
#include "shared/ml/torch/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "shared/ml/data/augment.h"
#include "shared/ml/torch/nets.h"
#include "shared/ml/weights/arch.h"

namespace fedge::ml {
namespace {

// OpenMP OpenBLAS must not run two computations at once in one process: training steps,
// evaluations and predictions (e.g. a camera's inference thread beside a training task) take
// turns under this lock. Training takes it per step, so inference keeps running meanwhile.
std::mutex& ComputeMutex() {
  static std::mutex mu;
  return mu;
}

using shared::Result;
using shared::Status;
using shared::TensorBundle;

// The network of a parsed architecture string.
std::shared_ptr<NetImpl> MakeNet(const ArchInfo& info) {
  if (info.base == "cnn_small") {
    return MakeCnnSmall(info.Width("c1"), info.Width("c2"), info.Width("f1"), info.num_classes);
  }
  if (info.base == "cnn_color") {
    return MakeCnnColor(info.Width("c1"), info.Width("c2"), info.Width("c3"), info.Width("f1"),
                        info.num_classes);
  }
  return MakeMobileNetSmall();
}

// Re-draws every parameter from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default for Conv
// and Linear) with a private generator, so the result depends on `seed` only. A bias uses the
// fan-in of the weight of the same module. GroupNorm layers get PyTorch's weight 1, bias 0
// and draw nothing, so networks without them draw exactly as before.
void InitParameters(torch::nn::Module& net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, double> bound_by_module;
  std::set<std::string> norm_modules;
  for (const auto& item : net.named_modules()) {
    if (item.value()->as<torch::nn::GroupNorm>() != nullptr) norm_modules.insert(item.key());
  }
  for (auto& item : net.named_parameters(/*recurse=*/true)) {
    torch::Tensor& p = item.value();
    const std::string& name = item.key();
    const std::string module = name.substr(0, name.rfind('.'));
    if (norm_modules.count(module) > 0) {
      p.fill_(name.ends_with(".weight") ? 1.0 : 0.0);
      continue;
    }
    double bound = 0;
    if (p.dim() >= 2) {
      bound = 1.0 / std::sqrt(static_cast<double>(p.numel() / p.size(0)));
      bound_by_module[module] = bound;
    } else if (auto it = bound_by_module.find(module); it != bound_by_module.end()) {
      bound = it->second;
    } else {
      bound = 1.0 / std::sqrt(static_cast<double>(p.numel()));
    }
    p.uniform_(-bound, bound, gen);
  }
}

template <typename F>
Status CatchTorch(const char* what, F&& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return Status::Internal(std::string(what) + ": torch: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  }
}

}  // namespace

struct Model::Impl {
  ArchInfo spec;  // the parsed architecture string
  std::shared_ptr<NetImpl> net;
  // Parameters then buffers, in registration order; aliases of the module's tensors.
  std::vector<std::pair<std::string, torch::Tensor>> state;

  Status CheckData(const Dataset& data, std::span<const int64_t> indices) const;
  Status TrainLoop(const Dataset& data, std::span<const int64_t> indices,
                   const TrainOptions& options, TrainResult& result);
  Status EvalLoop(const Dataset& data, std::span<const int64_t> indices, int batch_size,
                  EvalResult& result);
  Status PredictLoop(std::span<const float> batch, int64_t n, std::vector<Prediction>& out,
                     std::vector<float>* probabilities);
};

std::vector<std::string> KnownArchitectures() { return BaseArchitectures(); }

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Result<Model> Model::Create(const std::string& arch, uint64_t seed) {
  FEDGE_ASSIGN_OR_RETURN(ArchInfo info, ParseArch(arch));
  auto impl = std::make_unique<Impl>();
  impl->spec = std::move(info);
  Status status = CatchTorch("Model::Create", [&] {
    impl->net = MakeNet(impl->spec);
    InitParameters(*impl->net, seed);
    for (auto& item : impl->net->named_parameters(true)) {
      impl->state.emplace_back(item.key(), item.value());
    }
    for (auto& item : impl->net->named_buffers(true)) {
      impl->state.emplace_back(item.key(), item.value());
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return Model(std::move(impl));
}

const std::string& Model::arch() const { return impl_->spec.name; }
int64_t Model::input_channels() const { return impl_->spec.channels; }
int64_t Model::input_height() const { return impl_->spec.height; }
int64_t Model::input_width() const { return impl_->spec.width; }
int Model::num_classes() const { return impl_->spec.num_classes; }

int64_t Model::NumParameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

TensorBundle Model::State() const {
  TensorBundle bundle;
  bundle.tensors.reserve(impl_->state.size());
  for (const auto& [name, tensor] : impl_->state) {
    torch::Tensor t = tensor.detach().to(torch::kFloat).contiguous();
    shared::Tensor& out = bundle.tensors.emplace_back();
    out.name = name;
    out.shape.assign(t.sizes().begin(), t.sizes().end());
    out.data.resize(t.numel());
    std::memcpy(out.data.data(), t.data_ptr<float>(), out.data.size() * sizeof(float));
  }
  return bundle;
}

Status Model::LoadState(const TensorBundle& state) {
  std::map<std::string_view, const shared::Tensor*> by_name;
  for (const shared::Tensor& t : state.tensors) {
    if (!by_name.emplace(t.name, &t).second) {
      return Status::InvalidArgument("LoadState: duplicate tensor '" + t.name + "'");
    }
  }
  std::vector<const shared::Tensor*> sources;
  for (const auto& [name, own] : impl_->state) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return Status::InvalidArgument("LoadState: missing tensor '" + name + "'");
    }
    const shared::Tensor& t = *it->second;
    std::vector<int64_t> want(own.sizes().begin(), own.sizes().end());
    if (t.shape != want || static_cast<int64_t>(t.data.size()) != own.numel()) {
      return Status::InvalidArgument(
          "LoadState: tensor '" + name + "' has shape " + shared::ShapeText(t.shape) + " and " +
          std::to_string(t.data.size()) + " values, want " + shared::ShapeText(want));
    }
    auto bad =
        std::find_if(t.data.begin(), t.data.end(), [](float v) { return !std::isfinite(v); });
    if (bad != t.data.end()) {
      return Status::InvalidArgument("LoadState: tensor '" + name + "' has a non-finite value at " +
                                     std::to_string(bad - t.data.begin()));
    }
    sources.push_back(&t);
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    return Status::InvalidArgument("LoadState: unexpected tensor '" +
                                   std::string(by_name.begin()->first) + "' for model " +
                                   impl_->spec.name);
  }
  return CatchTorch("LoadState", [&] {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < sources.size(); ++i) {
      torch::Tensor& own = impl_->state[i].second;
      own.copy_(torch::from_blob(const_cast<float*>(sources[i]->data.data()), own.sizes(),
                                 torch::kFloat));
    }
    return Status::Ok();
  });
}

Status Model::Impl::CheckData(const Dataset& data, std::span<const int64_t> indices) const {
  if (data.channels != spec.channels || data.height != spec.height || data.width != spec.width) {
    return Status::InvalidArgument("dataset images are " + std::to_string(data.channels) + "x" +
                                   std::to_string(data.height) + "x" + std::to_string(data.width) +
                                   " but " + spec.name + " expects " +
                                   std::to_string(spec.channels) + "x" +
                                   std::to_string(spec.height) + "x" + std::to_string(spec.width));
  }
  if (data.size < 0 || static_cast<int64_t>(data.labels.size()) != data.size ||
      static_cast<int64_t>(data.images.size()) != data.size * data.ExampleElements()) {
    return Status::InvalidArgument("dataset sizes are inconsistent: size " +
                                   std::to_string(data.size) + ", " +
                                   std::to_string(data.labels.size()) + " labels, " +
                                   std::to_string(data.images.size()) + " image values");
  }
  auto check = [&](int64_t i) -> Status {
    if (i < 0 || i >= data.size) {
      return Status::InvalidArgument("example index " + std::to_string(i) + " outside [0, " +
                                     std::to_string(data.size) + ")");
    }
    if (data.labels[i] < 0 || data.labels[i] >= spec.num_classes) {
      return Status::InvalidArgument("label " + std::to_string(data.labels[i]) + " of example " +
                                     std::to_string(i) + " outside [0, " +
                                     std::to_string(spec.num_classes) + ")");
    }
    return Status::Ok();
  };
  for (int64_t i : indices) FEDGE_RETURN_IF_ERROR(check(i));
  if (indices.empty()) {
    for (int64_t i = 0; i < data.size; ++i) FEDGE_RETURN_IF_ERROR(check(i));
  }
  return Status::Ok();
}

namespace {

// Non-owning views of a dataset as tensors. REQUIRES: `data` outlives the views and is not
// written through them.
torch::Tensor ImagesView(const Dataset& data) {
  return torch::from_blob(const_cast<float*>(data.images.data()),
                          {data.size, data.channels, data.height, data.width}, torch::kFloat);
}
torch::Tensor LabelsView(const Dataset& data) {
  return torch::from_blob(const_cast<int64_t*>(data.labels.data()), {data.size}, torch::kLong);
}

// Gathers rows `idx` of `src` into `buffer` when the sizes match (no allocation), else into a
// new tensor (the last, smaller batch of an epoch).
torch::Tensor Gather(const torch::Tensor& src, const torch::Tensor& idx, torch::Tensor& buffer) {
  if (buffer.size(0) != idx.size(0)) return torch::index_select(src, 0, idx);
  torch::index_select_out(buffer, src, 0, idx);
  return buffer;
}

}  // namespace

Status Model::Impl::TrainLoop(const Dataset& data, std::span<const int64_t> indices,
                              const TrainOptions& options, TrainResult& result) {
  net->train();
  torch::optim::SGD optimizer(
      net->parameters(),
      torch::optim::SGDOptions(options.learning_rate).momentum(options.momentum));
  const torch::Tensor images = ImagesView(data);
  const torch::Tensor labels = LabelsView(data);
  const auto n = static_cast<int64_t>(indices.size());
  const int64_t bs = std::min<int64_t>(options.batch_size, std::max<int64_t>(n, 1));
  torch::Tensor x_buffer = torch::empty({bs, data.channels, data.height, data.width});
  torch::Tensor y_buffer = torch::empty({bs}, torch::kLong);
  std::vector<int64_t> order(indices.begin(), indices.end());
  std::optional<Augmenter> augmenter;
  if (options.augment.Enabled()) augmenter.emplace(options.augment, options.seed);
  double loss_sum = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::copy(indices.begin(), indices.end(), order.begin());
    std::mt19937_64 rng(options.seed + static_cast<uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t start = 0; start < n; start += bs) {
      const int64_t len = std::min(bs, n - start);
      const torch::Tensor idx = torch::from_blob(order.data() + start, {len}, torch::kLong);
      const torch::Tensor x = Gather(images, idx, x_buffer);  // a copy, contiguous NCHW
      const torch::Tensor y = Gather(labels, idx, y_buffer);
      if (augmenter) {
        augmenter->Apply(std::span<float>(x.data_ptr<float>(), x.numel()), len, data.channels,
                         data.height, data.width);
      }
      std::lock_guard<std::mutex> compute(ComputeMutex());
      optimizer.zero_grad();
      torch::Tensor loss = torch::cross_entropy_loss(net->forward(x), y);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(len);
      result.examples += len;
      ++result.steps;
    }
  }
  result.mean_loss = result.examples > 0 ? loss_sum / static_cast<double>(result.examples) : 0;
  if (!std::isfinite(result.mean_loss)) {
    return Status::Internal("training diverged (loss is not finite); lower the learning rate");
  }
  return Status::Ok();
}

// Evaluation runs forward passes of at most this many examples: the activations then stay in
// cache (measured on 2 cores: 64 -> ~21,600 img/s, 1000 -> ~15,500 img/s).
constexpr int64_t kMaxEvalPass = 64;

Status Model::Impl::EvalLoop(const Dataset& data, std::span<const int64_t> indices, int batch_size,
                             EvalResult& result) {
  torch::NoGradGuard no_grad;
  net->eval();
  const torch::Tensor images = ImagesView(data);
  const torch::Tensor labels = LabelsView(data);
  const bool all = indices.empty();
  const int64_t n = all ? data.size : static_cast<int64_t>(indices.size());
  const int k = spec.num_classes;
  std::vector<int64_t> confusion(static_cast<size_t>(k) * k, 0);
  double loss_sum = 0;
  const int64_t pass = std::min<int64_t>(batch_size, kMaxEvalPass);
  for (int64_t start = 0; start < n; start += pass) {
    const int64_t len = std::min<int64_t>(pass, n - start);
    torch::Tensor x, y;
    if (all) {
      x = images.narrow(0, start, len);
      y = labels.narrow(0, start, len);
    } else {
      const torch::Tensor idx =
          torch::from_blob(const_cast<int64_t*>(indices.data()) + start, {len}, torch::kLong);
      x = torch::index_select(images, 0, idx);
      y = torch::index_select(labels, 0, idx);
    }
    const torch::Tensor logits = net->Infer(x);
    loss_sum += torch::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    const torch::Tensor pred = logits.argmax(1).contiguous();
    const torch::Tensor truth = y.contiguous();
    const int64_t* p = pred.data_ptr<int64_t>();
    const int64_t* t = truth.data_ptr<int64_t>();
    for (int64_t i = 0; i < len; ++i) ++confusion[t[i] * k + p[i]];
  }
  net->train();
  result = MetricsFromConfusion(std::move(confusion), k, loss_sum);
  return Status::Ok();
}

Result<TrainResult> Model::Train(const Dataset& data, std::span<const int64_t> indices,
                                 const TrainOptions& options) {
  if (options.epochs < 0 || options.batch_size < 1 || !std::isfinite(options.learning_rate) ||
      options.learning_rate <= 0 || !std::isfinite(options.momentum) || options.momentum < 0) {
    return Status::InvalidArgument(
        "Train: need epochs >= 0, batch_size >= 1, learning_rate > 0, momentum >= 0");
  }
  FEDGE_RETURN_IF_ERROR(ValidateAugment(options.augment, data.channels, data.height, data.width));
  FEDGE_RETURN_IF_ERROR(impl_->CheckData(data, indices));
  const auto start = std::chrono::steady_clock::now();
  TrainResult result;
  FEDGE_RETURN_IF_ERROR(
      CatchTorch("Train", [&] { return impl_->TrainLoop(data, indices, options, result); }));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

Result<EvalResult> Model::Evaluate(const Dataset& data, std::span<const int64_t> indices,
                                   int batch_size) const {
  if (batch_size < 1) return Status::InvalidArgument("Evaluate: batch_size must be >= 1");
  FEDGE_RETURN_IF_ERROR(impl_->CheckData(data, indices));
  EvalResult result;
  std::lock_guard<std::mutex> compute(ComputeMutex());
  FEDGE_RETURN_IF_ERROR(
      CatchTorch("Evaluate", [&] { return impl_->EvalLoop(data, indices, batch_size, result); }));
  return result;
}

Status Model::Impl::PredictLoop(std::span<const float> batch, int64_t n,
                                std::vector<Prediction>& out, std::vector<float>* probabilities) {
  torch::NoGradGuard no_grad;
  net->eval();
  const int k = spec.num_classes;
  const torch::Tensor images = torch::from_blob(const_cast<float*>(batch.data()),
                                                {n, spec.channels, spec.height, spec.width});
  out.resize(n);
  if (probabilities != nullptr) probabilities->resize(n * k);
  for (int64_t start = 0; start < n; start += kMaxEvalPass) {
    const int64_t len = std::min<int64_t>(kMaxEvalPass, n - start);
    const torch::Tensor logits = net->Infer(images.narrow(0, start, len)).contiguous();
    const float* all = logits.data_ptr<float>();
    for (int64_t i = 0; i < len; ++i) {
      Prediction& p = out[start + i];
      const float* z = all + i * k;
      float* prob_row = probabilities ? probabilities->data() + (start + i) * k : nullptr;
      // log-softmax as ATen computes it (z - max - log(sum(exp(z - max)))); the label is the
      // first maximum, as argmax.
      int label = 0;
      for (int c = 1; c < k; ++c) {
        if (z[c] > z[label]) label = c;
      }
      float sum = 0;
      for (int c = 0; c < k; ++c) sum += std::exp(z[c] - z[label]);
      const float log_sum = std::log(sum);
      double entropy = 0;
      for (int c = 0; c < k; ++c) {
        const float log_p = z[c] - z[label] - log_sum;
        const float prob = std::exp(log_p);
        entropy -= static_cast<double>(prob) * log_p;
        if (prob_row) prob_row[c] = prob;
      }
      p.label = label;
      p.confidence = std::exp(-log_sum);
      p.entropy = static_cast<float>(std::max(entropy, 0.0));
    }
  }
  net->train();
  return Status::Ok();
}

Result<std::vector<Prediction>> Model::Predict(std::span<const float> batch, int64_t n,
                                               std::vector<float>* probabilities) const {
  const int64_t per_example = impl_->spec.channels * impl_->spec.height * impl_->spec.width;
  if (n < 0 || static_cast<int64_t>(batch.size()) != n * per_example) {
    return Status::InvalidArgument("Predict: " + std::to_string(batch.size()) +
                                   " values for n = " + std::to_string(n) + ", want n * " +
                                   std::to_string(per_example) + " (" + impl_->spec.name + ")");
  }
  auto bad = std::find_if(batch.begin(), batch.end(), [](float v) { return !std::isfinite(v); });
  if (bad != batch.end()) {
    return Status::InvalidArgument("Predict: non-finite input value at " +
                                   std::to_string(bad - batch.begin()));
  }
  std::vector<Prediction> out;
  if (probabilities != nullptr) probabilities->clear();
  if (n == 0) return out;
  std::lock_guard<std::mutex> compute(ComputeMutex());
  FEDGE_RETURN_IF_ERROR(
      CatchTorch("Predict", [&] { return impl_->PredictLoop(batch, n, out, probabilities); }));
  return out;
}

}  // namespace fedge::ml
