#pragma once
// Architecture strings and the layer chains behind them, as plain types (no LibTorch), so that
// pruning and packaging can reason about a model without loading torch.
//
// Syntax: a base name, optionally followed by '/' and every width of that base, in the base's
// fixed order, each "key=value" and separated by ',':
//   "cnn_small"                          default widths c1=32, c2=64, f1=128
//   "cnn_small/c1=16,c2=32,f1=64"
//   "cnn_color"                          default widths c1=32, c2=64, c3=64, f1=128
//   "cnn_color/c1=16,c2=32,c3=32,f1=64"
//   "mobilenet_small"                    (no widths)
// Each value is a decimal integer in [1, kMaxWidth] without sign or leading zeros. There is
// exactly one spelling per network: a width list must name every key of the base in order, and
// a list equal to the default widths is refused (write the plain name). So two strings name the
// same network if and only if they are equal, which compatibility checks rely on.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::ml {

inline constexpr int64_t kMaxWidth = 4096;

enum class LayerKind { kConv, kLinear };

// One layer of a plain chain network: conv/linear layers applied in order, each (but the last)
// followed by an elementwise activation with f(0) = 0 (relu, possibly fused with max-pooling),
// the convolutions' output flattened before the first linear layer. The state holds
// "<name>.weight" ([out, in, k, k] for a convolution, [out, in] for a linear layer) and
// "<name>.bias" ([out]).
struct Layer {
  std::string name;  // "c1", "f2", ...
  LayerKind kind = LayerKind::kConv;
  int64_t in = 0;            // input channels or features
  int64_t out = 0;           // output channels or features
  int64_t kernel = 1;        // convolutions: square kernel side
  bool width_param = false;  // `out` is set by the arch string (prunable); false for the head
};

// A parsed architecture string.
struct ArchInfo {
  std::string name;  // the canonical string (equal to the parsed one: see the syntax above)
  std::string base;  // "cnn_small", "cnn_color", "mobilenet_small"
  int64_t channels = 0, height = 0, width = 0;  // input shape
  int num_classes = 0;
  // For chain networks (cnn_small, cnn_color): the layers in forward order, and the number of
  // spatial positions per channel where the convolutions are flattened (the flatten is in NCHW
  // order: feature = channel * flatten_spatial + position). Empty for mobilenet_small.
  std::vector<Layer> layers;
  int64_t flatten_spatial = 0;

  // The width of the width-parameter `key`; -1 if there is none.
  int64_t Width(const std::string& key) const;
  bool IsChain() const { return !layers.empty(); }
};

// Names of the base architectures.
std::vector<std::string> BaseArchitectures();

// Parses an architecture string (syntax above). InvalidArgument with the reason: unknown base
// (the message lists the known ones), a base without widths given widths, an unknown, missing,
// repeated or out-of-order key, a value that is not a plain integer in [1, kMaxWidth], or a
// width list equal to the defaults.
shared::Result<ArchInfo> ParseArch(const std::string& arch);

// The canonical string of a chain base with the given widths (in the base's key order): the
// plain base name when they equal the defaults. InvalidArgument for an unknown base, a wrong
// number of widths or a width outside [1, kMaxWidth].
shared::Result<std::string> FormatArch(const std::string& base, const std::vector<int64_t>& widths);

// The state tensors (name, shape) a chain architecture's model has, in Model::State() order.
// REQUIRES: info.IsChain().
std::vector<std::pair<std::string, std::vector<int64_t>>> ChainStateLayout(const ArchInfo& info);

}  // namespace fedge::ml
