// fedge-client run --config client.toml: the edge agent that trains on private data.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "client/client.h"
#include "client/config.h"
#include "shared/log.h"
#include "shared/ml/runtime.h"

namespace {
fedge::client::Client* g_client = nullptr;
void OnSignal(int) {
  if (g_client != nullptr) g_client->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fedge client: learns from on-site data; images never leave the site"};
  app.require_subcommand(1);
  CLI::App* run = app.add_subcommand("run", "connect to the coordinator and answer tasks");
  std::string config_path;
  std::string log_level = "info";
  run->add_option("--config", config_path, "client.toml from the client's startup kit")->required();
  run->add_option("--log-level", log_level, "debug, info, warn or error");
  CLI11_PARSE(app, argc, argv);
  fedge::shared::LogLevel level;
  if (!fedge::shared::ParseLogLevel(log_level, &level)) {
    std::fprintf(stderr, "fedge-client: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  fedge::shared::SetLogLevel(level);

  auto config = fedge::client::LoadClientConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", config.status().message().c_str());
    return 1;
  }
  fedge::ml::ConfigureRuntime(config->threads);
  auto data = fedge::client::LoadLocalData(config->data);
  if (!data.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", data.status().ToString().c_str());
    return 1;
  }
  fedge::net::asio::io_context io(1);
  fedge::net::asio::thread_pool compute(1);
  fedge::client::Client client(std::move(*config), std::move(*data), io, &compute);
  if (auto s = client.Init(); !s.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", s.ToString().c_str());
    return 1;
  }
  g_client = &client;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  client.Start();
  io.run();
  compute.join();
  g_client = nullptr;
  if (fedge::shared::Status s = client.fatal(); !s.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
