// Storage faults under the client's SampleStore (shared/storage/fault_env.h): a full disk makes
// writes fail clearly, reads keep working, and writes work again once the disk has room.

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <memory>
#include <string>
#include <vector>

#include "client/sample_store.h"
#include "shared/storage/fault_env.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using storage::FaultFileSystem;

FrameRecord MakeFrame(const std::string& id, int64_t t) {
  FrameRecord f;
  f.id = id;
  f.captured_unix_ms = t;
  f.format = "png";
  f.width = f.height = 8;
  f.channels = 1;
  f.bytes.assign(id.begin(), id.end());
  f.bytes.resize(64, 0x5a);
  return f;
}

class SampleStoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = FaultFileSystem::MakeEnv(fs_);
    StoreOptions options;
    options.env = env_.get();
    auto opened = SampleStore::Open(dir_.path() + "/store", options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->AddFrame(MakeFrame("site#1", 1)).ok());
  }

  fedge::testing::TempDir dir_{"sample-store-fault"};
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<SampleStore> store_;
};

TEST_F(SampleStoreFaultTest, FullDiskFailsWritesClearlyKeepsReadsAndRecovers) {
  fs_->NoSpace(true);
  auto added = store_->AddFrame(MakeFrame("site#2", 2));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), shared::Code::kResourceExhausted) << added.status().ToString();
  EXPECT_NE(added.status().message().find("disk holding the sample store"), std::string::npos)
      << added.status().message();
  EXPECT_GT(fs_->injected(), 0u);
  // Still full: the next writes fail the same way (including the synced ones).
  EXPECT_EQ(store_->AddFrame(MakeFrame("site#3", 3)).status().code(),
            shared::Code::kResourceExhausted);
  EXPECT_EQ(store_->PutState("k", {1}).code(), shared::Code::kResourceExhausted);
  // Reads keep working and show nothing of the failed writes.
  EXPECT_TRUE(*store_->HasFrame("site#1"));
  EXPECT_FALSE(*store_->HasFrame("site#2"));
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->frames, 1u);
  EXPECT_EQ(stats->stored_bytes, 64u);
  // Space is freed: the next write works without a restart.
  fs_->ClearFaults();
  auto again = store_->AddFrame(MakeFrame("site#2", 2));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->kind, AddOutcome::Kind::kStored);
  EXPECT_TRUE(store_->PutState("k", {1}).ok());
  EXPECT_TRUE(*store_->HasFrame("site#2"));
  EXPECT_EQ(store_->Stats()->frames, 2u);
}

TEST_F(SampleStoreFaultTest, FailedWriteIsAnIOErrorAndLeavesFramesAndCountsUnchanged) {
  fs_->FailWrites(true);
  auto added = store_->AddFrame(MakeFrame("site#2", 2));
  EXPECT_EQ(added.status().code(), shared::Code::kIOError) << added.status().ToString();
  EXPECT_TRUE(*store_->HasFrame("site#1"));
  EXPECT_FALSE(*store_->HasFrame("site#2"));
  EXPECT_EQ(store_->Stats()->frames, 1u);
}

}  // namespace
}  // namespace fedge::client
