// Graceful shutdown of the real programs (shared/base/shutdown.h): SIGTERM makes fedge-coordinator,
// `fedge-client run` and `fedge-client infer` exit 0 within a bounded time with their state
// persisted, and a restarted coordinator resumes from its registry.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "client/sample_store.h"
#include "coordinator/store.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/model.h"
#include "shared/vision/image_codec.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using std::chrono::seconds;

// Bounded drain: well under the watchdog's 20 s, which would exit 3.
constexpr seconds kExitWithin{15};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The registry's head model (the coordinator must have exited).
coordinator::ModelRecord Head(const std::string& data_dir) {
  auto store = coordinator::Store::Open(data_dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  auto head = (*store)->Head();
  EXPECT_TRUE(head.ok() && head->has_value()) << "the registry has no head model";
  if (!head.ok() || !head->has_value()) return {};
  auto record = (*store)->GetModel(**head);
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  return record.ok() ? *record : coordinator::ModelRecord{};
}

// `dir` (created by a fedge program) and no directory under it is open to other users, so
// nothing inside is, whatever mode a file has.
void ExpectPrivate(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::perms others = fs::perms::group_all | fs::perms::others_all;
  EXPECT_EQ(fs::status(dir).permissions() & others, fs::perms::none) << dir;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_directory() || e.is_symlink()) continue;
    EXPECT_EQ(e.status().permissions() & others, fs::perms::none)
        << e.path() << " is open to other users";
  }
}

TEST(ShutdownTest, CoordinatorExitsZeroOnSigtermAndARestartResumes) {
  constexpr int kRounds = 4;
  TempDir dir("shutdown-coordinator");
  ProcessProject project(dir.path(), /*clients=*/1, kRounds, /*min_clients=*/1);
  const std::string log = project.Log("coordinator-run");
  auto coordinator = project.StartCoordinator("run");
  auto client = project.StartClient(0, "run");
  ASSERT_TRUE(WaitForLog(log, 0, {"round 1 complete"}, seconds(180))) << ReadAll(log);
  coordinator->Signal(SIGTERM);
  int code = -1;
  ASSERT_TRUE(coordinator->WaitExit(kExitWithin, &code)) << "no exit within 15 s of SIGTERM";
  EXPECT_EQ(code, 0) << ReadAll(log);
  EXPECT_NE(ReadAll(log).find("SIGTERM received: shutting down (at most 20 s)"), std::string::npos)
      << ReadAll(log);
  const coordinator::ModelRecord before = Head(project.DataDir("run"));
  EXPECT_GE(before.round, 1u);
  // What it created is its own (umask 077): the registry and its database files.
  ExpectPrivate(project.DataDir("run"));

  // Restarted on the same registry, it resumes from the head and finishes the rounds.
  const std::streamoff restart = FileSize(log);
  coordinator = project.StartCoordinator("run");
  ASSERT_TRUE(coordinator->WaitExit(seconds(240), &code)) << ReadAll(log);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(WaitForLog(
      log, restart, {"resuming from model version " + std::to_string(before.version)}, seconds(1)))
      << ReadAll(log);
  const coordinator::ModelRecord after = Head(project.DataDir("run"));
  EXPECT_EQ(after.round, static_cast<uint64_t>(kRounds));
  EXPECT_GT(after.version, before.version);
}

// An update the coordinator never acknowledges stays in the client's outbox across a SIGTERM.
// The coordinator's 64 KiB frame cap refuses the client's upload chunk (the cnn_small update is
// ~0.8 MB), so the update is trained and kept but never acknowledged.
TEST(ShutdownTest, ClientExitsZeroOnSigtermWithItsOutboxKept) {
  TempDir dir("shutdown-client");
  ProcessProject project(dir.path(), /*clients=*/1, /*rounds=*/1, /*min_clients=*/1);
  const std::string config = project.CoordinatorConfig("run");
  std::string text = ReadAll(config);
  text.insert(text.find("[server]\n") + 9, "max_frame_bytes = 65536\n");
  std::ofstream(config) << text;
  Process coordinator({FEDGE_COORDINATOR_BIN, "--config", config}, project.Log("coordinator"));
  const std::string log = project.Log("client");
  Process client(
      {FEDGE_CLIENT_BIN, "run", "--config", project.ClientConfig(0, "run"), "--log-level", "debug"},
      log);
  // Logged after the update is in the outbox.
  ASSERT_TRUE(WaitForLog(log, 0, {"trained on"}, seconds(180))) << ReadAll(log);
  client.Signal(SIGTERM);
  int code = -1;
  ASSERT_TRUE(client.WaitExit(kExitWithin, &code)) << "no exit within 15 s of SIGTERM";
  EXPECT_EQ(code, 0) << ReadAll(log);
  EXPECT_NE(ReadAll(log).find("SIGTERM received: shutting down"), std::string::npos);
  coordinator.Kill();

  // The site's private state is its own (umask 077): directories and database files.
  ExpectPrivate(dir.path() + "/state-0-run");

  auto store = client::SampleStore::Open(dir.path() + "/state-0-run/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto outbox = (*store)->Outgoing();
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  ASSERT_EQ(outbox->size(), 1u) << "the unacknowledged update was not kept";
  EXPECT_EQ((*outbox)[0].round, 1u);
  EXPECT_GT((*outbox)[0].blob.size(), 65536u);
}

// `fedge-client infer`: Ctrl-C stops reading frames, flushes the sink and prints the summary.
TEST(ShutdownTest, InferStopsOnSigtermWithTheSinkFlushedAndASummary) {
  constexpr int kFrames = 300;
  TempDir dir("shutdown-infer");
  const std::string frames = dir.path() + "/frames";
  std::filesystem::create_directories(frames);
  for (int i = 0; i < kFrames; ++i) {
    vision::Image image{28, 28, 1, std::vector<uint8_t>(28 * 28, static_cast<uint8_t>(i))};
    auto png = vision::EncodeImage(image, vision::ImageFormat::kPng);
    ASSERT_TRUE(png.ok()) << png.status().ToString();
    char name[32];
    std::snprintf(name, sizeof(name), "/%04d.png", i);
    std::ofstream(frames + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()),
               static_cast<std::streamsize>(png->size()));
  }
  auto model = ml::Model::Create("cnn_small", 1);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto bundle = shared::EncodeBundle(model->State());
  ASSERT_TRUE(bundle.ok());
  const std::string model_path = dir.path() + "/model.fdgt";
  std::ofstream(model_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bundle->data()),
             static_cast<std::streamsize>(bundle->size()));

  const std::string sink = dir.path() + "/predictions.jsonl";
  const std::string log = dir.path() + "/infer.log";
  Process infer({FEDGE_CLIENT_BIN, "infer", "--model", model_path, "--arch", "cnn_small",
                 "--source", frames, "--sink", sink, "--fps", "20", "--threads", "1"},
                log);
  ASSERT_TRUE(WaitForLog(sink, 0, {"\"frame_id\""}, seconds(60))) << ReadAll(log);
  infer.Signal(SIGTERM);
  int code = -1;
  ASSERT_TRUE(infer.WaitExit(kExitWithin, &code)) << "no exit within 15 s of SIGTERM";
  const std::string out = ReadAll(log);
  EXPECT_EQ(code, 0) << out;
  std::ifstream in(sink);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_GT(lines, 0);
  EXPECT_LT(lines, kFrames) << "the source was read to its end, not stopped";
  EXPECT_NE(out.find("frames " + std::to_string(lines) + " "), std::string::npos)
      << "the summary counts exactly the predictions in the sink:\n"
      << out;
  EXPECT_NE(out.find("frames/s"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedge::testing
