// The outbox (client/outbox.h) over a real sample store in a temp dir: updates survive a
// restart, are found by digest, and leave the store when forgotten. No TLS, no LibTorch.
#include "client/outbox.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

Outbox::Entry Update(uint64_t round, uint8_t fill) {
  Outbox::Entry e;
  e.round = round;
  e.blob.assign(64, fill);
  e.digest = shared::Sha256(e.blob);
  e.submit = {1, 2, fill};
  return e;
}

std::unique_ptr<SampleStore> OpenStore(const TempDir& dir) {
  auto store = SampleStore::Open(dir.path() + "/store", {});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(OutboxTest, UpdatesSurviveARestartUntilForgotten) {
  TempDir dir("outbox-restart");
  {
    std::unique_ptr<SampleStore> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    Outbox outbox(*store);
    ASSERT_TRUE(outbox.Load().ok());
    EXPECT_TRUE(outbox.empty());
    ASSERT_TRUE(outbox.Add(7, Update(3, 0xaa)).ok());
    ASSERT_TRUE(outbox.Add(9, Update(4, 0xbb)).ok());
    ASSERT_TRUE(outbox.Remove(9).ok());
    ASSERT_TRUE(outbox.Remove(42).ok());  // never kept: no-op
  }
  std::unique_ptr<SampleStore> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  Outbox outbox(*store);
  ASSERT_TRUE(outbox.Load().ok());
  ASSERT_EQ(outbox.size(), 1u);
  Outbox::Entry* e = outbox.Find(7);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->round, 3u);
  EXPECT_EQ(e->submit, (std::vector<uint8_t>{1, 2, 0xaa}));
  EXPECT_EQ(e->digest, Update(3, 0xaa).digest);  // recomputed from the stored blob
  EXPECT_EQ(e->sent_on, nullptr);                // a new run has submitted nothing yet
  EXPECT_EQ(outbox.Find(9), nullptr);
  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->outgoing, 1u);
}

TEST(OutboxTest, FindsAnUpdateByTheDigestOfItsBlob) {
  TempDir dir("outbox-digest");
  std::unique_ptr<SampleStore> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  Outbox outbox(*store);
  ASSERT_TRUE(outbox.Add(1, Update(1, 0x11)).ok());
  ASSERT_TRUE(outbox.Add(2, Update(1, 0x22)).ok());
  const Outbox::Entry* e = outbox.FindByDigest(Update(0, 0x22).digest);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->blob[0], 0x22);
  EXPECT_EQ(outbox.FindByDigest(Update(0, 0x33).digest), nullptr);
}

TEST(OutboxTest, LoadDropsARecordWhoseTaskIdIsNotANumber) {
  TempDir dir("outbox-bad-id");
  std::unique_ptr<SampleStore> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  for (const char* id : {"12", "12abc", "x7"}) {
    OutgoingRecord r;
    r.task_id = id;
    r.round = 5;
    r.blob = {9};
    ASSERT_TRUE(store->PutOutgoing(r).ok()) << id;
  }
  Outbox outbox(*store);
  ASSERT_TRUE(outbox.Load().ok());
  ASSERT_EQ(outbox.size(), 1u);
  ASSERT_NE(outbox.Find(12), nullptr);
  auto left = store->Outgoing();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);  // the bad records were deleted from the store
  EXPECT_EQ((*left)[0].task_id, "12");
}

}  // namespace
}  // namespace fedge::client
