// UpdateIngest with fakes: recording peers, a schedule of two sampled clients, a fake clock
// and a Store in a temp dir; no TLS, no LibTorch. The strand runs on the test thread
// (run_one_for); decoding and storing run on the ingest pool and post back to it.

#include "coordinator/update_ingest.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "tests/coordinator/fake_model.h"
#include "tests/coordinator/fake_peer.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using testing::FakeInitialModel;
using testing::FakePeer;
using testing::MakeUpdate;

constexpr uint64_t kNowMs = 1'700'000'000'000;

class UpdateIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    base_ = *FakeInitialModel("", 0);
    std::vector<uint8_t> blob = *shared::EncodeBundle(base_);
    base_digest_ = shared::Sha256(blob);
    blobs_.InstallModel(base_digest_, std::move(blob));
    settings_.min_fit = 2;
    settings_.timeout_seconds = 600;
    auto schedule = RoundSchedule::StartTraining(settings_, 1, 0, {"site-a", "site-b"}, {}, kNowMs);
    ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
    schedule_ = std::make_unique<RoundSchedule>(std::move(*schedule));
    ingest_ = MakeIngest();
    ingest_->Open(schedule_.get(), &base_, base_digest_);
  }

  std::unique_ptr<UpdateIngest> MakeIngest() {
    UpdateIngest::Hooks hooks;
    hooks.fold_weight = [](const std::string&, uint64_t, uint64_t examples) { return examples; };
    hooks.changed = [this] { ++changed_; };
    hooks.wake = [this] { ++woken_; };
    hooks.now_ms = [this] { return clock_ms_; };
    if (!caps_.empty()) {
      hooks.example_cap = [this](const std::string& id, uint64_t) { return caps_.at(id); };
    }
    auto ingest = std::make_unique<UpdateIngest>(
        strand_, store_.get(), &blobs_, hooks,
        std::make_shared<CoordinatorMetrics>(std::make_shared<shared::MetricsRegistry>()));
    ingest->set_max_update_norm(max_norm_);
    ingest->set_aggregation(aggregation_, /*seed=*/5);
    return ingest;
  }

  uint64_t Task(const std::string& id) { return schedule_->tasks().at(id); }

  // As after a restart: a fresh ingest with the schedule as stored folds the stored updates
  // again and finalises the round.
  shared::Result<shared::TensorBundle> ResumedFinalize() {
    RoundSchedule resumed = RoundSchedule::Resume(settings_, schedule_->ToOpenRound());
    std::unique_ptr<UpdateIngest> again = MakeIngest();
    again->Open(&resumed, &base_, base_digest_);
    FEDGE_RETURN_IF_ERROR(
        store_->ForEachUpdate(1, [&](const UpdateRecord& r, std::vector<uint8_t> blob) {
          return again->Refold(r, std::move(blob));
        }));
    return again->Finalize();
  }

  void RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      ASSERT_NE(io_.run_one_for(std::chrono::seconds(10)), 0u) << "the ingest went idle";
    }
  }

  fedge::testing::TempDir dir_{"update_ingest"};
  net::asio::io_context io_;
  // Keeps run_one_for waiting while an update is on the ingest pool.
  net::asio::executor_work_guard<net::asio::io_context::executor_type> work_ =
      net::asio::make_work_guard(io_);
  net::any_io_executor strand_ = net::asio::make_strand(io_);
  std::unique_ptr<Store> store_;
  BlobService blobs_;
  shared::TensorBundle base_;
  shared::Digest base_digest_{};
  RoundSettings settings_;
  std::unique_ptr<RoundSchedule> schedule_;
  uint64_t clock_ms_ = kNowMs + 5;
  std::map<std::string, uint64_t> caps_;  // example caps by client; empty: no cap hook
  double max_norm_ = 0;                   // [rounds] max_update_norm of the ingests made
  AggregationSettings aggregation_;       // [rounds] aggregation... of the ingests made
  int changed_ = 0;
  int woken_ = 0;
  std::unique_ptr<UpdateIngest> ingest_;
  std::shared_ptr<FakePeer> a_ = std::make_shared<FakePeer>("site-a");
  std::shared_ptr<FakePeer> b_ = std::make_shared<FakePeer>("site-b");
};

TEST_F(UpdateIngestTest, StoresBeforeAckAndFoldsExampleWeighted) {
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return a_->acks.size() == 1 && b_->acks.size() == 1; });
  EXPECT_EQ(a_->acks[0].kind, AckKind::kAccepted);
  auto stored = store_->AcceptedUpdate("site-a", "a-1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->examples, 10u);
  EXPECT_EQ((*stored)->received_ms, kNowMs + 5);  // the injected clock
  EXPECT_TRUE(schedule_->Answered());
  ASSERT_EQ(ingest_->contributions().size(), 2u);
  EXPECT_DOUBLE_EQ(ingest_->loss_sum(), 40.0);
  auto model = ingest_->Finalize();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (const shared::Tensor& t : model->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 3.0f) << t.name;  // 0.5 + (10 + 90) / 40
  }
}

