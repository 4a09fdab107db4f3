// The fault-injecting file system under a plain RocksDB database.
#include "shared/storage/fault_env.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <memory>
#include <string>

#include "tests/temp_dir.h"

namespace fedge::storage {
namespace {

class FaultEnvTest : public ::testing::Test {
 protected:
  void SetUp() override { env_ = FaultFileSystem::MakeEnv(fs_); }

  void Open() {
    db_.reset();
    rocksdb::Options o;
    o.create_if_missing = true;
    o.env = env_.get();
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, dir_.path(), &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(raw);
  }

  rocksdb::Status Put(const std::string& key, bool sync) {
    rocksdb::WriteOptions o;
    o.sync = sync;
    return db_->Put(o, key, "value of " + key);
  }

  bool Has(const std::string& key) {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), key, &value).ok();
  }

  testing::TempDir dir_{"fault-env"};
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(FaultEnvTest, FailedWriteIsAnIOErrorAndStoresNothing) {
  Open();
  ASSERT_TRUE(Put("a", true).ok());
  fs_->FailWrites(true);
  rocksdb::Status s = Put("b", false);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.ToString().find("injected write fault"), std::string::npos) << s.ToString();
  EXPECT_GT(fs_->injected(), 0u);
  fs_->ClearFaults();
  Open();
  EXPECT_TRUE(Has("a"));
  EXPECT_FALSE(Has("b"));
}

TEST_F(FaultEnvTest, FailedSyncFailsOnlySyncedWrites) {
  Open();
  fs_->FailSyncs(true);
  EXPECT_TRUE(Put("unsynced", false).ok());
  rocksdb::Status s = Put("synced", true);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(fs_->injected(), 1u);
}

TEST_F(FaultEnvTest, DropUnsyncedDataLosesWhatWasNotSynced) {
  Open();
  ASSERT_TRUE(Put("a", true).ok());
  ASSERT_TRUE(Put("b", false).ok());
  db_.reset();
  ASSERT_TRUE(fs_->DropUnsyncedData().ok());
  Open();
  EXPECT_TRUE(Has("a"));
  EXPECT_FALSE(Has("b"));  // without the drop, the WAL replays it
}

TEST_F(FaultEnvTest, NoSpaceIsReportedAsNoSpace) {
  Open();
  fs_->NoSpace(true);
  rocksdb::Status s = Put("a", false);
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
}

TEST_F(FaultEnvTest, FailedReadOfATableIsAnIOError) {
  Open();
  ASSERT_TRUE(Put("a", true).ok());
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  Open();  // an empty memtable and block cache: the read goes to the table file
  fs_->FailReads(true);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), "a", &value);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  fs_->ClearFaults();
  EXPECT_TRUE(Has("a"));
}

}  // namespace
}  // namespace fedge::storage
