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
using Update = std::pair<TensorBundle, uint64_t>;

TensorBundle Layout() {
  TensorBundle b;
  b.tensors.push_back({"w", {2}, {0, 0}});
  b.tensors.push_back({"b", {1}, {0}});
  return b;
}

TensorBundle Update3(float w0, float w1, float b0) {
  TensorBundle u = Layout();
  u.tensors[0].data = {w0, w1};
  u.tensors[1].data = {b0};
  return u;
}

// Tensors larger than Flush()'s 4096-parameter blocks, plus odd sizes, so every loop runs its
// remainder.
TensorBundle BigLayout() {
  TensorBundle b;
  b.tensors.push_back({"conv.weight", {3, 3, 7, 5}, {}});
  b.tensors.push_back({"fc.weight", {9001}, {}});
  b.tensors.push_back({"fc.bias", {1}, {}});
  for (auto& t : b.tensors) t.data.assign(static_cast<size_t>(t.NumElements()), 0.0f);
  return b;
}

// `count` updates of BigLayout() with values of typical size (normal, sd `sd`) and example
// counts in [1, 60000].
std::vector<Update> RandomUpdates(int count, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> value(0.0f, sd);
  std::vector<Update> updates;
  for (int i = 0; i < count; ++i) {
    TensorBundle u = BigLayout();
    for (auto& t : u.tensors)
      for (float& v : t.data) v = value(rng);
    updates.emplace_back(std::move(u), 1 + rng() % 60000);
  }
  return updates;
}

// The definition the accumulator implements, written the slow, obvious way: exact 128-bit sums
// of trunc(v * n * 2^32), rounded to double, divided by (sum n) * 2^32, rounded to float.
TensorBundle ReferenceMean(const std::vector<Update>& updates) {
  TensorBundle out = updates.front().first;
  uint64_t total = 0;
  for (const auto& [u, n] : updates) total += n;
  const double denom = static_cast<double>(total) * 4294967296.0;
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    for (size_t k = 0; k < out.tensors[t].data.size(); ++k) {
      __int128 sum = 0;
      for (const auto& [u, n] : updates) {
        const double term =
            static_cast<double>(u.tensors[t].data[k]) * (static_cast<double>(n) * 4294967296.0);
        sum += static_cast<__int128>(term);
      }
      out.tensors[t].data[k] = static_cast<float>(static_cast<double>(sum) / denom);
    }
  }
  return out;
}

::testing::AssertionResult SameBytes(const TensorBundle& a, const TensorBundle& b) {
  if (!a.SameLayout(b)) return ::testing::AssertionFailure() << "different layouts";
  for (size_t t = 0; t < a.tensors.size(); ++t) {
    const auto &x = a.tensors[t].data, &y = b.tensors[t].data;
    if (x.size() != y.size() ||
        (!x.empty() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0)) {
      for (size_t k = 0; k < std::min(x.size(), y.size()); ++k) {
        if (std::memcmp(&x[k], &y[k], sizeof(float)) != 0) {
          return ::testing::AssertionFailure()
                 << a.tensors[t].name << "[" << k << "]: " << x[k] << " vs " << y[k];
        }
      }
      return ::testing::AssertionFailure() << a.tensors[t].name << ": different sizes";
    }
  }
  return ::testing::AssertionSuccess();
}

// How one run hands the updates to the accumulator.
struct Schedule {
  size_t max_pending = FedAvgAccumulator::kMaxPendingUpdates;
  bool portable = false;
  int move_every = 1;   // Fold(&&) for update i if i % move_every == 0, else Fold(const&)
  int flush_every = 0;  // an explicit Flush() after every flush_every-th update (0: never)
};

TensorBundle FoldAll(const TensorBundle& layout, const std::vector<Update>& updates,
                     const std::vector<size_t>& order, const Schedule& s) {
  FedAvgAccumulator::Options options;
  options.max_pending_updates = s.max_pending;
  options.portable_kernels = s.portable;
  FedAvgAccumulator acc(layout, options);
  for (size_t i = 0; i < order.size(); ++i) {
    const Update& u = updates[order[i]];
    if (i % s.move_every == 0) {
      TensorBundle copy = u.first;
      EXPECT_TRUE(acc.Fold(std::move(copy), u.second).ok());
    } else {
      EXPECT_TRUE(acc.Fold(u.first, u.second).ok());
    }
    if (s.flush_every > 0 && (i + 1) % s.flush_every == 0) acc.Flush();
  }
  EXPECT_EQ(acc.updates(), order.size());
  auto mean = acc.Finalize();
  EXPECT_TRUE(mean.ok()) << mean.status().ToString();
  return mean.ok() ? std::move(mean).value() : TensorBundle();
}

