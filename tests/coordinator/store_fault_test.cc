// Storage faults under the coordinator's Store (shared/storage/fault_env.h): an accepted update
// and a round commit are durable before they are acknowledged, all of a batch or none of it.
// These tests drive the Store directly, as the round engine does (RoundEngine::OnDecoded stores
// an update with AcceptUpdate and rejects it, "resend it", when that fails; RunTrainRound ends
// the training phase with CommitRound and fails the attempt when that fails).

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <memory>
#include <string>
#include <vector>

#include "coordinator/store.h"
#include "shared/storage/fault_env.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using storage::FaultFileSystem;

ModelRecord Model(uint64_t version, uint64_t round, const std::vector<uint8_t>& blob) {
  ModelRecord r;
  r.version = version;
  if (version > 1) r.parent = version - 1;
  r.round = round;
  r.arch = "cnn_small";
  r.digest_hex = shared::ToHex(shared::Sha256(blob));
  r.size_bytes = blob.size();
  return r;
}

UpdateRecord Update(uint64_t round, const std::string& client, const std::vector<uint8_t>& blob) {
  UpdateRecord u;
  u.round = round;
  u.client_id = client;
  u.task_id = round * 1000000000ull + 1;
  u.idempotency_id = client + "/" + std::to_string(u.task_id);
  u.examples = 10;
  u.loss = 0.5;
  u.blob_digest_hex = shared::ToHex(shared::Sha256(blob));
  return u;
}

// Round 1 training; `rejected` tells the states of the tests apart.
OpenRound TrainState(int rejected) {
  OpenRound open;
  open.round = 1;
  open.phase = RoundPhase::kTrain;
  open.tasks = {{"site-a", 1000000001}, {"site-b", 1000000002}};
  open.deadline_ms = 1000;
  open.rejected = rejected;
  return open;
}

OpenRound EvalState() {
  OpenRound open;
  open.round = 1;
  open.phase = RoundPhase::kEval;
  return open;
}

