#pragma once
// Process-wide runtime tuning for LibTorch: malloc thresholds, thread counts, BLAS kernels.

#include <string>

namespace fedge::ml {

// Call once at process start, before any training, from the main thread (it may call setenv).
// - Raises glibc's mmap and trim thresholds so LibTorch's multi-megabyte activation buffers are
//   reused from the heap instead of being mmap()ed and munmap()ed every batch (~40% of training
//   throughput otherwise).
// - Sets torch's intra-op thread count to `torch_threads` (values < 1 mean 1); with this build's
//   OpenMP backend that also sets the OpenMP thread count, which OpenBLAS-openmp follows; a
//   pthreads OpenBLAS is set explicitly if present.
// - Repairs OpenBLAS kernel selection: OpenBLAS 0.3.21 does not know recent Xeons (e.g. family 6
//   model 207) and falls back to its SSE3 "Prescott" kernels, which makes the Linear layers ~3x
//   slower (training ~20-30%). If OpenBLAS reports Prescott, OPENBLAS_CORETYPE is unset and the
//   CPU has AVX-512 (or AVX2+FMA), it sets OPENBLAS_CORETYPE=SkylakeX (or Haswell) and re-runs
//   OpenBLAS's kernel selection. Setting OPENBLAS_CORETYPE yourself always wins.
void ConfigureRuntime(int torch_threads);

// Torch's current intra-op thread count.
int TorchThreads();

// Path of the BLAS shared object mapped into this process (the resolved target of
// libblas.so.3, e.g. ".../openblas-openmp/libblas.so.3"), read from /proc/self/maps.
// Empty if none is mapped.
std::string BlasLibraryInUse();

// OpenBLAS's kernel family in use (e.g. "SkylakeX", "Haswell", "Prescott"); empty if OpenBLAS
// is not loaded. Worth logging next to BlasLibraryInUse().
std::string BlasCoreName();

}  // namespace fedge::ml