// Issue 16 item 4: one site claiming a huge count must not decide the average.
TEST(ShareCapTest, CutsTheSitesOverTheirShareSoThatNoneExceedsIt) {
  EXPECT_EQ(ShareCap({10, 20, 30}, 1000000), std::nullopt);  // no cap
  EXPECT_EQ(ShareCap({10, 20, 30}, 600000), std::nullopt);   // 30/60 = 0.5 is within 0.6
  // 6,000-example sites against one claiming 2^32/100: cut to what 3 sites allow at 1/3.
  const std::vector<uint64_t> w = {6000, 6000, 6000, 42949672};
  const auto cap = ShareCap(w, 333333);
  ASSERT_TRUE(cap.has_value());
  EXPECT_EQ(*cap, 8999u);  // 8999 <= 0.333333 * (18000 + 8999); 9000 is not
  // The cap is the largest that fits, so the capped site weighs just under its share.
  uint64_t sum = 0;
  for (uint64_t x : w) sum += std::min(x, *cap);
  EXPECT_LE(static_cast<double>(*cap) / static_cast<double>(sum), 0.333333);
  EXPECT_GT(static_cast<double>(*cap + 1) / static_cast<double>(sum + 1), 0.333333);
  // Two sites cannot each hold at most 40%: every site weighs the same (the smallest weight).
  EXPECT_EQ(ShareCap({10, 1000}, 400000), std::optional<uint64_t>(10));
  // The same weights in any order give the same cap.
  EXPECT_EQ(ShareCap({42949672, 6000, 6000, 6000}, 333333), cap);
}

TEST(FedAvgTest, WeightedMeanMatchesHandComputedValues) {
  FedAvgAccumulator acc(Layout());
  // (1*[1,2,3] + 3*[5,6,-1]) / 4 = [4, 5, 0]
  ASSERT_TRUE(acc.Fold(Update3(1, 2, 3), 1).ok());
  ASSERT_TRUE(acc.Fold(Update3(5, 6, -1), 3).ok());
  auto out = acc.Finalize();
  ASSERT_TRUE(out.ok());
  EXPECT_FLOAT_EQ(out->tensors[0].data[0], 4.0f);
  EXPECT_FLOAT_EQ(out->tensors[0].data[1], 5.0f);
  EXPECT_FLOAT_EQ(out->tensors[1].data[0], 0.0f);
  EXPECT_EQ(acc.total_weight(), 4u);
  EXPECT_EQ(acc.updates(), 2u);
}

TEST(FedAvgTest, BatchedAndUnbatchedMeansMatchHandComputedValues) {
  for (size_t k : {size_t{1}, size_t{2}, size_t{8}}) {
    for (bool portable : {false, true}) {
      FedAvgAccumulator::Options options;
      options.max_pending_updates = k;
      options.portable_kernels = portable;
      FedAvgAccumulator acc(Layout(), options);
      // (2*[0.5,-1.25,8] + 1*[0.25,0.5,-7] + 1*[-1,3,1]) / 4 = [0.0625, 0.25, 2.5]
      ASSERT_TRUE(acc.Fold(Update3(0.5f, -1.25f, 8), 2).ok());
      ASSERT_TRUE(acc.Fold(Update3(0.25f, 0.5f, -7), 1).ok());
      ASSERT_TRUE(acc.Fold(Update3(-1, 3, 1), 1).ok());
      auto out = acc.Finalize();
      ASSERT_TRUE(out.ok());
      EXPECT_EQ(out->tensors[0].data[0], 0.0625f) << "k=" << k << " portable=" << portable;
      EXPECT_EQ(out->tensors[0].data[1], 0.25f);
      EXPECT_EQ(out->tensors[1].data[0], 2.5f);
    }
  }
}

