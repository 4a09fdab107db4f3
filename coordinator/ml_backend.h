#pragma once
// The coordinator's two uses of LibTorch, kept out of the coordinator core (fedge_coordinator)
// so that the core, fedgectl's other commands and the core's unit tests never load libtorch.
// Library fedge_coordinator_ml; link it only from programs that create or evaluate models
// (fedge-coordinator, fedge-sim, fedgectl's release gate, integration tests).

#include <cstdint>
#include <string>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/data/dataset.h"

namespace fedge::coordinator {

// InitialModelFn (coordinator/model_init.h) backed by ml::Model::Create: LibTorch's
// initialisers seeded with `seed`, so the same (arch, seed) gives the same bytes.
shared::Result<shared::TensorBundle> TorchInitialModel(const std::string& arch, uint64_t seed);

// Accuracy in [0, 1] of (arch, state) on `data` (its first `max_examples`, all if 0).
shared::Result<double> ValidationAccuracy(const std::string& arch,
                                          const shared::TensorBundle& state,
                                          const ml::Dataset& data, int64_t max_examples);

}  // namespace fedge::coordinator
