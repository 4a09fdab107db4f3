// RolloutManager's decisions with recording fake peers and an injected clock: the canary
// timeout (promotion with enough healthy reports, rollback without), waiting for an admin when
// auto-promotion is off, what a reconnecting client is sent, and rollouts surviving a restart of
// the coordinator (a new manager on the same registry).

#include <gtest/gtest.h>

#include "coordinator/release_tools.h"
#include "coordinator/rollout.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"
#include "shared/release/repository.h"
#include "tests/coordinator/fake_peer.h"
#include "tests/release_support.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

namespace rel = shared::release;
using nlohmann::json;

using testing::FakePeer;

class RolloutManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    for (const char* id : {"a", "b", "c", "d"}) {
      ClientRecord c;
      c.id = id;
      ASSERT_TRUE(store_->PutClient(c).ok());
    }
    KeysInitOptions k;
    k.key_dir = dir_.path() + "/keys";
    k.repo = dir_.path() + "/repo";
    k.now = rel::SystemNow();
    ASSERT_TRUE(InitKeys(k).ok());
    settings_.repo = k.repo;
    settings_.canary_timeout_seconds = 60;
    settings_.min_canary_reports = 1;
    name_ = Publish(1);
  }

  // Release `counter` (the repository's next): an untrained cnn_small seeded with it.
  std::string Publish(uint64_t counter) {
    auto state = testing::FakeChainState("cnn_small", counter);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    auto name = testing::PublishSigned(settings_.repo, dir_.path() + "/keys", "cnn_small", *state,
                                       counter, dir_.path() + "/a.fdga");
    EXPECT_TRUE(name.ok()) << name.status().ToString();
    return name.ok() ? *name : "";
  }

  std::unique_ptr<RolloutManager> Manager() {
    auto m = std::make_unique<RolloutManager>(settings_, store_.get(), nullptr,
                                              [this] { return now_ms_; });
    EXPECT_TRUE(m->Init().ok());
    return m;
  }

  InstallReportIn Installed(uint64_t rollout, const std::string& target, double acc = 0.8,
                            double prev = 0.8) {
    InstallReportIn r;
    r.rollout_id = rollout;
    r.target = target;
    r.counter = rollout;  // the tests publish counter N for rollout N
    r.installed = true;
    r.eval_examples = 100;
    r.accuracy = acc;
    r.previous_accuracy = prev;
    r.active_target = target;
    return r;
  }

  testing::TempDir dir_{"rollout_manager"};
  std::unique_ptr<Store> store_;
  ReleaseSettings settings_;
  std::string name_;
  uint64_t now_ms_ = 1'000'000;
};

TEST_F(RolloutManagerTest, CanaryTimeoutPromotesOnEnoughHealthyReportsAndRollsBackOtherwise) {
  auto m = Manager();
  auto peers = std::map<std::string, std::shared_ptr<FakePeer>>{};
  for (const char* id : {"a", "b", "c", "d"}) {
    peers[id] = std::make_shared<FakePeer>(id);
    m->Connected(peers[id], "", 0);
  }
  auto d = m->Deploy(name_, 50);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const std::vector<std::string> cohort = (*d)["cohort"];
  ASSERT_EQ(cohort.size(), 2u);
  for (const auto& [id, p] : peers) {
    const bool canary = std::find(cohort.begin(), cohort.end(), id) != cohort.end();
    EXPECT_EQ(p->sent.size(), canary ? 1u : 0u) << id;
    if (canary) EXPECT_EQ(p->sent[0], wire::Message::ReleaseOffer);
  }
  // One canary reports; the other never does. Before the timeout nothing is decided.
  ASSERT_TRUE(m->Report(peers[cohort[0]], Installed(1, name_)).ok());
  now_ms_ += 59'000;
  m->Tick();
  EXPECT_EQ(m->List()["rollouts"][0]["state"], "canary");
  now_ms_ += 2'000;
  m->Tick();
  json r = m->List()["rollouts"][0];
  EXPECT_EQ(r["state"], "promoted") << r.dump(2);
  EXPECT_EQ(r["canary_evaluation"]["clients"], 1);
  // Promotion offers it to every client not running it yet (the silent canary included).
  // (The canaries were offered it during the canary and are not offered it twice.)
  for (const auto& [id, p] : peers) EXPECT_EQ(p->sent.size(), 1u) << id;

  // A second release whose canaries all stay silent is rolled back at its timeout.
  const std::string second = Publish(2);
  auto d2 = m->Deploy(second, 25);
  ASSERT_TRUE(d2.ok()) << d2.status().ToString();
  now_ms_ += 61'000;
  m->Tick();
  r = m->List()["rollouts"][0];
  EXPECT_EQ(r["state"], "rolled_back");
  EXPECT_NE(r["steps"].back()["detail"].get<std::string>().find("canary timed out: 0 of 1"),
            std::string::npos)
      << r.dump(2);
  EXPECT_EQ(m->List()["fleet"]["target"], name_);
}