TEST(FedAvgTest, AggregateIsBitwiseIdenticalInAnyOrder) {
  std::mt19937 rng(42);
  std::normal_distribution<float> value(0.0f, 0.3f);
  std::vector<Update> updates;
  for (int i = 0; i < 12; ++i) {
    TensorBundle u = Layout();
    for (auto& t : u.tensors)
      for (float& v : t.data) v = value(rng);
    updates.emplace_back(u, 1 + rng() % 5000);
  }
  std::vector<size_t> order(updates.size());
  std::iota(order.begin(), order.end(), 0);
  const TensorBundle first = FoldAll(Layout(), updates, order, {});
  for (int trial = 0; trial < 20; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    ASSERT_TRUE(SameBytes(first, FoldAll(Layout(), updates, order, {})));
  }
  // And it is close to the float64 reference.
  double num = 0, den = 0;
  for (auto& [u, n] : updates) {
    num += static_cast<double>(u.tensors[0].data[0]) * static_cast<double>(n);
    den += static_cast<double>(n);
  }
  EXPECT_NEAR(first.tensors[0].data[0], num / den, 1e-6);
}

TEST(FedAvgTest, SameBytesForEveryOrderBatchSizeFlushPointOverloadAndKernel) {
  const std::vector<Update> updates = RandomUpdates(21, 0.5f, 7);
  const TensorBundle expected = ReferenceMean(updates);
  std::mt19937 rng(3);
  std::vector<size_t> order(updates.size());
  std::iota(order.begin(), order.end(), 0);
  for (size_t k = 1; k <= FedAvgAccumulator::kMaxPendingUpdates; ++k) {
    for (bool portable : {false, true}) {
      std::shuffle(order.begin(), order.end(), rng);
      Schedule s;
      s.max_pending = k;
      s.portable = portable;
      s.move_every = 1 + static_cast<int>(rng() % 3);
      s.flush_every = static_cast<int>(rng() % 6);
      EXPECT_TRUE(SameBytes(expected, FoldAll(BigLayout(), updates, order, s)))
          << "k=" << k << " portable=" << portable << " move_every=" << s.move_every
          << " flush_every=" << s.flush_every;
    }
  }
}

// Terms of 2^60 and more skip the int64 sums; sums of many terms near 2^60 spill the int64
// sums into the 128-bit ones. Neither may change a bit of the result.
TEST(FedAvgTest, HugeTermsAndSpillsGiveTheSameBytes) {
  std::vector<Update> updates = RandomUpdates(40, 0.5f, 11);
  for (size_t i = 0; i < updates.size(); ++i) {
    auto& [u, n] = updates[i];
    if (i % 5 == 0) {  // wide: |v| * n * 2^32 up to ~2^80
      n = 50000;
      for (auto& t : u.tensors)
        for (float& v : t.data) v *= 1e6f;
    } else if (i % 5 != 4) {  // narrow (< 2^60) but each term ~2^59.5: 24 of them sum past
      n = 1;                  // 2^63, what an int64 holds
      for (auto& t : u.tensors)
        for (float& v : t.data) v = 1.9e8f + 1000.0f * v;
    }
  }
  const TensorBundle expected = ReferenceMean(updates);
  std::mt19937 rng(5);
  std::vector<size_t> order(updates.size());
  std::iota(order.begin(), order.end(), 0);
  for (int trial = 0; trial < 6; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    Schedule s;
    s.max_pending = 1 + static_cast<size_t>(trial) % FedAvgAccumulator::kMaxPendingUpdates;
    s.portable = trial % 2 == 1;
    s.move_every = 2;
    EXPECT_TRUE(SameBytes(expected, FoldAll(BigLayout(), updates, order, s))) << "trial " << trial;
  }
}

TEST(FedAvgTest, RejectsBadUpdatesWithoutFoldingThem) {
  FedAvgAccumulator acc(Layout());
  ASSERT_TRUE(acc.Fold(Update3(2, 2, 2), 1).ok());
  EXPECT_EQ(acc.Fold(Update3(std::numeric_limits<float>::quiet_NaN(), 0, 0), 1).code(),
            shared::Code::kInvalidArgument);
  EXPECT_EQ(acc.Fold(Update3(1e30f, 0, 0), 1000).code(), shared::Code::kInvalidArgument);
  TensorBundle wrong = Layout();
  wrong.tensors[0].shape = {1, 2};
  shared::Status s = acc.Fold(wrong, 1);
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'w'"), std::string::npos);
  EXPECT_EQ(acc.Fold(Update3(1, 1, 1), 0).code(), shared::Code::kInvalidArgument);
  auto out = acc.Finalize();
  ASSERT_TRUE(out.ok());
  EXPECT_FLOAT_EQ(out->tensors[0].data[0], 2.0f);  // only the good update counted
  EXPECT_EQ(acc.updates(), 1u);
}

