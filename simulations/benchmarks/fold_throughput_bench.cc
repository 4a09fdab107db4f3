// fold_throughput_bench: how fast coordinator::FedAvgAccumulator folds already-decoded updates
// of a ~1M-parameter model, against a STREAM-like triad measured in the same run.
//
// Measures, single thread, best of --reps:
//  - triad a[i] = b[i] + s * c[i] over doubles far larger than the caches, counted as
//    24 bytes per element (STREAM's convention);
//  - Fold() of --updates decoded updates plus Finalize(), as fp32 update bytes per second, in
//    several configurations (moved or copied updates, batched or not, AVX-512 or portable);
//    every configuration must produce the same bytes, and the mean must match a float64
//    reference to float rounding;
//  - with --data-dir, writes the updates, their example counts and fedge's mean there so
//    flower_fedavg_numpy.py can time a NumPy FedAvg on the same updates (see
//    fold_vs_triad_numpy.sh). Prints "RESULT k=v ..." for that script. Exits non-zero only on
//    errors (a wrong result included), never on a ratio.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "coordinator/fedavg.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "simulations/benchmarks/bench_updates.h"

namespace fedge::sim {
namespace {

using coordinator::FedAvgAccumulator;
using shared::Result;
using shared::Status;
using shared::TensorBundle;
using Clock = std::chrono::steady_clock;

constexpr char kName[] = "fold_throughput_bench";

// STREAM-like triad a[i] = b[i] + s * c[i] on arrays far larger than the caches.
class Triad {
 public:
  explicit Triad(size_t elements) : a_(elements, 0.0), b_(elements, 1.0), c_(elements, 2.0) {}

  // Seconds for one pass.
  double Run() {
    const double s = 3.0;
    const size_t n = a_.size();
    auto t = Clock::now();
    for (size_t i = 0; i < n; ++i) a_[i] = b_[i] + s * c_[i];
    asm volatile("" : : "r"(a_.data()) : "memory");  // the stores must happen
    const double seconds = SecondsSince(t);
    b_[passes_++ % n] = a_[n - 1];  // each pass depends on the previous one
    return seconds;
  }
  // STREAM's convention: 24 bytes per element (two loads, one store).
  double Bytes() const { return 24.0 * static_cast<double>(a_.size()); }

