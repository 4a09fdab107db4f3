#pragma once
// Process-wide runtime tuning for LibTorch: malloc thresholds and thread counts.

#include <string>

namespace fedge::ml {

// Call once at process start, before any training, from the main thread.
// - Raises glibc's mmap and trim thresholds so LibTorch's multi-megabyte activation buffers are
//   reused from the heap instead of being mmap()ed and munmap()ed every batch (~40% of training
//   throughput otherwise).
// - Sets torch's intra-op thread count to `torch_threads` (values < 1 mean 1); with this build's
//   OpenMP backend that also sets the OpenMP thread count, which OpenBLAS-openmp follows; a
//   pthreads OpenBLAS is set explicitly if present.
void ConfigureRuntime(int torch_threads);

// Torch's current intra-op thread count.
int TorchThreads();

// Path of the BLAS shared object mapped into this process (the resolved target of
// libblas.so.3, e.g. ".../openblas-openmp/libblas.so.3"), read from /proc/self/maps.
// Empty if none is mapped.
std::string BlasLibraryInUse();

}  // namespace fedge::ml
