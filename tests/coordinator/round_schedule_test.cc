// RoundSchedule with time passed in (a fake clock): sampling, quorum, deadline, stragglers,
// attempts, resume from the stored open round and duplicate idempotency ids.

#include "coordinator/round_schedule.h"

#include <gtest/gtest.h>

#include <set>

namespace fedge::coordinator {
namespace {

constexpr uint64_t kStart = 1'700'000'000'000;  // unix ms: the fake clock's start

std::vector<std::string> Clients(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("site-" + std::to_string(10 + i));  // sorted
  return ids;
}

RoundSettings Settings(int min_fit, double fraction_fit = 1.0) {
  RoundSettings s;
  s.min_fit = min_fit;
  s.fraction_fit = fraction_fit;
  s.timeout_seconds = 60;
  s.seed = 7;
  return s;
}

TEST(SampleClientsTest, SameInputsSameSampleAndPinnedOrder) {
  const RoundSettings s = Settings(2, 0.5);
  const std::vector<std::string> a = SampleClients(s, 3, 0, Clients(10), {});
  EXPECT_EQ(a, SampleClients(s, 3, 0, Clients(10), {}));
  // Pinned: the sample main's RoundEngine drew before this code moved here (a change here
  // changes which clients train, so every model).
  EXPECT_EQ(a, (std::vector<std::string>{"site-14", "site-13", "site-10", "site-19", "site-16"}));
  EXPECT_NE(a, SampleClients(s, 3, 1, Clients(10), {}));  // another attempt, another sample
}

TEST(SampleClientsTest, FavouredFirstAndAtLeastMinFit) {
  const std::vector<std::string> a =
      SampleClients(Settings(3, 0.1), 1, 0, Clients(10), {"site-15", "site-11", "gone"});
  ASSERT_EQ(a.size(), 3u);  // max(ceil(0.1 * 10), 2 favoured, min_fit 3)
  EXPECT_EQ(std::set<std::string>(a.begin(), a.begin() + 2),
            (std::set<std::string>{"site-11", "site-15"}));
}

TEST(RoundScheduleTest, FewerConnectedThanMinFitDoesNotStart) {
  auto s = RoundSchedule::StartTraining(Settings(3), 1, 0, Clients(2), {}, kStart);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), shared::Code::kUnavailable);
}