 private:
  std::vector<double> a_, b_, c_;
  size_t passes_ = 0;
};

// The decoded updates every configuration folds.
struct Workload {
  TensorBundle layout;
  std::vector<TensorBundle> updates;
  std::vector<uint64_t> counts;
  size_t bytes = 0;  // fp32 update bytes, all updates
};

Workload MakeWorkload(int n) {
  Workload w;
  w.layout = MakeBenchLayout();
  TensorBundle shaped = w.layout;
  for (auto& t : shaped.tensors) t.data.resize(static_cast<size_t>(t.NumElements()));
  for (int i = 0; i < n; ++i) {
    w.counts.push_back(FillBenchUpdate(static_cast<uint64_t>(i), &shaped));
    w.updates.push_back(shaped);
  }
  w.bytes = static_cast<size_t>(n) * static_cast<size_t>(w.layout.NumElements()) * sizeof(float);
  return w;
}

// One way of calling the accumulator.
struct Config {
  const char* label;
  bool move;           // Fold(TensorBundle&&) on copies made before the clock starts
  size_t max_pending;  // Options::max_pending_updates
  bool portable;       // Options::portable_kernels
};

// Seconds for every Fold of `w` plus Finalize, into `mean`.
Result<double> TimeFold(const Workload& w, const Config& c, TensorBundle* mean,
                        const char** kernels) {
  FedAvgAccumulator::Options options;
  options.max_pending_updates = c.max_pending;
  options.portable_kernels = c.portable;
  FedAvgAccumulator acc(w.layout, options);  // allocating the sums is not timed
  std::vector<TensorBundle> owned;
  if (c.move) owned = w.updates;  // nor is copying the updates the && overload consumes
  auto t = Clock::now();
  for (size_t i = 0; i < w.updates.size(); ++i) {
    FEDGE_RETURN_IF_ERROR(c.move ? acc.Fold(std::move(owned[i]), w.counts[i])
                                 : acc.Fold(w.updates[i], w.counts[i]));
  }
  FEDGE_ASSIGN_OR_RETURN(*mean, acc.Finalize());
  const double seconds = SecondsSince(t);
  *kernels = acc.kernel_name();
  return seconds;
}

bool SameBytes(const TensorBundle& a, const TensorBundle& b) {
  for (size_t t = 0; t < a.tensors.size(); ++t) {
    const auto &x = a.tensors[t].data, &y = b.tensors[t].data;
    if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

// Largest |mean - reference| / bound over all parameters, where the reference is the float64
// weighted mean and the bound is what the exact fold may differ by: half an fp32 ulp of the
// reference (rounding), k * 2^-32 / (total examples) for k updates (each term is truncated to
// 2^-32), and 2^-50 relative for the float64 arithmetic on both sides. Must be <= 1.
double WorstErrorOverBound(const Workload& w, const TensorBundle& mean) {
  double total = 0, worst = 0;
  for (uint64_t n : w.counts) total += static_cast<double>(n);
  const double truncation = static_cast<double>(w.counts.size()) * 0x1p-32 / total;
  for (size_t t = 0; t < w.layout.tensors.size(); ++t) {
    const size_t n = mean.tensors[t].data.size();
    std::vector<double> ref(n, 0.0);
    for (size_t i = 0; i < w.updates.size(); ++i) {
      const auto& d = w.updates[i].tensors[t].data;
      for (size_t k = 0; k < n; ++k) ref[k] += static_cast<double>(w.counts[i]) * d[k];
    }
    for (size_t k = 0; k < n; ++k) {
      const double r = ref[k] / total;
      const auto f = static_cast<float>(std::fabs(r));
      const double ulp = std::nextafter(f, INFINITY) - f;
      const double bound = 0.5 * ulp + truncation + std::fabs(r) * 0x1p-50;
      worst = std::max(worst, std::fabs(mean.tensors[t].data[k] - r) / bound);
    }
  }
  return worst;
}

Status WriteFile(const std::string& path, const void* data, size_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::IOError("cannot create " + path);
  const bool ok = std::fwrite(data, 1, bytes, f) == bytes;
  if (std::fclose(f) != 0 || !ok) return Status::IOError("cannot write " + path);
  return Status::Ok();
}

// dir/updates.f32 (all updates, each the concatenation of its tensors, little-endian fp32),
// dir/fedge_mean.f32 (fedge's mean, same layout) and dir/updates.json (shapes and counts).
Status WriteData(const std::string& dir, const Workload& w, const TensorBundle& mean) {
  std::vector<float> all;
  all.reserve(w.bytes / sizeof(float));
  for (const auto& u : w.updates) {
    for (const auto& t : u.tensors) all.insert(all.end(), t.data.begin(), t.data.end());
  }
  FEDGE_RETURN_IF_ERROR(WriteFile(dir + "/updates.f32", all.data(), all.size() * sizeof(float)));
  all.clear();
  for (const auto& t : mean.tensors) all.insert(all.end(), t.data.begin(), t.data.end());
  FEDGE_RETURN_IF_ERROR(WriteFile(dir + "/fedge_mean.f32", all.data(), all.size() * sizeof(float)));
  std::string json = "{\"tensors\": [";
  for (size_t t = 0; t < w.layout.tensors.size(); ++t) {
    const auto& tensor = w.layout.tensors[t];
    json += std::string(t ? ", " : "") + "{\"name\": \"" + tensor.name + "\", \"shape\": [";
    for (size_t d = 0; d < tensor.shape.size(); ++d) {
      json += (d ? ", " : "") + std::to_string(tensor.shape[d]);
    }
    json += "]}";
  }
  json += "],\n \"counts\": [";
  for (size_t i = 0; i < w.counts.size(); ++i) {
    json += (i ? ", " : "") + std::to_string(w.counts[i]);
  }
  json += "]}\n";
  return WriteFile(dir + "/updates.json", json.data(), json.size());
}

struct Flags {
  int updates = 50;
  int reps = 7;
  size_t triad_mib = 512;
  std::string data_dir;
};

// The configurations measured; the first is the headline (what fold_vs_triad_numpy.sh uses).
constexpr Config kConfigs[] = {
    {"Fold(&&), batches of 8 (default)", true, 8, false},
    {"Fold(&&), batches of 4", true, 4, false},
    {"Fold(&&), unbatched", true, 1, false},
    {"Fold(const&) (adds at once)", false, 8, false},
    {"portable: Fold(&&), batches of 8", true, 8, true},
    {"portable: Fold(const&)", false, 8, true},
};
constexpr size_t kNumConfigs = sizeof(kConfigs) / sizeof(kConfigs[0]);

// Best-of-reps seconds for the triad and every configuration. Each repetition runs the triad
// and then every configuration once, so a burst of load from other processes hits all of them
// alike. Every mean must equal the first byte for byte.
Status Measure(const Workload& w, Triad* triad, int reps, double* triad_s, double* fold_s,
               const char** kernels, TensorBundle* mean) {
  for (int r = 0; r < reps; ++r) {
    *triad_s = std::min(*triad_s, triad->Run());
    for (size_t i = 0; i < kNumConfigs; ++i) {
      TensorBundle m;
      FEDGE_ASSIGN_OR_RETURN(double s, TimeFold(w, kConfigs[i], &m, &kernels[i]));
      fold_s[i] = std::min(fold_s[i], s);
      if (mean->tensors.empty()) *mean = std::move(m);
      if (!m.tensors.empty() && !SameBytes(m, *mean)) {
        return Status::Internal(std::string(kConfigs[i].label) +
                                " produced a different mean (it must be identical)");
      }
    }
  }
  return Status::Ok();
}

int Run(const Flags& f) {
  // The coordinator's malloc tuning (ml::ConfigureRuntime): multi-megabyte buffers are reused
  // from the heap instead of being mmap()ed and page-faulted in every time.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  Triad triad(f.triad_mib * (size_t{1} << 20) / sizeof(double));
  const Workload w = MakeWorkload(f.updates);
  std::printf("%s: %lld parameters, %d updates (%.1f MB of fp32), best of %d\n", kName,
              static_cast<long long>(w.layout.NumElements()), f.updates, w.bytes / 1e6, f.reps);
  double triad_s = 1e30, fold_s[kNumConfigs];
  std::fill(fold_s, fold_s + kNumConfigs, 1e30);
  const char* kernels[kNumConfigs] = {};
  TensorBundle mean;
  if (Status s = Measure(w, &triad, f.reps, &triad_s, fold_s, kernels, &mean); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", kName, s.ToString().c_str());
    return 1;
  }
  const double triad_gbps = triad.Bytes() / triad_s / 1e9;
  std::printf("triad (3 x %zu MiB of doubles, 24 B/element)  %.2f GB/s\n\n", f.triad_mib,
              triad_gbps);
  std::printf("%-34s %-9s %9s %8s %8s\n", "fold + finalize", "kernels", "ms", "GB/s", "x triad");
  double gbps[kNumConfigs];
  for (size_t i = 0; i < kNumConfigs; ++i) {
    gbps[i] = static_cast<double>(w.bytes) / fold_s[i] / 1e9;
    std::printf("%-34s %-9s %9.2f %8.2f %8.3f\n", kConfigs[i].label, kernels[i], fold_s[i] * 1e3,
                gbps[i], gbps[i] / triad_gbps);
  }
  const double error = WorstErrorOverBound(w, mean);
  std::printf(
      "\nevery configuration and repetition: identical bytes; worst |mean - float64 mean| = "
      "%.6f of the bound (0.5 ulp + truncation; <= 1 is correct)\n",
      error);
  if (error > 1.0) {
    std::fprintf(stderr, "%s: the mean is off by more than rounding and truncation allow\n", kName);
    return 1;
  }
  std::printf("fold/triad = %.3f (target >= 0.4)\n", gbps[0] / triad_gbps);
  std::printf("RESULT triad_gbps=%.4f fold_gbps=%.4f fold_const_ref_gbps=%.4f kernels=%s\n",
              triad_gbps, gbps[0], gbps[3], kernels[0]);
  if (!f.data_dir.empty()) {
    if (Status s = WriteData(f.data_dir, w, mean); !s.ok()) {
      std::fprintf(stderr, "%s: %s\n", kName, s.ToString().c_str());
      return 1;
    }
    std::printf("wrote the updates and fedge's mean to %s\n", f.data_dir.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  CLI::App app{"fold_throughput_bench: exact FedAvg fold throughput vs a STREAM-like triad"};
  fedge::sim::Flags f;
  app.add_option("--updates", f.updates, "updates folded per measurement (default 50)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--reps", f.reps, "repetitions; the best is reported (default 7)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--triad-mib", f.triad_mib, "MiB per triad array (default 512)")
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--data-dir", f.data_dir,
                 "write updates.json, updates.f32 and fedge_mean.f32 here for "
                 "flower_fedavg_numpy.py")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  return fedge::sim::Run(f);
}
