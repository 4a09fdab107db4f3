// report.html in a real browser: runs a tiny fedge-sim scenario (3 camera sites, 2 rounds, a
// short live stream with dusk on one site) as a process, then loads the page it wrote in
// headless Chromium through tests/browser/check_page.sh and checks what the browser shows
// against report.json. The screenshot stays in the build tree (test-artifacts/report.png).
// Chromium missing is a failure that says to run scripts/setup, never a skip.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace fedge {
namespace {

using nlohmann::json;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `argv` through the shell and collects its output.
ProcessResult Execute(const std::vector<std::string>& argv) {
  std::string command;
  for (const std::string& a : argv) command += Quote(a) + " ";
  ProcessResult run;
  FILE* pipe = ::popen((command + "2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) run.output.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

constexpr const char* kScenario = R"([scenario]
name = "tiny <b>drift</b> & co"
clients = 3
rounds = 2
[data]
partition = "iid"
[camera]
enabled = true
frame_size = 32
frames_per_client = 200
test_frames = 200
[training]
learning_rate = 0.05
[model]
arch = "cnn_color"
[stream]
frames = 600
step_frames = 100
label_budget = 40
label_delay_steps = 1
eval_frames = 50
[monitor]
window = 100
[drift]
persistence = 1
min_clients = 1
campaign_rounds = 2
[[drift.events]]
kind = "dusk"
clients = [0]
at_frame = 200
severity = 0.8
)";

std::string Count(const std::string& selector, size_t n) {
  return selector + "=" + std::to_string(n);
}

// Campaigns with a round that ran during the stream: drawn as bands on the drift chart.
size_t CampaignsDuringStream(const json& report) {
  std::set<uint64_t> stream_rounds;
  for (const json& r : report["stream"]["rounds_at_step"]) {
    stream_rounds.insert(r["round"].get<uint64_t>());
  }
  size_t n = 0;
  for (const json& c : report["drift"]["campaigns"]) {
    auto it = stream_rounds.lower_bound(c["first_round"].get<uint64_t>());
    n += it != stream_rounds.end() && *it <= c["last_round"].get<uint64_t>();
  }
  return n;
}

// check_page.sh arguments that hold iff the browser shows what `report` says.
std::vector<std::string> Expectations(const json& report) {
  const size_t rounds = report["rounds"].size();
  size_t windows = 0, stream_points = 0;
  for (const auto& [id, w] : report["stream"]["windows"].items()) windows += w.size();
  for (const auto& [id, a] : report["stream"]["stream_accuracy"].items()) stream_points += a.size();
  char accuracy[32];
  std::snprintf(accuracy, sizeof(accuracy), "%.4f", report["final"]["accuracy"].get<double>());
  return {
      "--text",
      "fedge-sim report: tiny <b>drift</b> & co",  // escaped, shown as text
      "--absent",
      "<b>drift",
      "--absent",
      "<script",
      "--text",
      std::string("Final test accuracy ") + accuracy,
      "--count",
      Count("td#final-accuracy", 1),
      "--count",
      Count("table#per-class tr.class-row", 10),
      "--selector",
      "svg#chart-accuracy g.series[data-series=\"test accuracy\"][data-points=\"" +
          std::to_string(rounds) + "\"]",
      "--count",
      Count("svg#chart-seconds circle.point", rounds),
      "--count",
      Count("svg#chart-bytes rect.point", 2 * rounds),
      "--count",
      Count("svg#chart-loss circle.point", 2 * rounds),
      "--count",
      Count("svg#chart-drift circle.point", windows),
      "--selector",
      "svg#chart-drift[data-points=\"" + std::to_string(windows) + "\"]",
      "--count",
      Count("svg#chart-drift line.level", 1),
      "--count",
      Count("svg#chart-drift g.marker", report["stream"]["events"].size()),
      "--count",
      Count("svg#chart-drift rect.band", CampaignsDuringStream(report)),
      "--count",
      Count("svg#chart-stream-accuracy circle.point", stream_points),
      "--count",
      Count("table#drift-events tr.event", 1),
      "--count",
      Count("svg.chart", 7),  // 4 round charts, drift, stream accuracy, paired
      "--selector",
      "p#no-releases",
  };
}

TEST(ReportPageBrowserTest, ChromiumShowsTheChartsOfATinyDriftRun) {
  testing::TempDir dir("report_page");
  const std::string scenario = dir.path() + "/tiny.toml";
  std::ofstream(scenario) << kScenario;
  const std::string out = dir.path() + "/out";
  const ProcessResult sim = Execute({FEDGE_SIM_BIN, scenario, "--out", out, "--quiet"});
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  EXPECT_NE(sim.output.find("charts: " + out + "/report.html"), std::string::npos) << sim.output;
  const json report = json::parse(std::ifstream(out + "/report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object() && report.contains("stream")) << out;

  const std::string artifacts = FEDGE_ARTIFACT_DIR;
  std::vector<std::string> args = {
      FEDGE_CHECK_PAGE, out + "/report.html",           "--screenshot",  artifacts + "/report.png",
      "--dom",          artifacts + "/report.dom.html", "--window-size", "1280,4200"};
  const std::vector<std::string> expect = Expectations(report);
  args.insert(args.end(), expect.begin(), expect.end());
  std::filesystem::create_directories(artifacts);
  const ProcessResult check = Execute(args);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  std::printf("%s", check.output.c_str());  // names the screenshot
  EXPECT_GT(std::filesystem::file_size(artifacts + "/report.png"), 50'000u);

  // The same page with one point too many expected: the harness must notice.
  args.push_back("--count");
  args.push_back(Count("svg#chart-seconds circle.point", report["rounds"].size() + 1));
  const ProcessResult wrong = Execute(args);
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("FAIL: " + std::to_string(report["rounds"].size() + 1) +
                              " elements match 'svg#chart-seconds circle.point'"),
            std::string::npos)
      << wrong.output;
}

TEST(BrowserHarnessTest, MissingChromiumFailsAndSaysToRunSetup) {
  testing::TempDir dir("check_page");
  std::ofstream(dir.path() + "/p.html") << "<p>hi</p>";
  const ProcessResult run = Execute({"env", "CHROMIUM=/nonexistent/chromium", FEDGE_CHECK_PAGE,
                                     dir.path() + "/p.html", "--text", "hi"});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("run scripts/setup"), std::string::npos) << run.output;
}

TEST(BrowserHarnessTest, FailedPageLoadIsAFailure) {
  // Port 1 is on Chromium's unsafe list: the load fails before any connection.
  const ProcessResult run =
      Execute({FEDGE_CHECK_PAGE, "http://127.0.0.1:1/", "--text", "anything"});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("could not load"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace fedge