// Canary decisions take the median of each canary's own drop: a site claiming a huge example
// count can neither roll back a good release nor promote a bad one alone. A client outside the
// cohort cannot report on a canary at all.
TEST_F(RolloutManagerTest, OneCanarysClaimedExampleCountDoesNotDecide) {
  for (const bool good : {true, false}) {
    SCOPED_TRACE(good ? "good release, lying canary" : "bad release, lying canary");
    const std::string target = good ? name_ : Publish(2);
    auto m = Manager();
    std::map<std::string, std::shared_ptr<FakePeer>> peers;
    for (const char* id : {"a", "b", "c", "d"}) {
      peers[id] = std::make_shared<FakePeer>(id);
      m->Connected(peers[id], "", 0);
    }
    auto d = m->Deploy(target, 75);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    const std::vector<std::string> cohort = (*d)["cohort"];
    ASSERT_EQ(cohort.size(), 3u);
    const uint64_t id = (*d)["id"];
    std::string outsider;
    for (const auto& [name, p] : peers) {
      if (std::find(cohort.begin(), cohort.end(), name) == cohort.end()) outsider = name;
    }
    shared::Status refused = m->Report(peers[outsider], Installed(id, target, 0.0, 0.9));
    EXPECT_EQ(refused.code(), shared::Code::kPermissionDenied) << refused.ToString();
    InstallReportIn liar = good ? Installed(id, target, 0.0, 0.9) : Installed(id, target, 0.9, 0.9);
    liar.counter = good ? 1 : 2;
    liar.eval_examples = 1'000'000'000;
    ASSERT_TRUE(m->Report(peers[cohort[0]], liar).ok());
    for (size_t i = 1; i < cohort.size(); ++i) {
      InstallReportIn honest =
          good ? Installed(id, target, 0.8, 0.8) : Installed(id, target, 0.3, 0.8);
      honest.counter = liar.counter;
      ASSERT_TRUE(m->Report(peers[cohort[i]], honest).ok());
    }
    json r;
    const json listed = m->List();
    for (const json& x : listed["rollouts"]) {
      if (x["id"] == id) r = x;
    }
    EXPECT_EQ(r["state"], good ? "promoted" : "rolled_back") << r.dump(2);
    EXPECT_NEAR(r["canary_evaluation"]["median_drop"].get<double>(), good ? 0.0 : 0.5, 1e-9);
  }
}

TEST_F(RolloutManagerTest, WithoutAutoPromotionAHealthyCanaryWaitsForAnAdmin) {
  settings_.auto_promote = false;
  auto m = Manager();
  auto a = std::make_shared<FakePeer>("a");
  m->Connected(a, "", 0);
  auto d = m->Deploy(name_, 1);  // 1% of 4 clients: one canary
  ASSERT_TRUE(d.ok());
  const std::string canary = (*d)["cohort"][0];
  auto peer = canary == "a" ? a : std::make_shared<FakePeer>(canary);
  if (canary != "a") m->Connected(peer, "", 0);
  ASSERT_TRUE(m->Report(peer, Installed(1, name_)).ok());
  json r = m->List()["rollouts"][0];
  EXPECT_EQ(r["state"], "canary");
  EXPECT_EQ(r["steps"].back()["action"], "canary_healthy");
  auto p = m->Promote("looks good");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)["state"], "promoted");
  EXPECT_EQ((*p)["steps"].back()["detail"], "looks good");
  EXPECT_FALSE(m->Promote("again").ok());  // nothing in canary any more
}

