#pragma once
// fedge-sim: provisions a throw-away project, starts a real coordinator and N real clients
// in this process that talk mutual TLS over loopback through the production code paths,
// runs the scenario's rounds and writes DIR/report.json and DIR/report.html (the same report as
// a self-contained page with charts; simulations/report_html.h).

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "simulations/scenario.h"

namespace fedge::sim {

struct RunOptions {
  std::string out_dir;
  bool quiet = false;  // no progress lines
  // When set and true (fedge-sim on SIGINT/SIGTERM): the clients and the coordinator stop after
  // the training step in progress, the registry is closed, and no report is written.
  const std::atomic<bool>* stop = nullptr;
};

// Runs the scenario and returns the report (also written to out_dir/report.json and, as a page,
// out_dir/report.html). Unavailable ("interrupted after N of M rounds") after options.stop.
shared::Result<nlohmann::json> RunScenario(const Scenario& scenario, const RunOptions& options);

}  // namespace fedge::sim
