// fedge-eval --arch ARCH --weights FILE --data-dir DIR [--examples N]: the accuracy of a model
// on the Fashion-MNIST test split, printed as one JSON line {"accuracy": A, "examples": N}.
//
// The one central-team step that needs LibTorch outside the coordinator: fedgectl's release
// gate runs it (coordinator/release_gate.h) so that fedgectl itself never loads libtorch.
// FILE is a tensor bundle (fp32, as the registry stores weights).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "coordinator/ml_backend.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/data/dataset.h"

namespace {

using fedge::shared::Result;
using fedge::shared::Status;

constexpr size_t kMaxWeightsBytes = 1ull << 30;

Result<double> Evaluate(const std::string& arch, const std::string& weights,
                        const std::string& data_dir, int64_t examples) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                         fedge::shared::ReadFile(weights, kMaxWeightsBytes));
  Result<fedge::shared::TensorBundle> state = fedge::shared::DecodeBundle(bytes);
  if (!state.ok()) return state.status().WithContext(weights);
  FEDGE_ASSIGN_OR_RETURN(fedge::ml::Dataset test,
                         fedge::ml::LoadFashionMnist(data_dir, fedge::ml::Split::kTest));
  return fedge::coordinator::ValidationAccuracy(arch, *state, test, examples);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fedge eval: accuracy of a model on the Fashion-MNIST test split"};
  std::string arch, weights, data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t examples = 0;
  app.add_option("--arch", arch, "architecture, e.g. cnn_small/c1=16,c2=32,f1=64")->required();
  app.add_option("--weights", weights, "tensor bundle file with the model's weights")->required();
  app.add_option("--data-dir", data_dir, "Fashion-MNIST directory (gzipped IDX files)");
  app.add_option("--examples", examples, "first N test images (0: all)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  Result<double> accuracy = Evaluate(arch, weights, data_dir, examples);
  if (!accuracy.ok()) {
    std::fprintf(stderr, "fedge-eval: %s\n", accuracy.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n",
              nlohmann::json{{"accuracy", *accuracy}, {"examples", examples}}.dump().c_str());
  return 0;
}
