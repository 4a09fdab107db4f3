#include "shared/ml/runtime.h"

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

}  // namespace
}  // namespace fedge::ml
