#include "client/sample_store.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

extern char** environ;

namespace fedge::client {
namespace {

namespace fs = std::filesystem;

using fedge::testing::TempDir;

// A frame of exactly `size` bytes (>= id length) whose content is unique to its id.
FrameRecord MakeFrame(const std::string& id, int64_t t, size_t size, float confidence = -1) {
  FrameRecord f;
  f.id = id;
  f.captured_unix_ms = t;
  f.format = "png";
  f.width = f.height = 8;
  f.channels = 1;
  f.confidence = confidence;
  f.bytes.assign(id.begin(), id.end());
  f.bytes.resize(size, 0x5a);
  return f;
}

// prefix + i (appended rather than operator+, which trips g++ 12's -Wrestrict false positive).
std::string Id(const char* prefix, int i) {
  std::string id(prefix);
  id.append(std::to_string(i));
  return id;
}

std::unique_ptr<SampleStore> OpenOrDie(const std::string& dir, StoreOptions options = {}) {
  auto store = SampleStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

void Add(SampleStore& store, const FrameRecord& f, std::vector<std::string>* evicted = nullptr) {
  auto out = store.AddFrame(f);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  if (evicted != nullptr) *evicted = out->evicted;
}

void Label(SampleStore& store, const std::vector<LabelAssignment>& labels) {
  auto out = store.SetLabels(labels, 1);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
}

uint64_t StoredBytes(SampleStore& store) {
  auto stats = store.Stats();
  EXPECT_TRUE(stats.ok());
  return stats.ok() ? stats->stored_bytes : 0;
}

TEST(SampleStoreTest, EvictsOldestUnlabelledFirstAndStaysWithinBudget) {
  TempDir dir;
  StoreOptions options;
  options.disk_budget_bytes = 500;
  auto store = OpenOrDie(dir.path(), options);
  for (int i = 1; i <= 5; ++i) Add(*store, MakeFrame(Id("a", i), i, 100));
  Label(*store, {{"a1", 0}, {"a2", 1}});  // the two oldest are labelled
  std::vector<std::string> evicted;
  Add(*store, MakeFrame("a6", 6, 100), &evicted);
  EXPECT_EQ(evicted, std::vector<std::string>{"a3"});
  Add(*store, MakeFrame("a7", 7, 250), &evicted);  // needs three 100-byte frames
  EXPECT_EQ(evicted, (std::vector<std::string>{"a4", "a5", "a6"}));
  EXPECT_LE(StoredBytes(*store), 500u);
  EXPECT_EQ(StoredBytes(*store), 450u);
  // With no unlabelled frame left, labelled frames go, oldest first.
  Label(*store, {{"a7", 2}});
  Add(*store, MakeFrame("a8", 8, 100), &evicted);
  EXPECT_EQ(evicted, std::vector<std::string>{"a1"});
  EXPECT_EQ(StoredBytes(*store), 450u);
  EXPECT_FALSE(*store->HasFrame("a1"));
  EXPECT_TRUE(*store->HasFrame("a2"));
  EXPECT_EQ(store->ClassCounts()[0], 0u);  // a1's label went with it
  EXPECT_EQ(store->ClassCounts()[1], 1u);
  // The accounting survives a reopen.
  store.reset();
  store = OpenOrDie(dir.path(), options);
  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->stored_bytes, 450u);
  EXPECT_EQ(stats->frames, 3u);
  EXPECT_EQ(stats->labelled, 2u);
  EXPECT_EQ(*stats->oldest_unix_ms, 2);
  EXPECT_EQ(*stats->newest_unix_ms, 8);
}

TEST(SampleStoreTest, NeverExceedsBudgetUnderMixedSizes) {
  TempDir dir;
  StoreOptions options;
  options.disk_budget_bytes = 1000;
  auto store = OpenOrDie(dir.path(), options);
  uint64_t sum_sizes = 0;
  for (int i = 0; i < 60; ++i) {
    const size_t size = 40 + (i * 37) % 300;
    Add(*store, MakeFrame(Id("m", i), 1000 - i % 7 * 10 + i, size));
    if (i % 5 == 0) Label(*store, {{Id("m", i), i % 10}});
    ASSERT_LE(StoredBytes(*store), 1000u) << "after frame " << i;
    sum_sizes += size;
  }
  // The stored total is the real sum of the frames still there.
  uint64_t actual = 0;
  for (int i = 0; i < 60; ++i) {
    auto f = store->GetFrame(Id("m", i));
    ASSERT_TRUE(f.ok());
    if (*f) actual += (*f)->bytes.size();
  }
  EXPECT_EQ(actual, StoredBytes(*store));
  EXPECT_GT(sum_sizes, actual);
}

TEST(SampleStoreTest, RefusesFrameLargerThanBudgetAndMalformedFrames) {
  TempDir dir;
  StoreOptions options;
  options.disk_budget_bytes = 100;
  auto store = OpenOrDie(dir.path(), options);
  EXPECT_EQ(store->AddFrame(MakeFrame("big", 1, 101)).status().code(),
            shared::Code::kResourceExhausted);
  FrameRecord bad = MakeFrame("x", 1, 10);
  bad.format = "gif";
  EXPECT_EQ(store->AddFrame(bad).status().code(), shared::Code::kInvalidArgument);
  bad = MakeFrame("x", 1, 10, 1.5f);
  EXPECT_EQ(store->AddFrame(bad).status().code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(StoredBytes(*store), 0u);
}

TEST(SampleStoreTest, ExactDuplicateIsQuarantinedNotStored) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Add(*store, MakeFrame("x1", 1, 64));
  FrameRecord copy = MakeFrame("x1", 2, 64);
  copy.id = "x2";  // same bytes as x1, another id
  auto out = store->AddFrame(copy);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, AddOutcome::Kind::kDuplicate);
  EXPECT_EQ(out->duplicate_of, "x1");
  EXPECT_FALSE(*store->HasFrame("x2"));
  auto q = store->Quarantined();
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].id, "x2");
  EXPECT_EQ((*q)[0].reason, "exact duplicate of x1");
  EXPECT_FALSE((*q)[0].stored);
  EXPECT_EQ(StoredBytes(*store), 64u);
  // Same id and bytes again: nothing changes. Same id, new bytes: replaced.
  EXPECT_EQ(store->AddFrame(MakeFrame("x1", 1, 64))->kind, AddOutcome::Kind::kAlreadyStored);
  EXPECT_EQ(store->AddFrame(MakeFrame("x1", 1, 80))->kind, AddOutcome::Kind::kReplaced);
  EXPECT_EQ(StoredBytes(*store), 80u);
  EXPECT_EQ((*store->GetFrame("x1"))->bytes.size(), 80u);
  // A stored frame replaced by a copy of another frame's bytes: gone, and quarantined.
  Add(*store, MakeFrame("x3", 3, 50));
  FrameRecord x3_copy = MakeFrame("x1", 1, 80);
  x3_copy.id = "x3";
  EXPECT_EQ(store->AddFrame(x3_copy)->kind, AddOutcome::Kind::kDuplicate);
  EXPECT_FALSE(*store->HasFrame("x3"));
  auto stats = store->Stats();
  EXPECT_EQ(stats->frames, 1u);
  EXPECT_EQ(stats->stored_bytes, 80u);
  EXPECT_EQ(stats->quarantined, 2u);
  EXPECT_EQ(*stats->oldest_unix_ms, 1);
  EXPECT_FALSE(store->Quarantined()->back().stored);
}

