#include "simulations/runner.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "client/camera_data.h"
#include "client/client.h"
#include "coordinator/config.h"
#include "coordinator/kit_config.h"
#include "coordinator/ml_backend.h"
#include "coordinator/server.h"
#include "shared/base/log.h"
#include "shared/base/progress.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/pki.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/torch/runtime.h"
#include "simulations/camera.h"
#include "simulations/release_phase.h"
#include "simulations/report_html.h"
#include "simulations/stream.h"

namespace fedge::sim {

using nlohmann::json;
using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string Megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

json ScenarioJson(const Scenario& s) {
  return {{"name", s.name},
          {"file", s.path},
          {"clients", s.clients},
          {"rounds", s.rounds},
          {"seed", s.seed},
          {"partition", s.partition},
          {"alpha", s.alpha},
          {"holdout_fraction", s.holdout_fraction},
          {"local_epochs", s.local_epochs},
          {"batch_size", s.batch_size},
          {"learning_rate", s.learning_rate},
          {"momentum", s.momentum},
          {"codec", s.codec},
          {"topk_fraction", s.topk_fraction},
          {"fraction_fit", s.fraction_fit},
          {"arch", s.arch},
          {"torch_threads", s.torch_threads},
          {"silent_clients", s.silent_clients},
          {"camera", s.camera},
          {"frames_per_client", s.frames_per_client},
          {"augment", s.augment.Enabled()}};
}

json EvalJson(const ml::EvalResult& e) {
  return {{"accuracy", e.accuracy},   {"loss", e.loss},     {"macro_f1", e.macro_f1},
          {"precision", e.precision}, {"recall", e.recall}, {"examples", e.examples}};
}

// Evaluates a stored model version on the test set.
Result<ml::EvalResult> EvaluateVersion(coordinator::Store& store, uint64_t version,
                                       const ml::Dataset& test) {
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, LoadVersion(store, version));
  return model.Evaluate(test, {});
}

// `n` of `indices` drawn without replacement (deterministic from `seed`), in ascending order;
// all of them when n is 0 or not smaller.
std::vector<int64_t> SampleIndices(std::vector<int64_t> indices, int n, uint64_t seed) {
  if (n <= 0 || static_cast<size_t>(n) >= indices.size()) return indices;
  std::mt19937_64 rng(seed);
  std::shuffle(indices.begin(), indices.end(), rng);
  indices.resize(static_cast<size_t>(n));
  std::sort(indices.begin(), indices.end());
  return indices;
}

}  // namespace