std::vector<std::string> UpdatesOf(Store& store, uint64_t round) {
  std::vector<std::string> ids;
  shared::Status s = store.ForEachUpdate(round, [&](const UpdateRecord& r, std::vector<uint8_t>) {
    ids.push_back(r.client_id);
    return shared::Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return ids;
}

// A store under a fault-injecting file system holding version 1 (the head) and round 1 open in
// its training phase with one accepted update (site-a's).
class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = FaultFileSystem::MakeEnv(fs_);
    Reopen();
    ASSERT_TRUE(store_->PutModel(Model(1, 0, v1_), v1_, /*make_head=*/true).ok());
    ASSERT_TRUE(store_->PutOpenRound(TrainState(0)).ok());
    ASSERT_TRUE(store_->AcceptUpdate(Update(1, "site-a", ua_), ua_, TrainState(1)).ok());
  }

  void Reopen() {
    store_.reset();
    auto opened = Store::Open(dir_.path(), env_.get());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  // Closes the store with the fault still active, loses what was not synced (a power cut),
  // clears the faults and reopens.
  void CrashAndRestart() {
    store_.reset();
    ASSERT_TRUE(fs_->DropUnsyncedData().ok());
    fs_->ClearFaults();
    Reopen();
  }

  // Version 1 is the head, round 1 trains with site-a's update and nothing else.
  void ExpectStateBeforeTheFault() {
    EXPECT_EQ(**store_->Head(), 1u);
    EXPECT_EQ(**store_->OpenRound(), TrainState(1));
    EXPECT_EQ(UpdatesOf(*store_, 1), std::vector<std::string>{"site-a"});
    EXPECT_TRUE((*store_->AcceptedUpdate("site-a", "site-a/1000000001")).has_value());
    EXPECT_FALSE((*store_->AcceptedUpdate("site-b", "site-b/1000000001")).has_value());
    auto blob = store_->GetBlob(shared::Sha256(v1_));
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
    EXPECT_EQ(*blob, v1_);
  }

  testing::TempDir dir_{"store-fault"};
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<Store> store_;
  const std::vector<uint8_t> v1_ = {1, 2, 3}, ua_ = {4, 4}, ub_ = {5, 5, 5};
};

TEST_F(StoreFaultTest, FailedWriteOfAnUpdateIsAnErrorAndLeavesNothingStored) {
  fs_->FailWrites(true);
  shared::Status s = store_->AcceptUpdate(Update(1, "site-b", ub_), ub_, TrainState(2));
  EXPECT_EQ(s.code(), shared::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("site-b"), std::string::npos) << s.message();
  EXPECT_GT(fs_->injected(), 0u);
  ExpectStateBeforeTheFault();  // readers of the running store see nothing of it
  fs_->ClearFaults();
  Reopen();
  ExpectStateBeforeTheFault();
}

TEST_F(StoreFaultTest, FailedSyncOfAnUpdateIsAnErrorAndACrashLosesNothingAcknowledged) {
  fs_->FailSyncs(true);
  shared::Status s = store_->AcceptUpdate(Update(1, "site-b", ub_), ub_, TrainState(2));
  EXPECT_EQ(s.code(), shared::Code::kIOError) << s.ToString();
  EXPECT_GT(fs_->injected(), 0u);
  // The update was not acknowledged, and the store refuses writes until it is reopened.
  EXPECT_FALSE(store_->PutOpenRound(TrainState(3)).ok());
  CrashAndRestart();
  ExpectStateBeforeTheFault();
  // The restarted store takes the resent update.
  ASSERT_TRUE(store_->AcceptUpdate(Update(1, "site-b", ub_), ub_, TrainState(2)).ok());
  EXPECT_EQ(UpdatesOf(*store_, 1), (std::vector<std::string>{"site-a", "site-b"}));
}

// Issue 16 item 9: every Hello and disconnect writes the client's record; a synced write there
// let a flood of Hellos stall the engine. Client records do not sync (a failing sync does not
// touch them), and a process crash (not a power cut) keeps them.
TEST_F(StoreFaultTest, ClientRecordsAreWrittenWithoutASync) {
  fs_->FailSyncs(true);
  ClientRecord c;
  c.id = "site-c";
  c.first_seen_ms = 5;
  c.last_seen_ms = 7;
  shared::Status s = store_->PutClient(c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(fs_->injected(), 0u);
  fs_->ClearFaults();
  Reopen();  // closing flushes, as a killed process's WAL survives in the OS
  auto read = store_->GetClient("site-c");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->last_seen_ms, 7u);
}

TEST_F(StoreFaultTest, FailedSyncOfARoundCommitKeepsTheRoundOpenAfterACrash) {
  const std::vector<uint8_t> v2 = {7, 7};
  const OpenRound eval = EvalState();
  fs_->FailSyncs(true);
  shared::Status s = store_->CommitRound(Model(2, 1, v2), v2, eval);
  EXPECT_EQ(s.code(), shared::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("committing round 1"), std::string::npos) << s.message();
  CrashAndRestart();
  // The previous head and the open round with its update: the engine resumes the round.
  ExpectStateBeforeTheFault();
  EXPECT_EQ(store_->GetModel(2).status().code(), shared::Code::kNotFound);
  EXPECT_FALSE(store_->HasBlob(shared::Sha256(v2)));
  // The resumed round commits.
  ASSERT_TRUE(store_->CommitRound(Model(2, 1, v2), v2, eval).ok());
  EXPECT_EQ(**store_->Head(), 2u);
  EXPECT_TRUE(UpdatesOf(*store_, 1).empty());
}

TEST_F(StoreFaultTest, FailedSyncOfARoundCommitWithoutACrashIsAllOrNothing) {
  const std::vector<uint8_t> v2 = {7, 7};
  const OpenRound eval = EvalState();
  fs_->FailSyncs(true);
  EXPECT_FALSE(store_->CommitRound(Model(2, 1, v2), v2, eval).ok());
  // The running store shows none of the commit.
  ExpectStateBeforeTheFault();
  // The bytes reached the file but were never synced; the disk kept them (no power cut), so
  // after a restart the whole batch is there: new version, head, phase, updates dropped.
  fs_->ClearFaults();
  Reopen();
  EXPECT_EQ(**store_->Head(), 2u);
  EXPECT_EQ(**store_->OpenRound(), eval);
  EXPECT_TRUE(UpdatesOf(*store_, 1).empty());
  auto blob = store_->GetBlob(shared::Sha256(v2));
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(*blob, v2);
}

}  // namespace
}  // namespace fedge::coordinator