TEST(SampleStoreTest, ReviewQueueListsLeastConfidentUnlabelledFrames) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Add(*store, MakeFrame("sure", 1, 32, 0.9f));
  Add(*store, MakeFrame("low-late", 5, 32, 0.2f));
  Add(*store, MakeFrame("unknown", 3, 32));
  Add(*store, MakeFrame("mid", 2, 32, 0.5f));
  Add(*store, MakeFrame("low-early", 4, 32, 0.2f));
  Add(*store, MakeFrame("labelled", 6, 32, 0.01f));
  Add(*store, MakeFrame("bad", 7, 32, 0.0f));
  Label(*store, {{"labelled", 3}});
  ASSERT_TRUE(store->Quarantine("bad", "unreadable", 10).ok());
  auto queue = store->ReviewQueue(4);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  std::vector<std::string> ids;
  for (const auto& item : *queue) ids.push_back(item.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"unknown", "low-early", "low-late", "mid"}));
  EXPECT_FLOAT_EQ((*queue)[1].confidence, 0.2f);
  EXPECT_EQ((*queue)[1].captured_unix_ms, 4);
  EXPECT_EQ(store->ReviewQueue(100)->size(), 5u);
}

TEST(SampleStoreTest, QuarantineOfStoredFrameDropsItsLabel) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Add(*store, MakeFrame("q1", 1, 32));
  Label(*store, {{"q1", 4}});
  ASSERT_TRUE(store->Quarantine("q1", "corrupt JPEG", 77).ok());
  ASSERT_TRUE(store->Quarantine("never-stored", "decode failed", 78).ok());
  EXPECT_EQ(store->ClassCounts()[4], 0u);
  EXPECT_TRUE(store->LabelledFrames()->empty());
  auto q = store->Quarantined();
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[1].id, "q1");
  EXPECT_EQ((*q)[1].reason, "corrupt JPEG");
  EXPECT_EQ((*q)[1].unix_ms, 77);
  EXPECT_TRUE((*q)[1].stored);
  // A label for a frame quarantined as unreadable is not stored.
  auto out = store->SetLabels({{"q1", 2}}, 80);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->skipped_quarantined, 1u);
  EXPECT_EQ(store->ClassCounts()[2], 0u);
}

