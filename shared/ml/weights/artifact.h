#pragma once
// Release artifacts (schemas/artifact.fbs, file identifier "FDGA"): one size-prefixed
// FlatBuffers file (a 4-byte little-endian length of the rest, so that a truncated file never
// verifies, then the identifier at bytes 8..11) with a
// model's architecture, its stored tensors (fp32 or int8 with scales, quantize.h), the reference
// drift profile and the release metadata. Plain C++ (no LibTorch): the coordinator can package
// and a client can check an artifact without loading torch.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/weights/quantize.h"
#include "shared/release/metadata.h"

namespace fedge::ml {

inline constexpr uint32_t kArtifactFormatVersion = 1;

// How a release was made from its parent.
struct ArtifactRecipe {
  std::string prune_method;   // "" (not pruned) or "l1_channels"
  double prune_fraction = 0;  // in [0, 1); 0 when not pruned
  bool prune_hidden = false;
  std::string quantization = "fp32";  // a QuantSchemeName
  std::string fine_tuning;            // free text
};

struct Artifact {
  std::string arch;                  // architecture string (arch.h)
  std::vector<int64_t> input_shape;  // channels, height, width
  int num_classes = 0;
  std::vector<StoredTensor> tensors;   // in Model::State() order
  std::vector<uint8_t> drift_profile;  // drift::EncodeSummary bytes, opaque here; may be empty

  std::string model_id;
  uint64_t version = 0;         // release counter, >= 1
  uint64_t parent_version = 0;  // 0: none; else < version
  int64_t created_unix = 0;
  ArtifactRecipe recipe;
  std::map<std::string, double> metrics;  // e.g. "accuracy" in [0, 1]
  shared::release::Compatibility compatibility;
};

struct ArtifactLimits {
  uint64_t max_bytes = 256ull << 20;  // whole file
  size_t max_tensors = 4096;
  uint64_t max_elements = 64ull << 20;  // total over tensors
  size_t max_drift_profile_bytes = 1 << 20;
  size_t max_metrics = 256;
  size_t max_string = 4096;  // any string field
};

// Checks an artifact completely: a non-empty arch of at most limits.max_string bytes; an input
// shape of three positive dimensions; num_classes >= 1; every tensor valid (ValidateStored) with a
// unique name, within the count and element limits; the drift profile within its limit; a model
// id usable as a release name (see shared/release); version >= 1 and parent_version < version;
// created_unix >= 0; a known quantization scheme, a prune method of "" or "l1_channels" with a
// fraction in [0, 1) (0 when not pruned); finite metrics with non-empty keys; compatibility
// naming the same arch and input shape and a valid min_client_version. InvalidArgument saying
// which field is wrong otherwise.
shared::Status ValidateArtifact(const Artifact& artifact, const ArtifactLimits& limits = {});

// The artifact's bytes (validated first: InvalidArgument as above; ResourceExhausted if the
// result would exceed limits.max_bytes). Deterministic for a given artifact.
shared::Result<std::vector<uint8_t>> EncodeArtifact(const Artifact& artifact,
                                                    const ArtifactLimits& limits = {});

// Decodes untrusted bytes: ResourceExhausted over limits.max_bytes (checked before anything
// else), Corruption for a buffer without the "FDGA" identifier, whose size prefix is not the
// rest's length (truncated or padded) or that fails the FlatBuffers Verifier (corrupt),
// InvalidArgument for an unsupported format version, a dtype it does not know, or any
// ValidateArtifact failure. Never reads an unverified byte.
shared::Result<Artifact> DecodeArtifact(std::span<const uint8_t> bytes,
                                        const ArtifactLimits& limits = {});

// The artifact's tensors as an fp32 state for Model::LoadState (int8 weights dequantised).
shared::Result<shared::TensorBundle> ArtifactState(const Artifact& artifact);

}  // namespace fedge::ml
