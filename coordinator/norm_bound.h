#pragma once
// The update norm bound ([rounds] max_update_norm): an update's change from the model it was
// trained from is scaled down to at most a fixed L2 norm before it is folded, so one site's
// update moves the average by a bounded amount however it was made. Deterministic: the norm is
// summed in double in the bundle's tensor order, so the same update is clipped to the same
// bytes in any arrival order and when a resumed round folds it again.

#include <cstdint>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

// The L2 norm of `update` - `base` over every value. InvalidArgument if their layouts differ.
shared::Result<double> UpdateNorm(const shared::TensorBundle& update,
                                  const shared::TensorBundle& base);

// If the change of `update` from `base` has an L2 norm above `bound` (> 0), rewrites `update`
// as base + change * bound / norm. Returns the norm before clipping. InvalidArgument if the
// layouts differ or `bound` is not positive and finite.
shared::Result<double> ClipToNorm(shared::TensorBundle* update, const shared::TensorBundle& base,
                                  double bound);

}  // namespace fedge::coordinator
