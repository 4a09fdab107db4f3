#include "shared/ml/torch/runtime.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <string>

namespace fedge::ml {
namespace {

TEST(RuntimeTest, SetsTorchThreads) {
  ConfigureRuntime(1);
  EXPECT_EQ(TorchThreads(), 1);
  ConfigureRuntime(2);
  EXPECT_EQ(TorchThreads(), 2);
  ConfigureRuntime(0);  // clamped
  EXPECT_EQ(TorchThreads(), 1);
}

TEST(RuntimeTest, ActivationSizedBuffersComeFromTheHeapNotMmap) {
  ConfigureRuntime(1);
  const int mapped_before = mallinfo2().hblks;
  void* buffer = std::malloc(8 << 20);  // larger than glibc's default 128 KiB..32 MiB threshold
  ASSERT_NE(buffer, nullptr);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
  std::free(buffer);
}

TEST(RuntimeTest, ReportsTheMappedBlasLibrary) {
  ConfigureRuntime(1);  // links LibTorch, which maps libblas.so.3
  const std::string blas = BlasLibraryInUse();
  ASSERT_FALSE(blas.empty());
  EXPECT_EQ(blas.front(), '/');
  EXPECT_NE(blas.find("blas"), std::string::npos) << blas;
}

TEST(RuntimeTest, AvoidsOpenBlasGenericFallbackKernels) {
  const bool user_choice = std::getenv("OPENBLAS_CORETYPE") != nullptr;
  ConfigureRuntime(1);
  const std::string core = BlasCoreName();
  if (core.empty()) GTEST_SKIP() << "the BLAS in use is not OpenBLAS";
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (user_choice || !__builtin_cpu_supports("avx2")) GTEST_SKIP() << "core " << core;
#else
  GTEST_SKIP() << "not x86-64";
#endif
  // OpenBLAS 0.3.21 falls back to Prescott (SSE3) kernels on CPUs it does not know.
  EXPECT_NE(core, "Prescott");
}

}  // namespace
}  // namespace fedge::ml
