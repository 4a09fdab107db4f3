#pragma once
// Tensor bundles on the wire and on disk (schemas/tensor.fbs, identifier "FDGT").

#include <cstdint>
#include <span>
#include <vector>

#include "schemas/tensor_generated.h"
#include "shared/status.h"
#include "shared/tensor_bundle.h"

namespace fedge::shared {

struct DecodeLimits {
  uint64_t max_tensors = 4096;
  uint64_t max_elements = 256ull << 20;  // total across tensors
  int max_rank = 8;
};

// Encodes every tensor with `codec` (v1 supports Fp32).
Result<std::vector<uint8_t>> EncodeBundle(const TensorBundle& bundle,
                                          wire::Codec codec = wire::Codec::Fp32);

// Verifies the buffer, checks ranks, shapes against payload sizes, limits and that every
// value is finite. Corruption / InvalidArgument / ResourceExhausted naming the tensor.
Result<TensorBundle> DecodeBundle(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

}  // namespace fedge::shared
