#include "simulations/adversary.h"

#include <cmath>
#include <memory>
#include <random>

namespace fedge::sim {

using shared::Result;
using shared::Status;

int AdversarySettings::Count(int clients) const {
  return static_cast<int>(std::ceil(fraction * clients - 1e-9));
}

std::vector<std::string> AdversaryKeys() {
  return {"adversary.fraction", "adversary.kind", "adversary.scale", "adversary.noise_std"};
}

Result<AdversarySettings> LoadAdversary(const shared::ConfigFile& file) {
  AdversarySettings a;
  FEDGE_ASSIGN_OR_RETURN(a.fraction, file.Double("adversary.fraction", 0.0, 0.0, 0.9));
  FEDGE_ASSIGN_OR_RETURN(a.kind, file.String("adversary.kind", a.kind));
  if (a.kind != "sign_flip" && a.kind != "scaling" && a.kind != "noise" && a.kind != "label_flip") {
    return Status::InvalidArgument(file.path() + ": key 'adversary.kind': unknown attack '" +
                                   a.kind + "'; use sign_flip, scaling, noise or label_flip");
  }
  FEDGE_ASSIGN_OR_RETURN(a.scale, file.Double("adversary.scale", 1.0, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(a.noise_std, file.Double("adversary.noise_std", 0.1, 0.0, 1e6));
  return a;
}

std::function<void(const shared::TensorBundle&, shared::TensorBundle*)> MakeTamper(
    const AdversarySettings& a, uint64_t seed) {
  if (a.kind == "label_flip") return {};
  if (a.kind == "noise") {
    auto rng = std::make_shared<std::mt19937_64>(seed);
    const double std_dev = a.noise_std;
    return [rng, std_dev](const shared::TensorBundle& base, shared::TensorBundle* trained) {
      std::normal_distribution<double> noise(0.0, std_dev);
      for (size_t t = 0; t < base.tensors.size(); ++t) {
        std::vector<float>& v = trained->tensors[t].data;
        const std::vector<float>& b = base.tensors[t].data;
        for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(b[j] + noise(*rng));
      }
    };
  }
  const double factor = a.kind == "sign_flip" ? -a.scale : a.scale;
  return [factor](const shared::TensorBundle& base, shared::TensorBundle* trained) {
    for (size_t t = 0; t < base.tensors.size(); ++t) {
      std::vector<float>& v = trained->tensors[t].data;
      const std::vector<float>& b = base.tensors[t].data;
      for (size_t j = 0; j < v.size(); ++j) {
        v[j] = static_cast<float>(b[j] + factor * (static_cast<double>(v[j]) - b[j]));
      }
    }
  };
}

void FlipTrainingLabels(client::LocalData* data) {
  auto copy = std::make_shared<ml::Dataset>(*data->dataset);
  const int64_t top = copy->num_classes - 1;
  std::fill(data->class_counts.begin(), data->class_counts.end(), 0);
  for (int64_t k : data->train) {
    int64_t& y = copy->labels[static_cast<size_t>(k)];
    y = top - y;
    ++data->class_counts[static_cast<size_t>(y)];
  }
  data->dataset = std::move(copy);
}

}  // namespace fedge::sim
