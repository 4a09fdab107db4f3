#include "shared/net/blob.h"

#include <gtest/gtest.h>

#include <numeric>

namespace fedge::shared {
namespace {

std::vector<uint8_t> Bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + 7);
  return v;
}

TEST(BlobAssemblerTest, ReassemblesChunksAndVerifiesDigest) {
  std::vector<uint8_t> blob = Bytes(10000);
  Digest d = Sha256(blob);
  BlobAssembler a(1 << 20);
  for (const ChunkRange& r : ChunkRanges(blob.size(), 0, 3000)) {
    ASSERT_TRUE(a.Append(d, blob.size(), r.offset, std::span(blob.data() + r.offset, r.size)).ok());
  }
  ASSERT_TRUE(a.complete());
  EXPECT_EQ(a.Take(), blob);
  EXPECT_FALSE(a.active());
}

TEST(BlobAssemblerTest, WorksAgainAfterMoveAssignmentAndReset) {
  std::vector<uint8_t> blob = Bytes(5000);
  Digest d = Sha256(blob);
  BlobAssembler a(1);
  a = BlobAssembler(1 << 20);
  for (int pass = 0; pass < 3; ++pass) {
    ASSERT_TRUE(a.Append(d, blob.size(), 0, blob).ok()) << pass;
    ASSERT_TRUE(a.complete());
    EXPECT_EQ(a.Take(), blob);
  }
}

TEST(BlobAssemblerTest, RejectsDigestMismatchAndResets) {
  std::vector<uint8_t> blob = Bytes(100);
  Digest wrong = Sha256(Bytes(99));
  BlobAssembler a(1 << 20);
  Status s = a.Append(wrong, blob.size(), 0, blob);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_FALSE(a.active());
}

TEST(BlobAssemblerTest, RejectsOutOfOrderAndOverlongChunks) {
  std::vector<uint8_t> blob = Bytes(100);
  Digest d = Sha256(blob);
  BlobAssembler a(1 << 20);
  EXPECT_EQ(a.Append(d, 100, 10, std::span(blob.data(), 10)).code(), Code::kInvalidArgument);
  ASSERT_TRUE(a.Append(d, 100, 0, std::span(blob.data(), 60)).ok());
  EXPECT_EQ(a.Append(d, 100, 60, blob).code(), Code::kInvalidArgument);  // runs past the end
  EXPECT_EQ(a.received(), 60u);                                          // resumable from here
  ASSERT_TRUE(a.Append(d, 100, 60, std::span(blob.data() + 60, 40)).ok());
  EXPECT_TRUE(a.complete());
}

TEST(BlobAssemblerTest, CapsSizeBeforeAllocating) {
  BlobAssembler a(1000);
  Digest d{};
  EXPECT_EQ(a.Begin(d, 1001).code(), Code::kResourceExhausted);
  EXPECT_EQ(a.Begin(d, 0).code(), Code::kInvalidArgument);
}

TEST(ChunkRangesTest, CoversTheBlobFromAnOffset) {
  auto r = ChunkRanges(10, 3, 4);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].offset, 3u);
  EXPECT_EQ(r[0].size, 4u);
  EXPECT_EQ(r[1].offset, 7u);
  EXPECT_EQ(r[1].size, 3u);
}

}  // namespace
}  // namespace fedge::shared
