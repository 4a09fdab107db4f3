#pragma once
// Structured pruning of a model's state (plain C++, no LibTorch): channels and hidden units are
// really removed, giving a smaller network that Model::Create(pruned.arch) + LoadState accepts.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::ml {

struct PruneOptions {
  // Fraction of each prunable layer's outputs removed: floor(fraction * width) of them, but at
  // least one output is always kept. In [0, 1).
  double fraction = 0.5;
  // Also prune the hidden units of the first linear layer ("f1"); the convolutions are always
  // pruned. The classifier head keeps all its outputs.
  bool prune_hidden = true;
};

struct Pruned {
  std::string arch;            // canonical arch string of the smaller network (arch.h)
  shared::TensorBundle state;  // its tensors, in Model::State() order
  // For each pruned layer ("c1", ...), in forward order: the original indices of the outputs
  // kept, ascending.
  std::vector<std::pair<std::string, std::vector<int64_t>>> kept;
};

// Prunes each width-parameterised layer of a chain architecture (cnn_small, cnn_color and their
// width variants) in forward order: ranks its outputs by the L1 norm of their weights (the
// filter or the weight row, over the inputs that remain after the previous layer was pruned;
// the bias is not counted), keeps the largest (ties: the lower index), and removes the others'
// weights and biases together with the inputs of the next layer that read them (the next
// convolution's input channels; for the first linear layer every flattened feature of a removed
// channel, features being laid out channel-major, c * H * W + position). Since every removed
// output feeds an activation f with f(0) = 0, the pruned network computes the same function as
// the original with the removed outputs' weights and biases set to zero.
// InvalidArgument for an unknown, malformed or non-chain arch (mobilenet_small), a fraction
// outside [0, 1) or NaN, or a state that does not match the arch exactly (missing, extra or
// duplicate tensor, wrong shape or data size, a non-finite value; the message names the tensor).
shared::Result<Pruned> PruneChannels(const std::string& arch, const shared::TensorBundle& state,
                                     const PruneOptions& options);

// Checks that `state` has exactly the tensors and shapes of the chain architecture `arch`, all
// finite. InvalidArgument naming the tensor otherwise (and for a non-chain arch).
shared::Status CheckChainState(const std::string& arch, const shared::TensorBundle& state);

}  // namespace fedge::ml
