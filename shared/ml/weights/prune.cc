#include "shared/ml/weights/prune.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "shared/ml/weights/arch.h"

namespace fedge::ml {
namespace {

using shared::Result;
using shared::Status;
using shared::Tensor;
using shared::TensorBundle;

Status CheckAgainstLayout(const ArchInfo& info, const TensorBundle& state) {
  std::map<std::string, const Tensor*> by_name;
  for (const Tensor& t : state.tensors) {
    if (!by_name.emplace(t.name, &t).second) {
      return Status::InvalidArgument("prune: duplicate tensor '" + t.name + "'");
    }
  }
  for (const auto& [name, shape] : ChainStateLayout(info)) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return Status::InvalidArgument("prune: missing tensor '" + name + "' for " + info.name);
    }
    const Tensor& t = *it->second;
    const int64_t want = std::accumulate(shape.begin(), shape.end(), int64_t{1},
                                         [](int64_t a, int64_t b) { return a * b; });
    if (t.shape != shape || static_cast<int64_t>(t.data.size()) != want) {
      return Status::InvalidArgument("prune: tensor '" + name + "' has shape " +
                                     shared::ShapeText(t.shape) + " and " +
                                     std::to_string(t.data.size()) + " values, " + info.name +
                                     " wants " + shared::ShapeText(shape));
    }
    auto bad =
        std::find_if(t.data.begin(), t.data.end(), [](float v) { return !std::isfinite(v); });
    if (bad != t.data.end()) {
      return Status::InvalidArgument("prune: tensor '" + name + "' has a non-finite value at " +
                                     std::to_string(bad - t.data.begin()));
    }
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    return Status::InvalidArgument("prune: unexpected tensor '" + by_name.begin()->first +
                                   "' for " + info.name);
  }
  return Status::Ok();
}

Result<ArchInfo> ParseChain(const std::string& arch) {
  FEDGE_ASSIGN_OR_RETURN(ArchInfo info, ParseArch(arch));
  if (!info.IsChain()) {
    return Status::InvalidArgument("prune: architecture '" + arch +
                                   "' is not supported (only cnn_small and cnn_color variants)");
  }
  return info;
}

// Indices of the `keep` outputs of `weight` ([out, ...]) with the largest L1 norm; ties go to
// the lower index. Returned ascending.
std::vector<int64_t> TopByL1(const Tensor& weight, int64_t keep) {
  const int64_t out = weight.shape[0];
  const int64_t row = static_cast<int64_t>(weight.data.size()) / out;
  std::vector<double> norm(out, 0.0);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t j = 0; j < row; ++j) norm[o] += std::fabs(weight.data[o * row + j]);
  }
  std::vector<int64_t> order(out);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return norm[a] > norm[b]; });
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

// Keeps rows `kept` of t's first dimension.
void SelectOutputs(Tensor& t, const std::vector<int64_t>& kept) {
  const int64_t row = static_cast<int64_t>(t.data.size()) / t.shape[0];
  std::vector<float> data;
  data.reserve(kept.size() * row);
  for (int64_t o : kept) {
    data.insert(data.end(), t.data.begin() + o * row, t.data.begin() + (o + 1) * row);
  }
  t.data = std::move(data);
  t.shape[0] = static_cast<int64_t>(kept.size());
}

// t is [out, in, ...] whose `in` inputs come in `channels` equal blocks (one per channel of the
// previous layer); keeps the blocks `kept` in every row.
void SelectInputs(Tensor& t, int64_t channels, const std::vector<int64_t>& kept) {
  const int64_t out = t.shape[0];
  const int64_t row = static_cast<int64_t>(t.data.size()) / out;
  const int64_t block = row / channels;
  std::vector<float> data;
  data.reserve(out * static_cast<int64_t>(kept.size()) * block);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t c : kept) {
      auto begin = t.data.begin() + o * row + c * block;
      data.insert(data.end(), begin, begin + block);
    }
  }
  t.data = std::move(data);
  t.shape[1] = t.shape[1] / channels * static_cast<int64_t>(kept.size());
}

}  // namespace

Status CheckChainState(const std::string& arch, const TensorBundle& state) {
  FEDGE_ASSIGN_OR_RETURN(ArchInfo info, ParseChain(arch));
  return CheckAgainstLayout(info, state);
}

Result<Pruned> PruneChannels(const std::string& arch, const TensorBundle& state,
                             const PruneOptions& options) {
  if (!(options.fraction >= 0.0 && options.fraction < 1.0)) {
    return Status::InvalidArgument("prune: fraction must be in [0, 1), got " +
                                   std::to_string(options.fraction));
  }
  FEDGE_ASSIGN_OR_RETURN(ArchInfo info, ParseChain(arch));
  FEDGE_RETURN_IF_ERROR(CheckAgainstLayout(info, state));
  std::map<std::string, Tensor> work;
  for (const Tensor& t : state.tensors) work[t.name] = t;

  Pruned result;
  std::vector<int64_t> widths;
  for (size_t i = 0; i < info.layers.size(); ++i) {
    const Layer& layer = info.layers[i];
    if (!layer.width_param) continue;
    const bool prune = layer.kind == LayerKind::kConv || options.prune_hidden;
    const auto removed = static_cast<int64_t>(std::floor(options.fraction * layer.out));
    const int64_t keep = prune ? std::max<int64_t>(1, layer.out - removed) : layer.out;
    widths.push_back(keep);
    if (keep == layer.out) continue;
    Tensor& weight = work[layer.name + ".weight"];
    const std::vector<int64_t> kept = TopByL1(weight, keep);
    SelectOutputs(weight, kept);
    SelectOutputs(work[layer.name + ".bias"], kept);
    // The next layer reads these outputs (there always is one: the head is not a width).
    const Layer& next = info.layers[i + 1];
    SelectInputs(work[next.name + ".weight"], layer.out, kept);
    result.kept.emplace_back(layer.name, kept);
  }
  FEDGE_ASSIGN_OR_RETURN(result.arch, FormatArch(info.base, widths));
  FEDGE_ASSIGN_OR_RETURN(ArchInfo pruned, ParseArch(result.arch));
  for (const auto& [name, shape] : ChainStateLayout(pruned)) {
    Tensor& t = work[name];
    if (t.shape != shape) {
      return Status::Internal("prune: tensor '" + name + "' came out " +
                              shared::ShapeText(t.shape) + ", want " + shared::ShapeText(shape));
    }
    result.state.tensors.push_back(std::move(t));
  }
  return result;
}

}  // namespace fedge::ml
