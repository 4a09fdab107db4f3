// fedgectl against a running fedge-coordinator with real clients, all as separate processes
// over mutual TLS: listings, lineage, export/import, revocation, starting more rounds, and the
// role check (a client certificate cannot run admin commands).
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "coordinator/admin_commands.h"
#include "coordinator/registry.h"
#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/model.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using nlohmann::json;

class FedgectlTest : public ::testing::Test {
 protected:
  FedgectlTest()
      : dir_("fedgectl"), project_(dir_.path(), /*clients=*/2, /*rounds=*/3, /*min_clients=*/1) {}

  // Runs fedgectl with the admin kit; returns the exit code.
  int Ctl(std::vector<std::string> args, std::string* out, const std::string& kit = "") {
    std::vector<std::string> argv = {FEDGE_FEDGECTL_BIN, "--kit",
                                     kit.empty() ? project_.kits().admin_kits[0] : kit};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out);
  }
  json CtlJson(std::vector<std::string> args) {
    std::string out;
    args.push_back("--json");
    int code = Ctl(args, &out);
    EXPECT_EQ(code, 0) << out;
    try {
      return json::parse(out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << out;
      return json();
    }
  }
  // Polls `status --json` until `done` holds.
  bool WaitStatus(const std::function<bool(const json&)>& done, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out;
      if (Ctl({"status", "--json"}, &out) == 0) {
        try {
          if (done(json::parse(out))) return true;
        } catch (const std::exception&) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  }

  TempDir dir_;
  ProcessProject project_;
};

TEST_F(FedgectlTest, AdminCommandsOverMutualTls) {
  auto coordinator = project_.StartCoordinator("main", {"--serve"});
  auto client0 = project_.StartClient(0, "main");
  auto client1 = project_.StartClient(1, "main");
  ASSERT_TRUE(WaitStatus(
      [](const json& s) {
        return s["engine"]["finished"].get<bool>() && s["engine"]["model_version"] == 4 &&
               s["clients_connected"] == 2;
      },
      120))
      << "the 3 rounds did not finish; see " << project_.Log("coordinator-main");

  // Versions and lineage.
  json models = CtlJson({"models"});
  ASSERT_EQ(models["models"].size(), 4u);
  EXPECT_EQ(models["head"], 4);
  EXPECT_EQ(models["models"][3]["parent"], 3);
  EXPECT_EQ(models["models"][0]["origin"], "initial");
  json lineage = CtlJson({"model", "lineage", "4"});
  ASSERT_EQ(lineage["lineage"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(lineage["lineage"][i]["version"], 4 - i);
  json rounds = CtlJson({"rounds"});
  ASSERT_EQ(rounds["rounds"].size(), 3u);
  EXPECT_EQ(rounds["rounds"][2]["model_version"], 4);
  json clients = CtlJson({"clients"});
  ASSERT_EQ(clients["clients"].size(), 2u);
  EXPECT_TRUE(clients["clients"][0]["connected"].get<bool>());

  std::string out;
  ASSERT_EQ(Ctl({"models"}, &out), 0) << out;
  EXPECT_NE(out.find("4*"), std::string::npos) << out;  // the head is marked
  ASSERT_EQ(Ctl({"model", "show", "3"}, &out), 0) << out;
  EXPECT_NE(out.find(project_.kits().client_ids[0]), std::string::npos) << out;
  EXPECT_NE(out.find("parent        2"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"model", "compare", "2", "4"}, &out), 0) << out;
  EXPECT_NE(out.find("federated_eval.accuracy"), std::string::npos) << out;
  EXPECT_NE(Ctl({"model", "show", "99"}, &out), 0);
  EXPECT_NE(out.find("no model version 99"), std::string::npos) << out;

  // Export, then import: the same model is refused; another one becomes a new version.
  const std::string exported = dir_.path() + "/v3.fedge";
  ASSERT_EQ(Ctl({"model", "export", "3", exported}, &out), 0) << out;
  auto read = coordinator::ReadExport(exported);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->record.version, 3u);
  EXPECT_NE(Ctl({"model", "import", exported}, &out), 0);
  EXPECT_NE(out.find("already holds this model"), std::string::npos) << out;
  auto other = ml::Model::Create("cnn_small", 99);
  ASSERT_TRUE(other.ok());
  auto blob = shared::EncodeBundle(other->State());
  ASSERT_TRUE(blob.ok());
  coordinator::ModelRecord record = read->record;
  record.version = 1;
  record.parent.reset();
  record.digest_hex = shared::ToHex(shared::Sha256(*blob));
  record.size_bytes = blob->size();
  auto file = coordinator::EncodeExport(record, *blob);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const std::string foreign = dir_.path() + "/foreign.fedge";
  ASSERT_TRUE(shared::WriteFileAtomic(foreign, *file, 0644).ok());
  ASSERT_EQ(Ctl({"model", "import", foreign}, &out), 0) << out;
  EXPECT_NE(out.find("as model version 5"), std::string::npos) << out;
  models = CtlJson({"models"});
  ASSERT_EQ(models["models"].size(), 5u);
  EXPECT_EQ(models["models"][4]["origin"], "import");
  EXPECT_EQ(models["head"], 4) << "an import must not become the head";

  // A client certificate cannot run admin commands, even dressed up as an admin kit. (The real
  // site-001 is stopped meanwhile: its reconnect would replace the impostor's session.)
  client0->Kill();
  const std::string fake = dir_.path() + "/fake-admin";
  std::filesystem::create_directories(fake);
  const std::string kit0 = project_.kits().client_kits[0];
  std::ofstream(fake + "/admin.toml")
      << "[coordinator]\nhost = \"127.0.0.1\"\nport = " << project_.port() << "\n[tls]\nca = \""
      << kit0 << "/ca.crt\"\ncert = \"" << kit0 << "/client.crt\"\nkey = \"" << kit0
      << "/client.key\"\n";
  EXPECT_NE(Ctl({"status"}, &out, fake), 0);
  EXPECT_NE(out.find("AdminRequest from a client"), std::string::npos) << out;
  client0 = project_.StartClient(0, "main");

  // Revocation: durable, the client's session is closed and it gives up reconnecting.
  ASSERT_EQ(Ctl({"revoke", project_.kits().client_ids[1], "--reason", "decommissioned"}, &out), 0)
      << out;
  int code = -1;
  ASSERT_TRUE(client1->WaitExit(std::chrono::seconds(20), &code)) << "revoked client still runs";
  EXPECT_EQ(code, 1);
  clients = CtlJson({"clients"});
  EXPECT_TRUE(clients["clients"][1]["revoked"].get<bool>());
  EXPECT_FALSE(clients["clients"][1]["connected"].get<bool>());

  // One more round, with the remaining client; its version comes after the import.
  json started = CtlJson({"round", "start", "--rounds", "1"});
  EXPECT_EQ(started["target_round"], 4);
  ASSERT_TRUE(WaitStatus(
      [](const json& s) {
        return s["engine"]["finished"].get<bool>() && s["engine"]["model_round"] == 4;
      },
      60))
      << "the extra round did not finish; see " << project_.Log("coordinator-main");
  models = CtlJson({"models"});
  EXPECT_EQ(models["head"], 6);
  ASSERT_EQ(models["models"].size(), 6u);
  EXPECT_EQ(models["models"][5]["parent"], 4);
  EXPECT_EQ(models["models"][5]["contributors"], 1);

  // Pruning the head for federated fine-tuning: a new head version with the pruned arch.
  EXPECT_NE(Ctl({"model", "prune", "--from", "6", "--fraction", "1.5"}, &out), 0);
  EXPECT_NE(out.find("above 0 and below 1"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"model", "prune", "--from", "6", "--fraction", "0.5"}, &out), 0) << out;
  EXPECT_NE(out.find("into version 7 (cnn_small/c1=16,c2=32,f1=64"), std::string::npos) << out;
  json pruned = CtlJson({"model", "show", "7"});
  EXPECT_EQ(pruned["origin"], "prune");
  EXPECT_EQ(pruned["parent"], 6);
  EXPECT_TRUE(pruned["head"].get<bool>());
  json again = CtlJson({"model", "prune", "--from", "7", "--fraction", "0.5", "--no-hidden"});
  EXPECT_EQ(again["version"], 8);
  EXPECT_EQ(again["arch"], "cnn_small/c1=8,c2=16,f1=64");
  EXPECT_EQ(again["metrics"]["prune"]["hidden"], false);

  // Without --kit, a clear usage error.
  EXPECT_EQ(RunCommand({FEDGE_FEDGECTL_BIN, "status"}, &out), 2);
  EXPECT_NE(out.find("--kit"), std::string::npos) << out;
}

