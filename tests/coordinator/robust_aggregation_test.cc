// Robust aggregation strategies against small hand-computed examples, and their determinism.

#include "coordinator/robust_aggregation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "shared/codec/bundle_codec.h"

namespace fedge::coordinator {
namespace {

// A one-tensor model of two values; the base is zero, so an update's values are its change.
shared::TensorBundle Values(float a, float b) {
  shared::TensorBundle t;
  t.tensors.push_back({"w", {2}, {a, b}});
  return t;
}

SiteUpdate Site(const std::string& id, float a, float b, uint64_t weight = 1) {
  return {id, weight, Values(a, b)};
}

std::vector<float> Aggregated(std::vector<SiteUpdate> updates, const AggregationSettings& s,
                              std::vector<std::string>* selected = nullptr) {
  auto r = RobustAggregate(std::move(updates), Values(0, 0), s, /*seed=*/7);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  if (selected) *selected = r->selected;
  return r->model.tensors[0].data;
}

AggregationSettings With(AggregationMethod m) {
  AggregationSettings s;
  s.method = m;
  return s;
}

TEST(RobustAggregationTest, MedianIsPerCoordinateAndIgnoresOneOutlier) {
  // Coordinate 0: {1, 2, 100} -> 2; coordinate 1: {-5, 3, 4} -> 3.
  EXPECT_EQ(Aggregated({Site("a", 1, 3), Site("b", 2, -5), Site("c", 100, 4)},
                       With(AggregationMethod::kMedian)),
            (std::vector<float>{2, 3}));
  // An even count takes the mean of the middle two: {1, 2, 3, 100} -> 2.5.
  EXPECT_EQ(Aggregated({Site("a", 1, 0), Site("b", 2, 0), Site("c", 3, 0), Site("d", 100, 0)},
                       With(AggregationMethod::kMedian))[0],
            2.5f);
}

TEST(RobustAggregationTest, TrimmedMeanDropsTheExtremesOfEachCoordinate) {
  AggregationSettings s = With(AggregationMethod::kTrimmedMean);
  s.trim_fraction = 0.2;  // floor(0.2 * 5) = 1 from each end
  // Coordinate 0: {-50, 1, 2, 3, 90} -> mean(1, 2, 3) = 2; coordinate 1: {0, 0, 0, 6, 9} -> 2.
  EXPECT_EQ(Aggregated({Site("a", -50, 0), Site("b", 1, 0), Site("c", 2, 6), Site("d", 3, 9),
                        Site("e", 90, 0)},
                       s),
            (std::vector<float>{2, 2}));
  s.trim_fraction = 0;  // the plain (unweighted) mean
  EXPECT_EQ(Aggregated({Site("a", 1, 2), Site("b", 3, 4, 100)}, s), (std::vector<float>{2, 3}));
}

TEST(RobustAggregationTest, MultiKrumAveragesTheUpdatesClosestToTheirNeighbours) {
  AggregationSettings s = With(AggregationMethod::kMultiKrum);
  s.krum_byzantine = 1;
  s.krum_select = 3;
  // Five updates, n - f - 2 = 2 nearest neighbours per score. a, b, c sit together, d is a bit
  // off, e is far: scores a = 1 + 1 = 2 (b, c at distance^2 1), b = 1 + 2 = 3, c = 1 + 2 = 3,
  // d = 9 + 16, e huge. The three lowest, a, b, c, are averaged by weight.
  std::vector<std::string> selected;
  std::vector<float> out = Aggregated({Site("a", 0, 0, 1), Site("b", 1, 0, 1), Site("c", 0, 1, 2),
                                       Site("d", 4, 0, 1), Site("e", 1000, 1000, 50)},
                                      s, &selected);
  EXPECT_EQ(selected, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FLOAT_EQ(out[0], 0.25f);  // (0 * 1 + 1 * 1 + 0 * 2) / 4
  EXPECT_FLOAT_EQ(out[1], 0.5f);   // (0 + 0 + 1 * 2) / 4
  // Too few updates for f: a clear refusal.
  s.krum_byzantine = 2;
  auto r = RobustAggregate({Site("a", 0, 0), Site("b", 1, 1)}, Values(0, 0), s, 7);
  EXPECT_EQ(r.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("at least 7 updates"), std::string::npos);
}

TEST(RobustAggregationTest, CenteredClipPullsAnOutlierToTheRadius) {
  AggregationSettings s = With(AggregationMethod::kCenteredClip);
  s.bucket_size = 1;
  s.clip_iterations = 1;
  s.clip_radius = 1.0;
  // Start v = median = (1, 0). Steps: a (0,0) - v = (-1, 0), within tau; b (1,0): 0; c (2,0):
  // (1, 0); d (1, 0): 0; e (101, 0): (100, 0) clipped to (1, 0). v += (1/5)(-1 + 0 + 1 + 0 + 1)
  // = (1.2, 0). A plain mean would be (21, 0).
  std::vector<float> out = Aggregated(
      {Site("a", 0, 0), Site("b", 1, 0), Site("c", 2, 0), Site("d", 1, 0), Site("e", 101, 0)}, s);
  EXPECT_FLOAT_EQ(out[0], 1.2f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
}

TEST(RobustAggregationTest, CenteredClipWithBucketsStaysNearTheHonestUpdates) {
  AggregationSettings s = With(AggregationMethod::kCenteredClip);
  s.bucket_size = 2;
  std::vector<SiteUpdate> updates;
  for (int i = 0; i < 8; ++i) updates.push_back(Site("h" + std::to_string(i), 1, 1));
  updates.push_back(Site("x1", -1000, 1000));
  updates.push_back(Site("x2", -1000, 1000));
  std::vector<float> out = Aggregated(updates, s);
  // Honest sites agree on (1, 1); two attackers in at most two buckets of five.
  EXPECT_NEAR(out[0], 1.0, 0.5);
  EXPECT_NEAR(out[1], 1.0, 0.5);
}

// The same set of updates in any arrival order gives the same bytes, for every strategy.
TEST(RobustAggregationTest, EveryStrategyIsIndependentOfTheArrivalOrder) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<SiteUpdate> updates;
  for (int i = 0; i < 9; ++i) {
    shared::TensorBundle v;
    v.tensors.push_back({"w", {3, 5}, {}});
    v.tensors.push_back({"b", {7}, {}});
    for (auto& t : v.tensors) {
      for (int k = 0; k < t.NumElements(); ++k) t.data.push_back(noise(rng));
    }
    updates.push_back({"site-" + std::to_string(i), static_cast<uint64_t>(10 + i), v});
  }
  shared::TensorBundle base = updates[0].values;
  for (auto& t : base.tensors) std::fill(t.data.begin(), t.data.end(), 0.25f);
  for (AggregationMethod m : {AggregationMethod::kMedian, AggregationMethod::kTrimmedMean,
                              AggregationMethod::kMultiKrum, AggregationMethod::kCenteredClip}) {
    AggregationSettings s = With(m);
    s.adaptive_norm_multiple = 1.5;
    std::vector<uint8_t> first;
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<SiteUpdate> shuffled = updates;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      ASSERT_TRUE(ClipToMedianNorm(&shuffled, base, s.adaptive_norm_multiple).ok());
      auto r = RobustAggregate(shuffled, base, s, /*seed=*/11);
      ASSERT_TRUE(r.ok()) << AggregationName(m) << ": " << r.status().ToString();
      std::vector<uint8_t> bytes = *shared::EncodeBundle(r->model);
      if (trial == 0) first = bytes;
      EXPECT_EQ(bytes, first) << AggregationName(m) << " changed with the order";
    }
  }
}

TEST(RobustAggregationTest, TheAdaptiveNormBoundClipsToAMultipleOfTheMedianNorm) {
  // Change norms 1, 2, 3 and 40 (3-4-5 shapes): median 2.5, bound 2 x 2.5 = 5.
  std::vector<SiteUpdate> updates = {Site("a", 1, 0), Site("b", 0, 2), Site("c", 3, 0),
                                     Site("d", 24, 32)};
  auto clipped = ClipToMedianNorm(&updates, Values(0, 0), 2.0);
  ASSERT_TRUE(clipped.ok());
  EXPECT_EQ(*clipped, std::vector<std::string>{"d"});
  EXPECT_FLOAT_EQ(updates[3].values.tensors[0].data[0], 3.0f);
  EXPECT_FLOAT_EQ(updates[3].values.tensors[0].data[1], 4.0f);
  EXPECT_EQ(updates[0].values.tensors[0].data, (std::vector<float>{1, 0}));
}

TEST(RobustAggregationTest, MedianOfTakesTheMiddleOrTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(MedianOf({5, -1, 3}), 3.0);
  EXPECT_EQ(MedianOf({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(MedianOf({}), 0.0);
}

TEST(RobustAggregationTest, NamesParseAndUnknownOnesAreRefused) {
  for (const char* n : {"fedavg", "median", "trimmed_mean", "multi_krum", "centered_clip"}) {
    auto m = ParseAggregationMethod(n);
    ASSERT_TRUE(m.ok()) << n;
    EXPECT_STREQ(AggregationName(*m), n);
  }
  auto bad = ParseAggregationMethod("krum");
  EXPECT_EQ(bad.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("multi_krum"), std::string::npos);
}

TEST(RobustAggregationTest, MismatchedLayoutsAreRefused) {
  shared::TensorBundle three;
  three.tensors.push_back({"w", {3}, {1, 2, 3}});
  auto r = RobustAggregate({Site("a", 1, 1), {"b", 1, three}}, Values(0, 0),
                           With(AggregationMethod::kMedian), 1);
  EXPECT_EQ(r.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("update of b"), std::string::npos);
}

}  // namespace
}  // namespace fedge::coordinator
