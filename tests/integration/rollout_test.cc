// Staged rollout of signed releases over the real mutual-TLS channel: a coordinator with a
// release repository, four real clients that trained three rounds, an admin deploying through
// the admin protocol. A good release goes to a canary client, is promoted automatically on its
// healthy install report and evaluation, and reaches every client; a regressed release is
// rolled back automatically from its canary clients, which return to the previous release
// while the others never install it. Every step is in the registry.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "client/client.h"
#include "client/updater.h"
#include "coordinator/release_tools.h"
#include "coordinator/status_page.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/model.h"
#include "shared/release/repository.h"
#include "tests/integration/test_support.h"
#include "tests/release_support.h"

namespace fedge::testing {
namespace {

namespace rel = shared::release;
using nlohmann::json;

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kits_ = ProvisionOrDie(dir_.path() + "/project", kClients);
    keys_ = dir_.path() + "/keys";
    repo_ = dir_.path() + "/repo";
    coordinator::KeysInitOptions k;
    k.key_dir = keys_;
    k.repo = repo_;
    k.now = rel::SystemNow();
    ASSERT_TRUE(coordinator::InitKeys(k).ok());

    auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
    config.rounds.count = 3;
    config.rounds.training.local_epochs =
        5;  // learn the synthetic classes well (the regression test)
    config.rounds.training.batch_size = 16;
    config.rounds.training.learning_rate = 0.02;
    config.rounds.min_clients = kClients;
    config.rounds.min_fit = kClients;
    config.rounds.timeout_seconds = 60;
    config.rounds.eval_timeout_seconds = 60;
    config.release.repo = repo_;
    config.release.max_accuracy_drop = 0.05;
    config.release.canary_timeout_seconds = 120;
    server_ = std::make_unique<RunningServer>(config);

    data_ = SyntheticData(400, 7);
    for (int i = 0; i < kClients; ++i) {
      auto cfg = client::LoadClientConfig(kits_.client_kits[i] + "/client.toml");
      ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
      cfg->host = "127.0.0.1";
      cfg->port = server_->port();
      cfg->state_dir = dir_.path() + "/state-" + std::to_string(i);
      cfg->threads = 1;
      cfg->update.root = repo_ + "/metadata/1.root.json";
      cfg->update.latency_budget_ms = 10000;  // a loaded test machine
      cfg->update.health_frames = 4;
      client::LocalData local;
      local.dataset = data_;
      for (int k = i * 100; k < i * 100 + 80; ++k) local.train.push_back(k);
      for (int k = i * 100 + 80; k < i * 100 + 100; ++k) local.eval.push_back(k);
      local.class_counts.assign(10, 8);
      clients_.push_back(std::make_unique<client::Client>(*cfg, local, io_, &compute_));
      ASSERT_TRUE(clients_.back()->Init().ok());
    }
    for (auto& c : clients_) c->Start();
    io_thread_ = std::thread([this] {
      auto guard = net::asio::make_work_guard(io_);
      io_.run();
    });
    ASSERT_TRUE(WaitFor(
        [this] {
          return server_->server().engine().finished() ||
                 server_->server().store().ListRounds()->size() >= 3;
        },
        std::chrono::seconds(240)))
        << "the training rounds did not complete";
  }

  void TearDown() override {
    for (auto& c : clients_) c->Stop();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    compute_.join();
    server_.reset();
  }

  // Builds an int8 release of `state` (arch cnn_small), publishes it and signs every role.
  std::string Publish(const shared::TensorBundle& state, uint64_t registry_version) {
    auto name = PublishSigned(repo_, keys_, "cnn_small", state, registry_version,
                              dir_.path() + "/candidate.fdga", "int8_per_channel");
    EXPECT_TRUE(name.ok()) << name.status().ToString();
    return name.ok() ? *name : "";
  }

  shared::TensorBundle HeadState(uint64_t* version) {
    auto head = server_->server().store().Head();
    EXPECT_TRUE(head.ok() && head->has_value());
    *version = **head;
    auto record = server_->server().store().GetModel(*version);
    auto blob = server_->server().store().GetBlob(*shared::DigestFromHex(record->digest_hex));
    return *shared::DecodeBundle(*blob);
  }

