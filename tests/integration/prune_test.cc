// Federated fine-tuning of a pruned model: a real coordinator and real clients over mutual TLS
// train a round, the admin prunes the head (`model prune`), and the next rounds train the
// smaller architecture. Also the refusals: a round open, a bad fraction, an unknown version, an
// architecture that cannot be pruned.
#include "shared/ml/weights/prune.h"

#include <gtest/gtest.h>

#include <thread>

#include "client/client.h"
#include "coordinator/registry.h"
#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/model.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using coordinator::ModelRecord;
using nlohmann::json;

constexpr char kPrunedArch[] = "cnn_small/c1=16,c2=32,f1=64";

class PruneFineTuneTest : public ::testing::Test {
 protected:
  PruneFineTuneTest() : dir_("prune"), kits_(ProvisionOrDie(dir_.path() + "/project", 3)) {
    auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
    config.rounds.count = 1;
    config.rounds.min_clients = 2;
    config.rounds.min_fit = 2;
    config.rounds.fraction_fit = 1.0;
    config.rounds.timeout_seconds = 30;
    config.rounds.eval_timeout_seconds = 10;
    config.rounds.evaluate = true;
    server_ = std::make_unique<RunningServer>(config);
  }
  ~PruneFineTuneTest() override { StopClients(); }

