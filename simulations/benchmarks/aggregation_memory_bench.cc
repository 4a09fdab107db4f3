// aggregation_memory_bench: the coordinator's peak memory and fold throughput while it
// aggregates N updates of a ~1M-parameter model, for the exact FedAvg accumulator (memory
// O(model)) and, as the reference, a naive "keep every update, then average" aggregator
// (memory O(updates x model)). Every (strategy, N) runs in a fresh process (this binary
// re-executed with --child-*) so each peak RSS (VmHWM) belongs to that run alone.
//
// Each update is handled as the coordinator's session and RoundEngine::OnUpdate handle it:
// its encoded bytes exist only while it is processed, then DecodeBundle (with the model's
// limits) and Fold(&&), which may keep up to 8 decoded updates pending (a bound independent of
// N). Default N: 10 and 1,000. Prints a table and ratios; exits non-zero only on errors, never
// on ratios.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/fedavg.h"
#include "shared/codec/bundle_codec.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/torch/runtime.h"
#include "simulations/benchmarks/bench_updates.h"

namespace fedge::sim {
namespace {

using shared::Result;
using shared::Status;
using shared::TensorBundle;
using Clock = std::chrono::steady_clock;

constexpr char kName[] = "aggregation_memory_bench";

// A fingerprint of a model that two correct aggregators agree on to float rounding.
struct Fingerprint {
  double weighted = 0;  // sum of x_k * c_k with fixed pseudo-random c_k in [0.5, 1.5)
  double abs = 0;       // sum of |x_k|
};

Fingerprint Fingerprinted(const TensorBundle& b) {
  Fingerprint f;
  uint64_t k = 0;
  for (const auto& t : b.tensors) {
    for (float v : t.data) {
      f.weighted += v * (0.5 + static_cast<double>((k++ * 2654435761ull) % 1000) / 1000.0);
      f.abs += std::fabs(v);
    }
  }
  return f;
}

// kB value of a /proc/self/status field such as "VmHWM"; -1 if unavailable.
long StatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// The two strategies under test, behind one interface.
class Aggregator {
 public:
  virtual ~Aggregator() = default;
  virtual Status Add(TensorBundle update, uint64_t weight) = 0;
  virtual Result<TensorBundle> Finalize() = 0;
};

// What the coordinator does: fold into exact fixed-point sums, drop the update.
class FedAvgAggregator : public Aggregator {
 public:
  explicit FedAvgAggregator(const TensorBundle& layout) : acc_(layout) {}
  Status Add(TensorBundle update, uint64_t weight) override {
    return acc_.Fold(std::move(update), weight);  // as RoundEngine does: the values are taken
  }
  Result<TensorBundle> Finalize() override { return acc_.Finalize(); }

 private:
  coordinator::FedAvgAccumulator acc_;
};

// The reference: keep every decoded update, average them all at the end (in double).
class KeepAllAggregator : public Aggregator {
 public:
  Status Add(TensorBundle update, uint64_t weight) override {
    kept_.push_back({std::move(update), weight});
    return Status::Ok();
  }
  Result<TensorBundle> Finalize() override {
    if (kept_.empty()) return Status::InvalidArgument("no update was kept");
    TensorBundle out = kept_.front().first;
    double total = 0;
    for (const auto& [u, w] : kept_) total += static_cast<double>(w);
    for (size_t t = 0; t < out.tensors.size(); ++t) {
      std::vector<double> sum(out.tensors[t].data.size(), 0.0);
      for (const auto& [u, w] : kept_) {
        const std::vector<float>& d = u.tensors[t].data;
        for (size_t k = 0; k < d.size(); ++k) sum[k] += static_cast<double>(w) * d[k];
      }
      for (size_t k = 0; k < sum.size(); ++k) {
        out.tensors[t].data[k] = static_cast<float>(sum[k] / total);
      }
    }
    return out;
  }

