// robust_aggregation_bench: what each aggregation strategy ([rounds] aggregation) costs a round
// on cnn_small's layout, against FedAvg measured in the same run: wall time to aggregate N
// decoded updates and the memory it holds (peak RSS growth while it runs, the N updates it is
// handed included; FedAvg's row: what folding adds to the caller's updates).
//
// For each N in --updates (default 10,100,1000), single thread: FedAvg folds the N updates
// into FedAvgAccumulator (O(model) memory) and finalises; every other strategy is given the
// same N updates at once (N x model in fp32, as the coordinator reads them back from its
// registry) and computes the model. Prints one row per strategy with seconds, the ratio to
// FedAvg's seconds and the extra MiB of RSS it took. Never fails on a ratio; exits non-zero
// only on an error.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "coordinator/fedavg.h"
#include "coordinator/robust_aggregation.h"
#include "shared/ml/weights/arch.h"
#include "simulations/benchmarks/bench_updates.h"

namespace fedge::sim {
namespace {

using coordinator::AggregationMethod;
using coordinator::SiteUpdate;
using Clock = std::chrono::steady_clock;

// Resident set size now, and its peak since the last ResetPeak(), in MiB (/proc/self).
double StatusMiB(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return 0;
}
double RssMiB() { return StatusMiB("VmRSS"); }
double PeakMiB() { return StatusMiB("VmHWM"); }
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

shared::TensorBundle Layout(const std::string& arch) {
  shared::TensorBundle b;
  auto info = ml::ParseArch(arch);
  if (!info.ok()) return b;
  for (const auto& [name, shape] : ml::ChainStateLayout(*info)) {
    shared::Tensor t{name, shape, {}};
    t.data.assign(static_cast<size_t>(t.NumElements()), 0.0f);
    b.tensors.push_back(std::move(t));
  }
  return b;
}

std::vector<SiteUpdate> Updates(const shared::TensorBundle& layout, size_t n) {
  std::vector<SiteUpdate> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    SiteUpdate u{"site-" + std::to_string(100000 + i), 0, layout};
    u.weight = FillBenchUpdate(i, &u.values);
    out.push_back(std::move(u));
  }
  return out;
}

int Main(int argc, char** argv) {
  CLI::App app{"robust_aggregation_bench: each aggregation strategy against FedAvg"};
  std::vector<size_t> counts = {10, 100, 1000};
  std::string arch = "cnn_small";
  app.add_option("--updates", counts, "update counts to measure")->delimiter(',');
  app.add_option("--arch", arch, "model architecture whose layout the updates have");
  CLI11_PARSE(app, argc, argv);
  const shared::TensorBundle base = Layout(arch);
  if (base.tensors.empty()) {
    std::fprintf(stderr, "robust_aggregation_bench: '%s' is not a chain architecture\n",
                 arch.c_str());
    return 2;
  }
  std::printf("model %s: %lld parameters; single thread\n", arch.c_str(),
              static_cast<long long>(base.NumElements()));
  std::printf("%7s %-14s %10s %10s %14s\n", "updates", "strategy", "seconds", "x fedavg",
              "peak +MiB");
  for (size_t n : counts) {
    std::vector<SiteUpdate> updates = Updates(base, n);
    malloc_trim(0);
    ResetPeak();
    const double rss_updates = RssMiB();
    double fedavg_seconds = 0;
    {
      auto t = Clock::now();
      coordinator::FedAvgAccumulator acc(base);
      for (const SiteUpdate& u : updates) {
        if (auto s = acc.Fold(u.values, u.weight); !s.ok()) {
          std::fprintf(stderr, "fedavg: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      auto model = acc.Finalize();
      fedavg_seconds = SecondsSince(t);
      if (!model.ok()) return 1;
      std::printf("%7zu %-14s %10.3f %10.2f %14.0f\n", n, "fedavg", fedavg_seconds, 1.0,
                  PeakMiB() - rss_updates);
    }
    for (AggregationMethod m : {AggregationMethod::kMedian, AggregationMethod::kTrimmedMean,
                                AggregationMethod::kMultiKrum, AggregationMethod::kCenteredClip}) {
      coordinator::AggregationSettings s;
      s.method = m;
      s.krum_byzantine = static_cast<int>(n / 5);  // 20% attackers, as the robustness runs
      if (n < static_cast<size_t>(2 * s.krum_byzantine + 3)) s.krum_byzantine = 0;
      malloc_trim(0);
      ResetPeak();
      const double rss_before = RssMiB();
      std::vector<SiteUpdate> copy = updates;  // the strategy consumes its input
      auto t = Clock::now();
      auto r = coordinator::RobustAggregate(std::move(copy), base, s, /*seed=*/1);
      const double seconds = SecondsSince(t);
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", coordinator::AggregationName(m),
                     r.status().ToString().c_str());
        return 1;
      }
      // The N updates handed over are part of what the strategy holds (the coordinator reads
      // them back from its registry for it).
      std::printf("%7zu %-14s %10.3f %10.2f %14.0f\n", n, coordinator::AggregationName(m), seconds,
                  seconds / fedavg_seconds, PeakMiB() - rss_before);
    }
  }
  return 0;
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) { return fedge::sim::Main(argc, argv); }
