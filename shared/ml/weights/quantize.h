#pragma once
// int8 storage of model weights (plain C++, no LibTorch): symmetric int8 with float scales for
// the weights of convolution and linear layers (tensors of rank >= 2); biases and normalisation
// parameters (rank < 2) stay fp32. This is for the size of a release artifact: a loaded model
// computes in fp32 on the dequantised weights (this LibTorch has no fast int8 kernels).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::ml {

enum class QuantScheme {
  kNone,            // every tensor fp32
  kInt8PerTensor,   // one scale per weight tensor
  kInt8PerChannel,  // one scale per output channel (first dimension) of each weight tensor
};

// "fp32", "int8_per_tensor", "int8_per_channel".
std::string_view QuantSchemeName(QuantScheme scheme);
// The inverse of QuantSchemeName; InvalidArgument listing the names otherwise.
shared::Result<QuantScheme> ParseQuantScheme(std::string_view name);

enum class StoredType : uint8_t { kFp32 = 0, kInt8 = 1 };

// A tensor as stored in an artifact.
struct StoredTensor {
  std::string name;
  std::vector<int64_t> shape;
  StoredType type = StoredType::kFp32;
  std::vector<float> values;  // kFp32: the product of shape values, row-major
  std::vector<int8_t> q;      // kInt8: the product of shape values, row-major, in [-127, 127]
  // kInt8: 1 scale (per tensor) or shape[0] scales (per output channel), each finite and > 0;
  // value = q * scale of the value's channel (first index).
  std::vector<float> scales;

  int64_t NumElements() const;
};

// Limits checked by ValidateStored.
inline constexpr int kMaxStoredRank = 8;
inline constexpr int64_t kMaxStoredElements = int64_t{1} << 28;  // per tensor

// Checks one stored tensor: a non-empty name, rank <= kMaxStoredRank, dimensions >= 0 and at
// most kMaxStoredElements values, the payload of the type holding exactly that many values, the
// other payloads empty, fp32 values finite, int8 values in [-127, 127], an int8 tensor of rank
// >= 1 with 1 or shape[0] finite positive scales. InvalidArgument naming the tensor otherwise.
shared::Status ValidateStored(const StoredTensor& t);

// Stores `bundle` with `scheme`: each weight (rank >= 2) as int8 with scale
// max|w| / 127 over its tensor or its output channel (an all-zero channel gets scale 1; a scale
// below the smallest normal float is raised to it), q = round(w / scale) clamped to
// [-127, 127], so |w - q * scale| <= scale / 2; other tensors as fp32. kNone stores everything
// as fp32. InvalidArgument for a tensor whose data size does not match its shape or that holds a
// non-finite value.
shared::Result<std::vector<StoredTensor>> QuantizeBundle(const shared::TensorBundle& bundle,
                                                         QuantScheme scheme);

// The fp32 bundle of stored tensors, in their order: int8 values become q * scale. Runs
// ValidateStored on each; InvalidArgument for an invalid tensor or a duplicate name.
shared::Result<shared::TensorBundle> DequantizeBundle(std::span<const StoredTensor> tensors);

}  // namespace fedge::ml
