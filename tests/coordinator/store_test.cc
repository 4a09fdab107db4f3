#include "coordinator/store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fedge::coordinator {
namespace {

std::string TempDir() {
  std::string d = std::filesystem::temp_directory_path() /
                  ("fedge-store-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(d);
  return d;
}

ModelRecord Record(uint64_t version, const std::vector<uint8_t>& blob) {
  ModelRecord r;
  r.version = version;
  if (version > 1) r.parent = version - 1;
  r.round = version - 1;
  r.arch = "cnn_small";
  r.digest_hex = shared::ToHex(shared::Sha256(blob));
  r.size_bytes = blob.size();
  r.contributors = {{"site-001", 10}, {"site-002", 30}};
  r.total_examples = 40;
  return r;
}

TEST(StoreTest, ModelsPersistAcrossReopenWithLineage) {
  std::string dir = TempDir();
  std::vector<uint8_t> b1 = {1, 2, 3}, b2 = {4, 5, 6, 7};
  {
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->PutModel(Record(1, b1), b1).ok());
    ASSERT_TRUE((*store)->PutModel(Record(2, b2), b2).ok());
    EXPECT_EQ((*store)->PutModel(Record(2, b2), b2).code(), shared::Code::kAlreadyExists);
    ASSERT_TRUE((*store)->UpdateModelMetrics(2, {{"accuracy", 0.5}}).ok());
  }
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  auto latest = (*store)->LatestModel();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->version, 2u);
  EXPECT_EQ(*(*latest)->parent, 1u);
  EXPECT_EQ((*latest)->contributors.size(), 2u);
  EXPECT_EQ((*latest)->metrics["accuracy"], 0.5);
  auto blob = (*store)->GetBlob(shared::Sha256(b2));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, b2);
  EXPECT_EQ((*store)->GetBlob(shared::Sha256(std::vector<uint8_t>{9})).status().code(),
            shared::Code::kNotFound);
  EXPECT_EQ((*store)->ListModels()->size(), 2u);
  EXPECT_EQ((*store)->GetModel(3).status().code(), shared::Code::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, ClientsRoundTrip) {
  std::string dir = TempDir();
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  ClientRecord c;
  c.id = "site-007";
  c.fingerprint = "ab";
  c.first_seen_ms = 5;
  c.last_seen_ms = 9;
  c.class_counts = {1, 2, 3};
  ASSERT_TRUE((*store)->PutClient(c).ok());
  auto got = (*store)->GetClient("site-007");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->class_counts, c.class_counts);
  EXPECT_FALSE((*(*store)->GetClient("nobody")).has_value());
  EXPECT_EQ((*store)->ListClients()->size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, SecondOpenOfTheSameDirectoryFailsClearly) {
  std::string dir = TempDir();
  auto a = Store::Open(dir);
  ASSERT_TRUE(a.ok());
  auto b = Store::Open(dir);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("another coordinator"), std::string::npos);
  std::filesystem::remove_all(dir);
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

