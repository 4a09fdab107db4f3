// RoundEngine with fakes: recording peers, a fake initial model and a registry in a temp dir;
// no TLS, no LibTorch. The engine's executor runs on the test thread (run_one_for), so every
// step is driven, never waited for with sleeps.

#include "coordinator/round_engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "shared/codec/bundle_codec.h"
#include "tests/coordinator/fake_model.h"
#include "tests/coordinator/fake_peer.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using testing::FakePeer;

using testing::FakeInitialModel;
using testing::MakeUpdate;

constexpr uint64_t kRegistered = 100;  // training examples each site registers in its Hello

class RoundEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    CoordinatorConfig config;
    config.data_dir = dir_.path() + "/data";
    config.rounds.count = 1;
    config.rounds.min_clients = 2;
    config.rounds.min_fit = 2;
    config.rounds.timeout_seconds = 600;
    config.rounds.evaluate = false;
    epochs_ = static_cast<uint64_t>(config.rounds.training.local_epochs);
    engine_ = std::make_unique<RoundEngine>(net::asio::make_strand(io_), store_.get(), config,
                                            nullptr, FakeInitialModel);
    ASSERT_TRUE(engine_->Init().ok());
    engine_->set_round_callback([this](const RoundSummary& s) { summaries_.push_back(s); });
    for (auto* peer : {&a_, &b_}) {
      ClientHello hello;
      hello.train_examples = kRegistered;
      engine_->Connected(*peer, hello);
    }
    net::asio::co_spawn(engine_->executor(), engine_->Run(/*exit_when_done=*/true),
                        [this](std::exception_ptr) { run_returned_ = true; });
  }

  void TearDown() override {
    engine_->Stop();
    RunUntil([&] { return run_returned_; });
  }

  // Runs the engine's handlers until `done` holds; fails if nothing happens for 10 s.
  void RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      ASSERT_NE(io_.run_one_for(std::chrono::seconds(10)), 0u) << "the engine went idle";
    }
  }

  fedge::testing::TempDir dir_{"round_engine"};
  net::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RoundEngine> engine_;
  std::shared_ptr<FakePeer> a_ = std::make_shared<FakePeer>("site-a");
  std::shared_ptr<FakePeer> b_ = std::make_shared<FakePeer>("site-b");
  std::vector<RoundSummary> summaries_;
  uint64_t epochs_ = 0;  // the rounds' local epochs
  bool run_returned_ = false;
};

// Issue 16 deliver 3: a site cannot outweigh the others by claiming more examples than it
// registered: its claim counts as registered x epochs, in the fold and in the registry.
TEST_F(RoundEngineTest, AClaimAboveTheRegistrationCountsAsTheRegistration) {
  RunUntil([&] { return !a_->offers.empty() && !b_->offers.empty(); });
  engine_->SubmitUpdate(a_, MakeUpdate(a_->offers[0].task_id, "a-1", 1'000'000, 1.0f));
  const uint64_t cap = kRegistered * epochs_;
  engine_->SubmitUpdate(b_, MakeUpdate(b_->offers[0].task_id, "b-1", cap, 3.0f));
  RunUntil([&] { return run_returned_; });
  ASSERT_EQ(summaries_.size(), 1u);
  auto record = store_->GetModel(2);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->total_examples, 2 * cap);
  auto model = shared::DecodeBundle(*store_->GetBlob(*shared::DigestFromHex(record->digest_hex)));
  ASSERT_TRUE(model.ok());
  for (const shared::Tensor& t : model->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 2.5f) << t.name;  // 0.5 + (1 + 3) / 2
  }
}

