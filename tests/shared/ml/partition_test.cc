#include "shared/ml/data/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

namespace fedge::ml {
namespace {

using Parts = std::vector<std::vector<int64_t>>;

// Every value of `expected` appears exactly once across `parts`, and nothing else does.
void ExpectExactCover(const Parts& parts, std::vector<int64_t> expected) {
  std::vector<int64_t> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  std::sort(all.begin(), all.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(all, expected);
}

std::vector<int64_t> Range(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// `per_class` examples of each of 10 classes, interleaved (label = i % 10).
std::vector<int64_t> BalancedLabels(int per_class) {
  std::vector<int64_t> labels(10 * per_class);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 10);
  return labels;
}

// For each class, the largest share of its examples held by a single part.
std::vector<double> MaxShareByClass(const Parts& parts, const std::vector<int64_t>& labels) {
  std::vector<std::vector<int>> counts(10, std::vector<int>(parts.size(), 0));
  std::vector<int> totals(10, 0);
  for (size_t p = 0; p < parts.size(); ++p) {
    for (int64_t i : parts[p]) {
      ++counts[labels[i]][p];
      ++totals[labels[i]];
    }
  }
  std::vector<double> share(10);
  for (int c = 0; c < 10; ++c) {
    share[c] =
        static_cast<double>(*std::max_element(counts[c].begin(), counts[c].end())) / totals[c];
  }
  return share;
}

TEST(PartitionIidTest, CoversAllIndicesWithBalancedSizes) {
  Parts parts = PartitionIid(1003, 10, 7);
  ASSERT_EQ(parts.size(), 10u);
  ExpectExactCover(parts, Range(1003));
  for (const auto& p : parts) {
    EXPECT_GE(p.size(), 100u);
    EXPECT_LE(p.size(), 101u);
  }
  // Shuffled: the first part is not simply 0..99.
  EXPECT_NE(parts[0], std::vector<int64_t>(Range(parts[0].size())));
}

TEST(PartitionIidTest, DeterministicPerSeed) {
  EXPECT_EQ(PartitionIid(500, 4, 1), PartitionIid(500, 4, 1));
  EXPECT_NE(PartitionIid(500, 4, 1), PartitionIid(500, 4, 2));
}

TEST(PartitionIidTest, DegenerateArguments) {
  EXPECT_TRUE(PartitionIid(10, 0, 1).empty());
  Parts parts = PartitionIid(2, 5, 1);
  ASSERT_EQ(parts.size(), 5u);
  ExpectExactCover(parts, Range(2));
}

TEST(PartitionDirichletTest, CoversAllIndicesAndIsDeterministic) {
  const std::vector<int64_t> labels = BalancedLabels(100);
  Parts parts = PartitionDirichlet(labels, 10, 7, 0.5, 3);
  ASSERT_EQ(parts.size(), 7u);
  ExpectExactCover(parts, Range(1000));
  EXPECT_EQ(parts, PartitionDirichlet(labels, 10, 7, 0.5, 3));
  EXPECT_NE(parts, PartitionDirichlet(labels, 10, 7, 0.5, 4));
}

TEST(PartitionDirichletTest, TinyAlphaIsSkewedLargeAlphaIsNot) {
  const std::vector<int64_t> labels = BalancedLabels(200);
  Parts skewed = PartitionDirichlet(labels, 10, 10, 0.01, 5);
  ExpectExactCover(skewed, Range(2000));
  // Dirichlet(0.01): most classes sit almost entirely on one part (a few split ~80/20).
  const std::vector<double> skewed_share = MaxShareByClass(skewed, labels);
  EXPECT_GT(std::accumulate(skewed_share.begin(), skewed_share.end(), 0.0) / 10, 0.8);

  Parts even = PartitionDirichlet(labels, 10, 10, 1000.0, 5);
  ExpectExactCover(even, Range(2000));
  for (double share : MaxShareByClass(even, labels)) EXPECT_LT(share, 0.2);
}

TEST(PartitionDirichletTest, LeavesOutLabelsOutsideRange) {
  const std::vector<int64_t> labels = {0, 1, -1, 2, 10, 1};
  Parts parts = PartitionDirichlet(labels, 10, 2, 1.0, 1);
  ExpectExactCover(parts, {0, 1, 3, 5});
  EXPECT_TRUE(PartitionDirichlet(labels, 10, 2, 0.0, 1).empty());
}

TEST(PartitionShardsTest, EachPartGetsShardsPerPartLabelGroups) {
  // 10 classes x 60 examples, 10 parts x 2 shards of 30: every shard holds a single label.
  const std::vector<int64_t> labels = BalancedLabels(60);
  Parts parts = PartitionShards(labels, 10, 2, 9);
  ASSERT_EQ(parts.size(), 10u);
  ExpectExactCover(parts, Range(600));
  for (const auto& p : parts) {
    EXPECT_EQ(p.size(), 60u);
    std::set<int64_t> distinct;
    for (int64_t i : p) distinct.insert(labels[i]);
    EXPECT_GE(distinct.size(), 1u);
    EXPECT_LE(distinct.size(), 2u);
  }
  EXPECT_EQ(parts, PartitionShards(labels, 10, 2, 9));
  EXPECT_NE(parts, PartitionShards(labels, 10, 2, 10));
  EXPECT_TRUE(PartitionShards(labels, 10, 0, 9).empty());
}

TEST(SplitHoldoutTest, SplitsByFractionWithoutOverlap) {
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < 1000; ++i) indices.push_back(3 * i + 1);
  HoldoutSplit split = SplitHoldout(indices, 0.2, 11);
  EXPECT_EQ(split.eval.size(), 200u);
  EXPECT_EQ(split.train.size(), 800u);
  ExpectExactCover({split.train, split.eval}, indices);
  EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));
  EXPECT_TRUE(std::is_sorted(split.eval.begin(), split.eval.end()));
  // Random, not a prefix.
  EXPECT_NE(split.eval, std::vector<int64_t>(indices.begin(), indices.begin() + 200));

  HoldoutSplit again = SplitHoldout(indices, 0.2, 11);
  EXPECT_EQ(split.eval, again.eval);
  EXPECT_NE(split.eval, SplitHoldout(indices, 0.2, 12).eval);
}

TEST(SplitHoldoutTest, ClampsFraction) {
  const std::vector<int64_t> indices = Range(10);
  EXPECT_TRUE(SplitHoldout(indices, 0.0, 1).eval.empty());
  EXPECT_EQ(SplitHoldout(indices, 1.0, 1).eval.size(), 10u);
  EXPECT_EQ(SplitHoldout(indices, 1.5, 1).eval.size(), 10u);
  EXPECT_EQ(SplitHoldout(indices, -1.0, 1).train.size(), 10u);
  EXPECT_EQ(SplitHoldout(indices, 0.25, 1).eval.size(), 3u);  // round(2.5) = 3
}

}  // namespace
}  // namespace fedge::ml