TEST_F(RolloutManagerTest, RolloutsSurviveARestartAndReconnectingClientsGetWhatTheyNeed) {
  {
    auto m = Manager();
    auto a = std::make_shared<FakePeer>("a");
    m->Connected(a, "", 0);
    ASSERT_TRUE(m->Deploy(name_, 100).ok());  // everyone at once
    ASSERT_EQ(a->sent.size(), 1u);
    EXPECT_EQ(a->sent[0], wire::Message::ReleaseOffer);
    ASSERT_TRUE(m->Report(a, Installed(1, name_)).ok());
  }
  auto m = Manager();  // a coordinator restart: same registry, same repository
  json list = m->List();
  ASSERT_EQ(list["rollouts"].size(), 1u);
  EXPECT_EQ(list["rollouts"][0]["state"], "promoted");
  EXPECT_TRUE(list["rollouts"][0]["reports"].contains("a"));
  // A client already running it gets nothing; one that is not gets the offer, served from the
  // repository again.
  auto a = std::make_shared<FakePeer>("a");
  m->Connected(a, name_, 1);
  EXPECT_TRUE(a->sent.empty());
  auto b = std::make_shared<FakePeer>("b");
  m->Connected(b, "", 0);
  ASSERT_EQ(b->sent.size(), 1u);
  EXPECT_EQ(b->sent[0], wire::Message::ReleaseOffer);
  auto sha = shared::DigestFromHex(list["rollouts"][0]["sha256"].get<std::string>());
  ASSERT_TRUE(sha.ok());
  EXPECT_NE(m->Artifact(*sha), nullptr);
  // After a rollback of the fleet's release, a client still running it is told to revert.
  ASSERT_TRUE(m->Rollback("bad").ok());
  EXPECT_EQ(m->Artifact(*sha), nullptr);  // a rolled-back release is no longer served
  auto c = std::make_shared<FakePeer>("c");
  m->Connected(c, name_, 1);
  ASSERT_EQ(c->sent.size(), 1u);
  EXPECT_EQ(c->sent[0], wire::Message::ReleaseRevert);
  // A report for a rollout this coordinator never made is refused.
  InstallReportIn bogus = Installed(9, "x");
  EXPECT_EQ(m->Report(c, bogus).code(), shared::Code::kInvalidArgument);
}

TEST_F(RolloutManagerTest, ReSignsTheTimestampWithTheOnlineKeyWhenHalfItsLifeIsGone) {
  settings_.online_keys = dir_.path() + "/keys";
  settings_.timestamp_hours = 24;
  auto timestamp = [&] {
    auto env = rel::ReadEnvelope(RepoMetadataPath(settings_.repo, "timestamp.json"));
    EXPECT_TRUE(env.ok());
    return *rel::DecodeTimestamp(env->payload());
  };
  const rel::TimestampMetadata before = timestamp();
  now_ms_ = static_cast<uint64_t>(before.expires - 13 * 3600) * 1000;  // 13 of 24 h left
  auto m = Manager();
  m->Tick();
  EXPECT_EQ(timestamp().version, before.version);  // not due yet
  now_ms_ += 2 * 3600 * 1000;                      // 11 h left
  m->Tick();
  const rel::TimestampMetadata after = timestamp();
  EXPECT_EQ(after.version, before.version + 1);
  EXPECT_EQ(after.expires, static_cast<int64_t>(now_ms_ / 1000) + 24 * 3600);
  auto summary = SummarizeRepo(settings_.repo);
  ASSERT_TRUE(summary.ok());
  for (const auto& role : summary->roles) {
    EXPECT_GE(role.signed_by, role.threshold) << role.role;
  }
  // Deployed (the signed set is loaded), then a publish nobody signed yet changes the snapshot:
  // the coordinator does not pin it with a new timestamp.
  ASSERT_TRUE(m->Deploy(name_, 100).ok());
  PublishOptions p;
  p.repo = settings_.repo;
  p.artifact_path = dir_.path() + "/a.fdga";
  auto a = ml::DecodeArtifact(*shared::ReadFile(p.artifact_path, 1 << 30));
  a->version = 2;
  ASSERT_TRUE(shared::WriteFileAtomic(p.artifact_path, *ml::EncodeArtifact(*a), 0644).ok());
  p.now = static_cast<int64_t>(now_ms_ / 1000);
  ASSERT_TRUE(coordinator::Publish(p).ok());
  const uint64_t published = timestamp().version;
  now_ms_ += 12 * 3600 * 1000;
  m->Tick();
  EXPECT_EQ(timestamp().version, published);
}

}  // namespace
}  // namespace fedge::coordinator