TEST(RoundScheduleTest, QuorumReachedCompletesAndStragglerIsRefused) {
  auto s = RoundSchedule::StartTraining(Settings(2), 1, 0, Clients(3), {}, kStart);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->pending().size(), 3u);
  EXPECT_EQ(s->MsLeft(kStart + 1000), 59'000u);
  auto it = s->tasks().begin();
  const auto [first, first_task] = *it++;
  const auto [second, second_task] = *it++;
  const auto [late, late_task] = *it;
  ASSERT_TRUE(s->CheckTask(first, 1, first_task).ok());
  s->Accept(first, "u1");
  EXPECT_FALSE(s->CheckQuorum().ok());  // 1 of min_fit 2
  s->Accept(second, "u2");
  EXPECT_EQ(s->MsLeft(kStart + 61'000), 0u);  // the deadline passed with `late` pending
  EXPECT_TRUE(s->CheckQuorum().ok());
  EXPECT_FALSE(s->Answered());
  s->EndTraining();  // the round's model is made
  shared::Status straggler = s->CheckTask(late, 1, late_task);
  EXPECT_EQ(straggler.code(), shared::Code::kInvalidArgument) << straggler.ToString();
}

TEST(RoundScheduleTest, FailedAttemptIsRetriedWithNewTaskIds) {
  auto s = RoundSchedule::StartTraining(Settings(2), 4, 0, Clients(3), {}, kStart);
  ASSERT_TRUE(s.ok());
  s->Accept(s->tasks().begin()->first, "u1");
  ASSERT_EQ(s->MsLeft(kStart + 60'000), 0u);
  EXPECT_EQ(s->CheckQuorum().code(), shared::Code::kUnavailable);
  auto next = RoundSchedule::StartTraining(Settings(2), 4, s->attempt() + 1, Clients(3), {},
                                           kStart + 62'000);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->attempt(), 1u);
  std::set<uint64_t> old_ids;
  for (const auto& [id, task] : s->tasks()) old_ids.insert(task);
  for (const auto& [id, task] : next->tasks()) EXPECT_EQ(old_ids.count(task), 0u) << id;
  // An update for the failed attempt's task does not fit the new one.
  const auto& [id, old_task] = *s->tasks().begin();
  EXPECT_EQ(next->CheckTask(id, 4, old_task).code(), shared::Code::kInvalidArgument);
}

TEST(RoundScheduleTest, DuplicateIdempotencyIdIsRecognised) {
  auto s = RoundSchedule::StartTraining(Settings(1), 1, 0, Clients(2), {}, kStart);
  ASSERT_TRUE(s.ok());
  const auto [id, task] = *s->tasks().begin();
  EXPECT_FALSE(s->IsAccepted(id, "u1"));
  s->Accept(id, "u1");
  EXPECT_TRUE(s->IsAccepted(id, "u1"));
  // Ids are per client: another client's update under the same id is not a duplicate.
  EXPECT_FALSE(s->IsAccepted(id + "-other", "u1"));
  EXPECT_EQ(s->accepted(), 1u);
  EXPECT_EQ(s->CheckTask(id, 1, task).code(), shared::Code::kAlreadyExists);
}

TEST(RoundScheduleTest, RejectionAnswersTheTask) {
  auto s = RoundSchedule::StartTraining(Settings(1), 1, 0, Clients(2), {}, kStart);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Reject("site-10"));
  EXPECT_TRUE(s->Reject("site-11"));  // the last pending task
  EXPECT_EQ(s->rejected(), 2);
  EXPECT_TRUE(s->Answered());
}

TEST(RoundScheduleTest, ResumeContinuesTheDeadlineAndSkipsClientsThatAnswered) {
  auto s = RoundSchedule::StartTraining(Settings(2), 5, 2, Clients(3), {}, kStart);
  ASSERT_TRUE(s.ok());
  s->Reject("site-12");
  // Stored, then the coordinator restarts 20 s later.
  auto open = OpenRoundFromJson(ToJson(s->ToOpenRound()));
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  RoundSchedule resumed = RoundSchedule::Resume(Settings(2), *open);
  resumed.Accept("site-10", "stored-update");  // the engine folds the stored update again
  EXPECT_EQ(resumed.round(), 5u);
  EXPECT_EQ(resumed.attempt(), 2u);
  EXPECT_EQ(resumed.resumed(), 1);
  EXPECT_EQ(resumed.rejected(), 1);
  EXPECT_EQ(resumed.tasks(), s->tasks());
  EXPECT_EQ(resumed.MsLeft(kStart + 20'000), 40'000u);
  EXPECT_FALSE(resumed.PendingTask("site-10").has_value());  // answered: not asked again
  EXPECT_TRUE(resumed.PendingTask("site-11").has_value());
  EXPECT_TRUE(resumed.PendingTask("site-12").has_value());  // rejections were not stored
  EXPECT_TRUE(resumed.IsAccepted("site-10", "stored-update"));
}

TEST(RoundScheduleTest, AFailedTaskIsNoLongerAwaited) {
  auto s = RoundSchedule::StartTraining(Settings(1), 1, 0, Clients(2), {}, kStart);
  ASSERT_TRUE(s.ok());
  const auto [first, task] = *s->tasks().begin();
  EXPECT_FALSE(s->Fail(first, task + 1));  // not its task: ignored
  EXPECT_FALSE(s->Fail("stranger", task));
  EXPECT_EQ(s->pending().size(), 2u);
  EXPECT_TRUE(s->Fail(first, task));
  EXPECT_FALSE(s->PendingTask(first).has_value());
  EXPECT_EQ(s->rejected(), 1);
  EXPECT_FALSE(s->Fail(first, task));  // answered once
  const auto [second, task2] = *s->pending().begin();
  EXPECT_TRUE(s->Fail(second, task2));
  EXPECT_TRUE(s->Answered());  // the round need not wait for its deadline
  EXPECT_EQ(s->CheckQuorum().code(), shared::Code::kUnavailable);
}

TEST(RoundScheduleTest, EvaluationTasksAndDisconnects) {
  auto s = RoundSchedule::StartTraining(Settings(1), 2, 0, Clients(1), {}, kStart);
  ASSERT_TRUE(s.ok());
  s->Accept("site-10", "u");
  s->EndTraining();
  EXPECT_EQ(s->ToOpenRound().phase, RoundPhase::kEval);
  EXPECT_TRUE(s->ToOpenRound().tasks.empty());
  s->StartEvaluation();
  const uint64_t a = s->AddEvalTask("site-10");
  EXPECT_EQ(s->AddEvalTask("site-10"), a);  // a reconnect keeps its task
  const uint64_t b = s->AddEvalTask("site-11");
  EXPECT_NE(a, b);
  EXPECT_EQ(a, MakeTaskId(2, 0, /*train=*/false, 0));
  EXPECT_TRUE(s->Disconnected("site-11"));  // evaluation does not wait for it
  s->Answer("site-10");
  EXPECT_TRUE(s->Answered());
}

TEST(OpenRoundTest, IdleAndCorruptRecords) {
  OpenRound idle;
  idle.round = 3;
  idle.attempt = 2;
  idle.phase = RoundPhase::kIdle;
  auto back = OpenRoundFromJson(ToJson(idle));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->phase, RoundPhase::kIdle);
  EXPECT_EQ(back->attempt, 2u);
  EXPECT_EQ(OpenRoundFromJson({{"round", 1}}).status().code(), shared::Code::kCorruption);
  EXPECT_EQ(OpenRoundFromJson({{"round", 1}, {"attempt", 0}, {"phase", "dance"}}).status().code(),
            shared::Code::kCorruption);
}

}  // namespace
}  // namespace fedge::coordinator
