#pragma once
// fedge-sim's report (simulations/runner.h): every round's model evaluated on the test images,
// timing, traffic, and the camera, drift, stream and release sections; written as
// OUT/report.json and OUT/report.html.

#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "coordinator/server.h"
#include "simulations/runner.h"
#include "simulations/scenario.h"
#include "simulations/stream.h"

namespace fedge::sim {

// What a finished run hands to the report.
struct RunRecord {
  const Scenario* sc = nullptr;
  const RunOptions* options = nullptr;
  coordinator::Server* server = nullptr;
  const std::vector<coordinator::RoundSummary>* summaries = nullptr;
  std::chrono::steady_clock::time_point t_start;
  double startup_seconds = 0, rounds_seconds = 0, camera_seconds = 0;
  nlohmann::json camera_sites;
  const StreamEnv* stream_env = nullptr;
  const std::vector<StreamSite>* stream_sites = nullptr;
  const nlohmann::json* stream = nullptr;   // RunStream's section (stream scenarios)
  const nlohmann::json* release = nullptr;  // RunReleasePhase's section; null without [release]
  const std::vector<std::string>* client_ids = nullptr;  // the sites, in scenario order
  // [adversary] paired: the report of the same scenario with the attackers honest.
  const nlohmann::json* without_attackers = nullptr;
};

// Builds the report of `run` (evaluating each round's version and, for stream scenarios, the
// paired sets; printing the summary lines unless quiet) and writes report.json and report.html
// into run.options->out_dir. Internal if no round completed; IOError if a file cannot be written.
// REQUIRES: every pointer in `run` set; the phases' sections present as the scenario asks.
shared::Result<nlohmann::json> WriteRunReport(const RunRecord& run);

}  // namespace fedge::sim