TEST(StoreTest, OpenRoundUpdatesSurviveReopenAndCommitDropsThem) {
  std::string dir = TempDir();
  std::vector<uint8_t> model = {1, 2, 3}, u1 = {4, 4}, u2 = {5, 5, 5}, other = {6};
  OpenRound open;
  open.round = 1;
  open.tasks = {{"site-a", 1000000001}, {"site-b", 1000000001}};
  open.deadline_ms = 5000;
  {
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->PutModel(Record(1, model), model, /*make_head=*/true).ok());
    ASSERT_TRUE((*store)->PutOpenRound(open).ok());
    ASSERT_TRUE((*store)->AcceptUpdate(Update(1, "site-b", u2), u2, open).ok());
    ASSERT_TRUE((*store)->AcceptUpdate(Update(1, "site-a", u1), u1, open).ok());
    ASSERT_TRUE((*store)->AcceptUpdate(Update(2, "site-a", other), other, open).ok());
  }
  auto store = Store::Open(dir);  // as after a crash
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(**(*store)->Head(), 1u);
  EXPECT_EQ(**(*store)->OpenRound(), open);
  std::vector<std::string> seen;
  std::vector<std::vector<uint8_t>> blobs;
  auto collect = [&](const UpdateRecord& r, std::vector<uint8_t> b) {
    seen.push_back(r.client_id);
    blobs.push_back(std::move(b));
    return shared::Status::Ok();
  };
  ASSERT_TRUE((*store)->ForEachUpdate(1, collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"site-a", "site-b"}));  // round 2's is not listed
  EXPECT_EQ(blobs[0], u1);
  auto accepted = (*store)->AcceptedUpdate("site-b", "site-b/1000000001");
  ASSERT_TRUE(accepted.ok() && accepted->has_value());
  EXPECT_EQ((*accepted)->round, 1u);
  EXPECT_FALSE((*(*store)->AcceptedUpdate("site-c", "site-c/1")).has_value());

  // Closing the round: new head, its updates gone, idempotency ids kept.
  std::vector<uint8_t> v2 = {7, 7};
  ModelRecord r2 = Record(2, v2);
  r2.round = 1;
  OpenRound eval = open;
  eval.phase = RoundPhase::kEval;
  eval.tasks.clear();
  ASSERT_TRUE((*store)->CommitRound(r2, v2, eval).ok());
  EXPECT_EQ((*store)->CommitRound(r2, v2, eval).code(), shared::Code::kAlreadyExists);
  EXPECT_EQ((**(*store)->OpenRound()).phase, RoundPhase::kEval);
  EXPECT_EQ(**(*store)->Head(), 2u);
  seen.clear();
  ASSERT_TRUE((*store)->ForEachUpdate(1, collect).ok());
  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE((*(*store)->AcceptedUpdate("site-b", "site-b/1000000001")).has_value());
  ASSERT_TRUE((*store)->FinishRound(1, {{"round", 1}, {"updates", 2}}).ok());
  EXPECT_FALSE((*(*store)->OpenRound()).has_value());
  ASSERT_EQ((*store)->ListRounds()->size(), 1u);
  // A failed attempt's updates are dropped.
  OpenRound idle;
  idle.round = 2;
  idle.attempt = 1;
  idle.phase = RoundPhase::kIdle;
  ASSERT_TRUE((*store)->DiscardRoundUpdates(2, idle).ok());
  EXPECT_EQ(**(*store)->OpenRound(), idle);
  seen.clear();
  ASSERT_TRUE((*store)->ForEachUpdate(2, collect).ok());
  EXPECT_TRUE(seen.empty());
  std::filesystem::remove_all(dir);
}

// Issue 16 item 10: idempotency ids are not kept forever; those of older rounds are forgotten
// and the newer ones stay.
TEST(StoreTest, IdempotencyIdsOfOlderRoundsAreForgotten) {
  std::string dir = TempDir();
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  std::vector<uint8_t> blob = {1, 2};
  for (uint64_t round : {1, 2, 3}) {
    OpenRound open;
    open.round = round;
    ASSERT_TRUE((*store)->AcceptUpdate(Update(round, "site-a", blob), blob, open).ok());
  }
  auto forgotten = (*store)->ForgetAcceptedBefore(3);
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().ToString();
  EXPECT_EQ(*forgotten, 2u);
  EXPECT_FALSE((*(*store)->AcceptedUpdate("site-a", "site-a/1000000001")).has_value());
  EXPECT_FALSE((*(*store)->AcceptedUpdate("site-a", "site-a/2000000001")).has_value());
  EXPECT_TRUE((*(*store)->AcceptedUpdate("site-a", "site-a/3000000001")).has_value());
  EXPECT_EQ(*(*store)->ForgetAcceptedBefore(3), 0u);
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, CorruptStoredUpdateIsReportedNotFolded) {
  std::string dir = TempDir();
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  std::vector<uint8_t> blob = {1, 2, 3};
  UpdateRecord u = Update(3, "site-a", blob);
  u.blob_digest_hex = shared::ToHex(shared::Sha256(std::vector<uint8_t>{9}));  // wrong
  OpenRound open;
  open.round = 3;
  ASSERT_TRUE((*store)->AcceptUpdate(u, blob, open).ok());
  shared::Status s = (*store)->ForEachUpdate(
      3, [](const UpdateRecord&, std::vector<uint8_t>) { return shared::Status::Ok(); });
  EXPECT_EQ(s.code(), shared::Code::kCorruption);
  EXPECT_NE(s.message().find("site-a"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, RevocationsAndTargetPersist) {
  std::string dir = TempDir();
  {
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*(*store)->TargetRound()).has_value());
    RevocationRecord r{"site-9", "ab12", "stolen", "admin", 42};
    ASSERT_TRUE((*store)->PutRevocation(r).ok());
    ASSERT_TRUE((*store)->PutTargetRound(30).ok());
  }
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  auto r = (*store)->GetRevocation("site-9");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->reason, "stolen");
  EXPECT_FALSE((*(*store)->GetRevocation("site-1")).has_value());
  EXPECT_EQ((*store)->ListRevocations()->size(), 1u);
  EXPECT_EQ(**(*store)->TargetRound(), 30u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fedge::coordinator
