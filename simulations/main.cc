// fedge-sim SCENARIO.toml --out DIR: a whole federation on one machine, with a report.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "shared/base/log.h"
#include "shared/base/shutdown.h"
#include "simulations/runner.h"

int main(int argc, char** argv) {
  CLI::App app{"fedge-sim: runs a coordinator and many clients over real mutual TLS on loopback"};
  std::string scenario_path, out_dir, log_level = "warn", log_format;
  bool quiet = false;
  app.add_option("scenario", scenario_path, "scenario file (TOML)")->required();
  app.add_option("--out", out_dir, "output directory for report.json, report.html and state")
      ->required();
  app.add_option("--log-level", log_level, "debug, info, warn or error (default warn)");
  app.add_option("--log-format", log_format, "text or json (one JSON object per line)");
  app.add_flag("--quiet", quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);
  if (!fedge::shared::ConfigureLogging("fedge-sim", log_level, log_format)) return 2;
  auto scenario = fedge::sim::LoadScenario(scenario_path);
  if (!scenario.ok()) {
    std::fprintf(stderr, "fedge-sim: %s\n", scenario.status().message().c_str());
    return 1;
  }
  // SIGINT/SIGTERM: the run stops after the training steps in progress; the registry is kept.
  fedge::shared::ShutdownWatch shutdown({"fedge-sim"});
  auto report = fedge::sim::RunScenario(*scenario, {out_dir, quiet, &shutdown.requested_flag()});
  if (!report.ok() && shutdown.requested()) {
    std::fprintf(stderr, "fedge-sim: %s; registry kept in %s/project/coordinator/data\n",
                 report.status().message().c_str(), out_dir.c_str());
    return 0;
  }
  if (!report.ok()) {
    std::fprintf(stderr, "fedge-sim: %s\n", report.status().ToString().c_str());
    return 1;
  }
  const auto& f = (*report)["final"];
  std::printf(
      "final: test accuracy %.4f, macro-F1 %.4f, model version %s; mean round %.2f s; "
      "report: %s/report.json\n"
      "charts: %s/report.html (self-contained page, opens offline in any browser)\n",
      f["accuracy"].get<double>(), f["macro_f1"].get<double>(),
      f["model_version"].get<std::string>().c_str(),
      (*report)["timing"]["mean_round_seconds"].get<double>(), out_dir.c_str(), out_dir.c_str());
  std::printf(
      "registry: %s/project/coordinator/data; to browse it with fedgectl:\n"
      "  build/coordinator/fedge-coordinator --config %s/project/coordinator/coordinator.toml "
      "--serve &\n"
      "  build/coordinator/fedgectl --kit %s/project/admins/admin models\n",
      out_dir.c_str(), out_dir.c_str(), out_dir.c_str());
  return 0;
}
