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

}  // namespace
}  // namespace fedge::coordinator
