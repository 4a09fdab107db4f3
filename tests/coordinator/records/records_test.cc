// The record codecs (coordinator/records/*.h): each record round-trips, carries its record
// version, decodes records without one (version 1, as main at 57d38a1 wrote them) and refuses
// versions newer than it reads and bytes that are not a record.
#include <gtest/gtest.h>

#include "coordinator/records/drift_records.h"
#include "coordinator/records/open_round.h"
#include "coordinator/records/record_version.h"
#include "coordinator/records/rollout_record.h"
#include "coordinator/records/round_summary.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;

OpenRound Training() {
  OpenRound open;
  open.round = 7;
  open.attempt = 2;
  open.tasks = {{"site-a", 7002000001}, {"site-b", 7002000000}};
  open.deadline_ms = 5000;
  open.started_ms = 4000;
  open.rejected = 1;
  open.resumed = 3;
  return open;
}

TEST(RecordVersionTest, MissingVersionIsOneAndNewerOrGarbageIsCorruption) {
  auto v1 = records::ParseRecord(R"({"a":1})", "thing", 2);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, 1u);
  auto v2 = records::ParseRecord(records::SerializeRecord({{"a", 1}}, 2), "thing", 2);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2u);
  EXPECT_EQ(v2->body, (json{{"a", 1}}));  // the version field is not part of the body
  auto newer = records::ParseRecord(R"({"a":1,"record_version":3})", "thing", 2);
  EXPECT_EQ(newer.status().code(), shared::Code::kCorruption);
  EXPECT_NE(newer.status().message().find("newer coordinator"), std::string::npos);
  for (const char* bad : {"", "[1]", "{", R"({"record_version":0})", R"({"record_version":"1"})"}) {
    EXPECT_EQ(records::ParseRecord(bad, "thing", 2).status().code(), shared::Code::kCorruption)
        << bad;
  }
}

TEST(OpenRoundRecordTest, RoundTripsWithItsVersionAndReadsTheUnversionedFormat) {
  const std::string bytes = EncodeOpenRound(Training());
  EXPECT_EQ(json::parse(bytes)["record_version"], kOpenRoundRecordVersion);
  EXPECT_EQ(*DecodeOpenRound(bytes), Training());
  // As main at 57d38a1 stored it (ToJson(OpenRound).dump(), no version).
  const std::string old =
      R"({"attempt":1,"deadline_ms":1760000600000,"phase":"train","rejected":1,"resumed":0,)"
      R"("round":2,"started_ms":1760000000000,"tasks":{"site-a":2001000002,"site-b":2001000000}})";
  auto decoded = DecodeOpenRound(old);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->tasks.at("site-a"), 2001000002u);
  EXPECT_EQ(decoded->deadline_ms, 1760000600000u);
  auto idle = DecodeOpenRound(R"({"attempt":1,"phase":"idle","round":2})");
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->phase, RoundPhase::kIdle);
  EXPECT_EQ(DecodeOpenRound(R"({"round":2,"attempt":0,"phase":"dance"})").status().code(),
            shared::Code::kCorruption);
  EXPECT_EQ(DecodeOpenRound(R"({"round":2})").status().code(), shared::Code::kCorruption);
}

TEST(RolloutRecordTest, RoundTripsAndDefaultsFieldsOfEarlyRecords) {
  Rollout r;
  r.id = 3;
  r.target = "m-3.fmodel";
  r.counter = 3;
  r.sha256_hex = std::string(64, 'c');
  r.length = 10;
  r.cohort = {"a", "b"};
  r.state = "canary";
  r.canary_percent = 25;
  r.steps.push_back({{"ms", 1}, {"action", "deployed"}, {"detail", "x"}});
  r.reports["a"] = {{"installed", true}};
  const std::string bytes = EncodeRollout(r);
  EXPECT_EQ(json::parse(bytes)["record_version"], kRolloutRecordVersion);
  auto back = DecodeRollout(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->cohort, r.cohort);
  EXPECT_EQ(back->steps, r.steps);
  EXPECT_EQ(back->reports, r.reports);
  EXPECT_EQ(back->canary_percent, 25);
  auto early = DecodeRollout(
      R"({"id":1,"target":"t","counter":1,"sha256":"ab","length":2,"state":"promoted"})");
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_EQ(early->canary_percent, 100);
  EXPECT_TRUE(early->cohort.empty());
  EXPECT_EQ(DecodeRollout(R"({"id":1})").status().code(), shared::Code::kCorruption);
}

TEST(DriftRecordsTest, RoundTripAndReadTheUnversionedFormat) {
  ClientDrift d;
  d.client_id = "site-a";
  d.model_version = 4;
  d.drifted = true;
  d.streak = 3;
  d.onset_ms = 99;
  d.mean_brightness = 0.25;
  auto back = DecodeClientDrift(EncodeClientDrift(d));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->client_id, "site-a");
  EXPECT_EQ(back->streak, 3);
  EXPECT_EQ(back->onset_ms, 99u);
  EXPECT_EQ(json::parse(EncodeClientDrift(d))["record_version"], kClientDriftRecordVersion);

  Campaign c;
  c.id = 2;
  c.running = false;
  c.first_round = 5;
  c.last_round = 7;
  c.clients = {d};
  c.outcome = {{"version_before", 4}};
  auto cb = DecodeCampaign(EncodeCampaign(c));
  ASSERT_TRUE(cb.ok());
  EXPECT_FALSE(cb->running);
  EXPECT_EQ(cb->last_round, 7u);
  ASSERT_EQ(cb->clients.size(), 1u);
  EXPECT_EQ(cb->clients[0].client_id, "site-a");
  EXPECT_EQ(cb->outcome, c.outcome);

  auto old = DecodeCampaign(R"({"id":1,"state":"running","first_round":2,"last_round":4})");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->running);
  EXPECT_TRUE(old->clients.empty());
  EXPECT_EQ(DecodeClientDrift("not json").status().code(), shared::Code::kCorruption);
  EXPECT_EQ(DecodeCampaign(R"({"clients":[{"streak":"x"}]})").status().code(),
            shared::Code::kCorruption);
}

TEST(RoundSummaryRecordTest, CarriesItsVersionAndReadsTheUnversionedFormat) {
  const json summary = {{"round", 3}, {"model_version", 4}, {"evaluation", {{"accuracy", 0.5}}}};
  const std::string bytes = EncodeRoundSummary(summary);
  EXPECT_EQ(json::parse(bytes)["record_version"], kRoundSummaryRecordVersion);
  EXPECT_EQ(*DecodeRoundSummary(bytes), summary);
  EXPECT_EQ(*DecodeRoundSummary(summary.dump()), summary);
  EXPECT_EQ(DecodeRoundSummary("[]").status().code(), shared::Code::kCorruption);
}

}  // namespace
}  // namespace fedge::coordinator
