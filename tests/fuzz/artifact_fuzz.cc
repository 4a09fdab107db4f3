// libFuzzer harness: an untrusted model artifact (shared/ml/weights/artifact.h), as a site reads a
// downloaded release before loading it, then its tensors as a model state.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "shared/ml/weights/artifact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedge;
  ml::ArtifactLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_elements = 1 << 20;
  auto artifact = ml::DecodeArtifact(std::span<const uint8_t>(data, size), limits);
  if (!artifact.ok()) return 0;
  auto state = ml::ArtifactState(*artifact);
  if (state.ok()) {
    for (const shared::Tensor& t : state->tensors) {
      if (static_cast<int64_t>(t.data.size()) != t.NumElements()) std::abort();
    }
  }
  // What decodes must encode again (the same limits).
  if (!ml::EncodeArtifact(*artifact, limits).ok()) std::abort();
  return 0;
}