TEST(FedAvgTest, EachRejectionNamesTheProblemAndChangesNothing) {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* what;
    TensorBundle update;
    uint64_t weight;
    const char* needle;  // expected in the message
  };
  TensorBundle short_b = Update3(1, 1, 1);
  short_b.tensors[1].data.clear();
  TensorBundle extra = Update3(1, 1, 1);
  extra.tensors.push_back({"extra", {1}, {0}});
  TensorBundle renamed = Update3(1, 1, 1);
  renamed.tensors[1].name = "bias";
  std::vector<Case> cases = {
      {"NaN", Update3(0, std::numeric_limits<float>::quiet_NaN(), 0), 1, "'w' has a non-finite"},
      {"-Inf", Update3(0, 0, -inf), 1, "'b' has a non-finite"},
      {"out of range", Update3(0, 0, 4e12f), 60000, "'b' has a value too large"},
      {"value count", short_b, 1, "'b' has 0 values"},
      {"tensor count", extra, 1, "3 tensors, the model has 2"},
      {"name", renamed, 1, "('bias') does not match the model's 'b'"},
      {"zero weight", Update3(1, 1, 1), 0, "example count of 0"},
      {"total overflow", Update3(1, 1, 1), std::numeric_limits<uint64_t>::max(), "overflow"},
  };
  for (bool portable : {false, true}) {
    FedAvgAccumulator::Options options;
    options.portable_kernels = portable;
    FedAvgAccumulator acc(Layout(), options);
    ASSERT_TRUE(acc.Fold(Update3(1, 2, 3), 2).ok());
    for (auto& c : cases) {
      SCOPED_TRACE(c.what);
      const shared::Status v = acc.Validate(c.update, c.weight);
      EXPECT_EQ(v.code(), shared::Code::kInvalidArgument);
      EXPECT_NE(v.message().find(c.needle), std::string::npos) << v.message();
      EXPECT_EQ(acc.Fold(c.update, c.weight).ToString(), v.ToString());
      TensorBundle moved = c.update;
      EXPECT_EQ(acc.Fold(std::move(moved), c.weight).ToString(), v.ToString());
      EXPECT_EQ(moved.tensors.size(), c.update.tensors.size());  // not taken on error
      EXPECT_TRUE(SameBytes(moved, c.update));
    }
    EXPECT_EQ(acc.updates(), 1u);
    EXPECT_EQ(acc.total_weight(), 2u);
    auto out = acc.Finalize();
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->tensors[0].data, (std::vector<float>{1, 2}));
    EXPECT_EQ(out->tensors[1].data, (std::vector<float>{3}));
  }
}

TEST(FedAvgTest, ValidateAcceptsWhatFoldAcceptsAndChangesNothing) {
  FedAvgAccumulator acc(Layout());
  EXPECT_TRUE(acc.Validate(Update3(1, -2, 0.5f), 7).ok());
  EXPECT_EQ(acc.updates(), 0u);
  EXPECT_EQ(acc.total_weight(), 0u);
  EXPECT_FALSE(acc.Finalize().ok());
  // The largest magnitude allowed with one example, and just beyond it.
  EXPECT_TRUE(acc.Validate(Update3(3.2e16f, 0, 0), 1).ok());
  EXPECT_FALSE(acc.Validate(Update3(3.3e16f, 0, 0), 1).ok());
}

TEST(FedAvgTest, FinalizeCanBeRepeatedAndFoldingContinues) {
  FedAvgAccumulator acc(Layout());
  ASSERT_TRUE(acc.Fold(Update3(1, 1, 1), 1).ok());
  auto first = acc.Finalize();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->tensors[0].data[0], 1.0f);
  ASSERT_TRUE(acc.Fold(Update3(4, 4, 4), 2).ok());
  auto second = acc.Finalize();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->tensors[0].data[0], 3.0f);
  EXPECT_TRUE(SameBytes(*second, *acc.Finalize()));
}

TEST(FedAvgTest, PortableKernelsCanBeForced) {
  FedAvgAccumulator::Options options;
  options.portable_kernels = true;
  EXPECT_STREQ(FedAvgAccumulator(Layout(), options).kernel_name(), "portable");
  const std::string name = FedAvgAccumulator(Layout()).kernel_name();
  EXPECT_TRUE(name == "portable" || name == "avx512") << name;
}

TEST(FedAvgTest, FinalizeWithoutUpdatesIsAnError) {
  FedAvgAccumulator acc(Layout());
  EXPECT_FALSE(acc.Finalize().ok());
}

}  // namespace
}  // namespace fedge::coordinator