TEST_F(RoundEngineTest, RoundCompletesWithDuplicateAckedAndNotFoldedTwice) {
  RunUntil([&] { return !a_->offers.empty() && !b_->offers.empty(); });
  const TaskOfferOut offer_a = a_->offers[0];
  EXPECT_TRUE(offer_a.train);
  EXPECT_EQ(offer_a.round, 1u);
  EXPECT_EQ(offer_a.model_version, 1u);

  UpdateIn ua = MakeUpdate(offer_a.task_id, "a-1", 10, 1.0f);
  engine_->OfferUpload(a_, {offer_a.task_id, 1, "a-1", ua.digest, ua.blob.size(), 0});
  RunUntil([&] { return !a_->blob_requests.empty(); });
  EXPECT_EQ(a_->blob_requests[0].kind, wire::BlobKind::Update);
  EXPECT_EQ(a_->blob_requests[0].digest, ua.digest);

  engine_->SubmitUpdate(a_, ua);
  RunUntil([&] { return a_->acks.size() == 1; });
  EXPECT_EQ(a_->acks[0].kind, AckKind::kAccepted);
  engine_->SubmitUpdate(a_, ua);  // a resend
  RunUntil([&] { return a_->acks.size() == 2; });
  EXPECT_EQ(a_->acks[1].kind, AckKind::kDuplicate);
  EXPECT_EQ(engine_->Snapshot()["duplicates_ignored"], 1);

  engine_->SubmitUpdate(b_, MakeUpdate(b_->offers[0].task_id, "b-1", 30, 3.0f));
  RunUntil([&] { return run_returned_; });

  ASSERT_EQ(summaries_.size(), 1u);
  EXPECT_EQ(summaries_[0].updates, 2);
  EXPECT_EQ(summaries_[0].model_version, 2u);
  auto head = store_->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**head, 2u);
  auto record = store_->GetModel(2);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->total_examples, 40u);
  auto digest = shared::DigestFromHex(record->digest_hex);
  auto model = shared::DecodeBundle(*store_->GetBlob(*digest));
  ASSERT_TRUE(model.ok());
  // (10 * 1 + 30 * 3) / 40 = 2.5 added to 0.5; folding the duplicate again would give 2.7.
  for (const shared::Tensor& t : model->tensors) {
    for (float v : t.data) EXPECT_FLOAT_EQ(v, 3.0f) << t.name;
  }
}

TEST_F(RoundEngineTest, StatusIsTypedAndItsJsonIsTheSnapshot) {
  RunUntil([&] { return !a_->offers.empty() && !b_->offers.empty(); });
  const EngineStatus status = engine_->status();
  EXPECT_EQ(status.model_version, 1u);
  EXPECT_EQ(status.target_round, 1u);
  EXPECT_EQ(status.connected, (std::vector<std::string>{"site-a", "site-b"}));
  ASSERT_TRUE(status.open_round.has_value());
  EXPECT_EQ(status.open_round->round, 1u);
  EXPECT_TRUE(status.open_round->training);
  EXPECT_EQ(status.open_round->sampled, 2u);
  EXPECT_EQ(status.open_round->pending, (std::vector<std::string>{"site-a", "site-b"}));
  EXPECT_EQ(engine_->Snapshot(), ToJson(status));
  EXPECT_EQ(engine_->Snapshot()["open_round"]["phase"], "train");
}

TEST_F(RoundEngineTest, EvaluationReportWithoutAnOpenEvaluationIsRefused) {
  RunUntil([&] { return !a_->offers.empty(); });
  EvalIn e;
  e.task_id = a_->offers[0].task_id;  // a training task
  e.round = 1;
  e.model_version = 1;
  engine_->SubmitEval(a_, e);
  RunUntil([&] { return !a_->errors.empty(); });
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::Evaluation);
  EXPECT_TRUE(a_->acks.empty());
}

TEST_F(RoundEngineTest, GarbageDriftReportIsRefusedWithItsSubject) {
  RunUntil([&] { return !a_->offers.empty(); });
  engine_->SubmitDriftReport(a_, DriftReportIn{});  // model version 0, no frames
  RunUntil([&] { return !a_->errors.empty(); });
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::DriftReport);
  EXPECT_EQ(a_->errors[0].task_id, 0u);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(engine_->drift_reports(), 0u);
}

TEST_F(RoundEngineTest, UpdateForATaskNotOfferedIsRefused) {
  RunUntil([&] { return !a_->offers.empty() && !b_->offers.empty(); });
  engine_->SubmitUpdate(a_, MakeUpdate(b_->offers[0].task_id, "a-stolen", 10, 1.0f));
  RunUntil([&] { return !a_->errors.empty(); });
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::Update);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_TRUE(a_->acks.empty());
}

}  // namespace
}  // namespace fedge::coordinator