Result<json> RunScenario(const Scenario& sc, const RunOptions& options) {
  const auto t_start = Clock::now();
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return Status::IOError("cannot create " + options.out_dir + ": " + ec.message());
  const std::string project = options.out_dir + "/project";
  fs::remove_all(project, ec);

  // 1. A throw-away project: CA, coordinator, one certificate per client.
  shared::ProvisionOptions po;
  po.templates = coordinator::ProjectKitTemplates();
  po.out_dir = project;
  po.project = "fedge-sim";
  po.clients = sc.clients + sc.silent_clients;
  po.coordinator_hosts = {"127.0.0.1", "localhost"};
  po.listen_address = "127.0.0.1";
  po.port = 7443;  // placeholder: the coordinator binds a free port, clients are told which
  po.rounds = sc.rounds;
  po.data_dir = sc.data_dir;
  po.partition = sc.partition;
  po.alpha = sc.alpha;
  po.seed = sc.seed;
  po.force = true;
  FEDGE_ASSIGN_OR_RETURN(shared::ProvisionResult kits, shared::Provision(po));

  // 2. The coordinator, from its kit, with the scenario's round settings.
  FEDGE_ASSIGN_OR_RETURN(
      coordinator::CoordinatorConfig cc,
      coordinator::LoadCoordinatorConfig(kits.coordinator_kit + "/coordinator.toml"));
  cc.listen = "127.0.0.1";
  cc.port = 0;
  // The registry stays in the kit's data directory, so the coordinator can be started again on
  // it afterwards (fedge-coordinator --config .../coordinator.toml --serve) for fedgectl.
  fs::remove_all(cc.data_dir, ec);
  cc.threads = 1;
  cc.heartbeat_ms = 2000;
  cc.rounds.count = sc.rounds;
  cc.rounds.min_clients = sc.clients + sc.silent_clients;
  cc.rounds.fraction_fit = sc.fraction_fit;
  cc.rounds.min_fit = sc.min_fit > 0 ? sc.min_fit : std::max(1, (sc.clients * 4 + 4) / 5);
  cc.rounds.timeout_seconds = sc.round_timeout_seconds;
  cc.rounds.eval_timeout_seconds = std::max(5, sc.round_timeout_seconds / 4);
  cc.rounds.evaluate = sc.federated_eval;
  cc.rounds.local_epochs = sc.local_epochs;
  cc.rounds.batch_size = sc.batch_size;
  cc.rounds.learning_rate = sc.learning_rate;
  cc.rounds.momentum = sc.momentum;
  cc.rounds.codec = sc.codec;
  cc.rounds.topk_fraction = sc.topk_fraction;
  cc.rounds.augment = sc.augment;
  cc.rounds.seed = sc.seed;
  cc.drift = sc.drift;
  cc.model_arch = sc.arch;
  cc.model_seed = sc.model_seed;
  std::optional<ReleaseRepo> release_repo;
  if (sc.release.enabled) {
    FEDGE_ASSIGN_OR_RETURN(release_repo, PrepareReleaseRepo(options.out_dir));
    cc.release.repo = release_repo->repo;
    cc.release.max_accuracy_drop = sc.release.max_accuracy_drop;
    cc.release.canary_timeout_seconds = sc.release.canary_timeout_seconds;
  }
  coordinator::Server server(cc, coordinator::TorchInitialModel);
  FEDGE_RETURN_IF_ERROR(server.Start());

  std::mutex mu;
  std::vector<coordinator::RoundSummary> summaries;
  auto t_first_round = Clock::now();
  // Rounds on a terminal: a progress bar with rate and ETA under the round lines; elsewhere
  // the round lines and a plain progress line each quarter.
  std::optional<shared::Progress> progress;  // guarded by mu; from the first round on
  server.engine().set_round_callback([&](const coordinator::RoundSummary& s) {
    std::lock_guard<std::mutex> lock(mu);
    summaries.push_back(s);
    if (progress) {
      std::string acc = s.evaluation.contains("accuracy")
                            ? std::to_string(s.evaluation["accuracy"].get<double>()).substr(0, 6)
                            : "n/a";
      char line[256];
      std::snprintf(line, sizeof(line),
                    "round %3llu/%d  federated accuracy %s  train loss %.4f  updates %d/%d  "
                    "up %s  down %s  %.1f s",
                    static_cast<unsigned long long>(s.round), sc.rounds, acc.c_str(), s.train_loss,
                    s.updates, s.sampled, Megabytes(s.bytes_in).c_str(),
                    Megabytes(s.bytes_out).c_str(), s.seconds);
      progress->Println(line);
      progress->Set(s.round, "accuracy " + acc);
    }
  });

  // 3. The clients: real TLS over loopback, sharing one dataset copy and a compute pool.
  ml::ConfigureRuntime(sc.torch_threads);
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset train_set,
                         ml::LoadFashionMnist(sc.data_dir, ml::Split::kTrain));
  auto shared_train = std::make_shared<const ml::Dataset>(std::move(train_set));
  net::asio::io_context client_io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<client::Client>> clients;
  json camera_sites = json::array();
  std::vector<std::vector<int64_t>> site_indices;  // camera: frames of each site
  std::vector<StreamSite> stream_sites;            // stream: what each site sees later
  const auto t_camera = Clock::now();
  for (size_t i = 0; i < kits.client_kits.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(client::ClientConfig ccfg,
                           client::LoadClientConfig(kits.client_kits[i] + "/client.toml"));
    ccfg.port = server.port();
    ccfg.threads = sc.torch_threads;
    ccfg.drift.monitor = sc.monitor;
    // ccfg.state_dir stays the kit's (project/clients/<id>/state), so `fedge-client infer
    // --config <kit>/client.toml` finds the model the client installed during the run.
    ccfg.data.num_partitions = sc.clients;
    ccfg.data.index = static_cast<int>(i % sc.clients);
    ccfg.data.partition = sc.partition;
    ccfg.data.alpha = sc.alpha;
    ccfg.data.shards_per_client = sc.shards_per_client;
    ccfg.data.seed = sc.seed;
    ccfg.data.holdout_fraction = sc.holdout_fraction;
    if (release_repo) ccfg.update.root = release_repo->root;
    fs::remove_all(ccfg.state_dir, ec);
    client::LocalData data;
    if (sc.camera) {
      // The partition becomes the site's camera video; the client learns from its store.
      client::DataSettings all = ccfg.data;
      all.holdout_fraction = 0;
      FEDGE_ASSIGN_OR_RETURN(client::LocalData part, client::LoadLocalData(all, shared_train));
      if (static_cast<int>(i) < sc.clients) {
        site_indices.push_back(SampleIndices(part.train, sc.frames_per_client, sc.seed + i));
        if (sc.stream_frames > 0) {
          // The rest of the partition: held-out items for the paired evaluation, then the
          // live stream (looping if shorter than the stream).
          StreamSite site;
          site.id = kits.client_ids[i];
          const std::set<int64_t> used(site_indices.back().begin(), site_indices.back().end());
          for (int64_t k : part.train) {
            if (used.count(k)) continue;
            if (static_cast<int>(site.eval_items.size()) < sc.eval_frames) {
              site.eval_items.push_back(k);
            } else {
              site.stream_items.push_back(k);
            }
          }
          if (site.stream_items.empty()) {
            return Status::InvalidArgument(sc.path + ": client " + site.id +
                                           " has no items left for its live stream; "
                                           "lower camera.frames_per_client or stream.eval_frames");
          }
          stream_sites.push_back(std::move(site));
        }
      }
      ccfg.data.source = "store";
    } else {
      FEDGE_ASSIGN_OR_RETURN(data, client::LoadLocalData(ccfg.data, shared_train));
      if (sc.max_train_per_client > 0 &&
          data.train.size() > static_cast<size_t>(sc.max_train_per_client)) {
        data.train.resize(static_cast<size_t>(sc.max_train_per_client));  // a shuffled share
        std::fill(data.class_counts.begin(), data.class_counts.end(), 0);
        for (int64_t k : data.train) ++data.class_counts[shared_train->labels[k]];
      }
    }
    auto c =
        std::make_unique<client::Client>(std::move(ccfg), std::move(data), client_io, &compute);
    FEDGE_RETURN_IF_ERROR(c->Init().WithContext(kits.client_ids[i]));
    if (static_cast<int>(i) >= sc.clients) c->set_faults({.never_answer = true});
    if (static_cast<size_t>(i) < stream_sites.size()) stream_sites[i].client = c.get();
    clients.push_back(std::move(c));
  }
  if (sc.camera) {
    // Render each site's video and feed it to its client, two sites at a time.
    std::vector<json> fed(site_indices.size());
    FEDGE_RETURN_IF_ERROR(ParallelFor(site_indices.size(), 2, [&](size_t i) -> Status {
      FEDGE_ASSIGN_OR_RETURN(SiteVideo site,
                             RenderSite(*shared_train, site_indices[i], static_cast<int>(i), sc,
                                        options.out_dir + "/camera", kits.client_ids[i]));
      FEDGE_ASSIGN_OR_RETURN(fed[i], FeedClient(*clients[i]->store(), site, sc.frame_format));
      fed[i]["client"] = kits.client_ids[i];
      return Status::Ok();
    }));
    for (json& j : fed) camera_sites.push_back(std::move(j));
  }
  for (auto& c : clients) c->Start();
  std::thread client_thread([&client_io] {
    auto guard = net::asio::make_work_guard(client_io);
    client_io.run();
  });
  const double camera_seconds = sc.camera ? Seconds(t_camera) : 0.0;
  double startup_seconds = Seconds(t_start);
  t_first_round = Clock::now();
  if (!options.quiet) {
    std::printf(
        "fedge-sim: %s: %d clients%s, %d rounds, coordinator on 127.0.0.1:%u "
        "(mutual TLS), start-up %.2f s\n",
        sc.name.c_str(), sc.clients,
        sc.silent_clients ? (" + " + std::to_string(sc.silent_clients) + " silent").c_str() : "",
        sc.rounds, server.port(), startup_seconds);
    std::fflush(stdout);
    std::lock_guard<std::mutex> lock(mu);
    shared::Progress::Options bar;
    bar.label = "rounds";
    bar.total = static_cast<uint64_t>(sc.rounds);
    bar.out = stdout;
    bar.plain_every = 0.25;
    progress.emplace(std::move(bar));
  }
  // When the rounds are done, stop the clients first, then the coordinator: clients that see
  // their coordinator vanish would (rightly) start reconnecting.
  StreamEnv stream_env;
  stream_env.scenario = &sc;
  stream_env.train = shared_train.get();
  stream_env.server = &server;
  stream_env.completed_rounds = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return summaries.size();
  };
  stream_env.quiet = options.quiet;
  Result<json> stream_json = json();
  Result<json> release_json = json();
  auto stopped = [&options] { return options.stop != nullptr && options.stop->load(); };
  std::thread watcher([&] {
    while (!server.engine().finished() && !stopped()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (progress) progress->Finish();  // the stream and the release phase print their lines
      progress.reset();
    }
    if (!stream_sites.empty() && !stopped()) stream_json = RunStream(stream_env, stream_sites);
    if (release_repo && stream_json.ok() && !stopped()) {
      ReleaseEnv env;
      env.scenario = &sc;
      env.server = &server;
      for (int i = 0; i < sc.clients; ++i) env.clients.push_back(clients[i].get());
      env.repo = *release_repo;
      env.out_dir = options.out_dir;
      env.completed_rounds = stream_env.completed_rounds;
      env.quiet = options.quiet;
      release_json = RunReleasePhase(env);
    }
    for (auto& c : clients) c->Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.Stop();
  });
  server.Run(/*exit_when_done=*/false);
  watcher.join();
  double rounds_seconds = Seconds(t_first_round);
  client_io.stop();
  client_thread.join();
  compute.join();
  if (stopped()) {
    return Status::Unavailable("interrupted after " + std::to_string(summaries.size()) + " of " +
                               std::to_string(sc.rounds) + " rounds");
  }
  FEDGE_RETURN_IF_ERROR(stream_json.status().WithContext("live stream phase"));
  FEDGE_RETURN_IF_ERROR(release_json.status().WithContext("release phase"));

  // 4. Report: every round's model evaluated on the 10,000 test images.
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset test, ml::LoadFashionMnist(sc.data_dir, ml::Split::kTest));
  if (sc.camera) {
    FEDGE_ASSIGN_OR_RETURN(ml::Model shape, ml::Model::Create(sc.arch, 0));
    vision::InputSpec spec =
        client::InputSpecFor(shape.input_channels(), shape.input_height(), shape.input_width());
    FEDGE_ASSIGN_OR_RETURN(test, RenderedTestSet(test, sc, spec, options.out_dir + "/camera"));
  }
  ml::ConfigureRuntime(std::max(2, sc.torch_threads));
  json rounds = json::array();
  ml::EvalResult last{};
  uint64_t bytes_up = 0, bytes_down = 0;
  for (const auto& s : summaries) {
    FEDGE_ASSIGN_OR_RETURN(ml::EvalResult e,
                           EvaluateVersion(server.store(), s.model_version, test));
    last = e;
    bytes_up += s.bytes_in;
    bytes_down += s.bytes_out;
    rounds.push_back({{"round", s.round},
                      {"model_version", s.model_version},
                      {"accuracy", e.accuracy},
                      {"loss", e.loss},
                      {"macro_f1", e.macro_f1},
                      {"clients", s.updates},
                      {"sampled", s.sampled},
                      {"rejected", s.rejected},
                      {"examples", s.examples},
                      {"train_loss", s.train_loss},
                      {"federated_eval", s.evaluation},
                      {"bytes_up", s.bytes_in},
                      {"bytes_down", s.bytes_out},
                      {"seconds", s.seconds}});
  }
  if (summaries.empty()) return Status::Internal("no round completed; see the log above");
  const auto& final_summary = summaries.back();
  json final_json = EvalJson(last);
  final_json["model_version"] = std::to_string(final_summary.model_version);
  final_json["model_digest"] = final_summary.model_digest;
  final_json["test_examples"] = last.examples;
  json report = {{"scenario", ScenarioJson(sc)},
                 {"rounds", rounds},
                 {"final", final_json},
                 {"timing",
                  {{"startup_seconds", startup_seconds},
                   {"rounds_seconds", rounds_seconds},
                   {"mean_round_seconds", rounds_seconds / static_cast<double>(summaries.size())},
                   {"total_seconds", Seconds(t_start)}}},
                 {"traffic", {{"bytes_up", bytes_up}, {"bytes_down", bytes_down}}},
                 {"runtime", {{"blas", ml::BlasLibraryInUse()}}}};
  if (sc.camera) {
    report["camera"] = {{"sites", camera_sites},
                        {"render_and_ingest_seconds", camera_seconds},
                        {"test_split", "rendered: first " + std::to_string(test.size) +
                                           " test images spread over the sites' conditions"}};
  }
  report["drift"] = server.engine().Snapshot().value("drift", json::object());
  if (!stream_sites.empty()) {
    std::vector<uint64_t> versions;
    for (const auto& s : summaries) versions.push_back(s.model_version);
    const uint64_t pre = (*stream_json)["pre_drift_version"].get<uint64_t>();
    FEDGE_ASSIGN_OR_RETURN(json paired, EvaluatePaired(stream_env, stream_sites, versions, pre));
    report["stream"] = std::move(*stream_json);
    report["stream"]["paired"] = std::move(paired);
    if (!options.quiet && report["stream"]["paired"]["summary"].contains("drifted_clients")) {
      const json& d = report["stream"]["paired"]["summary"]["drifted_clients"];
      std::printf(
          "drifted clients: pre-drift %.4f, after drift %.4f, after retraining %.4f "
          "(%+.2f points)\n",
          d["pre_drift_accuracy"].get<double>(),
          d["accuracy_after_drift_before_retraining"].get<double>(),
          d["final_accuracy_on_drifted_frames"].get<double>(),
          d["points_from_pre_drift"].get<double>());
    }
    if (!options.quiet && report["stream"]["paired"]["summary"].contains("untouched_clients")) {
      const json& u = report["stream"]["paired"]["summary"]["untouched_clients"];
      std::printf("untouched clients: pre-drift %.4f, final %.4f (%+.2f points)\n",
                  u["pre_drift_accuracy"].get<double>(), u["final_accuracy"].get<double>(),
                  u["points_from_pre_drift"].get<double>());
    }
  }
  if (release_repo) {
    report["release"] = std::move(*release_json);
    json rows = json::array();  // report.html's releases table
    for (const json& r : report["release"]["rollouts"]) {
      rows.push_back({{"name", r["target"]},
                      {"version", r["counter"]},
                      {"state", r["state"]},
                      {"arch", r["arch"]},
                      {"canary_percent", r["canary_percent"]},
                      {"steps", r["steps"]}});
    }
    report["releases"] = rows;
    if (!options.quiet && report["release"]["benchmark"].contains("size_ratio")) {
      const json& b = report["release"]["benchmark"];
      std::printf(
          "release: %s; artifact %llu -> %llu bytes (%.1fx smaller), validation "
          "accuracy %.4f -> %.4f (%+.2f points)\n",
          report["release"]["result"].get<std::string>().c_str(),
          static_cast<unsigned long long>(b["dense_fp32_artifact_bytes"].get<uint64_t>()),
          static_cast<unsigned long long>(b["release_artifact_bytes"].get<uint64_t>()),
          b["size_ratio"].get<double>(), b["dense_validation_accuracy"].get<double>(),
          b["release_validation_accuracy"].get<double>(), -b["accuracy_drop_points"].get<double>());
    }
  }
  std::ofstream out(options.out_dir + "/report.json");
  out << report.dump(2) << "\n";
  if (!out) return Status::IOError("cannot write " + options.out_dir + "/report.json");
  FEDGE_RETURN_IF_ERROR(WriteReportHtml(report, options.out_dir + "/report.html"));
  return report;
}

}  // namespace fedge::sim
