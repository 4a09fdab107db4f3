// release_bench: the pruned int8 release against the dense fp32 model (issue 6 items 1-2).
//
// Trains a dense model CENTRALLY (not federated) on Fashion-MNIST's first 55,000 training
// images, keeping the last 5,000 as the validation set of the accuracy gate; prunes --fraction
// of every convolution's channels and of the hidden units by L1 norm (ml::PruneChannels);
// fine-tunes the pruned network centrally for --finetune-epochs (standing in for the federated
// fine-tuning rounds the coordinator runs) while the dense model trains as many more epochs
// (so both have trained equally long); stores its weights as int8 with per-channel scales;
// writes both release artifacts (dense fp32, pruned int8) with a reference drift profile of the
// validation set; decodes them again and measures what a client gets from each artifact:
// artifact bytes, batch-1 inference latency (Predict(n = 1), median of --frames calls per model,
// the two models interleaved, same torch threads) and accuracy on the 10,000 test images.
// --arch cnn_color runs the product's camera model on Fashion-MNIST padded to 32x32 and
// replicated to 3 channels (not rendered camera frames).
//
// Aims (issue 6): artifact >= 4x smaller, inference >= 2x faster, <= 1 point accuracy loss.
// Printed with whether each is met, never enforced. Exits non-zero only on errors.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "shared/drift/drift_wire.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/torch/runtime.h"
#include "shared/ml/weights/accuracy_gate.h"
#include "shared/ml/weights/artifact.h"
#include "shared/ml/weights/prune.h"
#include "shared/vision/image_stats.h"

using namespace fedge;
using shared::Result;
using shared::Status;

namespace {

struct Flags {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string arch = "cnn_color";
  std::string out_dir = "release_bench_out";
  int epochs = 2;
  int finetune_epochs = 1;
  double fraction = 0.5;
  int frames = 2000;
  int threads = 2;
  uint64_t seed = 1;
};

// Fashion-MNIST as cnn_color input: each 28x28 image padded by 2 pixels of background (the
// normalized value of a black pixel) and replicated to 3 channels.
ml::Dataset ToColor(const ml::Dataset& grey) {
  ml::Dataset out;
  out.size = grey.size;
  out.channels = 3;
  out.height = out.width = 32;
  out.labels = grey.labels;
  out.images.assign(out.size * out.ExampleElements(),
                    (0.0f - ml::kFashionMnistMean) / ml::kFashionMnistStd);
  for (int64_t i = 0; i < grey.size; ++i) {
    for (int c = 0; c < 3; ++c) {
      float* dst = out.images.data() + i * out.ExampleElements() + c * 32 * 32;
      for (int r = 0; r < 28; ++r) {
        std::copy_n(grey.images.data() + i * 784 + r * 28, 28, dst + (r + 2) * 32 + 2);
      }
    }
  }
  return out;
}

// The reference drift profile of `data[indices]` as a client computes one: image statistics of
// each frame (from its normalized values back to 8-bit grey) and the model's outputs.
Result<std::vector<uint8_t>> DriftProfile(const ml::Model& model, const ml::Dataset& data,
                                          const std::vector<int64_t>& indices) {
  drift::Summary summary;
  const int64_t per = data.ExampleElements();
  const int k = model.num_classes();
  for (int64_t i : indices) {
    std::span<const float> x(data.images.data() + i * per, per);
    FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> p, model.Predict(x, 1));
    vision::Image img{static_cast<int>(data.width), static_cast<int>(data.height), 1, {}};
    for (int64_t j = 0; j < data.height * data.width; ++j) {
      const float v = (x[j] * ml::kFashionMnistStd + ml::kFashionMnistMean) * 255.0f;
      img.pixels.push_back(static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)));
    }
    const vision::ImageStats s = vision::ComputeImageStats(img);
    drift::FrameObservation f{s.brightness, s.contrast, s.sharpness, s.saturation, s.clipped};
    f.has_output = true;
    f.confidence = p[0].confidence;
    f.entropy = std::clamp(p[0].entropy / std::log(static_cast<double>(k)), 0.0, 1.0);
    f.predicted_class = p[0].label;
    summary.Add(f, k);
  }
  return drift::EncodeSummary(summary);
}

