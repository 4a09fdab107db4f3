#include "coordinator/norm_bound.h"

#include <cmath>
#include <string>

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
Status SameLayout(const shared::TensorBundle& update, const shared::TensorBundle& base) {
  if (update.tensors.size() != base.tensors.size()) {
    return Status::InvalidArgument("the update has " + std::to_string(update.tensors.size()) +
                                   " tensors, the model " + std::to_string(base.tensors.size()));
  }
  for (size_t i = 0; i < base.tensors.size(); ++i) {
    if (update.tensors[i].data.size() != base.tensors[i].data.size()) {
      return Status::InvalidArgument("tensor '" + base.tensors[i].name + "' has " +
                                     std::to_string(update.tensors[i].data.size()) +
                                     " values in the update, " +
                                     std::to_string(base.tensors[i].data.size()) + " in the model");
    }
  }
  return Status::Ok();
}
}  // namespace

Result<double> UpdateNorm(const shared::TensorBundle& update, const shared::TensorBundle& base) {
  FEDGE_RETURN_IF_ERROR(SameLayout(update, base));
  double sum = 0;
  for (size_t i = 0; i < base.tensors.size(); ++i) {
    const std::vector<float>& u = update.tensors[i].data;
    const std::vector<float>& b = base.tensors[i].data;
    for (size_t j = 0; j < b.size(); ++j) {
      const double d = static_cast<double>(u[j]) - static_cast<double>(b[j]);
      sum += d * d;
    }
  }
  return std::sqrt(sum);
}

Result<double> ClipToNorm(shared::TensorBundle* update, const shared::TensorBundle& base,
                          double bound) {
  if (!(bound > 0) || !std::isfinite(bound)) {
    return Status::InvalidArgument("the norm bound must be positive and finite, not " +
                                   std::to_string(bound));
  }
  FEDGE_ASSIGN_OR_RETURN(double norm, UpdateNorm(*update, base));
  if (norm <= bound) return norm;
  const double scale = bound / norm;
  for (size_t i = 0; i < base.tensors.size(); ++i) {
    std::vector<float>& u = update->tensors[i].data;
    const std::vector<float>& b = base.tensors[i].data;
    for (size_t j = 0; j < b.size(); ++j) {
      const double d = static_cast<double>(u[j]) - static_cast<double>(b[j]);
      u[j] = static_cast<float>(static_cast<double>(b[j]) + d * scale);
    }
  }
  return norm;
}

}  // namespace fedge::coordinator
