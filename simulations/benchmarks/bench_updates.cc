#include "simulations/benchmarks/bench_updates.h"

namespace fedge::sim {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

shared::TensorBundle MakeBenchLayout() {
  shared::TensorBundle b;
  b.tensors = {{"conv1.weight", {32, 1, 3, 3}, {}},  {"conv1.bias", {32}, {}},
               {"conv2.weight", {64, 32, 3, 3}, {}}, {"conv2.bias", {64}, {}},
               {"fc1.weight", {608, 1600}, {}},      {"fc1.bias", {608}, {}},
               {"fc2.weight", {10, 608}, {}},        {"fc2.bias", {10}, {}}};
  return b;
}

uint64_t FillBenchUpdate(uint64_t i, shared::TensorBundle* update) {
  uint64_t state = (i + 1) * 0xD1B54A32D192ED03ull;
  for (auto& t : update->tensors) {
    for (float& v : t.data) {
      v = (static_cast<float>(SplitMix64(&state) >> 40) * 0x1p-24f - 0.5f) * 0.2f;
    }
  }
  return 50 + SplitMix64(&state) % 5950;
}

}  // namespace fedge::sim