Result<ml::Artifact> MakeArtifact(const ml::Model& model, ml::QuantScheme scheme,
                                  const ml::ArtifactRecipe& recipe, uint64_t version,
                                  double val_accuracy, std::vector<uint8_t> profile) {
  ml::Artifact a;
  a.arch = model.arch();
  a.input_shape = {model.input_channels(), model.input_height(), model.input_width()};
  a.num_classes = model.num_classes();
  FEDGE_ASSIGN_OR_RETURN(a.tensors, ml::QuantizeBundle(model.State(), scheme));
  a.drift_profile = std::move(profile);
  a.model_id = "release-bench";
  a.version = version;
  a.parent_version = version - 1;
  a.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  a.recipe = recipe;
  a.recipe.quantization = std::string(ml::QuantSchemeName(scheme));
  a.metrics["val_accuracy"] = val_accuracy;
  a.compatibility = {
      a.arch,
      {static_cast<uint32_t>(a.input_shape[0]), static_cast<uint32_t>(a.input_shape[1]),
       static_cast<uint32_t>(a.input_shape[2])},
      "1.0.0"};
  return a;
}

// What a client does with artifact bytes: decode, build the model, load the (dequantised) state.
Result<ml::Model> LoadArtifact(const std::vector<uint8_t>& bytes) {
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact a, ml::DecodeArtifact(bytes));
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, ml::ArtifactState(a));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(a.arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  return model;
}

Status WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  return out ? Status::Ok() : Status::IOError("cannot write " + path);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median batch-1 latency in ms of each model over `frames` test images, the models taking turns
// frame by frame so that both see the same machine load.
Result<std::pair<double, double>> Latency(const ml::Model& a, const ml::Model& b,
                                          const ml::Dataset& data, int frames) {
  const int64_t per = data.ExampleElements();
  std::vector<double> ms_a, ms_b;
  for (int i = -200; i < frames; ++i) {  // 200 warm-up rounds
    std::span<const float> x(data.images.data() + (std::max(i, 0) % data.size) * per, per);
    for (int which = 0; which < 2; ++which) {
      const ml::Model& m = (i + which) % 2 == 0 ? a : b;  // alternate who goes first
      const auto t = std::chrono::steady_clock::now();
      FEDGE_RETURN_IF_ERROR(m.Predict(x, 1).status());
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
      if (i >= 0) (&m == &a ? ms_a : ms_b).push_back(ms);
    }
  }
  return std::make_pair(Median(ms_a), Median(ms_b));
}

const char* Met(bool ok) { return ok ? "MET" : "NOT MET"; }