// fedgectl's admin subcommands come from the admin command table the coordinator dispatches
// on: each entry is listed under its group ("model", "round", "release" or the top level) with
// the entry's help line. One `--help` process per group.
TEST(FedgectlCommandsTest, EveryAdminCommandIsASubcommandWithItsHelp) {
  std::map<std::string, std::string> help;  // group ("" for the top level) -> its --help text
  for (const coordinator::AdminCommandSpec& c : coordinator::AdminCommands()) {
    const std::string name(c.name);
    const size_t space = name.rfind(' ');
    const std::string group = space == std::string::npos ? "" : name.substr(0, space);
    if (!help.contains(group)) {
      std::vector<std::string> argv = {FEDGE_FEDGECTL_BIN};
      if (!group.empty()) argv.push_back(group);
      argv.push_back("--help");
      ASSERT_EQ(RunCommand(argv, &help[group]), 0) << group << ": " << help[group];
    }
    const std::string line = std::string(coordinator::AdminSubcommandName(c));
    const std::string& text = help[group];
    const size_t at = text.find("\n  " + line + " ");
    ASSERT_NE(at, std::string::npos) << name << " is not listed:\n" << text;
    EXPECT_EQ(text.substr(text.find_first_not_of(' ', at + 3 + line.size()), c.help.size()),
              std::string(c.help))
        << name;
  }
  EXPECT_EQ(help.size(), 4u);  // top level, model, round, release
}

