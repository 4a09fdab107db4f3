#pragma once
// TensorBundle: a model's or update's named fp32 tensors as plain types (no LibTorch).

#include <cstdint>
#include <string>
#include <vector>

namespace fedge::shared {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major; size == product of shape

  int64_t NumElements() const;
};

// Tensors in a fixed, deterministic order (the model's state order).
struct TensorBundle {
  std::vector<Tensor> tensors;

  int64_t NumElements() const;
  // True if both bundles have the same names and shapes in the same order.
  bool SameLayout(const TensorBundle& other) const;
};

// "[64,1,3,3]": a shape as error messages show it.
template <typename Int>
std::string ShapeText(const std::vector<Int>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace fedge::shared