 private:
  std::vector<std::pair<TensorBundle, uint64_t>> kept_;
};

// What one child measured.
struct ChildStats {
  double client_s = 0;    // simulated clients: fill + EncodeBundle (not the coordinator's cost)
  double decode_s = 0;    // DecodeBundle (verify, check, copy), summed over updates
  double fold_s = 0;      // DecodeBundle + Add (fedavg: Fold), summed over updates
  double finalize_s = 0;  // Finalize
  uint64_t bytes = 0;     // encoded update bytes folded
};

// Feeds `updates` updates to `agg` one at a time, as the coordinator receives them, and
// finalizes into `model`.
Status Aggregate(const TensorBundle& layout, int updates, Aggregator* agg, ChildStats* stats,
                 TensorBundle* model) {
  TensorBundle client = layout;  // the simulated clients' model, refilled per update
  for (auto& t : client.tensors) t.data.resize(static_cast<size_t>(t.NumElements()));
  shared::DecodeLimits limits;  // as RoundEngine::OnUpdate sets them
  limits.max_elements = static_cast<uint64_t>(layout.NumElements());
  limits.max_tensors = layout.tensors.size();
  for (int i = 0; i < updates; ++i) {
    auto t0 = Clock::now();
    uint64_t weight = FillBenchUpdate(static_cast<uint64_t>(i), &client);
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::EncodeBundle(client));
    stats->client_s += SecondsSince(t0);
    auto t1 = Clock::now();
    FEDGE_ASSIGN_OR_RETURN(TensorBundle decoded, shared::DecodeBundle(bytes, limits));
    stats->decode_s += SecondsSince(t1);
    FEDGE_RETURN_IF_ERROR(agg->Add(std::move(decoded), weight));
    stats->fold_s += SecondsSince(t1);
    stats->bytes += bytes.size();
  }  // each update's bytes are freed here, before the next one arrives
  auto t2 = Clock::now();
  FEDGE_ASSIGN_OR_RETURN(*model, agg->Finalize());
  stats->finalize_s = SecondsSince(t2);
  return Status::Ok();
}

// Child mode: aggregates `updates` updates with `strategy` and prints one "RESULT k=v ..."
// line on stdout for the parent. Returns the process exit code.
int RunChild(const std::string& strategy, int updates) {
  ml::ConfigureRuntime(1);  // the coordinator's malloc tuning, as in coordinator/main.cc
  const TensorBundle layout = MakeBenchLayout();
  const long start_kb = StatusKb("VmRSS");
  std::unique_ptr<Aggregator> agg;
  if (strategy == "fedavg") agg = std::make_unique<FedAvgAggregator>(layout);
  if (strategy == "keep-all") agg = std::make_unique<KeepAllAggregator>();
  if (!agg) {
    std::fprintf(stderr, "%s: unknown strategy '%s'\n", kName, strategy.c_str());
    return 2;
  }
  ChildStats stats;
  TensorBundle model;
  if (Status s = Aggregate(layout, updates, agg.get(), &stats, &model); !s.ok()) {
    std::fprintf(stderr, "%s: %s, %d updates: %s\n", kName, strategy.c_str(), updates,
                 s.ToString().c_str());
    return 1;
  }
  long peak_kb = StatusKb("VmHWM");
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  if (peak_kb < 0) peak_kb = ru.ru_maxrss;  // no /proc: ru_maxrss is in kB on Linux
  const Fingerprint f = Fingerprinted(model);
  std::printf(
      "RESULT params=%lld bytes=%llu start_kb=%ld peak_kb=%ld maxrss_kb=%ld client_s=%.6f "
      "decode_s=%.6f fold_s=%.6f finalize_s=%.6f fp_weighted=%.17g fp_abs=%.17g\n",
      static_cast<long long>(layout.NumElements()), static_cast<unsigned long long>(stats.bytes),
      start_kb, peak_kb, ru.ru_maxrss, stats.client_s, stats.decode_s, stats.fold_s,
      stats.finalize_s, f.weighted, f.abs);
  return 0;
}

// One child's measurements, parsed from its RESULT line.
struct Row {
  std::string strategy;
  int updates = 0;
  std::map<std::string, double> v;  // params, bytes, start_kb, peak_kb, ..., fp_abs
};

// Runs this binary with --child-* for (strategy, updates); returns what it printed on stdout.
Result<std::string> RunChildProcess(const std::string& strategy, int updates) {
  int fds[2];
  if (pipe(fds) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Status::Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string n = std::to_string(updates);
    execl("/proc/self/exe", kName, "--child-strategy", strategy.c_str(), "--child-updates",
          n.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "%s: exec /proc/self/exe: %s\n", kName, std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t r; (r = read(fds[0], buf, sizeof(buf))) != 0;) {
    if (r > 0) out.append(buf, static_cast<size_t>(r));
    if (r < 0 && errno != EINTR) break;
  }
  close(fds[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::Internal("the child for " + strategy + " with " + std::to_string(updates) +
                            " updates failed (wait status " + std::to_string(wstatus) +
                            "); see its message above");
  }
  return out;
}

// Runs one measurement in a fresh process and parses its "RESULT k=v ..." line.
Result<Row> Measure(const std::string& strategy, int updates) {
  FEDGE_ASSIGN_OR_RETURN(std::string out, RunChildProcess(strategy, updates));
  Row row{strategy, updates, {}};
  size_t at = out.find("RESULT ");
  std::istringstream in(at == std::string::npos ? "" : out.substr(at + 7));
  for (std::string kv; in >> kv;) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) row.v[kv.substr(0, eq)] = std::strtod(&kv[eq + 1], nullptr);
  }
  for (const char* key : {"params", "bytes", "start_kb", "peak_kb", "decode_s", "fold_s",
                          "finalize_s", "fp_weighted", "fp_abs"}) {
    if (!row.v.count(key)) {
      return Status::Internal("the child for " + strategy + " reported no " + key +
                              "; it printed: " + out);
    }
  }
  return row;
}

// Same-run reference for throughput: memcpy of `bytes` bytes, in MB/s (best of 20).
double MemcpyMbPerSecond(size_t bytes) {
  std::vector<uint8_t> src(bytes, 1), dst(bytes, 0);
  double best = 1e30;
  for (int i = 0; i < 20; ++i) {
    auto t = Clock::now();
    std::memcpy(dst.data(), src.data(), bytes);
    best = std::min(best, SecondsSince(t));
    src[static_cast<size_t>(i) % bytes] = dst[bytes - 1 - static_cast<size_t>(i) % bytes] + 1;
  }
  return static_cast<double>(bytes) / 1e6 / best;
}

double Mb(double kb) { return kb / 1024.0; }

void PrintTable(const std::vector<Row>& rows) {
  std::printf("%-9s %7s %11s %12s %10s %9s %7s %11s %10s\n", "strategy", "updates", "peak RSS MB",
              "start RSS MB", "growth MB", "decode s", "add s", "finalize s", "fold MB/s");
  for (const Row& r : rows) {
    const auto& v = r.v;
    std::printf("%-9s %7d %11.1f %12.1f %10.1f %9.3f %7.3f %11.3f %10.0f\n", r.strategy.c_str(),
                r.updates, Mb(v.at("peak_kb")), Mb(v.at("start_kb")),
                Mb(v.at("peak_kb") - v.at("start_kb")), v.at("decode_s"),
                v.at("fold_s") - v.at("decode_s"), v.at("finalize_s"),
                v.at("bytes") / 1e6 / v.at("fold_s"));
  }
  std::printf(
      "(add = Fold for fedavg, keeping the update for keep-all; fold MB/s = update bytes / "
      "(decode + add))\n");
}

// Prints the ratios; false if the two strategies disagree on a result (an error).
bool PrintRatios(const std::vector<Row>& rows, int lo, int hi, double memcpy_mbps) {
  auto find = [&](const std::string& s, int n) -> const Row& {
    return *std::find_if(rows.begin(), rows.end(),
                         [&](const Row& r) { return r.strategy == s && r.updates == n; });
  };
  std::printf("\n");
  for (const char* s : {"fedavg", "keep-all"}) {
    const auto &a = find(s, lo).v, &b = find(s, hi).v;
    std::printf("%-8s peak RSS(%d)/peak RSS(%d) = %.2f   growth(%d)/growth(%d) = %.2f\n", s, hi, lo,
                b.at("peak_kb") / a.at("peak_kb"), hi, lo,
                (b.at("peak_kb") - b.at("start_kb")) / (a.at("peak_kb") - a.at("start_kb")));
  }
  const auto &f = find("fedavg", hi).v, &k = find("keep-all", hi).v;
  std::printf("at %d updates keep-all peaks at %.2fx fedavg's RSS\n", hi,
              k.at("peak_kb") / f.at("peak_kb"));
  double mbps = f.at("bytes") / 1e6 / f.at("fold_s");
  std::printf("fedavg fold throughput %.0f MB/s = %.3fx memcpy (%.0f MB/s, same run)\n", mbps,
              mbps / memcpy_mbps, memcpy_mbps);
  bool agree = true;
  for (int n : {lo, hi}) {
    const auto &a = find("fedavg", n).v, &b = find("keep-all", n).v;
    double diff = std::fabs(a.at("fp_weighted") - b.at("fp_weighted"));
    bool ok = diff <= 1e-6 * a.at("fp_abs") &&
              std::fabs(a.at("fp_abs") - b.at("fp_abs")) <= 1e-6 * a.at("fp_abs");
    std::printf("%d updates: fedavg and keep-all models %s (fingerprint diff %.3g of %.3g)\n", n,
                ok ? "agree" : "DISAGREE", diff, a.at("fp_abs"));
    agree = agree && ok;
  }
  return agree;
}

int RunParent(std::vector<int> counts) {
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  if (counts.empty() || counts.front() < 1) {
    std::fprintf(stderr, "%s: --clients needs positive counts\n", kName);
    return 2;
  }
  std::vector<Row> rows;
  for (const char* s : {"fedavg", "keep-all"}) {
    for (int n : counts) {
      Result<Row> row = Measure(s, n);
      if (!row.ok()) {
        std::fprintf(stderr, "%s: %s\n", kName, row.status().message().c_str());
        return 1;
      }
      rows.push_back(std::move(*row));
    }
  }
  const auto& first = rows.front().v;
  const double update_bytes = first.at("bytes") / counts.front();
  std::printf("%s: %.0f parameters, %.2f MB per encoded update; each row is a fresh process\n",
              kName, first.at("params"), update_bytes / 1e6);
  std::printf("(peak RSS = VmHWM; start RSS = before the aggregator exists)\n\n");
  PrintTable(rows);
  double memcpy_mbps = MemcpyMbPerSecond(static_cast<size_t>(update_bytes));
  if (!PrintRatios(rows, counts.front(), counts.back(), memcpy_mbps)) {
    std::fprintf(stderr, "%s: the two aggregators produced different models\n", kName);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  CLI::App app{
      "aggregation_memory_bench: coordinator peak memory and fold throughput, exact FedAvg vs "
      "keep-every-update"};
  std::vector<int> counts = {10, 1000};
  std::string child_strategy;
  int child_updates = 0;
  app.add_option("--clients", counts, "update counts to measure, comma-separated (default 10,1000)")
      ->delimiter(',');
  app.add_option("--child-strategy", child_strategy)->group("");  // internal: one measurement
  app.add_option("--child-updates", child_updates)->group("");
  CLI11_PARSE(app, argc, argv);
  if (!child_strategy.empty()) return fedge::sim::RunChild(child_strategy, child_updates);
  return fedge::sim::RunParent(counts);
}
