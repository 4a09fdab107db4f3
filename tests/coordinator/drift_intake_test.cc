// DriftIntake with recording peers, a Store in a temp dir and a fixed clock; no Asio.

#include "coordinator/drift_intake.h"

#include <gtest/gtest.h>

#include "shared/drift/drift_wire.h"
#include "tests/coordinator/fake_peer.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using testing::FakePeer;

constexpr uint64_t kNowMs = 1'700'000'000'000;

std::shared_ptr<CoordinatorMetrics> Metrics() {
  return std::make_shared<CoordinatorMetrics>(std::make_shared<shared::MetricsRegistry>());
}

class DriftIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    intake_ = std::make_unique<DriftIntake>(DriftSettings{}, store_.get(), Metrics());
    ASSERT_TRUE(intake_->Init().ok());
  }

  // An evaluation of version 7 by site-a with a one-frame drift profile (or none).
  void Evaluate(bool with_profile) {
    auto schedule = RoundSchedule::StartTraining(RoundSettings{}, 3, 0, {"site-a"}, {}, kNowMs);
    ASSERT_TRUE(schedule.ok());
    schedule->EndTraining();
    schedule->StartEvaluation();
    EvalIn e;
    e.task_id = schedule->AddEvalTask("site-a");
    e.round = 3;
    e.model_version = 7;
    e.examples = 1;
    e.num_classes = 1;
    e.confusion = {1};
    if (with_profile) {
      drift::FrameObservation frame;
      frame.brightness = 0.25;
      e.profile.emplace();
      e.profile->Add(frame, 0);
    }
    merge_.Start(7);
    ASSERT_TRUE(merge_.OnReport(*a_, e, *schedule, /*registered=*/1000));
  }

  fedge::testing::TempDir dir_{"drift_intake"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<DriftIntake> intake_;
  EvaluationMerge merge_;
  std::shared_ptr<FakePeer> a_ = std::make_shared<FakePeer>("site-a");
  std::shared_ptr<FakePeer> b_ = std::make_shared<FakePeer>("site-b");
};

TEST_F(DriftIntakeTest, GarbageReportIsRefusedWithItsSubjectAndNotCounted) {
  auto raised = intake_->OnReport(*a_, DriftReportIn{}, 1, 0, {"site-a"}, kNowMs);
  EXPECT_FALSE(raised.ok());
  ASSERT_EQ(a_->errors.size(), 1u);
  EXPECT_EQ(a_->errors[0].subject, wire::ErrorSubject::DriftReport);
  EXPECT_EQ(a_->errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(intake_->reports(), 0u);
  EXPECT_TRUE(intake_->policy().clients().empty());
}

TEST_F(DriftIntakeTest, PublishedProfileIsStoredSentAndRestoredAfterARestart) {
  Evaluate(/*with_profile=*/true);
  const std::map<std::string, std::shared_ptr<Peer>> peers = {{"site-a", a_}, {"site-b", b_}};
  intake_->PublishProfile(merge_, peers);
  ASSERT_EQ(b_->profiles.size(), 1u);
  EXPECT_EQ(b_->profiles[0].model_version, 7u);
  EXPECT_EQ(b_->profiles[0].clients, 1u);
  EXPECT_EQ(a_->profiles.size(), 1u);
  ASSERT_TRUE(intake_->profile().has_value());

  DriftIntake restarted(DriftSettings{}, store_.get(), Metrics());
  ASSERT_TRUE(restarted.Init().ok());
  restarted.RestoreProfile(7, store_->ReferenceProfile(7));
  ASSERT_TRUE(restarted.profile().has_value());
  EXPECT_EQ(restarted.profile()->model_version, 7u);
  EXPECT_EQ(restarted.profile()->clients, 0u);  // loaded at start
  EXPECT_EQ(restarted.profile()->summary.frames, 1u);
}

TEST_F(DriftIntakeTest, EvaluationWithoutProfilesPublishesNothing) {
  Evaluate(/*with_profile=*/false);
  const std::map<std::string, std::shared_ptr<Peer>> peers = {{"site-a", a_}};
  intake_->PublishProfile(merge_, peers);
  EXPECT_TRUE(a_->profiles.empty());
  EXPECT_FALSE(intake_->profile().has_value());
  auto stored = store_->ReferenceProfile(7);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->has_value());
  intake_->RestoreProfile(7, stored);
  EXPECT_FALSE(intake_->profile().has_value());
}

TEST_F(DriftIntakeTest, FoldWeightIsTheExampleCountWithoutACampaign) {
  EXPECT_EQ(intake_->FoldWeight("site-a", 1, 42), 42u);
}

}  // namespace
}  // namespace fedge::coordinator