// Issue 16 item 4: with rounds.max_client_share = 0.5 the site claiming 30 examples weighs as
// much as the one with 10, not three times as much; the model is refolded from the store.
TEST_F(UpdateIngestTest, AShareCapRefoldsWithTheCappedWeights) {
  ingest_->set_max_share_ppm(500000);
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return a_->acks.size() == 1 && b_->acks.size() == 1; });
  auto model = ingest_->Finalize();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (const shared::Tensor& t : model->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 2.5f) << t.name;  // 0.5 + (10 + 30) / 20
  }
  EXPECT_EQ(ingest_->capped_clients(), std::vector<std::string>{"site-b"});
}

// Issue 16 deliver 3: a claim above the site's registered examples x epochs counts as the cap,
// and the stored record holds the capped count (a resumed round folds the same weights); a site
// that registered no examples has no weight at all.
TEST_F(UpdateIngestTest, ExampleCountsAreCappedByWhatTheSiteRegistered) {
  caps_ = {{"site-a", 10}, {"site-b", 0}};
  ingest_ = MakeIngest();
  ingest_->Open(schedule_.get(), &base_, base_digest_);
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 1'000'000, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return a_->acks.size() == 1; });
  ASSERT_EQ(b_->errors.size(), 1u);
  EXPECT_EQ(b_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_NE(b_->errors[0].status.message().find("registered no training examples"),
            std::string::npos);
  auto stored = store_->AcceptedUpdate("site-a", "a-1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->examples, 10u);
  ASSERT_EQ(ingest_->contributions().size(), 1u);
  EXPECT_EQ(ingest_->contributions()[0].examples, 10u);
}

TEST_F(UpdateIngestTest, ResendIsAckedAsDuplicateAndNotFoldedAgain) {
  const UpdateIn u = MakeUpdate(Task("site-a"), "a-1", 10, 1.0f);
  ingest_->Submit(a_, u);
  RunUntil([&] { return a_->acks.size() == 1; });
  ingest_->Submit(a_, u);
  RunUntil([&] { return a_->acks.size() == 2; });
  EXPECT_EQ(a_->acks[1].kind, AckKind::kDuplicate);
  ingest_->OfferUpload(a_, {u.task_id, 1, "a-1", u.digest, u.blob.size(), 0});
  ASSERT_EQ(a_->acks.size(), 3u);  // answered on the spot, no BlobRequest
  EXPECT_EQ(a_->acks[2].kind, AckKind::kDuplicate);
  EXPECT_TRUE(a_->blob_requests.empty());
  EXPECT_EQ(ingest_->duplicates_ignored(), 2u);
  EXPECT_EQ(ingest_->contributions().size(), 1u);
}

// Issue 16 item 5: site A sends its own update under the id site B will use; B's update is
// still accepted and folded, not acknowledged as a duplicate and dropped.
TEST_F(UpdateIngestTest, AnotherSitesIdempotencyIdDoesNotEraseItsUpdate) {
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "b-1", 10, 1.0f));
  RunUntil([&] { return a_->acks.size() == 1; });
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return b_->acks.size() == 1; });
  EXPECT_EQ(b_->acks[0].kind, AckKind::kAccepted);
  EXPECT_EQ(ingest_->duplicates_ignored(), 0u);
  ASSERT_EQ(ingest_->contributions().size(), 2u);
  auto a = store_->AcceptedUpdate("site-a", "b-1");
  auto b = store_->AcceptedUpdate("site-b", "b-1");
  ASSERT_TRUE(a.ok() && a->has_value() && b.ok() && b->has_value());
  EXPECT_EQ((*a)->examples, 10u);
  EXPECT_EQ((*b)->examples, 30u);
}

TEST_F(UpdateIngestTest, UpdateForAnotherClientsTaskIsRejected) {
  ingest_->Submit(a_, MakeUpdate(Task("site-b"), "a-stolen", 10, 1.0f));
  ASSERT_EQ(a_->errors.size(), 1u);  // checked on the strand, before any decoding
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::Update);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(ingest_->updates_rejected(), 1u);
  EXPECT_TRUE(ingest_->contributions().empty());
  auto stored = store_->AcceptedUpdate("site-a", "a-stolen");
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->has_value());
}

TEST_F(UpdateIngestTest, ExampleCountOutOfRangeIsRejectedAndAnswersTheTask) {
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-0", 0, 1.0f));
  ASSERT_EQ(a_->errors.size(), 1u);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(schedule_->rejected(), 1);
  EXPECT_FALSE(schedule_->PendingTask("site-a").has_value());
}