TEST(SampleStoreTest, LabelledFramesAreInCaptureOrderWithBytes) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Add(*store, MakeFrame("late", 30, 40));
  Add(*store, MakeFrame("early", 10, 50));
  Add(*store, MakeFrame("unlabelled", 20, 60));
  Label(*store, {{"late", 1}, {"early", 7}});
  auto frames = store->LabelledFrames();
  ASSERT_TRUE(frames.ok()) << frames.status().ToString();
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_EQ((*frames)[0].id, "early");
  EXPECT_EQ((*frames)[0].label, 7);
  EXPECT_EQ((*frames)[0].bytes, MakeFrame("early", 10, 50).bytes);
  EXPECT_EQ((*frames)[1].id, "late");
  EXPECT_EQ(store->SetLabels({{"nope", 1}}, 1).status().code(), shared::Code::kNotFound);
}

TEST(SampleStoreTest, RetentionDeletesFramesOlderThanMaxAge) {
  TempDir dir;
  StoreOptions options;
  options.max_age_seconds = 10;
  auto store = OpenOrDie(dir.path(), options);
  Add(*store, MakeFrame("old-labelled", 1000, 32));
  Add(*store, MakeFrame("old", 5000, 32, 0.1f));
  Add(*store, MakeFrame("recent", 20000, 32));
  Add(*store, MakeFrame("new", 30000, 32));
  Label(*store, {{"old-labelled", 3}});
  ASSERT_TRUE(store->ApplyRetention(25000).ok());  // cutoff 15000
  EXPECT_FALSE(*store->HasFrame("old-labelled"));
  EXPECT_FALSE(*store->HasFrame("old"));
  EXPECT_TRUE(*store->HasFrame("recent"));
  EXPECT_EQ(store->ClassCounts()[3], 0u);
  EXPECT_EQ(StoredBytes(*store), 64u);
  auto queue = store->ReviewQueue(10);
  ASSERT_EQ(queue->size(), 2u);
  EXPECT_EQ((*queue)[0].id, "recent");
  // The hash index entry went too: the same bytes under a new id are not a duplicate.
  FrameRecord again = MakeFrame("old", 40000, 32);
  again.id = "old-again";
  EXPECT_EQ(store->AddFrame(again)->kind, AddOutcome::Kind::kStored);
}

// The first file under `dir` that contains `needle`, or "" if none does.
std::string FileContaining(const std::string& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), {});
    if (content.find(needle) != std::string::npos) return entry.path().filename().string();
  }
  return "";
}

