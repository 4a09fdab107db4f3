// Each view of the sample store (client/frames_view.h, labels_view.h, audit_view.h,
// outbox_view.h, state_view.h) on its own, through SampleStore's accessors, plus the on-disk
// format the views share (column family names and key encodings existing sites hold).
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <string>
#include <vector>

#include "client/sample_store.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

FrameRecord Frame(const std::string& id, int64_t t, size_t size, float confidence = -1) {
  FrameRecord f;
  f.id = id;
  f.captured_unix_ms = t;
  f.format = "jpeg";
  f.width = 4;
  f.height = 2;
  f.channels = 3;
  f.predicted = 1;
  f.confidence = confidence;
  f.bytes.assign(id.begin(), id.end());
  f.bytes.resize(size, 0x33);
  return f;
}

std::unique_ptr<SampleStore> Open(const std::string& dir, StoreOptions options = {}) {
  auto store = SampleStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(FramesViewTest, StoresReadsReplacesAndEvictsWithinTheBudget) {
  TempDir dir("frames-view");
  StoreOptions options;
  options.disk_budget_bytes = 100;
  auto store = Open(dir.path(), options);
  FramesView& frames = store->frames();
  EXPECT_EQ(frames.Add(Frame("a", 10, 40))->kind, AddOutcome::Kind::kStored);
  EXPECT_EQ(frames.Add(Frame("a", 10, 40))->kind, AddOutcome::Kind::kAlreadyStored);
  EXPECT_EQ(frames.Add(Frame("a", 11, 41))->kind, AddOutcome::Kind::kReplaced);
  auto got = frames.Get("a");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->captured_unix_ms, 11);
  EXPECT_EQ((*got)->format, "jpeg");
  EXPECT_EQ((*got)->bytes, Frame("a", 11, 41).bytes);
  EXPECT_FALSE(frames.Get("zz")->has_value());
  ASSERT_TRUE(frames.Add(Frame("b", 20, 40)).ok());
  auto c = frames.Add(Frame("c", 30, 40));  // 121 bytes > 100: the oldest goes
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->evicted, std::vector<std::string>{"a"});
  EXPECT_FALSE(*frames.Has("a"));
  EXPECT_TRUE(*frames.Has("c"));
  EXPECT_EQ(frames.Add(Frame("big", 1, 101)).status().code(), shared::Code::kResourceExhausted);
}

TEST(FramesViewTest, ReviewQueueAndRetentionFollowTheIndexes) {
  TempDir dir("frames-view-review");
  StoreOptions options;
  options.max_age_seconds = 10;
  auto store = Open(dir.path(), options);
  FramesView& frames = store->frames();
  ASSERT_TRUE(frames.Add(Frame("sure", 1000, 8, 0.9f)).ok());
  ASSERT_TRUE(frames.Add(Frame("unsure", 2000, 8, 0.2f)).ok());
  ASSERT_TRUE(frames.Add(Frame("unknown", 30000, 8)).ok());
  auto queue = frames.ReviewQueue(2);
  ASSERT_TRUE(queue.ok());
  ASSERT_EQ(queue->size(), 2u);
  EXPECT_EQ((*queue)[0].id, "unknown");
  EXPECT_EQ((*queue)[1].id, "unsure");
  ASSERT_TRUE(frames.ApplyRetention(/*now_ms=*/12000).ok());  // cutoff 2000: "sure" goes
  EXPECT_FALSE(*frames.Has("sure"));
  EXPECT_TRUE(*frames.Has("unsure"));
  EXPECT_EQ(store->Stats()->frames, 2u);
}

