#include "coordinator/fedavg.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

namespace fedge::coordinator {
namespace {

using shared::TensorBundle;

TensorBundle Layout() {
  TensorBundle b;
  b.tensors.push_back({"w", {2}, {0, 0}});
  b.tensors.push_back({"b", {1}, {0}});
  return b;
}

TensorBundle Update(float w0, float w1, float b0) {
  TensorBundle u = Layout();
  u.tensors[0].data = {w0, w1};
  u.tensors[1].data = {b0};
  return u;
}

TEST(FedAvgTest, WeightedMeanMatchesHandComputedValues) {
  FedAvgAccumulator acc(Layout());
  // (1*[1,2,3] + 3*[5,6,-1]) / 4 = [4, 5, 0]
  ASSERT_TRUE(acc.Fold(Update(1, 2, 3), 1).ok());
  ASSERT_TRUE(acc.Fold(Update(5, 6, -1), 3).ok());
  auto out = acc.Finalize();
  ASSERT_TRUE(out.ok());
  EXPECT_FLOAT_EQ(out->tensors[0].data[0], 4.0f);
  EXPECT_FLOAT_EQ(out->tensors[0].data[1], 5.0f);
  EXPECT_FLOAT_EQ(out->tensors[1].data[0], 0.0f);
  EXPECT_EQ(acc.total_weight(), 4u);
  EXPECT_EQ(acc.updates(), 2u);
}

TEST(FedAvgTest, AggregateIsBitwiseIdenticalInAnyOrder) {
  std::mt19937 rng(42);
  std::normal_distribution<float> value(0.0f, 0.3f);
  std::vector<std::pair<TensorBundle, uint64_t>> updates;
  for (int i = 0; i < 12; ++i) {
    TensorBundle u = Layout();
    for (auto& t : u.tensors)
      for (float& v : t.data) v = value(rng);
    updates.emplace_back(u, 1 + rng() % 5000);
  }
  auto run = [&](const std::vector<int>& order) {
    FedAvgAccumulator acc(Layout());
    for (int i : order) EXPECT_TRUE(acc.Fold(updates[i].first, updates[i].second).ok());
    return *acc.Finalize();
  };
  std::vector<int> order(updates.size());
  std::iota(order.begin(), order.end(), 0);
  TensorBundle first = run(order);
  for (int trial = 0; trial < 20; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    TensorBundle other = run(order);
    for (size_t t = 0; t < first.tensors.size(); ++t) {
      ASSERT_EQ(0, std::memcmp(first.tensors[t].data.data(), other.tensors[t].data.data(),
                               first.tensors[t].data.size() * sizeof(float)));
    }
  }
  // And it is close to the float64 reference.
  double num = 0, den = 0;
  for (auto& [u, n] : updates) {
    num += static_cast<double>(u.tensors[0].data[0]) * static_cast<double>(n);
    den += static_cast<double>(n);
  }
  EXPECT_NEAR(first.tensors[0].data[0], num / den, 1e-6);
}

TEST(FedAvgTest, RejectsBadUpdatesWithoutFoldingThem) {
  FedAvgAccumulator acc(Layout());
  ASSERT_TRUE(acc.Fold(Update(2, 2, 2), 1).ok());
  EXPECT_EQ(acc.Fold(Update(std::numeric_limits<float>::quiet_NaN(), 0, 0), 1).code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(acc.Fold(Update(1e30f, 0, 0), 1000).code(), shared::Code::kInvalidArgument);
  TensorBundle wrong = Layout();
  wrong.tensors[0].shape = {1, 2};
  shared::Status s = acc.Fold(wrong, 1);
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'w'"), std::string::npos);
  EXPECT_EQ(acc.Fold(Update(1, 1, 1), 0).code(), shared::Code::kInvalidArgument);
  auto out = acc.Finalize();
  ASSERT_TRUE(out.ok());
  EXPECT_FLOAT_EQ(out->tensors[0].data[0], 2.0f);  // only the good update counted
  EXPECT_EQ(acc.updates(), 1u);
}

TEST(FedAvgTest, FinalizeWithoutUpdatesIsAnError) {
  FedAvgAccumulator acc(Layout());
  EXPECT_FALSE(acc.Finalize().ok());
}

}  // namespace
}  // namespace fedge::coordinator
