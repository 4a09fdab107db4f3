// PruneIntoNewHead on a Store in a temp dir with a cnn_small state made from its layout (plain
// C++ pruning: no LibTorch) and a fixed clock.

#include "coordinator/prune_head.h"

#include <gtest/gtest.h>

#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/arch.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

class PruneHeadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto info = ml::ParseArch("cnn_small");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    shared::TensorBundle state;
    int i = 0;
    for (const auto& [name, shape] : ml::ChainStateLayout(*info)) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<float> data(static_cast<size_t>(n));
      for (float& v : data) v = static_cast<float>((i++ % 17) - 8) * 0.01f;
      state.tensors.push_back({name, shape, std::move(data)});
    }
    parameters_ = state.NumElements();
    std::vector<uint8_t> blob = *shared::EncodeBundle(state);
    head_.version = 1;
    head_.round = 4;
    head_.arch = "cnn_small";
    head_.digest_hex = shared::ToHex(shared::Sha256(blob));
    head_.size_bytes = blob.size();
    head_.origin = "initial";
    ASSERT_TRUE(store_->PutModel(head_, blob, /*make_head=*/true).ok());
  }

  fedge::testing::TempDir dir_{"prune_head"};
  std::unique_ptr<Store> store_;
  ModelRecord head_;
  int64_t parameters_ = 0;
};

TEST_F(PruneHeadTest, PrunedVersionIsStoredAsTheNewHead) {
  auto pruned = PruneIntoNewHead(*store_, {1, 0.5, true}, head_, /*now_ms=*/77);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  const ModelRecord& r = pruned->record;
  EXPECT_EQ(r.version, 2u);
  EXPECT_EQ(r.parent, 1u);
  EXPECT_EQ(r.round, 4u);
  EXPECT_EQ(r.origin, "prune");
  EXPECT_EQ(r.created_ms, 77u);
  EXPECT_NE(r.arch, "cnn_small");
  EXPECT_EQ(pruned->parameters_before, parameters_);
  EXPECT_LT(pruned->state.NumElements(), parameters_);
  EXPECT_EQ(r.metrics["prune"]["from"], 1);
  EXPECT_EQ(r.metrics["prune"]["fine_tune_rounds"], 0);
  auto head = store_->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**head, 2u);
  auto blob = store_->GetBlob(*shared::DigestFromHex(r.digest_hex));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, pruned->blob);
}

TEST_F(PruneHeadTest, FractionOutsideTheOpenIntervalIsRefusedAndNothingStored) {
  for (double fraction : {0.0, 1.0, -0.5}) {
    auto pruned = PruneIntoNewHead(*store_, {1, fraction, true}, head_, 77);
    ASSERT_FALSE(pruned.ok());
    EXPECT_EQ(pruned.status().code(), shared::Code::kInvalidArgument);
  }
  EXPECT_EQ(**store_->Head(), 1u);
}

TEST_F(PruneHeadTest, UnknownVersionIsNotFound) {
  auto pruned = PruneIntoNewHead(*store_, {9, 0.5, true}, head_, 77);
  ASSERT_FALSE(pruned.ok());
  EXPECT_EQ(pruned.status().code(), shared::Code::kNotFound);
  EXPECT_NE(pruned.status().message().find("prune model version 9"), std::string::npos);
}

TEST_F(PruneHeadTest, VersionWhoseBlobWasRemovedIsNotFound) {
  ModelRecord deleted = head_;
  deleted.blob_deleted = true;
  ASSERT_TRUE(store_->PutModelRecord(deleted).ok());
  auto pruned = PruneIntoNewHead(*store_, {1, 0.5, true}, head_, 77);
  ASSERT_FALSE(pruned.ok());
  EXPECT_EQ(pruned.status().code(), shared::Code::kNotFound);
}

}  // namespace
}  // namespace fedge::coordinator
