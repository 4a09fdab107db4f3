// The coordinator's status page in a real browser: a provisioned project runs as processes
// (fedge-coordinator with [status] and a token file, two fedge-client), two rounds complete,
// then headless Chromium loads https://127.0.0.1:PORT/?token=... with the project CA trusted
// through a throw-away NSS database (certificate errors are never ignored) via
// tests/browser/check_page.sh, and the test checks what the browser shows against
// /status.json. The screenshot stays in the build tree (test-artifacts/status_page.png).
// Chromium or certutil missing is a failure that says to run scripts/setup, never a skip.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/https_get.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using nlohmann::json;

const std::string kToken = "5eb63bbbe01eeed093cb22bb8f5acdc3aa5bc2f4d1e5c0d9";

bool OnPath(const std::string& tool) {
  std::string out;
  return RunCommand({"/bin/sh", "-c", "command -v " + tool}, &out) == 0;
}

std::string Count(const std::string& selector, size_t n) {
  return selector + "=" + std::to_string(n);
}

// check_page.sh with `args` after the URL; its exit code and output.
int CheckPage(const std::string& url, std::vector<std::string> args, std::string* output) {
  std::vector<std::string> argv = {FEDGE_CHECK_PAGE, url};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, output);
}

TEST(StatusPageBrowserTest, ChromiumShowsClientsVersionsAndTheAccuracyChart) {
  ASSERT_TRUE(OnPath("chromium") && OnPath("certutil"))
      << "chromium or certutil (libnss3-tools) not found: run scripts/setup";
  TempDir dir("status-browser");
  ProcessProject project(dir.path(), /*clients=*/2, /*rounds=*/2, /*min_clients=*/2);
  const std::string token_file = dir.path() + "/status.token";
  std::ofstream(token_file) << kToken << "\n";
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  const uint16_t port = FreePort();
  const std::string config = project.CoordinatorConfig("run");
  std::ofstream(config, std::ios::app)
      << "[status]\nenabled = true\nport = " << port << "\ntoken_file = \"" << token_file << "\"\n";
  // Started here rather than by project.StartCoordinator, which writes the config afresh.
  Process coordinator({FEDGE_COORDINATOR_BIN, "--config", config, "--serve"},
                      project.Log("coordinator"));
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 2; ++i) clients.push_back(project.StartClient(i, "run"));

  const std::string ca = project.kits().coordinator_kit + "/ca.crt";
  const std::string auth = "Authorization: Bearer " + kToken + "\r\n";
  json status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (std::chrono::steady_clock::now() < deadline) {
    int code = 0;
    ASSERT_FALSE(coordinator.Exited(&code))
        << "the coordinator exited with " << code << "; see " << project.Log("coordinator");
    HttpsAnswer a = HttpsGet(port, ca, "/status.json", auth);
    if (a.status == 200) {
      status = json::parse(a.body, nullptr, false);
      if (status.is_object() && status["rounds"].size() >= 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(status.is_object() && status["rounds"].size() == 2)
      << status.dump(2) << "\nsee " << project.Log("coordinator");
  const uint64_t version = status["coordinator"]["model_version"].get<uint64_t>();
  EXPECT_EQ(version, 3u);
  size_t points = 0;
  for (const json& m : status["models"]) points += m["accuracy"].is_number();
  EXPECT_GE(points, 2u);  // at least versions 2 and 3 carry a federated accuracy

  const std::string artifacts = FEDGE_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const std::string screenshot = artifacts + "/status_page.png";
  std::vector<std::string> expect = {
      "--ca-cert",     ca,
      "--screenshot",  screenshot,
      "--dom",         artifacts + "/status_page.dom.html",
      "--window-size", "1280,1300",
      "--text",        "fedge coordinator",
      "--text",        "Model version " + std::to_string(version),
      "--count",       Count("td#model-version", 1),
      "--count",       Count("table#clients tr.client", 2),
      "--count",       Count("table#rounds tr.round", 2),
      "--selector",    "svg#chart-model-accuracy[data-points=\"" + std::to_string(points) + "\"]",
      "--count",       Count("svg#chart-model-accuracy circle.point", points),
      "--selector",    "p#no-releases",
      "--absent",      "<script",
      "--absent",
      kToken,  // the page never echoes the token
  };
  for (const std::string& id : project.kits().client_ids) {
    expect.push_back("--selector");
    expect.push_back("table#clients tr.client[data-client=\"" + id + "\"]");
  }
  std::string output;
  const int rc =
      CheckPage("https://127.0.0.1:" + std::to_string(port) + "/?token=" + kToken, expect, &output);
  EXPECT_EQ(rc, 0) << output;
  std::printf("%s", output.c_str());  // names the screenshot
  ASSERT_TRUE(std::filesystem::exists(screenshot)) << output;
  EXPECT_GT(std::filesystem::file_size(screenshot), 20'000u);
  std::printf("status page screenshot: %s\n", std::filesystem::absolute(screenshot).c_str());

  // Without the token the browser gets the sign-in page and none of the data.
  std::vector<std::string> refused = {
      "--ca-cert",           ca, "--text", "Not signed in", "--absent", "data-client", "--absent",
      "chart-model-accuracy"};
  EXPECT_EQ(CheckPage("https://127.0.0.1:" + std::to_string(port) + "/", refused, &output), 0)
      << output;
  // Without the CA the browser refuses the certificate: the page does not load.
  EXPECT_EQ(CheckPage("https://127.0.0.1:" + std::to_string(port) + "/?token=" + kToken,
                      {"--text", "fedge coordinator"}, &output),
            1)
      << output;
}

}  // namespace
}  // namespace fedge::testing
