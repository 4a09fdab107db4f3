#include "shared/ml/torch/runtime.h"

#include <ATen/Parallel.h>  // narrow: at::set_num_threads without torch/torch.h
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string_view>

namespace fedge::ml {
namespace {

constexpr int kMmapThreshold = 256 << 20;
constexpr int kMmapThresholdFallback = 32 << 20;  // glibc's historic maximum on 64-bit
constexpr int kTrimThreshold = 1 << 30;

template <typename Fn>
Fn LookUp(const char* symbol) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, symbol));
}

void TuneMalloc() {
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1) {
    mallopt(M_MMAP_THRESHOLD, kMmapThresholdFallback);
  }
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
}

// A pthreads OpenBLAS keeps its own pool; the OpenMP build follows omp_set_num_threads.
void SetOpenBlasThreads(int threads) {
  using SetThreads = void (*)(int);
  if (auto fn = LookUp<SetThreads>("openblas_set_num_threads")) fn(threads);
}

// The OpenBLAS kernel family this CPU should use, or nullptr if it lacks AVX2/FMA.
const char* BestOpenBlasCore() {
#if !defined(__x86_64__)
  return nullptr;
#else
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
#endif
}

// See ConfigureRuntime. gotoblas_dynamic_quit/init are exported by DYNAMIC_ARCH builds of
// OpenBLAS (Debian's); init reads OPENBLAS_CORETYPE. Runs before any BLAS call of ours.
void FixOpenBlasCore() {
  using Void = void (*)();
  auto quit = LookUp<Void>("gotoblas_dynamic_quit");
  auto init = LookUp<Void>("gotoblas_dynamic_init");
  const char* best = BestOpenBlasCore();
  if (quit == nullptr || init == nullptr || best == nullptr) return;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || BlasCoreName() != "Prescott") return;
  setenv("OPENBLAS_CORETYPE", best, /*overwrite=*/0);
  quit();
  init();
}

}  // namespace

void ConfigureRuntime(int torch_threads) {
  TuneMalloc();
  FixOpenBlasCore();
  const int threads = std::max(torch_threads, 1);
  try {
    at::set_num_threads(threads);  // OpenMP backend: also omp_set_num_threads
  } catch (const std::exception&) {
    // Only throws for threads < 1, excluded above; nothing else to do without a Status.
  }
  SetOpenBlasThreads(threads);
}

int TorchThreads() { return at::get_num_threads(); }

std::string BlasCoreName() {
  using CoreName = char* (*)();
  auto fn = LookUp<CoreName>("openblas_get_corename");
  const char* name = fn ? fn() : nullptr;
  return name ? std::string(name) : std::string();
}

std::string BlasLibraryInUse() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::string fallback;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string_view path = std::string_view(line).substr(slash);
    std::string_view base = path.substr(path.rfind('/') + 1);
    if (base.starts_with("libblas.so")) return std::string(path);
    if (fallback.empty() && base.find("blas") != std::string_view::npos) fallback = path;
  }
  return fallback;
}

}  // namespace fedge::ml
