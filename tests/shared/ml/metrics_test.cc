#include "shared/ml/data/metrics.h"

#include <gtest/gtest.h>

namespace fedge::ml {
namespace {

TEST(MetricsFromConfusionTest, MatchesHandComputedThreeClassExample) {
  // rows = true class, cols = predicted:
  //   [5 1 0]   row sums 6, 6, 4; column sums 7, 4, 5; 16 examples, 12 correct.
  //   [2 3 1]   precision = 5/7, 3/4, 4/5;  recall = 5/6, 3/6, 4/4
  //   [0 0 4]   F1 = 2TP / (row + col) = 10/13, 6/10, 8/9
  //             macro-F1 = (10/13 + 3/5 + 8/9) / 3 = 0.7527065527...
  EvalResult r = MetricsFromConfusion({5, 1, 0, 2, 3, 1, 0, 0, 4}, 3, /*total_loss_sum=*/8.0);
  EXPECT_EQ(r.num_classes, 3);
  EXPECT_EQ(r.examples, 16);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r.loss, 0.5);
  ASSERT_EQ(r.precision.size(), 3u);
  ASSERT_EQ(r.recall.size(), 3u);
  EXPECT_DOUBLE_EQ(r.precision[0], 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(r.precision[1], 0.75);
  EXPECT_DOUBLE_EQ(r.precision[2], 0.8);
  EXPECT_DOUBLE_EQ(r.recall[0], 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[2], 1.0);
  EXPECT_NEAR(r.macro_f1, (10.0 / 13.0 + 0.6 + 8.0 / 9.0) / 3.0, 1e-12);
  EXPECT_NEAR(r.macro_f1, 0.7527065527, 1e-9);
  EXPECT_EQ(r.confusion, (std::vector<int64_t>{5, 1, 0, 2, 3, 1, 0, 0, 4}));
}

TEST(MetricsFromConfusionTest, AbsentClassHasZeroPrecisionRecallAndIsLeftOutOfMacroF1) {
  //   [2 0 0]   class 2 never occurs (neither true nor predicted).
  //   [1 1 0]   F1: class 0 = 4/5, class 1 = 2/3; macro over the 2 present classes = 11/15.
  //   [0 0 0]   class 1 precision 1/1, recall 1/2; class 0 precision 2/3, recall 1.
  EvalResult r = MetricsFromConfusion({2, 0, 0, 1, 1, 0, 0, 0, 0}, 3, 0.0);
  EXPECT_EQ(r.examples, 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r.precision[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.precision[1], 1.0);
  EXPECT_DOUBLE_EQ(r.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(r.precision[2], 0.0);
  EXPECT_DOUBLE_EQ(r.recall[2], 0.0);
  EXPECT_NEAR(r.macro_f1, 11.0 / 15.0, 1e-12);
}

TEST(MetricsFromConfusionTest, ClassNeverPredictedHasZeroPrecisionAndF1) {
  //   [3 0]   class 1 is never predicted: precision 0 (undefined), recall 0, F1 0.
  //   [1 0]   class 0: precision 3/4, recall 1, F1 6/7. macro-F1 = 3/7.
  EvalResult r = MetricsFromConfusion({3, 0, 1, 0}, 2, 2.0);
  EXPECT_DOUBLE_EQ(r.precision[1], 0.0);
  EXPECT_DOUBLE_EQ(r.recall[1], 0.0);
  EXPECT_NEAR(r.macro_f1, 3.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.loss, 0.5);
}

TEST(MetricsFromConfusionTest, EmptyAndInvalidInput) {
  EvalResult empty = MetricsFromConfusion(std::vector<int64_t>(4, 0), 2, 0.0);
  EXPECT_EQ(empty.examples, 0);
  EXPECT_EQ(empty.accuracy, 0.0);
  EXPECT_EQ(empty.loss, 0.0);
  EXPECT_EQ(empty.confusion.size(), 4u);

  EvalResult wrong_size = MetricsFromConfusion({1, 2, 3}, 2, 1.0);
  EXPECT_EQ(wrong_size.examples, 0);
  EXPECT_TRUE(wrong_size.confusion.empty());
  EvalResult negative = MetricsFromConfusion({1, -1, 0, 1}, 2, 1.0);
  EXPECT_EQ(negative.examples, 0);
  EXPECT_TRUE(negative.confusion.empty());
}

}  // namespace
}  // namespace fedge::ml
