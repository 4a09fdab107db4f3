// fedge-client: the edge agent. `run` answers the coordinator's tasks; `infer` classifies a
// camera stream with the installed model (no coordinator needed); `labels`, `store` and `audit`
// are the data owner's tools for the private sample store.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "client/client.h"
#include "client/commands.h"
#include "client/config.h"
#include "client/frame_source.h"
#include "shared/base/log.h"
#include "shared/base/shutdown.h"
#include "shared/ml/torch/runtime.h"

namespace {

// With [camera] source set, `run` also classifies the camera's frames with the installed model
// (drift monitoring and frames kept for review included) on its own thread; predictions go to
// the sink. Training steps and inference take turns on the CPU.
std::thread StartCamera(fedge::client::Client& client, const fedge::client::ClientConfig& config,
                        const std::atomic<bool>& stop) {
  if (config.camera.source.empty()) return {};
  return std::thread([&client, config, &stop] {
    fedge::client::SourceOptions so;
    so.uri = config.camera.source;
    so.name = config.camera.name;
    so.fps = config.camera.fps;
    so.width = config.camera.width;
    so.height = config.camera.height;
    auto source = fedge::client::OpenFrameSource(so);
    if (!source.ok()) {
      FEDGE_LOG(Error, "camera") << source.status().ToString() << "; running without the camera";
      return;
    }
    const std::string sink_path = config.predictions_path.empty()
                                      ? config.state_dir + "/predictions.jsonl"
                                      : config.predictions_path;
    std::ofstream sink(sink_path, std::ios::app);
    FEDGE_LOG(Info, "camera") << "classifying " << so.uri << "; predictions to " << sink_path;
    auto n = client.RunCamera(**source, sink ? &sink : nullptr, stop);
    if (!n.ok()) {
      FEDGE_LOG(Error, "camera") << n.status().ToString() << "; camera stopped";
    } else {
      FEDGE_LOG(Info, "camera") << "camera source ended after " << n->frames
                                << " classified frames";
    }
  });
}

// SIGINT/SIGTERM: close the session and stop reconnecting (unacknowledged updates are in the
// outbox already), stop the camera, finish the training step in progress, exit 0.
int Run(const std::string& config_path, fedge::shared::ShutdownWatch& shutdown) {
  auto config = fedge::client::LoadClientConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", config.status().message().c_str());
    return 1;
  }
  fedge::ml::ConfigureRuntime(config->threads);
  fedge::client::LocalData data;  // data.source = "store": built from labelled frames per task
  if (config->data.source == "dataset") {
    auto loaded = fedge::client::LoadLocalData(config->data);
    if (!loaded.ok()) {
      std::fprintf(stderr, "fedge-client: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    data = std::move(*loaded);
  }
  fedge::net::asio::io_context io(1);
  fedge::net::asio::thread_pool compute(1);
  const fedge::client::ClientConfig client_config = *config;
  fedge::client::Client client(std::move(*config), std::move(data), io, &compute);
  if (auto s = client.Init(); !s.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<fedge::shared::HttpServer> endpoint;  // destroyed before `client`
  if (client_config.metrics.enabled) {
    auto metrics = std::make_shared<fedge::client::ClientMetrics>(
        std::make_shared<fedge::shared::MetricsRegistry>());
    client.set_metrics(metrics);
    fedge::client::AddClientCallbacks(*metrics, client);
    auto served =
        fedge::client::ServeMetrics(metrics, client_config.metrics, client_config.config_path);
    if (!served.ok()) {
      std::fprintf(stderr, "fedge-client: %s\n", served.status().message().c_str());
      return 1;
    }
    endpoint = std::move(*served);
  }
  std::atomic<bool> stop_camera{false};
  auto on_signal = shutdown.OnSignal([&client, &stop_camera] {
    stop_camera = true;
    client.Stop();
  });
  client.Start();
  std::thread camera = StartCamera(client, client_config, stop_camera);
  io.run();  // returns once the client stopped (a signal, or fatal())
  stop_camera = true;
  if (camera.joinable()) camera.join();
  compute.join();
  if (fedge::shared::Status s = client.fatal(); !s.ok()) {
    std::fprintf(stderr, "fedge-client: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  // The site's state (sample store, models, outbox, keys' copies) is private: directories and
  // files this process creates without an explicit mode are its user's only.
  ::umask(077);
  CLI::App app{"fedge client: learns from on-site cameras; images never leave the site"};
  app.require_subcommand(1);
  app.fallthrough();  // --log-level also after the subcommand
  std::string config_path, log_level = "info", log_format;
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--log-format", log_format, "text or json (one JSON object per line)");
  CLI::App* run = app.add_subcommand(
      "run", "connect to the coordinator, answer tasks and classify [camera] source");
  run->add_option("--config", config_path, "client.toml from the startup kit")->required();
  fedge::client::InferCommand infer;
  CLI::App* inf = app.add_subcommand("infer", "classify frames with the installed model");
  inf->add_option("--config", infer.config_path, "client.toml (state dir, camera, store)");
  inf->add_option("--source", infer.source, "device index, video file, rtsp/http URL or folder");
  inf->add_option("--model", infer.model_path, "a model bundle (.fdgt) instead of the installed");
  inf->add_option("--arch", infer.arch, "architecture of --model, e.g. cnn_color");
  inf->add_option("--sink", infer.sink, "JSON-lines predictions file (appended)");
  inf->add_option("--max-frames", infer.max_frames, "stop after N frames");
  inf->add_option("--fps", infer.fps, "limit the frame rate (0: native)");
  inf->add_option("--threads", infer.threads, "LibTorch threads");
  bool no_store = false;
  inf->add_flag("--no-store", no_store, "do not keep frames in the sample store");
  CLI::App* labels = app.add_subcommand("labels", "reviewers' labels for stored frames");
  labels->require_subcommand(1);
  CLI::App* import = labels->add_subcommand("import", "import CSV (frame_id,label) or JSON lines");
  std::string labels_file;
  import->add_option("FILE", labels_file)->required();
  import->add_option("--config", config_path, "client.toml")->required();
  CLI::App* store = app.add_subcommand("store", "the private sample store");
  std::string store_what = "stats";
  uint64_t count = 20;
  store->add_option("ACTION", store_what, "stats, review, quarantine, retention or purge")
      ->check(CLI::IsMember({"stats", "review", "quarantine", "retention", "purge"}));
  store->add_option("--config", config_path, "client.toml")->required();
  store->add_option("-n", count, "review: how many frames");
  CLI::App* audit = app.add_subcommand("audit", "every message this client sent (JSON lines)");
  audit->add_option("--config", config_path, "client.toml")->required();
  uint64_t last = 0;
  audit->add_option("--last", last, "only the newest N entries");
  CLI::App* update = app.add_subcommand("update", "verify and install the newest signed release");
  std::string update_repo;
  update->add_option("--config", config_path, "client.toml")->required();
  update->add_option("--repo", update_repo, "release repository directory ([update] repo)");
  CLI11_PARSE(app, argc, argv);
  if (!fedge::shared::ConfigureLogging("fedge-client", log_level, log_format)) return 2;
  if (*run) {
    fedge::shared::ShutdownWatch shutdown({"fedge-client"});
    return Run(config_path, shutdown);
  }
  if (*inf) {
    // SIGINT/SIGTERM: stop reading frames, flush the sink, print the summary, exit 0.
    fedge::shared::ShutdownWatch shutdown({"fedge-client"});
    infer.keep_frames = !no_store;
    infer.stop = &shutdown.requested_flag();
    return fedge::client::RunInferCommand(infer);
  }
  if (*update) return fedge::client::RunUpdateCommand(config_path, update_repo);
  if (*import) return fedge::client::RunLabelsImport(config_path, labels_file);
  if (*store) return fedge::client::RunStoreCommand(config_path, store_what, count);
  return fedge::client::RunAuditCommand(config_path, last);
}
