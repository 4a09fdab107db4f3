// fedge-coordinator --config coordinator.toml: runs training rounds for provisioned clients.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "coordinator/config.h"
#include "coordinator/ml_backend.h"
#include "coordinator/server.h"
#include "shared/base/log.h"
#include "shared/base/shutdown.h"
#include "shared/ml/torch/runtime.h"

int main(int argc, char** argv) {
  // The registry, its updates and blobs are private: directories and files this process creates
  // without an explicit mode are its user's only.
  ::umask(077);
  CLI::App app{"fedge coordinator: authenticates clients by certificate and runs training rounds"};
  std::string config_path;
  bool serve = false;
  std::string log_level = "info", log_format;
  app.add_option("--config", config_path, "coordinator.toml from the coordinator's startup kit")
      ->required();
  app.add_flag("--serve", serve, "keep serving after the configured rounds are done");
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--log-format", log_format, "text or json (one JSON object per line)");
  CLI11_PARSE(app, argc, argv);
  if (!fedge::shared::ConfigureLogging("fedge-coordinator", log_level, log_format)) return 2;
  // SIGINT/SIGTERM: stop accepting, close sessions, let Run() drain; destroyed last, so its
  // watchdog also bounds the store's close.
  fedge::shared::ShutdownWatch shutdown({"fedge-coordinator"});
  fedge::ml::ConfigureRuntime(1);

  auto config = fedge::coordinator::LoadCoordinatorConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "fedge-coordinator: %s\n", config.status().message().c_str());
    return 1;
  }
  const bool metrics_enabled = config->metrics.enabled;
  const bool status_enabled = config->status.enabled;
  fedge::coordinator::Server server(std::move(*config), fedge::coordinator::TorchInitialModel);
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "fedge-coordinator: %s\n", s.ToString().c_str());
    return 1;
  }
  if (metrics_enabled) {
    if (auto s = server.StartMetrics(); !s.ok()) {
      std::fprintf(stderr, "fedge-coordinator: %s\n", s.message().c_str());
      return 1;
    }
  }
  if (status_enabled) {
    if (auto s = server.StartStatus(); !s.ok()) {
      std::fprintf(stderr, "fedge-coordinator: %s\n", s.message().c_str());
      return 1;
    }
  }
  auto on_signal = shutdown.OnSignal([&server] { server.Stop(); });
  server.Run(/*exit_when_done=*/!serve);
  return 0;
}