TEST_F(UpdateIngestTest, UndecodableBlobIsRejectedAfterDecoding) {
  UpdateIn u = MakeUpdate(Task("site-a"), "a-1", 10, 1.0f);
  u.blob = {1, 2, 3, 4};
  u.digest = shared::Sha256(u.blob);
  ingest_->Submit(a_, std::move(u));
  EXPECT_FALSE(schedule_->Drained());  // being decoded on the pool
  RunUntil([&] { return !a_->errors.empty(); });
  EXPECT_TRUE(schedule_->Drained());
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::Update);
  EXPECT_TRUE(a_->acks.empty());
  EXPECT_TRUE(ingest_->contributions().empty());
}

TEST_F(UpdateIngestTest, UploadIntentLargerThanTheLimitIsRefused) {
  UpdateIn u = MakeUpdate(Task("site-a"), "a-1", 10, 1.0f);
  ingest_->OfferUpload(a_, {u.task_id, 1, "a-1", u.digest, blobs_.max_update_bytes() + 1, 0});
  ASSERT_EQ(a_->errors.size(), 1u);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kResourceExhausted);
  ingest_->OfferUpload(a_, {u.task_id, 1, "a-1", u.digest, u.blob.size(), 7});
  ASSERT_EQ(a_->blob_requests.size(), 1u);
  EXPECT_EQ(a_->blob_requests[0].kind, wire::BlobKind::Update);
  EXPECT_EQ(a_->blob_requests[0].offset, 7u);
}

TEST_F(UpdateIngestTest, NoOpenRoundRefusesUpdates) {
  ingest_->Close();
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ASSERT_EQ(a_->errors.size(), 1u);
  EXPECT_NE(a_->errors[0].status.message().find("open round: none"), std::string::npos);
}

// Issue 16 deliver 3: with a norm bound, an update that moves the model far is scaled down to
// the bound before it is folded, and a resumed round folds it to the same bytes.
TEST_F(UpdateIngestTest, TheNormBoundScalesDownALargeUpdateTheSameWayAfterAResume) {
  max_norm_ = std::sqrt(8.0);  // the fake model has 8 values: a change of 1 each is at the bound
  ingest_ = MakeIngest();
  ingest_->Open(schedule_.get(), &base_, base_digest_);
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 300.0f));
  RunUntil([&] { return a_->acks.size() == 1 && b_->acks.size() == 1; });
  auto first = ingest_->Finalize();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  for (const shared::Tensor& t : first->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 1.5f) << t.name;  // 0.5 + (10 + 30) / 40
  }
  auto second = ResumedFinalize();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*shared::EncodeBundle(*second), *shared::EncodeBundle(*first));
}

// Issue 17: a robust strategy reads the round's updates back from the store and aggregates them
// all at once (the median of two is their unweighted mean, not FedAvg's 3.0), and a resumed
// round gives the same bytes.
TEST_F(UpdateIngestTest, ARobustStrategyAggregatesTheStoredUpdatesTheSameAfterAResume) {
  aggregation_.method = AggregationMethod::kMedian;
  ingest_ = MakeIngest();
  ingest_->Open(schedule_.get(), &base_, base_digest_);
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return a_->acks.size() == 1 && b_->acks.size() == 1; });
  auto first = ingest_->Finalize();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  for (const shared::Tensor& t : first->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 2.5f) << t.name;  // 0.5 + (1 + 3) / 2
  }
  auto second = ResumedFinalize();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*shared::EncodeBundle(*second), *shared::EncodeBundle(*first));
}

TEST_F(UpdateIngestTest, RefoldOfStoredUpdatesGivesTheSameAggregate) {
  ingest_->Submit(a_, MakeUpdate(Task("site-a"), "a-1", 10, 1.0f));
  ingest_->Submit(b_, MakeUpdate(Task("site-b"), "b-1", 30, 3.0f));
  RunUntil([&] { return a_->acks.size() == 1 && b_->acks.size() == 1; });
  auto first = ingest_->Finalize();
  ASSERT_TRUE(first.ok());

  // A restart: a fresh ingest and the schedule as stored; the stored updates folded again.
  RoundSchedule resumed = RoundSchedule::Resume(settings_, schedule_->ToOpenRound());
  std::unique_ptr<UpdateIngest> again = MakeIngest();
  again->Open(&resumed, &base_, base_digest_);
  const std::function<shared::Status(const UpdateRecord&, std::vector<uint8_t>)> refold =
      [&](const UpdateRecord& r, std::vector<uint8_t> blob) {
        return again->Refold(r, std::move(blob));
      };
  ASSERT_TRUE(store_->ForEachUpdate(1, refold).ok());
  EXPECT_EQ(again->contributions().size(), 2u);
  EXPECT_TRUE(resumed.IsAccepted("site-a", "a-1"));
  auto second = again->Finalize();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*shared::EncodeBundle(*second), *shared::EncodeBundle(*first));
}

}  // namespace
}  // namespace fedge::coordinator