// `release create` measures its gate's accuracies with fedge-eval, beside fedgectl (which does
// not load LibTorch, see torch_free_link_check); without it the command says how to fix that.
TEST(FedgectlReleaseCreateTest, TheGateMeasuresAccuracyWithFedgeEval) {
  TempDir dir("fedgectl-create");
  auto model = ml::Model::Create("cnn_small", 7);
  ASSERT_TRUE(model.ok());
  const std::vector<uint8_t> blob = *shared::EncodeBundle(model->State());
  coordinator::ModelRecord record;
  record.version = 1;
  record.arch = "cnn_small";
  record.digest_hex = shared::ToHex(shared::Sha256(blob));
  record.size_bytes = blob.size();
  auto exported = coordinator::EncodeExport(record, blob);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  const std::string model_file = dir.path() + "/v1.fedgemodel";
  ASSERT_TRUE(shared::WriteFileAtomic(model_file, *exported, 0644).ok());
  coordinator::KeysInitOptions keys;
  keys.key_dir = dir.path() + "/keys";
  keys.repo = dir.path() + "/repo";
  keys.now = std::time(nullptr);
  ASSERT_TRUE(coordinator::InitKeys(keys).ok());
  auto create = [&](const std::string& out) {
    std::string text;
    int code = RunCommand({FEDGE_FEDGECTL_BIN, "release", "create", "--from-export", model_file,
                           "--repo", keys.repo, "--out", out, "--val-examples", "300"},
                          &text);
    return std::make_pair(code, text);
  };

  auto [code, out] = create(dir.path() + "/r1.fdga");
  ASSERT_EQ(code, 0) << out;
  // The same fp32 weights on both sides of the gate: the same accuracy, measured on 300 images.
  const size_t at = out.find("accuracy gate passed: candidate ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string candidate = out.substr(at + 32, out.find('%', at) - at - 32);
  EXPECT_NE(out.find("vs current release " + candidate + "%, a drop of 0.00 points"),
            std::string::npos)
      << out;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/r1.fdga"));

  ::setenv("FEDGE_EVAL", (dir.path() + "/no-such-fedge-eval").c_str(), 1);
  auto [missing_code, missing] = create(dir.path() + "/r2.fdga");
  ::unsetenv("FEDGE_EVAL");
  EXPECT_NE(missing_code, 0) << missing;
  EXPECT_NE(missing.find("no-such-fedge-eval"), std::string::npos) << missing;
  EXPECT_NE(missing.find("--no-gate"), std::string::npos) << missing;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/r2.fdga"));

  // fedge-eval itself refuses a file that is not a tensor bundle, naming it.
  const std::string eval =
      (std::filesystem::path(FEDGE_FEDGECTL_BIN).parent_path() / "fedge-eval").string();
  ASSERT_TRUE(
      shared::WriteFileAtomic(dir.path() + "/junk.bin", shared::AsBytes("junk"), 0644).ok());
  std::string junk;
  EXPECT_EQ(RunCommand({eval, "--arch", "cnn_small", "--weights", dir.path() + "/junk.bin"}, &junk),
            1);
  EXPECT_NE(junk.find("junk.bin"), std::string::npos) << junk;
}

}  // namespace
}  // namespace fedge::testing
