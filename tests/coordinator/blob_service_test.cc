// BlobService: the model blobs served, the update size limit and the partial-upload stash.

#include "coordinator/blob_service.h"

#include <gtest/gtest.h>

namespace fedge::coordinator {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }

// An upload of `total` bytes of value `v` with its first half received.
shared::BlobAssembler HalfUpload(uint64_t total, uint8_t v) {
  const std::vector<uint8_t> all = Bytes(total, v);
  shared::BlobAssembler upload(1 << 20);
  const shared::Digest digest = shared::Sha256(all);
  EXPECT_TRUE(upload.Begin(digest, total).ok());
  EXPECT_TRUE(upload.Append(digest, total, 0, std::span(all).first(total / 2)).ok());
  return upload;
}

TEST(BlobServiceTest, ServesTheCurrentAndThePreviousModelOnly) {
  BlobService blobs;
  EXPECT_EQ(blobs.max_update_bytes(), 0u);
  const std::vector<uint8_t> v1 = Bytes(100, 1), v2 = Bytes(200, 2), v3 = Bytes(300, 3);
  blobs.InstallModel(shared::Sha256(v1), v1);
  blobs.InstallModel(shared::Sha256(v2), v2);
  ASSERT_NE(blobs.ModelBlob(shared::Sha256(v1)), nullptr);
  blobs.InstallModel(shared::Sha256(v3), v3);
  EXPECT_EQ(blobs.ModelBlob(shared::Sha256(v1)), nullptr);
  ASSERT_NE(blobs.ModelBlob(shared::Sha256(v2)), nullptr);
  EXPECT_EQ(*blobs.ModelBlob(shared::Sha256(v3)), v3);
  EXPECT_EQ(blobs.max_update_bytes(), 300u + 300 / 8 + (64u << 10));
}

TEST(BlobServiceTest, StashedUploadIsTakenOnceByItsClientAndDigest) {
  BlobService blobs;
  blobs.InstallModel(shared::Sha256(Bytes(10, 0)), Bytes(10, 0));
  blobs.StashUpload("site-a", HalfUpload(64, 7));
  blobs.StashUpload("site-b", shared::BlobAssembler(100));  // nothing received: not kept
  EXPECT_EQ(blobs.stashed_uploads(), 1u);
  const shared::Digest digest = shared::Sha256(Bytes(64, 7));
  EXPECT_FALSE(blobs.TakeUpload("site-b", digest).active());
  EXPECT_FALSE(blobs.TakeUpload("site-a", shared::Sha256(Bytes(64, 8))).active());
  shared::BlobAssembler resumed = blobs.TakeUpload("site-a", digest);
  EXPECT_TRUE(resumed.active());
  EXPECT_EQ(resumed.received(), 32u);
  EXPECT_FALSE(blobs.TakeUpload("site-a", digest).active());
}

TEST(BlobServiceTest, ClearUploadsDropsEveryStash) {
  BlobService blobs;
  blobs.InstallModel(shared::Sha256(Bytes(10, 0)), Bytes(10, 0));
  blobs.StashUpload("site-a", HalfUpload(64, 7));
  blobs.StashUpload("site-b", HalfUpload(64, 9));
  EXPECT_EQ(blobs.stashed_uploads(), 2u);
  blobs.ClearUploads();
  EXPECT_EQ(blobs.stashed_uploads(), 0u);
  EXPECT_FALSE(blobs.TakeUpload("site-a", shared::Sha256(Bytes(64, 7))).active());
}

}  // namespace
}  // namespace fedge::coordinator