Status Run(const Flags& f) {
  ml::ConfigureRuntime(f.threads);
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset train, ml::LoadFashionMnist(f.data_dir, ml::Split::kTrain));
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset test, ml::LoadFashionMnist(f.data_dir, ml::Split::kTest));
  if (f.arch == "cnn_color") {
    train = ToColor(train);
    test = ToColor(test);
  } else if (f.arch != "cnn_small") {
    return Status::InvalidArgument("--arch must be cnn_small or cnn_color");
  }
  const int64_t n_val = 5000;
  std::vector<int64_t> fit(train.size - n_val), val(n_val);
  std::iota(fit.begin(), fit.end(), 0);
  std::iota(val.begin(), val.end(), train.size - n_val);
  std::printf(
      "release_bench: %s, %d threads, BLAS %s (%s); central training on %zu images, "
      "validation %zu, test %lld\n",
      f.arch.c_str(), ml::TorchThreads(), ml::BlasLibraryInUse().c_str(),
      ml::BlasCoreName().c_str(), fit.size(), val.size(), static_cast<long long>(test.size));

  FEDGE_ASSIGN_OR_RETURN(ml::Model dense, ml::Model::Create(f.arch, f.seed));
  ml::TrainOptions options;  // lr 0.05, momentum 0.9, batch 64
  options.epochs = f.epochs;
  options.seed = f.seed;
  FEDGE_ASSIGN_OR_RETURN(ml::TrainResult trained, dense.Train(train, fit, options));
  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult dense_val, dense.Evaluate(train, val));
  std::printf("dense: %d epochs in %.1f s, val accuracy %.2f%%\n", f.epochs, trained.seconds,
              100 * dense_val.accuracy);

  FEDGE_ASSIGN_OR_RETURN(ml::Pruned pruned,
                         ml::PruneChannels(f.arch, dense.State(), {f.fraction, true}));
  FEDGE_ASSIGN_OR_RETURN(ml::Model small, ml::Model::Create(pruned.arch, 0));
  FEDGE_RETURN_IF_ERROR(small.LoadState(pruned.state));
  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult pruned_val, small.Evaluate(train, val));
  std::printf(
      "pruned %.0f%% -> %s (%lld -> %lld parameters), val accuracy before fine-tuning "
      "%.2f%%\n",
      100 * f.fraction, pruned.arch.c_str(), static_cast<long long>(dense.NumParameters()),
      static_cast<long long>(small.NumParameters()), 100 * pruned_val.accuracy);
  // Fine-tuning; the dense model gets the same extra epochs, so that both have seen as much
  // training and the accuracy difference is the cost of pruning and int8, not of training time.
  options.epochs = f.finetune_epochs;
  options.learning_rate = 0.02f;
  options.seed = f.seed + 100;
  FEDGE_ASSIGN_OR_RETURN(trained, small.Train(train, fit, options));
  FEDGE_ASSIGN_OR_RETURN(ml::TrainResult dense_more, dense.Train(train, fit, options));
  FEDGE_ASSIGN_OR_RETURN(dense_val, dense.Evaluate(train, val));
  std::printf(
      "fine-tuned centrally %d epochs (lr 0.02) in %.1f s; dense trained as long "
      "(%.1f s), val accuracy %.2f%%\n",
      f.finetune_epochs, trained.seconds, dense_more.seconds, 100 * dense_val.accuracy);

  // Both artifacts, with the reference drift profile of the validation set.
  const std::vector<int64_t> profile_frames(val.begin(), val.begin() + 2000);
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> dense_profile,
                         DriftProfile(dense, train, profile_frames));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> small_profile,
                         DriftProfile(small, train, profile_frames));
  ml::ArtifactRecipe dense_recipe;
  dense_recipe.fine_tuning = std::to_string(f.epochs + f.finetune_epochs) + " central epochs";
  const ml::ArtifactRecipe small_recipe{
      "l1_channels", f.fraction, true, "",
      std::to_string(f.finetune_epochs) + " central fine-tuning epochs"};
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact dense_art,
                         MakeArtifact(dense, ml::QuantScheme::kNone, dense_recipe, 1,
                                      dense_val.accuracy, dense_profile));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> dense_bytes, ml::EncodeArtifact(dense_art));
  // The int8 release's validation accuracy is measured on what the artifact holds.
  FEDGE_ASSIGN_OR_RETURN(
      ml::Artifact small_art,
      MakeArtifact(small, ml::QuantScheme::kInt8PerChannel, small_recipe, 2, 0.0, small_profile));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> small_bytes, ml::EncodeArtifact(small_art));
  FEDGE_ASSIGN_OR_RETURN(ml::Model client_dense, LoadArtifact(dense_bytes));
  FEDGE_ASSIGN_OR_RETURN(ml::Model client_small, LoadArtifact(small_bytes));
  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult small_val, client_small.Evaluate(train, val));
  small_art.metrics["val_accuracy"] = small_val.accuracy;
  FEDGE_ASSIGN_OR_RETURN(small_bytes, ml::EncodeArtifact(small_art));
  std::error_code ec;
  std::filesystem::create_directories(f.out_dir, ec);
  FEDGE_RETURN_IF_ERROR(WriteFile(f.out_dir + "/dense_fp32.fdga", dense_bytes));
  FEDGE_RETURN_IF_ERROR(WriteFile(f.out_dir + "/pruned_int8.fdga", small_bytes));

  std::string gate_line;
  const Status gate =
      ml::CheckAccuracyGate(small_val.accuracy, dense_val.accuracy, 1.0, &gate_line);

  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult dense_test, client_dense.Evaluate(test, {}));
  FEDGE_ASSIGN_OR_RETURN(ml::EvalResult small_test, client_small.Evaluate(test, {}));
  FEDGE_ASSIGN_OR_RETURN(auto latency, Latency(client_dense, client_small, test, f.frames));

  const double size_ratio =
      static_cast<double>(dense_bytes.size()) / static_cast<double>(small_bytes.size());
  const double speed_ratio = latency.first / latency.second;
  const double loss_points = 100 * (dense_test.accuracy - small_test.accuracy);
  std::printf(
      "artifacts (%s): dense fp32 %zu bytes, pruned int8 %zu bytes (drift profile %zu "
      "bytes each)\n",
      f.out_dir.c_str(), dense_bytes.size(), small_bytes.size(), small_profile.size());
  std::printf("batch-1 latency, median of %d, %d threads: dense %.3f ms, pruned int8 %.3f ms\n",
              f.frames, ml::TorchThreads(), latency.first, latency.second);
  std::printf("test accuracy (10k): dense %.2f%%, pruned int8 %.2f%%, difference %.2f points\n",
              100 * dense_test.accuracy, 100 * small_test.accuracy, loss_points);
  std::printf("validation %s\n", gate_line.c_str());
  std::printf("aim: artifact >= 4x smaller:   %.2fx  %s\n", size_ratio, Met(size_ratio >= 4));
  std::printf("aim: inference >= 2x faster:   %.2fx  %s\n", speed_ratio, Met(speed_ratio >= 2));
  std::printf("aim: <= 1 point accuracy loss: %.2f   %s\n", loss_points, Met(loss_points <= 1));
  std::printf(
      "RESULT arch=%s dense_bytes=%zu pruned_bytes=%zu size_ratio=%.2f dense_ms=%.4f "
      "pruned_ms=%.4f speed_ratio=%.2f dense_acc=%.4f pruned_acc=%.4f loss_points=%.2f gate=%s\n",
      f.arch.c_str(), dense_bytes.size(), small_bytes.size(), size_ratio, latency.first,
      latency.second, speed_ratio, dense_test.accuracy, small_test.accuracy, loss_points,
      gate.ok() ? "pass" : "fail");
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"pruned int8 release against the dense fp32 model"};
  app.add_option("--data-dir", flags.data_dir, "Fashion-MNIST directory (gzipped IDX files)");
  app.add_option("--arch", flags.arch, "cnn_small (28x28 grey) or cnn_color (padded to 32x32x3)");
  app.add_option("--out-dir", flags.out_dir, "where both artifacts are written");
  app.add_option("--epochs", flags.epochs, "dense training epochs")->check(CLI::Range(1, 50));
  app.add_option("--finetune-epochs", flags.finetune_epochs, "fine-tuning epochs after pruning")
      ->check(CLI::Range(0, 50));
  app.add_option("--fraction", flags.fraction, "fraction of channels removed")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--frames", flags.frames, "timed batch-1 predictions per model")
      ->check(CLI::Range(10, 100000));
  app.add_option("--threads", flags.threads, "torch intra-op threads")->check(CLI::Range(1, 64));
  app.add_option("--seed", flags.seed, "training seed");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen
  const Status status = Run(flags);
  if (!status.ok()) {
    std::fprintf(stderr, "release_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