TEST(LabelsViewTest, LabelsCountPerClassAndOutOfRangeQuarantines) {
  TempDir dir("labels-view");
  StoreOptions options;
  options.num_classes = 3;
  auto store = Open(dir.path(), options);
  ASSERT_TRUE(store->frames().Add(Frame("a", 2, 8)).ok());
  ASSERT_TRUE(store->frames().Add(Frame("b", 1, 8)).ok());
  ASSERT_TRUE(store->frames().Add(Frame("c", 3, 8)).ok());
  LabelsView& labels = store->labels();
  auto out = labels.Set({{"a", 2}, {"b", 0}, {"c", 7}}, 50);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->labels_set, 2u);
  EXPECT_EQ(out->quarantined, 1u);
  EXPECT_EQ(labels.ClassCounts(), (std::vector<uint64_t>{1, 0, 1}));
  auto labelled = labels.Labelled();
  ASSERT_EQ(labelled->size(), 2u);
  EXPECT_EQ((*labelled)[0].id, "b");  // capture order
  EXPECT_EQ((*labelled)[1].label, 2);
  auto q = labels.Quarantined();
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].reason, "label 7 out of range [0, 3)");
  EXPECT_TRUE((*q)[0].stored);
  EXPECT_EQ(labels.Set({{"missing", 1}}, 51).status().code(), shared::Code::kNotFound);
  // A valid label releases a frame quarantined for its label; a manual quarantine drops one.
  ASSERT_TRUE(labels.Set({{"c", 1}}, 52).ok());
  ASSERT_TRUE(labels.Quarantine("a", "blurred", 53).ok());
  EXPECT_EQ(labels.ClassCounts(), (std::vector<uint64_t>{1, 1, 0}));
  EXPECT_EQ(labels.Quarantine("", "x", 1).code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(labels.Set({{"a", 1}}, 54)->skipped_quarantined, 1u);
}

TEST(AuditViewTest, AppendsInSequenceAndReadsTheNewest) {
  TempDir dir("audit-view");
  {
    auto store = Open(dir.path());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->audit().Append({99, 10 + i, "EvalReport", 5, 2, "d", ""}).ok());
    }
  }
  auto store = Open(dir.path());
  AuditView& audit = store->audit();
  auto newest = audit.Read(2);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].seq, 2u);  // the store assigns seq; the caller's 99 is ignored
  EXPECT_EQ((*newest)[1].unix_ms, 12);
  EXPECT_EQ(audit.Read()->size(), 3u);
  EXPECT_EQ(ToJsonLine((*newest)[1]),
            R"({"bytes":5,"detail":"d","round":2,"seq":3,"type":"EvalReport","unix_ms":12})");
}

// The audit log is bounded: each append past audit_max_entries deletes the oldest, and opening
// with a lower limit trims at once.
TEST(AuditViewTest, KeepsOnlyTheNewestEntries) {
  TempDir dir("audit-rotate");
  StoreOptions options;
  options.audit_max_entries = 100;
  {
    auto store = Open(dir.path(), options);
    for (int i = 0; i < 250; ++i) {
      ASSERT_TRUE(store->audit().Append({0, i, "Heartbeat", 40, 0, "", ""}, i % 7 == 0).ok());
    }
    auto all = store->audit().Read();
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 100u);
    EXPECT_EQ(all->front().seq, 151u);
    EXPECT_EQ(all->back().seq, 250u);
  }
  options.audit_max_entries = 10;
  auto store = Open(dir.path(), options);
  auto all = store->audit().Read();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 10u);
  EXPECT_EQ(all->front().seq, 241u);
  ASSERT_TRUE(store->audit().Append({0, 1, "Hello", 1, 0, "", ""}).ok());
  EXPECT_EQ(store->audit().Read()->front().seq, 242u);
}

// An entry keeps the message's content as JSON; content over the cap is kept as cut text with
// its full length.
TEST(AuditViewTest, StoresTheContentCappedAndReadsItBack) {
  TempDir dir("audit-content");
  auto store = Open(dir.path());
  AuditEntry e{0, 5, "EvalReport", 80, 3, "", R"({"type":"EvalReport","message":{"round":3}})"};
  ASSERT_TRUE(store->audit().Append(e).ok());
  AuditEntry big{0, 6, "Error", 90000, 0, "", std::string(90000, 'x')};
  ASSERT_TRUE(store->audit().Append(big).ok());
  auto all = store->audit().Read();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].content, R"({"message":{"round":3},"type":"EvalReport"})");
  EXPECT_NE(ToJsonLine((*all)[0]).find(R"("content":{"message":{"round":3})"), std::string::npos);
  EXPECT_LE((*all)[1].content.size(), kMaxAuditContentBytes);
  EXPECT_GT((*all)[1].content.size(), kMaxAuditContentBytes - 10);
}