TEST(SampleStoreTest, PurgeDeletesFramesButKeepsAuditOutboxAndState) {
  TempDir dir;
  const std::string pixels = "SECRET-PIXELS-OF-A-PERSON-0123456789";
  const std::string id = "SECRET-ID-site3#1";
  auto store = OpenOrDie(dir.path());
  FrameRecord frame = MakeFrame(id, 1, 200);
  frame.bytes.insert(frame.bytes.end(), pixels.begin(), pixels.end());
  Add(*store, frame);
  Add(*store, MakeFrame("p2", 2, 32));
  Label(*store, {{"p2", 1}});
  ASSERT_TRUE(store->Quarantine("p3", "unreadable", 3).ok());
  ASSERT_TRUE(store->AppendAudit({0, 5, "UpdateSubmit", 10, 1, "", ""}).ok());
  ASSERT_TRUE(store->PutOutgoing({"t1", 1, 99, {1}, {2}}).ok());
  ASSERT_TRUE(store->PutState("residual", {9}).ok());
  ASSERT_NE(FileContaining(dir.path(), pixels), "");
  ASSERT_TRUE(store->Purge().ok());
  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->frames, 0u);
  EXPECT_EQ(stats->stored_bytes, 0u);
  EXPECT_EQ(stats->labelled, 0u);
  EXPECT_EQ(stats->quarantined, 0u);
  EXPECT_FALSE(stats->oldest_unix_ms.has_value());
  EXPECT_EQ(store->ClassCounts(), std::vector<uint64_t>(10, 0));
  EXPECT_TRUE(store->LabelledFrames()->empty());
  EXPECT_TRUE(store->ReviewQueue(10)->empty());
  EXPECT_TRUE(store->Quarantined()->empty());
  EXPECT_EQ(store->Audit()->size(), 1u);
  EXPECT_EQ(store->Outgoing()->size(), 1u);
  EXPECT_EQ(**store->GetState("residual"), std::vector<uint8_t>{9});
  // The image bytes are gone from every file at once; ids (keys) may linger in RocksDB's
  // MANIFEST until the next open rewrites it.
  EXPECT_EQ(FileContaining(dir.path(), pixels), "") << "purged bytes are still on disk";
  store.reset();
  store = OpenOrDie(dir.path());
  EXPECT_EQ(FileContaining(dir.path(), id), "") << "a purged frame id is still on disk";
  EXPECT_EQ(store->AddFrame(MakeFrame("p2", 2, 32))->kind, AddOutcome::Kind::kStored);
}

TEST(SampleStoreTest, AuditSequencePersistsAcrossReopen) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->AppendAudit({0, 100 + i, "UpdateSubmit", 1000u + i, 7, "d", ""}).ok());
  }
  store.reset();
  store = OpenOrDie(dir.path());
  ASSERT_TRUE(store->AppendAudit({0, 200, "Hello", 12, 0, "first \"contact\"", ""}).ok());
  auto all = store->Audit();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ((*all)[i].seq, i + 1);
  EXPECT_EQ((*all)[3].type, "Hello");
  auto last2 = store->Audit(2);
  ASSERT_EQ(last2->size(), 2u);
  EXPECT_EQ((*last2)[0].seq, 3u);
  EXPECT_EQ((*last2)[1].seq, 4u);
  const auto j = nlohmann::json::parse(ToJsonLine((*all)[3]));
  EXPECT_EQ(j["seq"], 4);
  EXPECT_EQ(j["type"], "Hello");
  EXPECT_EQ(j["bytes"], 12);
  EXPECT_EQ(j["detail"], "first \"contact\"");
  EXPECT_EQ(ToJsonLine((*all)[3]).find('\n'), std::string::npos);
}

