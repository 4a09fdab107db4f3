#pragma once
// How the coordinator gets the weights of a brand-new model: the one place where creating a
// network needs LibTorch's initialisers. The coordinator core takes this as a function so that
// it (and its unit tests) never link LibTorch; fedge-coordinator, fedge-sim and the integration
// tests pass TorchInitialModel (coordinator/ml_backend.h), unit tests pass a fake.

#include <cstdint>
#include <functional>
#include <string>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

// The initial parameters of architecture `arch` drawn from `seed`. Must be deterministic:
// the same (arch, seed) gives the same bundle, bit for bit. Errors: InvalidArgument for an
// unknown architecture.
using InitialModelFn =
    std::function<shared::Result<shared::TensorBundle>(const std::string& arch, uint64_t seed)>;

}  // namespace fedge::coordinator
