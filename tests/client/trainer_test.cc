// The trainer (client/trainer.h) with a model in a temp-dir model cache, a tiny in-memory
// dataset and recording hooks: no coordinator, no TLS. Needs a model (LibTorch).
#include "client/trainer.h"

#include <gtest/gtest.h>

#include <numeric>

#include "shared/codec/bundle_codec.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;
using shared::Status;

// 40 grey 28x28 examples, labels 0..9; 30 to train on, 10 held out.
LocalData TinyData() {
  auto d = std::make_shared<ml::Dataset>();
  d->size = 40;
  d->channels = 1;
  d->height = d->width = 28;
  d->images.resize(40 * 784);
  for (size_t i = 0; i < d->images.size(); ++i) d->images[i] = static_cast<float>(i % 17) / 17;
  for (int i = 0; i < 40; ++i) d->labels.push_back(i % 10);
  LocalData out;
  out.dataset = d;
  out.train.resize(30);
  std::iota(out.train.begin(), out.train.end(), 0);
  out.eval.resize(10);
  std::iota(out.eval.begin(), out.eval.end(), 30);
  out.class_counts.assign(10, 3);
  return out;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cache = ModelCache::Open(dir_.path(), 1ull << 30);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_.emplace(std::move(*cache));
    auto store = SampleStore::Open(dir_.path() + "/store", {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto model = ml::Model::Create("cnn_small", 3);
    ASSERT_TRUE(model.ok());
    auto blob = shared::EncodeBundle(model->State(), wire::Codec::Fp32);
    ASSERT_TRUE(blob.ok());
    task_.digest = shared::Sha256(*blob);
    ASSERT_TRUE(cache_->Put(task_.digest, *blob).ok());
    task_.task_id = 5;
    task_.model_version = 4;
    task_.arch = "cnn_small";
    task_.deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
    config_.threads = 1;
    config_.drift.profile_frames = 10;
  }

  Trainer Make() {
    Trainer::Hooks h;
    h.still_wanted = [this](const TrainTask&) { return wanted_; };
    h.loaded = [this](const TrainTask& t, const shared::TensorBundle&) {
      calls_.push_back("loaded " + std::to_string(t.model_version));
      return Status::Ok();
    };
    h.profiled = [this](const TrainTask& t, const drift::Summary&) {
      calls_.push_back("profiled " + std::to_string(t.model_version));
      return Status::Ok();
    };
    h.client_id = [] { return std::string("site-1"); };
    return Trainer(config_, TinyData(), *cache_, *store_, std::move(h));
  }

  TempDir dir_{"trainer"};
  std::optional<ModelCache> cache_;
  std::unique_ptr<SampleStore> store_;
  ClientConfig config_;
  TrainTask task_;
  bool wanted_ = true;
  std::vector<std::string> calls_;
};

// Issue 16 item 9: a client skipped every task id below the newest it had seen, so after the
// coordinator's registry was restored from a backup it refused all tasks until restarted.
TEST(TaskRecencyTest, TheLatestOfferIsCurrentWhateverItsId) {
  TaskRecency recency;
  recency.Offered(/*train=*/true, 2005000000);
  EXPECT_TRUE(recency.Current(true, 2005000000));
  recency.Offered(true, 1002000000);  // a restored coordinator counts from lower ids
  EXPECT_TRUE(recency.Current(true, 1002000000));
  EXPECT_FALSE(recency.Current(true, 2005000000));   // superseded, though its id is higher
  EXPECT_FALSE(recency.Current(false, 1002000000));  // evaluation tasks are apart
  recency.Offered(false, 7);
  EXPECT_TRUE(recency.Current(false, 7));
  EXPECT_TRUE(recency.Current(true, 1002000000));
}

TEST_F(TrainerTest, ATaskNoLongerWantedIsSkippedBeforeTheModelIsLoaded) {
  wanted_ = false;
  Trainer trainer = Make();
  EXPECT_EQ(trainer.Run(task_).code(), shared::Code::kDeadlineExceeded);
  EXPECT_TRUE(calls_.empty());
}

TEST_F(TrainerTest, EvaluationReportsTheHeldOutDataAndItsDriftProfile) {
  task_.train = false;
  Trainer trainer = Make();
  ASSERT_TRUE(trainer.Run(task_).ok());
  EXPECT_EQ(calls_, (std::vector<std::string>{"loaded 4", "profiled 4"}));
  EXPECT_EQ(task_.evaluated.examples, 10);
  ASSERT_TRUE(task_.profile.has_value());
  EXPECT_TRUE(task_.update_blob.empty());
}

TEST_F(TrainerTest, TopKTrainingKeepsTheResidualForTheNextRun) {
  task_.codec = wire::Codec::TopKInt8;
  task_.topk_fraction = 0.1f;
  task_.options.epochs = 1;
  task_.options.batch_size = 10;
  task_.options.learning_rate = 0.05f;
  Trainer trainer = Make();
  ASSERT_TRUE(trainer.Run(task_).ok());
  EXPECT_EQ(task_.trained.examples, 30);
  EXPECT_FALSE(task_.update_blob.empty());
  auto residual = store_->GetState("topk_residual");
  ASSERT_TRUE(residual.ok() && residual->has_value());
  EXPECT_TRUE(shared::DecodeBundle(**residual).ok());
  DataCounts counts = trainer.Counts();
  EXPECT_EQ(counts.train, 30u);
  EXPECT_EQ(counts.eval, 10u);
}

// A TaskOffer as the coordinator sends it, with out-of-range training parameters.
std::vector<uint8_t> Offer(bool with_params) {
  flatbuffers::FlatBufferBuilder fbb(256);
  std::vector<uint8_t> digest(32, 7);
  auto d = fbb.CreateVector(digest);
  auto arch = fbb.CreateString("cnn_color");
  flatbuffers::Offset<wire::TrainParams> params = 0;
  if (with_params) {
    auto augment = wire::CreateAugment(fbb, true, 1u << 30, 0.2f);
    params = wire::CreateTrainParams(fbb, /*epochs=*/0, /*batch_size=*/1u << 30, 0.01f, 0.9f,
                                     /*seed=*/42, augment, /*focus_since_ms=*/1234,
                                     /*focus_fraction=*/3.0f);
  }
  fbb.Finish(wire::CreateTaskOffer(fbb, 11, 3, wire::TaskKind::Train, 6, d, 999, arch, params, 2500,
                                   wire::Codec::TopKInt8, 0.05f));
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

TEST(TaskFromOfferTest, BoundsTheOffersTrainingParameters) {
  const std::vector<uint8_t> bytes = Offer(true);
  const auto now = std::chrono::steady_clock::now();
  auto task = TaskFromOffer(*flatbuffers::GetRoot<wire::TaskOffer>(bytes.data()), now);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ(task->task_id, 11u);
  EXPECT_EQ(task->round, 3u);
  EXPECT_TRUE(task->train);
  EXPECT_EQ(task->model_version, 6u);
  EXPECT_EQ(task->digest[0], 7);
  EXPECT_EQ(task->arch, "cnn_color");
  EXPECT_EQ(task->deadline, now + std::chrono::milliseconds(2500));
  EXPECT_EQ(task->codec, wire::Codec::TopKInt8);
  EXPECT_EQ(task->options.epochs, 1);
  EXPECT_EQ(task->options.batch_size, 65536);
  EXPECT_EQ(task->options.seed, 42u);
  EXPECT_FLOAT_EQ(task->focus_fraction, 0.95f);
  EXPECT_EQ(task->focus_since_ms, 1234u);
  EXPECT_TRUE(task->options.augment.hflip);
  EXPECT_EQ(task->options.augment.crop_pad, 1 << 16);
  EXPECT_FLOAT_EQ(task->options.augment.brightness, 0.2f);
}

TEST(TaskFromOfferTest, WithoutTrainingParametersKeepsTheDefaults) {
  const std::vector<uint8_t> bytes = Offer(false);
  auto task = TaskFromOffer(*flatbuffers::GetRoot<wire::TaskOffer>(bytes.data()),
                            std::chrono::steady_clock::now());
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  const ml::TrainOptions defaults;
  EXPECT_EQ(task->options.epochs, defaults.epochs);
  EXPECT_EQ(task->options.batch_size, defaults.batch_size);
  EXPECT_FLOAT_EQ(task->focus_fraction, 0);
}

}  // namespace
}  // namespace fedge::client