  // Two real clients (kits 0 and 1) on one io thread and one compute thread.
  void StartClients() {
    auto data = SyntheticData(200, 5);
    for (int i = 0; i < 2; ++i) {
      auto cfg = client::LoadClientConfig(kits_.client_kits[i] + "/client.toml");
      ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
      cfg->host = "127.0.0.1";
      cfg->port = server_->port();
      cfg->state_dir = dir_.path() + "/state-" + std::to_string(i);
      cfg->threads = 1;
      client::LocalData local;
      local.dataset = data;
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
  }
  void StopClients() {
    for (auto& c : clients_) c->Stop();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    compute_.join();
  }

  // Polls the engine's snapshot until the rounds up to `round` are done.
  bool WaitRound(uint64_t round, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      json s = server_->server().engine().Snapshot();
      if (s.value("finished", false) && s.value("model_round", uint64_t{0}) == round) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // A fresh admin connection (sessions of silent peers time out between phases).
  shared::Result<json> Admin(const std::string& command, const std::vector<std::string>& args) {
    const std::string kit = kits_.admin_kits[0];
    RawClient c(kit + "/ca.crt", kit + "/admin.crt", kit + "/admin.key");
    FEDGE_RETURN_IF_ERROR(c.Connect(server_->port()));
    FEDGE_RETURN_IF_ERROR(c.SendHello());
    FEDGE_RETURN_IF_ERROR(c.ReadNonHeartbeat().status());  // Welcome
    return c.AdminCall(command, args);
  }

  ModelRecord Record(uint64_t version) {
    auto m = server_->server().store().GetModel(version);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : ModelRecord{};
  }
  coordinator::ExportedModel Exported(uint64_t version) {
    coordinator::ExportedModel e;
    e.record = Record(version);
    auto digest = shared::DigestFromHex(e.record.digest_hex);
    EXPECT_TRUE(digest.ok());
    auto blob = server_->server().store().GetBlob(*digest);
    EXPECT_TRUE(blob.ok()) << blob.status().ToString();
    if (blob.ok()) e.blob = *blob;
    return e;
  }
  shared::TensorBundle State(uint64_t version) {
    auto state = shared::DecodeBundle(Exported(version).blob);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? *state : shared::TensorBundle{};
  }

  TempDir dir_;
  shared::ProvisionResult kits_;
  std::unique_ptr<RunningServer> server_;
  net::asio::io_context io_{1};
  net::asio::thread_pool compute_{1};
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::thread io_thread_;
};

void ExpectError(const shared::Result<json>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << needle << "', got " << r->dump();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().ToString();
}

TEST_F(PruneFineTuneTest, PrunedHeadIsFineTunedInFederation) {
  StartClients();
  ASSERT_TRUE(WaitRound(1, 120)) << "round 1 did not finish";
  ASSERT_EQ(server_->server().engine().current_version(), 2u);

  // An import takes version 3, so the pruned version is the next free number, 4.
  auto mobile = ml::Model::Create("mobilenet_small", 1);
  ASSERT_TRUE(mobile.ok()) << mobile.status().ToString();
  coordinator::ExportedModel imported;
  auto mobile_blob = shared::EncodeBundle(mobile->State());
  ASSERT_TRUE(mobile_blob.ok());
  imported.blob = *mobile_blob;
  imported.record.version = 1;
  imported.record.arch = "mobilenet_small";
  imported.record.digest_hex = shared::ToHex(shared::Sha256(imported.blob));
  imported.record.size_bytes = imported.blob.size();
  auto stored = coordinator::ImportModel(server_->server().store(), imported);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_EQ(stored->version, 3u);

  // Refusals change nothing.
  ExpectError(Admin("model prune", {"2", "1.5"}), "above 0 and below 1");
  ExpectError(Admin("model prune", {"2", "0"}), "above 0 and below 1");
  ExpectError(Admin("model prune", {"2", "half"}), "FRACTION must be a number");
  ExpectError(Admin("model prune", {"99", "0.5"}), "99");
  ExpectError(Admin("model prune", {"2", "0.5", "sideways"}), "no-hidden");
  ExpectError(Admin("model prune", {"3", "0.5"}), "mobilenet_small");
  auto& engine = server_->server().engine();
  auto bad_fraction = engine.PruneHeadAndWait({2, 1.0, true});
  EXPECT_EQ(bad_fraction.status().code(), shared::Code::kInvalidArgument);
  auto unknown = engine.PruneHeadAndWait({99, 0.5, true});
  EXPECT_EQ(unknown.status().code(), shared::Code::kNotFound) << unknown.status().ToString();
  auto unprunable = engine.PruneHeadAndWait({3, 0.5, true});
  EXPECT_EQ(unprunable.status().code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(engine.current_version(), 2u);
  EXPECT_EQ(**server_->server().store().Head(), 2u);

  // Prune the head through the admin command: version 4 is the head and what clients train.
  auto pruned = Admin("model prune", {"2", "0.5"});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ((*pruned)["version"], 4);
  EXPECT_EQ((*pruned)["arch"], kPrunedArch);
  EXPECT_TRUE((*pruned)["head"].get<bool>());
  EXPECT_EQ(**server_->server().store().Head(), 4u);
  EXPECT_EQ(engine.current_version(), 4u);
  EXPECT_EQ(engine.Snapshot()["model_arch"], kPrunedArch);
  const ModelRecord v4 = Record(4);
  EXPECT_EQ(v4.origin, "prune");
  ASSERT_TRUE(v4.parent.has_value());
  EXPECT_EQ(*v4.parent, 2u);
  EXPECT_EQ(v4.round, 1u);
  EXPECT_TRUE(v4.contributors.empty());
  EXPECT_EQ(v4.metrics["prune"]["method"], "l1_channels");
  EXPECT_EQ(v4.metrics["prune"]["fraction"], 0.5);
  EXPECT_EQ(v4.metrics["prune"]["hidden"], true);
  EXPECT_EQ(v4.metrics["prune"]["from"], 2);
  // Exactly PruneChannels of version 2.
  const shared::TensorBundle dense = State(2);
  auto expected = ml::PruneChannels("cnn_small", dense, {0.5, true});
  ASSERT_TRUE(expected.ok());
  auto expected_blob = shared::EncodeBundle(expected->state);
  ASSERT_TRUE(expected_blob.ok());
  EXPECT_EQ(v4.digest_hex, shared::ToHex(shared::Sha256(*expected_blob)));

  // Two rounds of federated fine-tuning on the pruned architecture.
  auto started = Admin("round start", {"2"});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ((*started)["target_round"], 3);
  ASSERT_TRUE(WaitRound(3, 120)) << "the fine-tuning rounds did not finish";
  EXPECT_EQ(**server_->server().store().Head(), 6u);
  auto lineage = coordinator::Lineage(server_->server().store(), 6);
  ASSERT_TRUE(lineage.ok()) << lineage.status().ToString();
  std::vector<uint64_t> chain;
  for (const ModelRecord& m : *lineage) chain.push_back(m.version);
  EXPECT_EQ(chain, (std::vector<uint64_t>{6, 5, 4, 2, 1}));
  for (uint64_t v : {5, 6}) {
    const ModelRecord m = Record(v);
    EXPECT_EQ(m.arch, kPrunedArch) << v;
    EXPECT_EQ(m.origin, "round") << v;
    EXPECT_EQ(m.contributors.size(), 2u) << "version " << v << " got updates from both clients";
    EXPECT_EQ(m.total_examples, 160u) << v;
    EXPECT_EQ(m.metrics["prune"]["fine_tune_rounds"], v - 4) << v;
    EXPECT_TRUE(m.metrics.contains("federated_eval")) << v;
  }
  auto rounds = server_->server().store().ListRounds();
  ASSERT_TRUE(rounds.ok());
  ASSERT_EQ(rounds->size(), 3u);
  EXPECT_EQ((*rounds)[2]["updates"], 2);
  EXPECT_EQ((*rounds)[2]["model_version"], 6);
  for (auto& c : clients_) EXPECT_EQ(c->stats().tasks_trained.load(), 3u);

  // The fine-tuned state is the pruned arch's, smaller than the dense one, and loads.
  const shared::TensorBundle tuned = State(6);
  EXPECT_TRUE(ml::CheckChainState(kPrunedArch, tuned).ok());
  EXPECT_LT(tuned.NumElements(), dense.NumElements());
  EXPECT_EQ(tuned.NumElements(), expected->state.NumElements());
  auto model = ml::Model::Create(kPrunedArch, 0);
  ASSERT_TRUE(model.ok());
  EXPECT_TRUE(model->LoadState(tuned).ok());
  EXPECT_NE(Record(6).digest_hex, v4.digest_hex) << "fine-tuning changed nothing";

  // A release from the fine-tuned version records the recipe; pruning it again works too.
  coordinator::BuildOptions build;
  build.quantization = "int8_per_channel";
  auto release = coordinator::BuildArtifact(Exported(6), {}, build);
  ASSERT_TRUE(release.ok()) << release.status().ToString();
  EXPECT_EQ(release->arch, kPrunedArch);
  EXPECT_EQ(release->recipe.prune_method, "l1_channels");
  EXPECT_EQ(release->recipe.prune_fraction, 0.5);
  EXPECT_NE(release->recipe.fine_tuning.find("2 round(s) since registry version 2"),
            std::string::npos)
      << release->recipe.fine_tuning;
  build.prune_fraction = 0.5;
  auto again = coordinator::BuildArtifact(Exported(6), {}, build);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->arch, "cnn_small/c1=8,c2=16,f1=32");
}

TEST_F(PruneFineTuneTest, RefusedWhileARoundIsOpen) {
  StartClients();
  ASSERT_TRUE(WaitRound(1, 120)) << "round 1 did not finish";
  // A third client takes its training task and never answers: the round stays open.
  const std::string kit = kits_.client_kits[2];
  RawClient silent(kit + "/ca.crt", kit + "/client.crt", kit + "/client.key");
  ASSERT_TRUE(silent.Connect(server_->port()).ok());
  ASSERT_TRUE(silent.SendHello().ok());
  ASSERT_TRUE(silent.ReadNonHeartbeat().ok());  // Welcome: the engine knows it is connected
  auto started = Admin("round start", {"1"});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_FALSE(Expect(silent, wire::Message::TaskOffer).empty());

  ExpectError(Admin("model prune", {"2", "0.5"}), "round 2 is running; prune after it ends");
  auto direct = server_->server().engine().PruneHeadAndWait({2, 0.5, true});
  EXPECT_EQ(direct.status().code(), shared::Code::kUnavailable) << direct.status().ToString();
  EXPECT_EQ(**server_->server().store().Head(), 2u);
  auto models = server_->server().store().ListModels();
  ASSERT_TRUE(models.ok());
  EXPECT_EQ(models->size(), 2u);
}

}  // namespace
}  // namespace fedge::testing
