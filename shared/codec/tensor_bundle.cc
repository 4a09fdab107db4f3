#include "shared/codec/tensor_bundle.h"

namespace fedge::shared {

int64_t Tensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorBundle::NumElements() const {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.NumElements();
  return n;
}

bool TensorBundle::SameLayout(const TensorBundle& other) const {
  if (tensors.size() != other.tensors.size()) return false;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name != other.tensors[i].name || tensors[i].shape != other.tensors[i].shape) {
      return false;
    }
  }
  return true;
}

}  // namespace fedge::shared