TEST(SampleStoreTest, OutboxSurvivesReopenInInsertionOrder) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<uint8_t> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(store->PutOutgoing({"t3", 3, 300, {3, 3}, big}).ok());
  ASSERT_TRUE(store->PutOutgoing({"t1", 1, 100, {1}, {11}}).ok());
  ASSERT_TRUE(store->PutOutgoing({"t2", 2, -5, {}, {22}}).ok());
  store.reset();
  store = OpenOrDie(dir.path());
  auto out = store->Outgoing();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].task_id, "t3");
  EXPECT_EQ((*out)[0].blob, big);
  EXPECT_EQ((*out)[0].submit, (std::vector<uint8_t>{3, 3}));
  EXPECT_EQ((*out)[0].deadline_unix_ms, 300);
  EXPECT_EQ((*out)[2].deadline_unix_ms, -5);
  EXPECT_EQ((*out)[2].round, 2u);
  // Replacing keeps the place; deleting and re-adding moves to the end.
  ASSERT_TRUE(store->PutOutgoing({"t1", 1, 100, {1}, {12}}).ok());
  ASSERT_TRUE(store->DeleteOutgoing("t3").ok());
  ASSERT_TRUE(store->DeleteOutgoing("absent").ok());
  ASSERT_TRUE(store->PutOutgoing({"t3", 3, 300, {}, {33}}).ok());
  store.reset();
  store = OpenOrDie(dir.path());
  out = store->Outgoing();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].task_id, "t1");
  EXPECT_EQ((*out)[0].blob, std::vector<uint8_t>{12});
  EXPECT_EQ((*out)[1].task_id, "t2");
  EXPECT_EQ((*out)[2].task_id, "t3");
  EXPECT_EQ(store->Stats()->outgoing, 3u);
}

TEST(SampleStoreTest, StateSurvivesReopen) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  EXPECT_FALSE(store->GetState("residual")->has_value());
  ASSERT_TRUE(store->PutState("residual", {1, 2, 3}).ok());
  store.reset();
  store = OpenOrDie(dir.path());
  EXPECT_EQ(**store->GetState("residual"), (std::vector<uint8_t>{1, 2, 3}));
}

TEST(SampleStoreTest, RefusesFewerClassesThanStoredLabels) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Add(*store, MakeFrame("f", 1, 32));
  Label(*store, {{"f", 8}});
  store.reset();
  StoreOptions options;
  options.num_classes = 5;
  auto reopened = SampleStore::Open(dir.path(), options);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(reopened.status().message().find("class 8"), std::string::npos);
}

// Run by SecondProcessGetsClearError in a child process; skipped otherwise.
TEST(SampleStoreLockChild, OpenFailsWhileParentHoldsStore) {
  const char* dir = std::getenv("FEDGE_STORE_LOCK_CHILD_DIR");
  const char* out = std::getenv("FEDGE_STORE_LOCK_CHILD_OUT");
  if (dir == nullptr || out == nullptr) GTEST_SKIP() << "only run as a child process";
  auto store = SampleStore::Open(dir, StoreOptions());
  std::ofstream(out) << store.status().ToString();
  EXPECT_FALSE(store.ok());
}

TEST(SampleStoreTest, SecondProcessGetsClearError) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  const std::string out = dir.path() + "-child.txt";
  const std::string env_dir = "FEDGE_STORE_LOCK_CHILD_DIR=" + dir.path();
  const std::string env_out = "FEDGE_STORE_LOCK_CHILD_OUT=" + out;
  std::vector<char*> envp = {const_cast<char*>(env_dir.c_str()),
                             const_cast<char*>(env_out.c_str())};
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=SampleStoreLockChild.*";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child test failed";
  std::ifstream in(out);
  const std::string message((std::istreambuf_iterator<char>(in)), {});
  fs::remove(out);
  EXPECT_NE(message.find("Unavailable"), std::string::npos) << message;
  EXPECT_NE(message.find("locked by another fedge-client process"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.path()), std::string::npos) << message;
  // A second open in the same process is refused too, with its own message.
  auto again = SampleStore::Open(dir.path(), StoreOptions());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), shared::Code::kUnavailable);
  EXPECT_NE(again.status().message().find("already open in this process"), std::string::npos)
      << again.status().message();
  // The holder is unaffected.
  Add(*store, MakeFrame("still-works", 1, 16));
}

}  // namespace
}  // namespace fedge::client
