// The registry's key formats: numeric order is byte order, every builder's key parses back,
// and the drift column family's keys are the ones main at 57d38a1 wrote.
#include "coordinator/store_keys.h"

#include <gtest/gtest.h>

namespace fedge::coordinator::keys {
namespace {

TEST(StoreKeysTest, BigEndianKeysSortNumericallyAndParseBack) {
  EXPECT_LT(ModelKey(255), ModelKey(256));
  EXPECT_LT(RoundKey(1), RoundKey(1ull << 40));
  EXPECT_EQ(ModelKey(258), std::string("\0\0\0\0\0\0\x01\x02", 8));
  EXPECT_EQ(ParseBigEndian64(RolloutKey(123456789)), 123456789u);
  EXPECT_EQ(ParseRolloutKey(RolloutKey(7)), 7u);
  EXPECT_FALSE(ParseBigEndian64("short").has_value());
}

TEST(StoreKeysTest, UpdateKeysOfARoundShareItsPrefixAndSortBeforeTheNextRound) {
  const std::string k = UpdateKey(3, "site-z");
  EXPECT_TRUE(k.starts_with(UpdatesBegin(3)));
  EXPECT_LT(k, UpdatesBegin(4));
  EXPECT_GE(UpdateKey(3, ""), UpdatesBegin(3));
}

TEST(StoreKeysTest, DriftKeysAreTheStoredFormat) {
  EXPECT_EQ(DriftClientKey("site-a"), "client/site-a");
  EXPECT_EQ(CampaignKey(1), "campaign/00000000000000000001");
  EXPECT_EQ(ReferenceProfileKey(42), "profile/00000000000000000042");
  EXPECT_LT(CampaignKey(9), CampaignKey(10));
  EXPECT_EQ(ParseDriftClientKey("client/site-a"), "site-a");
  EXPECT_EQ(ParseCampaignKey(CampaignKey(18446744073709551615ull)), 18446744073709551615ull);
  EXPECT_EQ(ParseReferenceProfileKey(ReferenceProfileKey(42)), 42u);
  EXPECT_FALSE(ParseDriftClientKey("client/").has_value());
  EXPECT_FALSE(ParseCampaignKey("campaign/12").has_value());
  EXPECT_FALSE(ParseCampaignKey("profile/00000000000000000001").has_value());
  EXPECT_FALSE(ParseReferenceProfileKey("profile/0000000000000000000x").has_value());
  EXPECT_FALSE(ParseReferenceProfileKey("profile/99999999999999999999").has_value());
}

}  // namespace
}  // namespace fedge::coordinator::keys
