// A full round over real mutual TLS with real fedge clients, one of which never answers.
#include <gtest/gtest.h>

#include <random>

#include "client/client.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

TEST(RoundTest, RoundCompletesWhenOneSampledClientNeverAnswers) {
  TempDir dir("round");
  auto kits = ProvisionOrDie(dir.path() + "/project", 3);
  auto config = TestCoordinatorConfig(kits, dir.path() + "/data");
  config.rounds.count = 1;
  config.rounds.min_clients = 3;
  config.rounds.min_fit = 2;
  config.rounds.fraction_fit = 1.0;
  config.rounds.timeout_seconds = 3;
  config.rounds.eval_timeout_seconds = 3;
  config.rounds.evaluate = true;
  RunningServer server(config, /*exit_when_done=*/true);

  auto data = SyntheticData(300, 3);
  net::asio::io_context io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < 3; ++i) {
    auto cfg = client::LoadClientConfig(kits.client_kits[i] + "/client.toml");
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    cfg->host = "127.0.0.1";
    cfg->port = server.port();
    cfg->state_dir = dir.path() + "/state-" + std::to_string(i);
    cfg->threads = 1;
    client::LocalData local;
    local.dataset = data;
    for (int k = i * 100; k < i * 100 + 80; ++k) local.train.push_back(k);
    for (int k = i * 100 + 80; k < i * 100 + 100; ++k) local.eval.push_back(k);
    local.class_counts.assign(10, 8);
    clients.push_back(std::make_unique<client::Client>(*cfg, local, io, &compute));
    ASSERT_TRUE(clients.back()->Init().ok());
  }
  clients[2]->set_faults({.never_answer = true});
  for (auto& c : clients) c->Start();
  std::thread io_thread([&io] {
    auto guard = net::asio::make_work_guard(io);
    io.run();
  });

  bool finished = server.WaitFinished(std::chrono::seconds(60));
  for (auto& c : clients) c->Stop();
  io.stop();
  io_thread.join();
  compute.join();
  ASSERT_TRUE(finished) << "the round did not complete";

  auto latest = server.server().store().LatestModel();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  const coordinator::ModelRecord& m = **latest;
  EXPECT_EQ(m.version, 2u);
  EXPECT_EQ(*m.parent, 1u);
  EXPECT_EQ(m.round, 1u);
  ASSERT_EQ(m.contributors.size(), 2u);
  EXPECT_EQ(m.total_examples, 160u);
  for (const auto& c : m.contributors) EXPECT_NE(c.client_id, kits.client_ids[2]);
  // Federated evaluation of the new version by the two answering clients.
  ASSERT_TRUE(m.metrics.contains("federated_eval"));
  EXPECT_EQ(m.metrics["federated_eval"]["examples"].get<int64_t>(), 40);
  EXPECT_EQ(clients[0]->stats().tasks_trained.load(), 1u);
  EXPECT_EQ(clients[0]->stats().models_downloaded.load(), 2u);  // initial model, then round 1's
  EXPECT_EQ(clients[2]->stats().tasks_trained.load(), 0u);
}

}  // namespace
}  // namespace fedge::testing
