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

}  // namespace
}  // namespace fedge::coordinator
