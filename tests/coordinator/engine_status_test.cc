// ToJson(EngineStatus): the JSON `fedgectl status`, the status page and reports read. Its
// keys, order and values are an interface: these golden strings must not change.

#include "coordinator/engine_status.h"

#include <gtest/gtest.h>

namespace fedge::coordinator {
namespace {

EngineStatus Example() {
  EngineStatus s;
  s.model_version = 3;
  s.model_round = 2;
  s.model_arch = "cnn_small";
  s.target_round = 5;
  s.connected = {"site-a", "site-b"};
  s.duplicates_ignored = 1;
  s.updates_rejected = 2;
  s.drift = {{"clients", nlohmann::json::array()}};
  return s;
}

TEST(EngineStatusTest, IdleEngineHasANullOpenRound) {
  EXPECT_EQ(ToJson(Example()).dump(),
            R"({"connected":["site-a","site-b"],"drift":{"clients":[]},"duplicates_ignored":1,)"
            R"("finished":false,"model_arch":"cnn_small","model_round":2,"model_version":3,)"
            R"("open_round":null,"quarantined":[],"target_round":5,"updates_rejected":2})");
}

TEST(EngineStatusTest, OpenRoundFieldsAndPhase) {
  EngineStatus s = Example();
  s.finished = true;
  OpenRoundStatus& open = s.open_round.emplace();
  open.round = 3;
  open.attempt = 1;
  open.sampled = 2;
  open.accepted = 1;
  open.pending = {"site-b"};
  open.resumed = 1;
  open.deadline_ms = 1234;
  EXPECT_EQ(ToJson(s)["open_round"].dump(),
            R"({"accepted":1,"attempt":1,"deadline_ms":1234,"pending":["site-b"],)"
            R"("phase":"train","rejected":0,"resumed":1,"round":3,"sampled":2})");
  EXPECT_EQ(ToJson(s)["finished"], true);
  open.training = false;
  open.pending.clear();
  EXPECT_EQ(ToJson(s)["open_round"]["phase"], "eval");
  EXPECT_EQ(ToJson(s)["open_round"]["pending"].dump(), "[]");
}

TEST(EngineStatusTest, NoClientsIsAnEmptyArray) {
  EngineStatus s;
  EXPECT_EQ(ToJson(s)["connected"].dump(), "[]");
}

}  // namespace
}  // namespace fedge::coordinator
