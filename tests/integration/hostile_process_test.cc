// Issue 16 against the real programs: a fedge-coordinator process, three honest fedge-client
// processes training on Fashion-MNIST, and two sites with valid keys that attack while the round
// runs (items 1, 2, 3, 5 and 9 of issue 16). Every attack is refused with a clear error, the
// coordinator's memory (from /proc) stays bounded, the round completes without waiting for its
// deadline, and the model is byte for byte the one a run with the honest sites alone makes
// (training seeds depend only on the round and the site, and aggregation is exact).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "coordinator/store.h"
#include "shared/net/wire.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using std::chrono::seconds;

constexpr int kHonest = 3;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

uint64_t RssOf(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// The coordinator of `project` for one training round without evaluation that completes with
// the honest sites' updates (rounds.min_fit), started. Also the honest-only run's: its settings
// do not change the model.
std::unique_ptr<Process> StartOneRound(const ProcessProject& project, const std::string& run) {
  const std::string config = project.CoordinatorConfig(run);
  std::string text = ReadAll(config);
  text.replace(text.find("evaluate = true"), 15, "evaluate = false");
  // A raw client sends no heartbeats: allow it 30 s of silence (six heartbeats) on a busy machine.
  text.replace(text.find("heartbeat_ms = 500"), 18, "heartbeat_ms = 5000");
  const size_t fit = text.find("min_fit = ");
  text.replace(fit, text.find('\n', fit) - fit, "min_fit = " + std::to_string(kHonest));
  std::ofstream(config) << text;
  return std::make_unique<Process>(
      std::vector<std::string>{FEDGE_COORDINATOR_BIN, "--config", config},
      project.Log("coordinator-" + run));
}

// Runs `project`'s coordinator and honest clients until the coordinator exits after its round;
// `attack` runs meanwhile. Returns the model the round made.
coordinator::ModelRecord RunRound(const ProcessProject& project, const std::string& run,
                                  const std::function<void(Process&)>& attack) {
  auto coordinator = StartOneRound(project, run);
  const std::string log = project.Log("coordinator-" + run);
  EXPECT_TRUE(WaitForLog(log, 0, {"listening on"}, seconds(60))) << ReadAll(log);
  std::vector<std::unique_ptr<Process>> honest;
  for (int i = 0; i < kHonest; ++i) honest.push_back(project.StartClient(i, run));
  if (attack) attack(*coordinator);
  int code = -1;
  EXPECT_TRUE(coordinator->WaitExit(std::chrono::milliseconds(150000), &code))
      << "the round waited for its deadline\n"
      << ReadAll(log);
  EXPECT_EQ(code, 0) << ReadAll(log);
  auto store = coordinator::Store::Open(project.DataDir(run));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  auto model = (*store)->GetModel(2);
  EXPECT_TRUE(model.ok()) << model.status().ToString() << "\n" << ReadAll(log);
  return model.ok() ? *model : coordinator::ModelRecord{};
}

// The next Error frame's message (heartbeats skipped; "" if another frame came).
std::string NextError(RawClient& c, wire::ErrorSubject subject) {
  auto f = c.ReadNonHeartbeat();
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return "";
  const wire::Envelope* env = Verified(*f);
  if (env == nullptr || env->message_type() != wire::Message::Error) {
    ADD_FAILURE() << "expected an Error, got "
                  << (env ? wire::EnumNameMessage(env->message_type()) : "garbage");
    return "";
  }
  EXPECT_EQ(env->message_as_Error()->subject(), subject);
  return env->message_as_Error()->message()->str();
}

TEST(HostileProcessTest, AttacksAreRefusedAndTheModelIsWhatHonestSitesMake) {
  TempDir dir("hostile-process");
  ProcessProject alone(dir.path() + "/alone", kHonest, 1, kHonest);
  const coordinator::ModelRecord honest_only = RunRound(alone, "run", nullptr);
  ASSERT_FALSE(honest_only.digest_hex.empty());

  ProcessProject project(dir.path() + "/attacked", kHonest + 2, 1, kHonest + 1);
  const std::string& a_kit = project.kits().client_kits[kHonest];
  const std::string& f_kit = project.kits().client_kits[kHonest + 1];
  RawClient attacker(a_kit + "/ca.crt", a_kit + "/client.crt", a_kit + "/client.key");
  RawClient flooder(f_kit + "/ca.crt", f_kit + "/client.crt", f_kit + "/client.key");
  uint64_t rss_before = 0, rss_peak = 0;
  const coordinator::ModelRecord attacked = RunRound(project, "run", [&](Process& coordinator) {
    // The attacker joins last, after the honest sites (which take a while to load LibTorch).
    for (int i = 0; i < kHonest; ++i) {
      ASSERT_TRUE(WaitForLog(project.Log("coordinator-run"), 0,
                             {"client " + project.kits().client_ids[i] + " connected"},
                             seconds(120)));
    }
    ASSERT_TRUE(attacker.Connect(project.port()).ok());
    ASSERT_TRUE(attacker.SendHello().ok());
    ASSERT_FALSE(Expect(attacker, wire::Message::Welcome).empty());
    const std::vector<uint8_t> offer_frame = Expect(attacker, wire::Message::TaskOffer);
    ASSERT_FALSE(offer_frame.empty());
    const wire::TaskOffer* offer = Verified(offer_frame)->message_as_TaskOffer();
    const uint64_t task = offer->task_id(), round = offer->round();
    auto model = shared::DigestField(offer->model_digest(), "digest");
    ASSERT_TRUE(model.ok());
    rss_before = RssOf(coordinator.pid());

    // Item 5: the honest sites' updates submitted first, under their task ids and the
    // idempotency ids they will use (task ids are predictable): each is refused as not the
    // attacker's task, and the honest updates still count (the model below is theirs alone).
    for (uint64_t index = 0; index < kHonest + 1; ++index) {
      const uint64_t other = round * 1000000000ull + index;
      if (other == task) continue;
      for (int i = 0; i < kHonest; ++i) {
        const std::string idem = project.kits().client_ids[i] + "/" + std::to_string(other);
        ASSERT_TRUE(attacker.WriteFrame(Submit(other, round, idem, {1, 2, 3}, 40)).ok());
        EXPECT_NE(NextError(attacker, wire::ErrorSubject::Update).find("was not offered to"),
                  std::string::npos);
      }
    }

    // Item 2: one 13 MiB key named 99,990 times (~1.3 TiB if copied), for a task it does not
    // hold (its own task stays open).
    {
      flatbuffers::FlatBufferBuilder fbb(16 << 20);
      auto key = fbb.CreateString(std::string(13 << 20, 'k'));
      std::vector<flatbuffers::Offset<wire::KeyValue>> kvs(99990,
                                                           wire::CreateKeyValue(fbb, key, 1));
      auto metrics = fbb.CreateVector(kvs);
      auto id = fbb.CreateString("attack/amplify");
      const std::vector<uint8_t> digest(32, 1);
      auto d = fbb.CreateVector(digest);
      ASSERT_TRUE(attacker
                      .WriteFrame(shared::FinishEnvelope(
                          fbb, wire::CreateUpdateSubmit(fbb, 999, round, id, 10, metrics,
                                                        wire::Codec::Fp32, d, 10)))
                      .ok());
      EXPECT_NE(NextError(attacker, wire::ErrorSubject::Update).find("99990 entries; at most 64"),
                std::string::npos);
      rss_peak = std::max(rss_peak, RssOf(coordinator.pid()));
    }
    // Item 9: an update's chunks before the coordinator asked for them.
    {
      const std::vector<uint8_t> blob(300000, 9);
      ASSERT_TRUE(attacker.WriteFrame(Submit(999, round, "attack/unasked", blob, 40)).ok());
      ASSERT_TRUE(attacker
                      .WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update,
                                                        shared::Sha256(blob), blob.size(), 0, blob))
                      .ok());
      const std::string first = NextError(attacker, wire::ErrorSubject::Update);
      const std::string second = NextError(attacker, wire::ErrorSubject::Update);
      EXPECT_NE((first + second).find("before the coordinator asked for it"), std::string::npos)
          << first << " | " << second;
    }
    // Item 3: a second site asks for 1 GiB of model copies and reads none; it is closed.
    {
      ASSERT_TRUE(flooder.Connect(project.port()).ok());
      ASSERT_TRUE(flooder.SendHello().ok());
      ASSERT_FALSE(Expect(flooder, wire::Message::Welcome).empty());
      const std::vector<uint8_t> request =
          shared::MakeBlobRequest(wire::BlobKind::Model, *model, 0);
      for (int i = 0; i < 1500; ++i) {
        if (!flooder.WriteFrame(request).ok()) break;
        if (i % 100 == 0) rss_peak = std::max(rss_peak, RssOf(coordinator.pid()));
      }
      uint64_t received = 0;
      for (;;) {
        auto f = flooder.ReadFrame();
        if (!f.ok()) break;
        received += f->size();
      }
      EXPECT_LT(received, 512ull << 20) << "the coordinator kept serving a peer that does not read";
      rss_peak = std::max(rss_peak, RssOf(coordinator.pid()));
    }
    // Item 1: its own task's update under an idempotency id that is not UTF-8: refused, and the
    // task fails at once, so the round completes with the honest sites.
    ASSERT_TRUE(attacker.WriteFrame(Submit(task, round, "\xff", {1, 2, 3}, 40)).ok());
    EXPECT_NE(
        NextError(attacker, wire::ErrorSubject::Update).find("idempotency_id is not valid UTF-8"),
        std::string::npos);
  });
  EXPECT_LT(rss_peak, rss_before + (384ull << 20))
      << "coordinator RSS grew from " << rss_before << " to " << rss_peak;
  ASSERT_EQ(attacked.contributors.size(), static_cast<size_t>(kHonest));
  for (const auto& c : attacked.contributors) {
    EXPECT_NE(c.client_id, project.kits().client_ids[kHonest]) << "the attacker contributed";
  }
  EXPECT_EQ(attacked.digest_hex, honest_only.digest_hex) << "the attackers changed the model";
  std::printf("[ hostile  ] coordinator RSS %.0f MiB before the attacks, peak %.0f MiB\n",
              static_cast<double>(rss_before) / (1 << 20),
              static_cast<double>(rss_peak) / (1 << 20));
}

}  // namespace
}  // namespace fedge::testing
