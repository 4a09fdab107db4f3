#include "coordinator/connection_limiter.h"

#include <gtest/gtest.h>

namespace fedge::coordinator {
namespace {

TEST(ConnectionLimiterTest, CapsOneAddressAndTheTotal) {
  ConnectionLimiter limits(/*total=*/3, /*per_address=*/2);
  EXPECT_TRUE(limits.TryAdmit("10.0.0.1"));
  EXPECT_TRUE(limits.TryAdmit("10.0.0.1"));
  EXPECT_FALSE(limits.TryAdmit("10.0.0.1"));  // per address
  EXPECT_TRUE(limits.TryAdmit("10.0.0.2"));
  EXPECT_FALSE(limits.TryAdmit("10.0.0.3"));  // total
  EXPECT_EQ(limits.open(), 3u);
  EXPECT_EQ(limits.refused(), 2u);
  limits.Release("10.0.0.1");
  EXPECT_TRUE(limits.TryAdmit("10.0.0.3"));  // a slot came free
  EXPECT_FALSE(limits.TryAdmit("10.0.0.1"));
  limits.Release("10.0.0.2");
  limits.Release("unknown");  // never admitted: ignored
  EXPECT_EQ(limits.open(), 2u);
  EXPECT_TRUE(limits.TryAdmit("10.0.0.1"));
}

TEST(ConnectionLimiterTest, CapsSessionsPerCertificate) {
  ConnectionLimiter limits(/*total=*/100, /*per_address=*/100, /*per_identity=*/2);
  EXPECT_TRUE(limits.TryAdmitIdentity("site-001"));
  EXPECT_TRUE(limits.TryAdmitIdentity("site-001"));
  EXPECT_FALSE(limits.TryAdmitIdentity("site-001"));  // a third session of one key
  EXPECT_TRUE(limits.TryAdmitIdentity("site-002"));   // others are not affected
  limits.ReleaseIdentity("site-001");
  EXPECT_TRUE(limits.TryAdmitIdentity("site-001"));
  limits.ReleaseIdentity("nobody");  // never admitted: ignored
  EXPECT_FALSE(limits.TryAdmitIdentity("site-001"));
}

TEST(RefusalBudgetTest, AllowsSoManyRefusalsPerMinute) {
  RefusalBudget budget(3);
  const auto t0 = RefusalBudget::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(budget.Spend(t0));
  EXPECT_TRUE(budget.Spend(t0 + std::chrono::seconds(10)));
  EXPECT_TRUE(budget.Spend(t0 + std::chrono::seconds(20)));
  EXPECT_FALSE(budget.Spend(t0 + std::chrono::seconds(30)));  // the fourth in one minute
  EXPECT_TRUE(budget.Spend(t0 + std::chrono::seconds(61)));   // a new minute
}

}  // namespace
}  // namespace fedge::coordinator
