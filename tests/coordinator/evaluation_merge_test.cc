// EvaluationMerge with a recording peer and a schedule in its evaluation phase; no clock, no
// Asio, no store.

#include "coordinator/evaluation_merge.h"

#include <gtest/gtest.h>

#include "tests/coordinator/fake_peer.h"

namespace fedge::coordinator {
namespace {

using testing::FakePeer;

constexpr uint64_t kVersion = 4;
constexpr uint64_t kRegistered = 5000;  // examples each site registered in its Hello

class EvaluationMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RoundSettings settings;
    auto schedule = RoundSchedule::StartTraining(settings, 3, 0, {"site-a", "site-b"}, {}, 1000);
    ASSERT_TRUE(schedule.ok());
    schedule_ = std::make_unique<RoundSchedule>(std::move(*schedule));
    schedule_->EndTraining();
    schedule_->StartEvaluation();
    task_a_ = schedule_->AddEvalTask("site-a");
    task_b_ = schedule_->AddEvalTask("site-b");
    merge_.Start(kVersion);
  }

  // A 2-class report for `task` with `correct` of `examples` on the diagonal.
  EvalIn Report(uint64_t task, uint64_t correct, uint64_t examples) const {
    EvalIn e;
    e.task_id = task;
    e.round = 3;
    e.model_version = kVersion;
    e.examples = examples;
    e.loss = 0.5;
    e.num_classes = 2;
    e.confusion = {correct, examples - correct, 0, 0};
    return e;
  }

  std::unique_ptr<RoundSchedule> schedule_;
  uint64_t task_a_ = 0;
  uint64_t task_b_ = 0;
  EvaluationMerge merge_;
  FakePeer a_{"site-a"};
  FakePeer b_{"site-b"};
};

TEST_F(EvaluationMergeTest, EmptyMergeSummarisesAsNoClients) {
  EXPECT_TRUE(merge_.empty());
  EXPECT_EQ(merge_.Summary(), nlohmann::json({{"clients", 0}}));
}

// Issue 16 item 9: a site answering first with one class must not make every honest report
// "inconsistent" and decide the round's accuracy alone.
TEST_F(EvaluationMergeTest, TheModelsClassCountIsNotDecidedByTheFirstReport) {
  merge_.Start(kVersion, /*num_classes=*/2);
  EvalIn forged;
  forged.task_id = task_a_;
  forged.round = 3;
  forged.model_version = kVersion;
  forged.examples = 1000;
  forged.num_classes = 1;
  forged.confusion = {1000};
  EXPECT_TRUE(merge_.OnReport(a_, forged, *schedule_, kRegistered));  // answered, but refused
  ASSERT_EQ(a_.errors.size(), 1u);
  EXPECT_TRUE(merge_.empty());
  EXPECT_TRUE(merge_.OnReport(b_, Report(task_b_, 7, 10), *schedule_, kRegistered));
  ASSERT_EQ(b_.acks.size(), 1u);
  EXPECT_DOUBLE_EQ(merge_.Summary()["accuracy"].get<double>(), 0.7);
}

TEST_F(EvaluationMergeTest, MergesReportsIntoRoundMetrics) {
  EXPECT_TRUE(merge_.OnReport(a_, Report(task_a_, 8, 10), *schedule_, kRegistered));
  EXPECT_TRUE(merge_.OnReport(b_, Report(task_b_, 2, 10), *schedule_, kRegistered));
  ASSERT_EQ(a_.acks.size(), 1u);
  EXPECT_EQ(a_.acks[0].task_id, task_a_);
  EXPECT_TRUE(schedule_->Answered());
  const nlohmann::json s = merge_.Summary();
  EXPECT_EQ(s["clients"], 2);
  EXPECT_EQ(s["examples"], 20);
  EXPECT_DOUBLE_EQ(s["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(s["per_client"]["site-a"]["accuracy"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(s["per_client"]["site-b"]["accuracy"].get<double>(), 0.2);
  EXPECT_FALSE(s.contains("profile_clients"));
}

TEST_F(EvaluationMergeTest, InconsistentReportAnswersTheTaskButIsNotMerged) {
  EvalIn e = Report(task_a_, 8, 10);
  e.examples = 11;  // the confusion matrix counts 10
  EXPECT_TRUE(merge_.OnReport(a_, e, *schedule_, kRegistered));
  ASSERT_EQ(a_.errors.size(), 1u);
  EXPECT_EQ(a_.errors[0].subject, wire::ErrorSubject::Evaluation);
  EXPECT_FALSE(schedule_->PendingTask("site-a").has_value());
  EXPECT_TRUE(merge_.empty());
}

TEST_F(EvaluationMergeTest, ReportOfAnotherVersionOrTaskIsRefusedAndTheTaskStaysOpen) {
  EvalIn old = Report(task_a_, 8, 10);
  old.model_version = kVersion - 1;
  EXPECT_FALSE(merge_.OnReport(a_, old, *schedule_, kRegistered));
  EXPECT_FALSE(merge_.OnReport(a_, Report(task_b_, 8, 10), *schedule_, kRegistered));  // b's task
  ASSERT_EQ(a_.errors.size(), 2u);
  EXPECT_EQ(a_.errors[1].status.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(schedule_->PendingTask("site-a"), task_a_);
  EXPECT_TRUE(merge_.empty());
}

TEST_F(EvaluationMergeTest, ClassCountMustMatchEarlierReports) {
  EXPECT_TRUE(merge_.OnReport(a_, Report(task_a_, 8, 10), *schedule_, kRegistered));
  EvalIn three = Report(task_b_, 3, 3);
  three.num_classes = 3;
  three.confusion = {3, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(merge_.OnReport(b_, three, *schedule_, kRegistered));
  ASSERT_EQ(b_.errors.size(), 1u);
  EXPECT_EQ(merge_.Summary()["clients"], 1);
}

// Issue 16 deliver 3: an evaluation cannot count more examples than the site registered, so
// a site cannot outweigh the others in the round's accuracy by claiming a large held-out set.
TEST_F(EvaluationMergeTest, ReportOfMoreExamplesThanRegisteredIsRefused) {
  EXPECT_TRUE(merge_.OnReport(a_, Report(task_a_, 1000, 1000), *schedule_, /*registered=*/999));
  ASSERT_EQ(a_.errors.size(), 1u);
  EXPECT_EQ(a_.errors[0].status.code(), shared::Code::kInvalidArgument);
  EXPECT_NE(a_.errors[0].status.message().find("registered 999"), std::string::npos);
  EXPECT_TRUE(merge_.empty());
  EXPECT_TRUE(merge_.OnReport(b_, Report(task_b_, 3, 10), *schedule_, /*registered=*/10));
  EXPECT_DOUBLE_EQ(merge_.Summary()["accuracy"].get<double>(), 0.3);
}

TEST_F(EvaluationMergeTest, ProfilesAreMergedAndCounted) {
  EvalIn e = Report(task_a_, 8, 10);
  drift::Summary profile;
  drift::FrameObservation frame;
  frame.brightness = 0.5;
  profile.Add(frame, 0);
  e.profile = profile;
  EXPECT_TRUE(merge_.OnReport(a_, e, *schedule_, kRegistered));
  EXPECT_EQ(merge_.profile_clients(), 1);
  EXPECT_EQ(merge_.profile().frames, 1u);
  EXPECT_EQ(merge_.Summary()["profile_frames"], 1);
}

}  // namespace
}  // namespace fedge::coordinator
