// ml_bench: training throughput and batch-1 inference latency of one fedge_ml architecture,
// for comparison with torch_reference.py (the same network in python3-torch) by
// ml_vs_pytorch.sh.
//
// Workload (torch_reference.py mirrors it): --examples random N(0,1) inputs of the model's input
// shape with random labels; a warm-up Train on the first 512 examples, then Train over all
// examples for --epochs epochs (SGD lr 0.05, momentum 0.9, batch 64), timed as img/s; then
// --warmup unrecorded and --frames recorded Predict(n = 1) calls on distinct frames, reported
// as latency percentiles. Also prints training img per CPU-second of the whole process
// (train_img_cpu_s), less sensitive to other load on the machine at 1 thread. Prints "RESULT k=v
// ..." for the script. Exits non-zero only on errors.
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "shared/ml/data/dataset.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/torch/runtime.h"

namespace fedge::sim {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string arch = "cnn_color";
  int examples = 4096;
  int epochs = 2;
  int frames = 500;
  int warmup = 50;
  int threads = 2;
};

ml::Dataset RandomData(const ml::Model& model, int examples, uint32_t seed) {
  ml::Dataset data;
  data.size = examples;
  data.channels = model.input_channels();
  data.height = model.input_height();
  data.width = model.input_width();
  data.num_classes = model.num_classes();
  data.images.resize(data.size * data.ExampleElements());
  data.labels.resize(data.size);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : data.images) v = normal(rng);
  std::uniform_int_distribution<int64_t> label(0, data.num_classes - 1);
  for (int64_t& y : data.labels) y = label(rng);
  return data;
}

// CPU seconds used by the whole process (all threads).
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Percentile(std::vector<double> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  const auto i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int Run(const Flags& flags) {
  ml::ConfigureRuntime(flags.threads);
  auto created = ml::Model::Create(flags.arch, 1);
  if (!created.ok()) {
    std::fprintf(stderr, "ml_bench: %s\n", created.status().ToString().c_str());
    return 1;
  }
  ml::Model model = std::move(created).value();
  const ml::Dataset data = RandomData(model, flags.examples, 7);
  std::vector<int64_t> all(data.size);
  std::iota(all.begin(), all.end(), 0);
  ml::TrainOptions options;  // lr 0.05, momentum 0.9, batch 64

  const std::vector<int64_t> first(all.begin(), all.begin() + std::min<int64_t>(512, data.size));
  if (auto warm = model.Train(data, first, options); !warm.ok()) {
    std::fprintf(stderr, "ml_bench: %s\n", warm.status().ToString().c_str());
    return 1;
  }
  options.epochs = flags.epochs;
  const double cpu_start = ProcessCpuSeconds();
  auto trained = model.Train(data, all, options);
  if (!trained.ok()) {
    std::fprintf(stderr, "ml_bench: %s\n", trained.status().ToString().c_str());
    return 1;
  }
  const double train_img_s = static_cast<double>(trained->examples) / trained->seconds;
  const double train_img_cpu_s =
      static_cast<double>(trained->examples) / (ProcessCpuSeconds() - cpu_start);

  const int64_t frame = data.ExampleElements();
  std::vector<double> ms;
  for (int i = 0; i < flags.warmup + flags.frames; ++i) {
    const int64_t at = (i % data.size) * frame;
    std::span<const float> x(data.images.data() + at, frame);
    const auto t = Clock::now();
    auto p = model.Predict(x, 1);
    const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    if (!p.ok()) {
      std::fprintf(stderr, "ml_bench: %s\n", p.status().ToString().c_str());
      return 1;
    }
    if (i >= flags.warmup) ms.push_back(elapsed);
  }
  std::printf("ml_bench: %s, %lld parameters, %d threads, BLAS %s (%s)\n", flags.arch.c_str(),
              static_cast<long long>(model.NumParameters()), ml::TorchThreads(),
              ml::BlasLibraryInUse().c_str(), ml::BlasCoreName().c_str());
  std::printf(
      "RESULT side=cpp arch=%s params=%lld train_img_s=%.1f train_img_cpu_s=%.1f p50_ms=%.3f "
      "p95_ms=%.3f p99_ms=%.3f loss=%.4f\n",
      flags.arch.c_str(), static_cast<long long>(model.NumParameters()), train_img_s,
      train_img_cpu_s, Percentile(ms, 0.50), Percentile(ms, 0.95), Percentile(ms, 0.99),
      trained->mean_loss);
  return 0;
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  fedge::sim::Flags flags;
  CLI::App app{"fedge_ml training throughput and batch-1 inference latency"};
  app.add_option("--arch", flags.arch, "architecture (Model::Create)");
  app.add_option("--examples", flags.examples, "random training examples")
      ->check(CLI::Range(64, 1 << 20));
  app.add_option("--epochs", flags.epochs, "timed training epochs")->check(CLI::Range(1, 100));
  app.add_option("--frames", flags.frames, "timed batch-1 predictions")
      ->check(CLI::Range(10, 100000));
  app.add_option("--warmup", flags.warmup, "untimed batch-1 predictions first")
      ->check(CLI::Range(0, 100000));
  app.add_option("--threads", flags.threads, "torch intra-op threads")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return fedge::sim::Run(flags);
}
