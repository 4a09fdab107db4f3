#include "coordinator/ml_backend.h"

#include <numeric>
#include <vector>

#include "shared/ml/torch/model.h"

namespace fedge::coordinator {

using shared::Result;

Result<shared::TensorBundle> TorchInitialModel(const std::string& arch, uint64_t seed) {
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(arch, seed));
  return model.State();
}

Result<double> ValidationAccuracy(const std::string& arch, const shared::TensorBundle& state,
                                  const ml::Dataset& data, int64_t max_examples) {
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  std::vector<int64_t> indices;
  if (max_examples > 0 && max_examples < data.size) {
    indices.resize(static_cast<size_t>(max_examples));
    std::iota(indices.begin(), indices.end(), 0);
  }
  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult r, model.Evaluate(data, indices));
  return r.accuracy;
}

}  // namespace fedge::coordinator
