// Crash safety with real processes: fedge-coordinator is killed with SIGKILL at random points
// of a multi-round run (and clients are killed too, some of them mid-upload) and restarted on
// the same data directory each time. The final model must be byte-identical to the one an
// uninterrupted run with the same seeds produces.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "coordinator/store.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 3;
constexpr int kRounds = 14;

// The head model's bytes in a run's data directory (the coordinator must have exited).
std::vector<uint8_t> FinalModel(const ProcessProject& project, const std::string& run,
                                uint64_t* version) {
  auto store = coordinator::Store::Open(project.DataDir(run));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  auto head = (*store)->Head();
  EXPECT_TRUE(head.ok() && head->has_value());
  auto record = (*store)->GetModel(**head);
  EXPECT_TRUE(record.ok());
  *version = record->version;
  if (const char* aggregation = std::getenv("FEDGE_FAULT_AGGREGATION")) {
    EXPECT_EQ(record->metrics["aggregation"]["method"], aggregation) << "the strategy was not used";
  }
  EXPECT_EQ(record->round, static_cast<uint64_t>(kRounds));
  auto digest = shared::DigestFromHex(record->digest_hex);
  auto blob = (*store)->GetBlob(*digest);
  EXPECT_TRUE(blob.ok()) << blob.status().ToString();
  return blob.ok() ? *blob : std::vector<uint8_t>{};
}

// The coordinator of `run`. FEDGE_FAULT_AGGREGATION=<strategy> (e.g. centered_clip) runs both
// runs with that [rounds] aggregation instead of FedAvg: a manual check that a robust strategy,
// which reads every stored update back when the round closes, also resumes byte-identical.
std::unique_ptr<Process> StartCoordinator(const ProcessProject& project, const std::string& run) {
  const std::string config = project.CoordinatorConfig(run);
  if (const char* aggregation = std::getenv("FEDGE_FAULT_AGGREGATION")) {
    std::ifstream in(config);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find("[rounds]\n"), 9,
                 std::string("[rounds]\naggregation = \"") + aggregation + "\"\n");
    std::ofstream(config) << text;
  }
  return std::make_unique<Process>(
      std::vector<std::string>{FEDGE_COORDINATOR_BIN, "--config", config},
      project.Log("coordinator-" + run));
}

TEST(FaultInjectionTest, CoordinatorKilledAtRandomPointsEndsWithTheSameModel) {
  TempDir dir("faults");
  ProcessProject project(dir.path(), kClients, kRounds, /*min_clients=*/kClients);

  // 1. The uninterrupted run.
  {
    auto coordinator = StartCoordinator(project, "clean");
    std::vector<std::unique_ptr<Process>> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(project.StartClient(i, "clean"));
    int code = -1;
    ASSERT_TRUE(coordinator->WaitExit(std::chrono::seconds(240), &code))
        << "the uninterrupted run did not finish; see " << dir.path() << "/coordinator-clean.log";
    ASSERT_EQ(code, 0);
  }
  uint64_t clean_version = 0;
  std::vector<uint8_t> clean = FinalModel(project, "clean", &clean_version);
  ASSERT_FALSE(clean.empty());

  // 2. The same run, with the coordinator killed at random moments and restarted each time.
  // Every third restart also kills a random client (often in the middle of training or an
  // upload) and starts it again with an empty model cache.
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(0, 1000);
  std::uniform_int_distribution<int> pick(0, kClients - 1);
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed));
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(project.StartClient(i, "killed"));
  int kills = 0, client_kills = 0, code = -1;
  std::vector<int> schedule;
  bool finished = false;
  auto give_up = Clock::now() + std::chrono::seconds(400);
  const std::string log = project.Log("coordinator-killed");
  while (!finished && Clock::now() < give_up) {
    const std::streamoff log_start = FileSize(log);
    auto coordinator = StartCoordinator(project, "killed");
    ASSERT_TRUE(coordinator->running());
    if (kills >= 10) {  // enough: let it finish
      finished = coordinator->WaitExit(std::chrono::seconds(240), &code);
      break;
    }
    // Kill at a random moment after rounds are under way again (so kills land while updates
    // arrive, while a version is committed, during evaluation or between rounds; not only
    // during start-up).
    WaitForLog(log, log_start, {"offered training", "resuming round", "finished:"},
               std::chrono::seconds(60));
    int wait = delay_ms(rng);
    schedule.push_back(wait);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    if (coordinator->Exited(&code)) {
      finished = true;
      break;
    }
    coordinator->Kill();
    ++kills;
    if (kills % 3 == 0) {
      int victim = pick(rng);
      clients[victim]->Kill();
      clients[victim] = project.StartClient(victim, "killed");
      ++client_kills;
    }
  }
  std::string delays;
  for (int w : schedule) delays += std::to_string(w) + " ";
  ASSERT_TRUE(finished) << "the killed run did not finish; delays (ms): " << delays << "; see "
                        << dir.path() << "/coordinator-killed.log";
  ASSERT_EQ(code, 0);
  EXPECT_GE(kills, 10) << "the run finished before 10 kills (delays: " << delays << ")";
  clients.clear();

  uint64_t killed_version = 0;
  std::vector<uint8_t> killed = FinalModel(project, "killed", &killed_version);
  EXPECT_EQ(killed_version, clean_version);
  ASSERT_EQ(killed.size(), clean.size());
  EXPECT_TRUE(killed == clean) << "the model after " << kills << " coordinator kills and "
                               << client_kills << " client kills differs from the clean run's";
  // The kills really interrupted rounds: some restarts resumed an open round.
  std::ifstream log_in(log);
  std::string line;
  int resumed = 0, refolded = 0, upload_resumes = 0;
  while (std::getline(log_in, line)) {
    if (line.find("resuming round") != std::string::npos) ++resumed;
    if (line.find("stored update(s) folded again") != std::string::npos &&
        line.find(": 0 stored") == std::string::npos) {
      ++refolded;
    }
    if (line.find("resumes its upload") != std::string::npos) ++upload_resumes;
  }
  EXPECT_GE(resumed, 1) << "no kill landed inside a round";
  std::printf(
      "coordinator killed %d times, clients %d times; delays (ms): %s\n"
      "restarts that resumed an open round: %d (with stored updates folded again: %d); "
      "uploads resumed: %d\n",
      kills, client_kills, delays.c_str(), resumed, refolded, upload_resumes);
}

}  // namespace
}  // namespace fedge::testing