TEST(OutboxViewTest, KeepsInsertionOrderAndReplacesInPlace) {
  TempDir dir("outbox-view");
  auto store = Open(dir.path());
  OutboxView& outbox = store->outbox();
  ASSERT_TRUE(outbox.Put({"t2", 2, 20, {2}, {22}}).ok());
  ASSERT_TRUE(outbox.Put({"t1", 1, -10, {1}, {11}}).ok());
  ASSERT_TRUE(outbox.Put({"t2", 3, 30, {3}, {33}}).ok());
  auto list = outbox.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].task_id, "t2");
  EXPECT_EQ((*list)[0].round, 3u);
  EXPECT_EQ((*list)[0].blob, std::vector<uint8_t>{33});
  EXPECT_EQ((*list)[1].deadline_unix_ms, -10);
  ASSERT_TRUE(outbox.Delete("t2").ok());
  ASSERT_TRUE(outbox.Delete("never").ok());
  EXPECT_EQ(outbox.List()->size(), 1u);
  EXPECT_EQ(outbox.Put({"", 1, 1, {}, {}}).code(), shared::Code::kInvalidArgument);
}

TEST(StateViewTest, StoresBytesUnderAKey) {
  TempDir dir("state-view");
  {
    auto store = Open(dir.path());
    ASSERT_TRUE(store->state().Put("residual", {1, 0, 2}).ok());
    ASSERT_TRUE(store->state().Put("residual", {3}).ok());
  }
  auto store = Open(dir.path());
  EXPECT_EQ(**store->state().Get("residual"), std::vector<uint8_t>{3});
  EXPECT_FALSE(store->state().Get("other")->has_value());
  EXPECT_EQ(store->state().Put("", {1}).code(), shared::Code::kInvalidArgument);
}

// The keys existing sites' databases hold; the views must keep reading and writing exactly these.
TEST(SampleStoreFormatTest, ColumnFamiliesAndKeysAreUnchanged) {
  TempDir dir("store-format");
  {
    auto store = Open(dir.path());
    ASSERT_TRUE(store->frames().Add(Frame("f", 1, 8, 0.5f)).ok());
    ASSERT_TRUE(store->labels().Quarantine("q", "manual", 7).ok());
    ASSERT_TRUE(store->audit().Append({0, 1, "Hello", 1, 0, "", ""}).ok());
    ASSERT_TRUE(store->outbox().Put({"t", 1, 2, {3}, {4}}).ok());
    ASSERT_TRUE(store->state().Put("k", {5}).ok());
  }
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &names).ok());
  const std::vector<std::string> expected = {
      "default", "frame_meta", "frame_bytes", "by_time", "by_hash",    "by_confidence",
      "labels",  "quarantine", "audit",       "outbox",  "outbox_ids", "state"};
  ASSERT_EQ(names, expected);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir.path(), descriptors, &cfs, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  auto get = [&](int cf, const std::string& key) {
    std::string v;
    return db->Get(rocksdb::ReadOptions(), cfs[cf], key, &v).ok() ? v : std::string("<absent>");
  };
  using namespace std::string_literals;
  const std::string time1 = "\x80\0\0\0\0\0\0\x01"s;   // BE64(1 ^ 1 << 63)
  EXPECT_EQ(get(3, "\x01"s + time1 + "f"), "");        // by_time: unlabelled tier
  EXPECT_EQ(get(5, "\xbf\0\0\0"s + time1 + "f"), "");  // by_confidence: 0.5f ordered
  EXPECT_EQ(get(7, "q"), R"({"cause":"manual","reason":"manual","unix_ms":7})");
  EXPECT_EQ(get(8, "\0\0\0\0\0\0\0\x01"s),
            R"({"bytes":1,"detail":"","round":0,"seq":1,"type":"Hello","unix_ms":1})");
  EXPECT_EQ(get(10, "t"), "\0\0\0\0\0\0\0\x01"s);  // outbox_ids: task id -> BE64 seq
  EXPECT_EQ(get(11, "k"), "\x05"s);
  EXPECT_NE(get(1, "f").find(R"("conf":0.5)"), std::string::npos);
  EXPECT_NE(get(0, "meta").find(R"("audit_seq":1)"), std::string::npos);
  for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
}

}  // namespace
}  // namespace fedge::client