  shared::Result<json> Admin(const std::string& command, const std::vector<std::string>& args) {
    const std::string kit = kits_.admin_kits[0];
    RawClient a(kit + "/ca.crt", kit + "/admin.crt", kit + "/admin.key");
    FEDGE_RETURN_IF_ERROR(a.Connect(server_->port()));
    FEDGE_RETURN_IF_ERROR(a.SendHello());
    FEDGE_RETURN_IF_ERROR(a.ReadNonHeartbeat().status());
    return a.AdminCall(command, args);
  }

  json Rollout(uint64_t id) {
    json list = server_->server().rollouts().List();
    for (const json& r : list["rollouts"]) {
      if (r["id"] == id) return r;
    }
    return json();
  }

  bool AllServe(const std::string& target) {
    for (auto& c : clients_) {
      if (c->serving_release().first != target) return false;
    }
    return true;
  }

  static constexpr int kClients = 4;
  TempDir dir_{"rollout"};
  shared::ProvisionResult kits_;
  std::string keys_, repo_;
  std::unique_ptr<RunningServer> server_;
  std::shared_ptr<const ml::Dataset> data_;
  net::asio::io_context io_{1};
  net::asio::thread_pool compute_{1};
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::thread io_thread_;
};

TEST_F(RolloutTest, CanaryPromotesAGoodReleaseAndRollsBackARegressedOne) {
  uint64_t head = 0;
  const shared::TensorBundle trained = HeadState(&head);
  const std::string good = Publish(trained, head);
  ASSERT_FALSE(good.empty());

  // Deployed through the admin protocol to 25% of the 4 clients: one canary.
  auto deployed = Admin("release deploy", {good, "25"});
  ASSERT_TRUE(deployed.ok()) << deployed.status().ToString();
  EXPECT_EQ((*deployed)["state"], "canary");
  ASSERT_EQ((*deployed)["cohort"].size(), 1u);
  ASSERT_TRUE(WaitFor([&] { return Rollout(1)["state"] == "promoted"; }, std::chrono::seconds(120)))
      << Rollout(1).dump(2);
  ASSERT_TRUE(WaitFor([&] { return AllServe(good); }, std::chrono::seconds(120)))
      << Rollout(1).dump(2);
  json first = Rollout(1);
  EXPECT_EQ(first["canary_evaluation"]["clients"], 1);
  EXPECT_EQ(first["canary_evaluation"]["examples"], 20);  // the canary's held-out examples
  // The int8 release of the head evaluates within the allowed drop of the head itself.
  EXPECT_LE(first["canary_evaluation"]["previous_accuracy"].get<double>() -
                first["canary_evaluation"]["accuracy"].get<double>(),
            0.05);
  ASSERT_TRUE(
      WaitFor([&] { return Rollout(1)["reports"].size() == kClients; }, std::chrono::seconds(60)));
  const json first_reports = Rollout(1)["reports"];
  for (const auto& [client, report] : first_reports.items()) {
    EXPECT_TRUE(report["installed"].get<bool>()) << client << ": " << report.dump();
    EXPECT_GT(report["median_latency_ms"].get<double>(), 0) << client;
  }
  std::vector<std::string> actions;
  for (const json& s : first["steps"]) actions.push_back(s["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"deployed", "promoted"}));

  // A release of an untrained network: it verifies and passes the health check, but its
  // accuracy on the canaries' data collapses.
  auto untrained = ml::Model::Create("cnn_small", 99);
  ASSERT_TRUE(untrained.ok());
  const std::string bad = Publish(untrained->State(), head);
  auto second = Admin("release deploy", {bad, "50"});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const std::vector<std::string> cohort = (*second)["cohort"];
  ASSERT_EQ(cohort.size(), 2u);
  ASSERT_TRUE(
      WaitFor([&] { return Rollout(2)["state"] == "rolled_back"; }, std::chrono::seconds(120)))
      << Rollout(2).dump(2);
  json rolled = Rollout(2);
  EXPECT_NE(rolled["steps"].back()["detail"].get<std::string>().find("accuracy regression"),
            std::string::npos)
      << rolled["steps"].dump();
  EXPECT_GT(rolled["canary_evaluation"]["previous_accuracy"].get<double>() -
                rolled["canary_evaluation"]["accuracy"].get<double>(),
            0.05);
  // The canaries go back to the good release (their other slot); nobody else ever installed.
  ASSERT_TRUE(WaitFor([&] { return AllServe(good); }, std::chrono::seconds(60)));
  ASSERT_TRUE(WaitFor(
      [&] {
        json r = Rollout(2)["reports"];
        for (const std::string& c : cohort) {
          if (!r.contains(c) || !r[c]["reverted"].get<bool>()) return false;
        }
        return true;
      },
      std::chrono::seconds(60)))
      << Rollout(2)["reports"].dump(2);
  const json second_reports = Rollout(2)["reports"];
  for (const auto& [client, report] : second_reports.items()) {
    EXPECT_TRUE(std::find(cohort.begin(), cohort.end(), client) != cohort.end())
        << client << " was not a canary but got the release";
    EXPECT_EQ(report["active_target"], good) << client;
  }
  for (int i = 0; i < kClients; ++i) {
    auto active = client::LoadActiveRelease(dir_.path() + "/state-" + std::to_string(i));
    ASSERT_TRUE(active.ok() && active->has_value());
    EXPECT_EQ((*active)->target, good);
  }

  // Visible to admins, stored in the registry, counted in the metrics.
  auto listed = Admin("rollouts", {});
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ((*listed)["fleet"]["target"], good);
  ASSERT_EQ((*listed)["rollouts"].size(), 2u);
  EXPECT_EQ((*listed)["rollouts"][0]["state"], "rolled_back");
  EXPECT_EQ((*listed)["rollouts"][1]["state"], "promoted");
  auto stored = server_->server().store().ListRollouts();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[1].state, "rolled_back");
  const std::string metrics = server_->server().metrics().registry().Render();
  EXPECT_NE(metrics.find("fedge_release_rollout_failures_total 1"), std::string::npos);
  EXPECT_NE(metrics.find("fedge_release_promotions_total 1"), std::string::npos);
  EXPECT_NE(metrics.find("fedge_release_counter 1"), std::string::npos);

  // The status page's releases section (coordinator/status_page.h) shows both rollouts.
  json rows = server_->server().rollouts().StatusRows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["state"], "rolled_back");
  EXPECT_EQ(rows[0]["stage"], "canary 50%");
  EXPECT_EQ(rows[1]["installed"], kClients);
  EXPECT_EQ(rows[1]["model_version"], head) << rows.dump(2);
  const std::string page = coordinator::RenderStatusPage({{"releases", rows}});
  EXPECT_NE(page.find(bad + " (counter 2)"), std::string::npos);
  EXPECT_NE(page.find("rolled_back"), std::string::npos);

  // fedgectl shows the same, and refuses to promote when nothing is in canary.
  std::string out;
  const std::vector<std::string> ctl = {FEDGE_FEDGECTL_BIN,
                                        "--kit",
                                        kits_.admin_kits[0],
                                        "--host",
                                        "127.0.0.1",
                                        "--port",
                                        std::to_string(server_->port())};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = ctl;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  ASSERT_EQ(RunCommand(with({"rollouts"}), &out), 0) << out;
  EXPECT_NE(out.find("fleet release: " + good), std::string::npos) << out;
  EXPECT_NE(out.find("rollout 2: " + bad), std::string::npos) << out;
  EXPECT_NE(out.find("rolled_back; canary 50% (2 clients); reports: 0 installed, 0 failed, 2 "
                     "reverted"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("accuracy regression"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(with({"release", "promote"}), &out), 2) << out;
  EXPECT_NE(out.find("no rollout is in canary"), std::string::npos) << out;

  // Deploying something older than the fleet's release, or an unknown target, is refused.
  auto older = Admin("release deploy", {good, "50"});
  ASSERT_FALSE(older.ok());
  EXPECT_NE(older.status().message().find("not above the fleet's release"), std::string::npos)
      << older.status().message();
  auto unknown = Admin("release deploy", {"nope-7", "50"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no release \"nope-7\""), std::string::npos);
}

TEST_F(RolloutTest, RefusesToDeployAnArtifactThatDoesNotMatchItsSignedTargets) {
  uint64_t head = 0;
  const shared::TensorBundle trained = HeadState(&head);
  const std::string name = Publish(trained, head);
  ASSERT_FALSE(name.empty());
  const std::string path = coordinator::RepoTargetPath(repo_, name);
  auto bytes = shared::ReadFile(path, 1 << 30);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() / 2] ^= 0x40;
  ASSERT_TRUE(shared::WriteFileAtomic(path, *bytes, 0644).ok());
  auto r = Admin("release deploy", {name, "50"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not match the length and SHA-256"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(server_->server().rollouts().List()["rollouts"].empty());
  for (auto& c : clients_) EXPECT_EQ(c->serving_release().first, "");
}

TEST_F(RolloutTest, RefusesToDeployUnsignedMetadata) {
  uint64_t head = 0;
  auto state = HeadState(&head);
  const std::string name = Publish(state, head);
  ASSERT_FALSE(name.empty());
  // A newer publish that nobody signed yet.
  coordinator::PublishOptions p;
  p.repo = repo_;
  p.artifact_path = dir_.path() + "/candidate.fdga";
  auto a = ml::DecodeArtifact(*shared::ReadFile(p.artifact_path, 1 << 30));
  ASSERT_TRUE(a.ok());
  a->version = 2;
  ASSERT_TRUE(shared::WriteFileAtomic(p.artifact_path, *ml::EncodeArtifact(*a), 0644).ok());
  p.now = rel::SystemNow();
  ASSERT_TRUE(coordinator::Publish(p).ok());
  auto r = Admin("release deploy", {name, "100"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("required signatures; sign it first"), std::string::npos)
      << r.status().message();
}

// `fedge-client update` (the offline path) checks compatibility against the input shape of the
// model the site serves: a camera site running cnn_color (3x32x32) installs cnn_color releases.
TEST(ClientUpdateCommandTest, UsesTheServedModelsInputShape) {
  TempDir dir("update_cmd");
  auto kits = ProvisionOrDie(dir.path() + "/project", 1);
  coordinator::KeysInitOptions k;
  k.key_dir = dir.path() + "/keys";
  k.repo = dir.path() + "/repo";
  k.now = rel::SystemNow();
  ASSERT_TRUE(coordinator::InitKeys(k).ok());
  auto publish = [&](uint64_t counter) {
    auto model = ml::Model::Create("cnn_color", counter);
    auto name = PublishSigned(k.repo, k.key_dir, "cnn_color", model->State(), counter,
                              dir.path() + "/c.fdga");
    ASSERT_TRUE(name.ok()) << name.status().ToString();
  };
  const std::string kit = kits.client_kits[0];
  std::ofstream(kit + "/client.toml", std::ios::app)
      << "\n[update]\nroot = \"" << k.repo
      << "/metadata/1.root.json\"\nlatency_budget_ms = 10000\n";
  auto config = client::LoadClientConfig(kit + "/client.toml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  // The site already serves a cnn_color release (installed as a camera client would).
  publish(1);
  client::UpdateOptions o;
  o.state_dir = config->state_dir;
  o.initial_root_path = k.repo + "/metadata/1.root.json";
  o.latency_budget_ms = 10000;
  o.input_shape = {3, 32, 32};
  client::DirectoryReleaseSource source(k.repo);
  auto first = client::RunUpdate(source, o);
  ASSERT_TRUE(first.ok() && first->installed) << (first.ok() ? first->error : "");
  publish(2);
  std::string out;
  EXPECT_EQ(
      RunCommand({FEDGE_CLIENT_BIN, "update", "--config", kit + "/client.toml", "--repo", k.repo},
                 &out),
      0)
      << out;
  EXPECT_NE(out.find("\"installed\":true"), std::string::npos) << out;
  auto active = client::LoadActiveRelease(config->state_dir);
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->counter, 2u);
}

}  // namespace
}  // namespace fedge::testing
