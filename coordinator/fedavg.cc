#include "coordinator/fedavg.h"

#include <cmath>

namespace fedge::coordinator {

using shared::Result;
using shared::Status;
using shared::TensorBundle;

namespace {
constexpr double kScale = 4294967296.0;  // 2^kFractionBits
// |n * w| must stay below this so a sum of up to 2^40 terms cannot overflow 127 bits.
constexpr double kMaxTerm = 1.4e26;  // ~2^86.9 fixed-point units
}  // namespace

FedAvgAccumulator::FedAvgAccumulator(const TensorBundle& layout) {
  layout_.tensors.reserve(layout.tensors.size());
  for (const auto& t : layout.tensors) layout_.tensors.push_back({t.name, t.shape, {}});
  sums_.assign(static_cast<size_t>(layout.NumElements()), 0);
}

Status FedAvgAccumulator::Fold(const TensorBundle& update, uint64_t weight) {
  if (weight == 0) return Status::InvalidArgument("update has an example count of 0");
  if (!layout_.SameLayout(update)) {
    for (size_t i = 0; i < layout_.tensors.size() && i < update.tensors.size(); ++i) {
      if (layout_.tensors[i].name != update.tensors[i].name ||
          layout_.tensors[i].shape != update.tensors[i].shape) {
        return Status::InvalidArgument("update tensor " + std::to_string(i) + " ('" +
                                       update.tensors[i].name + "') does not match the model's '" +
                                       layout_.tensors[i].name + "' in name or shape");
      }
    }
    return Status::InvalidArgument("update has " + std::to_string(update.tensors.size()) +
                                   " tensors, the model has " +
                                   std::to_string(layout_.tensors.size()));
  }
  const double w = static_cast<double>(weight) * kScale;
  // Validate first so a bad update leaves the sums untouched.
  for (const auto& t : update.tensors) {
    if (static_cast<int64_t>(t.data.size()) != t.NumElements()) {
      return Status::InvalidArgument("update tensor " + t.name + " has the wrong number of values");
    }
    for (float v : t.data) {
      if (!std::isfinite(v) || std::fabs(static_cast<double>(v) * w) > kMaxTerm) {
        return Status::InvalidArgument("update tensor " + t.name +
                                       " has a non-finite or out-of-range value");
      }
    }
  }
  size_t k = 0;
  for (const auto& t : update.tensors) {
    for (float v : t.data) {
      double term = static_cast<double>(v) * w;  // exact: 24-bit mantissa times integer
      if (std::fabs(term) < 9.2e18) {
        sums_[k++] += static_cast<int64_t>(term);
      } else {
        sums_[k++] += static_cast<__int128>(term);
      }
    }
  }
  total_weight_ += weight;
  ++updates_;
  return Status::Ok();
}

Result<TensorBundle> FedAvgAccumulator::Finalize() const {
  if (total_weight_ == 0) return Status::InvalidArgument("no update was folded");
  TensorBundle out = layout_;
  const long double denom = static_cast<long double>(total_weight_) * kScale;
  size_t k = 0;
  for (auto& t : out.tensors) {
    t.data.resize(static_cast<size_t>(t.NumElements()));
    for (float& v : t.data) v = static_cast<float>(static_cast<long double>(sums_[k++]) / denom);
  }
  return out;
}

}  // namespace fedge::coordinator
