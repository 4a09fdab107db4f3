#pragma once
// Tensor bundles on the wire and on disk (schemas/tensor.fbs, identifier "FDGT").

#include <cstdint>
#include <span>
#include <vector>

#include "schemas/tensor_generated.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/crypto/crypto.h"

namespace fedge::shared {

struct DecodeLimits {
  uint64_t max_tensors = 4096;
  uint64_t max_elements = 256ull << 20;  // total across tensors
  int max_rank = 8;
};

// Encodes every tensor with a dense `codec`: Fp32, Fp16 or Int8 (symmetric per-tensor scale).
// TopKInt8 is a delta codec: use EncodeTopKDelta.
Result<std::vector<uint8_t>> EncodeBundle(const TensorBundle& bundle,
                                          wire::Codec codec = wire::Codec::Fp32);

// Top-k sparsification with int8 values and error feedback, for updates. Sends, per tensor,
// the ceil(fraction * n) entries of largest magnitude of d = (updated - base) + *residual,
// quantized to int8 with a per-tensor scale (max sent |d| / 127), as a delta against the model
// whose blob has SHA-256 `base_digest`. On success *residual becomes d minus what the receiver
// will decode (the error fed back into the next update); an empty or differently shaped
// *residual counts as zero. REQUIRES: 0 < fraction <= 1; updated and base have the same layout.
Result<std::vector<uint8_t>> EncodeTopKDelta(const TensorBundle& updated, const TensorBundle& base,
                                             const Digest& base_digest, double fraction,
                                             TensorBundle* residual);

// What DecodeBundle found besides the tensors.
struct BundleInfo {
  bool is_delta = false;  // the tensors are a difference against the model `delta_base`
  Digest delta_base{};
};

// Verifies the buffer, checks ranks, shapes against payload sizes (and, for TopKInt8, the
// positions), limits and that every value is finite. Corruption / InvalidArgument /
// ResourceExhausted naming the tensor. A delta bundle is refused (InvalidArgument) unless `info`
// is given, so a difference is never mistaken for a model.
Result<TensorBundle> DecodeBundle(std::span<const uint8_t> bytes, const DecodeLimits& limits = {},
                                  BundleInfo* info = nullptr);

// Decodes an update for the model `base` (whose blob has SHA-256 `base_digest`): a dense update
// is returned as is; a delta must name `base_digest` and match its layout, and is added to it.
// InvalidArgument for a delta against another model or of another layout, or a non-finite sum.
Result<TensorBundle> DecodeUpdate(std::span<const uint8_t> bytes, const DecodeLimits& limits,
                                  const TensorBundle& base, const Digest& base_digest);

}  // namespace fedge::shared
