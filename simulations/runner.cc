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
#include "simulations/run_report.h"
#include "simulations/stream.h"
#include "simulations/timing.h"

namespace fedge::sim {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

std::string Megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
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

// A throw-away project under out_dir/project: CA, coordinator, one certificate per client.
Result<shared::ProvisionResult> ProvisionProject(const Scenario& sc, const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Status::IOError("cannot create " + out_dir + ": " + ec.message());
  const std::string project = out_dir + "/project";
  fs::remove_all(project, ec);
  coordinator::KitSettings kit;
  kit.rounds.count = sc.rounds;
  kit.data.dir = sc.data_dir;
  kit.data.partition = sc.partition;
  kit.data.alpha = sc.alpha;
  kit.data.seed = sc.seed;
  kit.model_seed = sc.seed;
  shared::ProvisionOptions po;
  FEDGE_ASSIGN_OR_RETURN(po.templates, coordinator::ProjectKitTemplates(kit));
  po.out_dir = project;
  po.project = "fedge-sim";
  po.clients = sc.clients + sc.silent_clients;
  po.coordinator_hosts = {"127.0.0.1", "localhost"};
  po.listen_address = "127.0.0.1";
  po.port = 7443;  // placeholder: the coordinator binds a free port, clients are told which
  po.force = true;
  return shared::Provision(po);
}

// The coordinator's config from its kit, with the scenario's round settings.
Result<coordinator::CoordinatorConfig> CoordinatorConfigFor(const Scenario& sc,
                                                            const shared::ProvisionResult& kits) {
  FEDGE_ASSIGN_OR_RETURN(
      coordinator::CoordinatorConfig cc,
      coordinator::LoadCoordinatorConfig(kits.coordinator_kit + "/coordinator.toml"));
  cc.listen = "127.0.0.1";
  cc.port = 0;
  // The registry stays in the kit's data directory, so the coordinator can be started again on
  // it afterwards (fedge-coordinator --config .../coordinator.toml --serve) for fedgectl.
  std::error_code ec;
  std::filesystem::remove_all(cc.data_dir, ec);
  cc.threads = 1;
  cc.heartbeat_ms = 2000;
  cc.rounds.count = sc.rounds;
  cc.rounds.min_clients = sc.clients + sc.silent_clients;
  cc.rounds.fraction_fit = sc.fraction_fit;
  cc.rounds.min_fit = sc.min_fit > 0 ? sc.min_fit : std::max(1, (sc.clients * 4 + 4) / 5);
  cc.rounds.timeout_seconds = sc.round_timeout_seconds;
  cc.rounds.eval_timeout_seconds = std::max(5, sc.round_timeout_seconds / 4);
  cc.rounds.evaluate = sc.federated_eval;
  cc.rounds.training = sc.training;
  cc.rounds.aggregation = sc.aggregation;
  cc.defence = sc.defence;
  cc.rounds.min_train_examples = sc.min_train_examples;
  cc.rounds.seed = sc.seed;
  cc.drift = sc.drift;
  cc.model_arch = sc.arch;
  cc.model_seed = sc.model_seed;
  return cc;
}

// With a [release] section: the release repository (keys, root) and the coordinator's release
// settings. The repository must exist before the coordinator starts: it serves it.
Result<std::optional<ReleaseRepo>> PrepareRelease(const Scenario& sc, const std::string& out_dir,
                                                  coordinator::CoordinatorConfig* cc) {
  if (!sc.release.enabled) return std::optional<ReleaseRepo>();
  FEDGE_ASSIGN_OR_RETURN(ReleaseRepo repo, PrepareReleaseRepo(out_dir));
  cc->release.repo = repo.repo;
  cc->release.max_accuracy_drop = sc.release.max_accuracy_drop;
  cc->release.canary_timeout_seconds = sc.release.canary_timeout_seconds;
  return std::optional<ReleaseRepo>(std::move(repo));
}

// The round callback: records each round in `summaries`; on a progress bar (when `progress`
// is set), a round line and the bar. `mu` guards summaries and progress.
std::function<void(const coordinator::RoundSummary&)> RoundRecorder(
    const Scenario& sc, std::mutex& mu, std::vector<coordinator::RoundSummary>& summaries,
    std::optional<shared::Progress>& progress) {
  return [&sc, &mu, &summaries, &progress](const coordinator::RoundSummary& s) {
    std::lock_guard<std::mutex> lock(mu);
    summaries.push_back(s);
    if (!progress) return;
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
  };
}

// What the clients are built from, and what building them yields.
struct Fleet {
  const Scenario* sc = nullptr;
  const shared::ProvisionResult* kits = nullptr;
  uint16_t port = 0;
  const std::optional<ReleaseRepo>* release_repo = nullptr;
  std::shared_ptr<const ml::Dataset> train;
  std::vector<std::unique_ptr<client::Client>>* clients = nullptr;
  std::vector<StreamSite>* stream_sites = nullptr;  // stream: what each site sees later
  std::vector<std::vector<int64_t>> site_indices;   // camera: frames of each site
  // Colluding attackers ([adversary] alie, ipm, min_max): their pool, and one compute pool
  // each (each waits in its trainer for the others' benign updates).
  std::shared_ptr<Collusion> collusion;
  std::vector<std::unique_ptr<net::asio::thread_pool>>* attacker_pools = nullptr;
};

// Client `i`'s config from its kit with the scenario's settings; its old state removed.
Result<client::ClientConfig> ClientConfigFor(const Fleet& f, size_t i) {
  const Scenario& sc = *f.sc;
  FEDGE_ASSIGN_OR_RETURN(client::ClientConfig ccfg,
                         client::LoadClientConfig(f.kits->client_kits[i] + "/client.toml"));
  ccfg.port = f.port;
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
  if (*f.release_repo) ccfg.update.root = (*f.release_repo)->root;
  std::error_code ec;
  std::filesystem::remove_all(ccfg.state_dir, ec);
  return ccfg;
}

// The rest of a camera site's partition `train` (after its video's frames `used`): held-out
// items for the paired evaluation, then the live stream (looping if shorter than the stream).
Result<StreamSite> StreamSiteFor(const Scenario& sc, const std::string& id,
                                 const std::vector<int64_t>& train,
                                 const std::vector<int64_t>& video) {
  StreamSite site;
  site.id = id;
  const std::set<int64_t> used(video.begin(), video.end());
  for (int64_t k : train) {
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
  return site;
}

// Camera scenarios: the partition becomes the site's camera video (the client learns from its
// store; no LocalData). Otherwise the partition itself, capped at max_train_per_client.
Result<client::LocalData> ClientData(Fleet& f, size_t i, client::ClientConfig& ccfg) {
  const Scenario& sc = *f.sc;
  client::LocalData data;
  if (!sc.camera) {
    FEDGE_ASSIGN_OR_RETURN(data, client::LoadLocalData(ccfg.data, f.train));
    if (sc.max_train_per_client > 0 &&
        data.train.size() > static_cast<size_t>(sc.max_train_per_client)) {
      data.train.resize(static_cast<size_t>(sc.max_train_per_client));  // a shuffled share
      std::fill(data.class_counts.begin(), data.class_counts.end(), 0);
      for (int64_t k : data.train) ++data.class_counts[f.train->labels[k]];
    }
    if (sc.adversary.kind == "label_flip" &&
        sc.adversary.Attacker(static_cast<int>(i), sc.clients)) {
      FlipTrainingLabels(&data);
    }
    return data;
  }
  client::DataSettings all = ccfg.data;
  all.holdout_fraction = 0;
  FEDGE_ASSIGN_OR_RETURN(client::LocalData part, client::LoadLocalData(all, f.train));
  if (static_cast<int>(i) < sc.clients) {
    f.site_indices.push_back(SampleIndices(part.train, sc.frames_per_client, sc.seed + i));
    if (sc.stream_frames > 0) {
      FEDGE_ASSIGN_OR_RETURN(StreamSite site, StreamSiteFor(sc, f.kits->client_ids[i], part.train,
                                                            f.site_indices.back()));
      f.stream_sites->push_back(std::move(site));
    }
  }
  ccfg.data.source = "store";
  return data;
}

// The clients: real TLS over loopback, sharing one dataset copy and a compute pool; the silent
// ones never answer.
Status MakeClients(Fleet& f, net::asio::io_context& io, net::asio::thread_pool& compute) {
  const AdversarySettings& adversary = f.sc->adversary;
  f.collusion = MakeCollusion(adversary, f.kits->client_ids, f.sc->clients);
  for (size_t i = 0; i < f.kits->client_kits.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(client::ClientConfig ccfg, ClientConfigFor(f, i));
    FEDGE_ASSIGN_OR_RETURN(client::LocalData data, ClientData(f, i, ccfg));
    const bool attacker = static_cast<int>(i) < f.sc->clients &&
                          adversary.Attacker(static_cast<int>(i), f.sc->clients);
    net::asio::thread_pool* pool = &compute;
    if (attacker && f.collusion) {
      f.attacker_pools->push_back(std::make_unique<net::asio::thread_pool>(1));
      pool = f.attacker_pools->back().get();
    }
    auto c = std::make_unique<client::Client>(std::move(ccfg), std::move(data), io, pool);
    FEDGE_RETURN_IF_ERROR(c->Init().WithContext(f.kits->client_ids[i]));
    if (static_cast<int>(i) >= f.sc->clients) {
      c->set_faults({.never_answer = true});
    } else if (attacker && f.collusion) {
      c->set_faults({.tamper_update = f.collusion->TamperFor(f.kits->client_ids[i])});
    } else if (attacker) {
      c->set_faults({.tamper_update = MakeTamper(adversary, f.sc->seed * 1000003 + i)});
    }
    if (static_cast<size_t>(i) < f.stream_sites->size()) (*f.stream_sites)[i].client = c.get();
    f.clients->push_back(std::move(c));
  }
  return Status::Ok();
}

// Renders each camera site's video and feeds it to its client, two sites at a time; the
// report's camera sites.
Result<json> FeedCameras(const Fleet& f, const std::string& out_dir) {
  const Scenario& sc = *f.sc;
  std::vector<json> fed(f.site_indices.size());
  FEDGE_RETURN_IF_ERROR(ParallelFor(f.site_indices.size(), 2, [&](size_t i) -> Status {
    FEDGE_ASSIGN_OR_RETURN(SiteVideo site,
                           RenderSite(*f.train, f.site_indices[i], static_cast<int>(i), sc,
                                      out_dir + "/camera", f.kits->client_ids[i],
                                      CameraFault(sc.adversary, static_cast<int>(i), sc.clients)));
    FEDGE_ASSIGN_OR_RETURN(fed[i], FeedClient(*(*f.clients)[i]->store(), site, sc.frame_format));
    fed[i]["client"] = f.kits->client_ids[i];
    return Status::Ok();
  }));
  json camera_sites = json::array();
  for (json& j : fed) camera_sites.push_back(std::move(j));
  return camera_sites;
}

// The start line and (under `mu`) the rounds' progress bar.
void AnnounceStart(const Scenario& sc, uint16_t port, double startup_seconds, std::mutex& mu,
                   std::optional<shared::Progress>& progress) {
  std::printf(
      "fedge-sim: %s: %d clients%s, %d rounds, coordinator on 127.0.0.1:%u "
      "(mutual TLS), start-up %.2f s\n",
      sc.name.c_str(), sc.clients,
      sc.silent_clients ? (" + " + std::to_string(sc.silent_clients) + " silent").c_str() : "",
      sc.rounds, port, startup_seconds);
  std::fflush(stdout);
  std::lock_guard<std::mutex> lock(mu);
  shared::Progress::Options bar;
  bar.label = "rounds";
  bar.total = static_cast<uint64_t>(sc.rounds);
  bar.out = stdout;
  bar.plain_every = 0.25;
  progress.emplace(std::move(bar));
}

// Steps 1 and 2: the project's kits into *kits, the release repository (if any) into
// *release_repo, and the coordinator's config.
Result<coordinator::CoordinatorConfig> SetUpProject(const Scenario& sc, const std::string& out_dir,
                                                    shared::ProvisionResult* kits,
                                                    std::optional<ReleaseRepo>* release_repo) {
  FEDGE_ASSIGN_OR_RETURN(*kits, ProvisionProject(sc, out_dir));
  FEDGE_ASSIGN_OR_RETURN(coordinator::CoordinatorConfig cc, CoordinatorConfigFor(sc, *kits));
  FEDGE_ASSIGN_OR_RETURN(*release_repo, PrepareRelease(sc, out_dir, &cc));
  return cc;
}

// The training split every client shares (LibTorch set to the scenario's threads first).
Result<std::shared_ptr<const ml::Dataset>> LoadSharedTrain(const Scenario& sc) {
  ml::ConfigureRuntime(sc.torch_threads);
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset train_set,
                         ml::LoadFashionMnist(sc.data_dir, ml::Split::kTrain));
  return std::make_shared<const ml::Dataset>(std::move(train_set));
}

// Makes the clients, feeds camera sites their videos and starts the clients; the report's
// camera sites (empty without a camera).
Result<json> StartClients(Fleet& f, net::asio::io_context& io, net::asio::thread_pool& compute,
                          const std::string& out_dir) {
  FEDGE_RETURN_IF_ERROR(MakeClients(f, io, compute));
  json camera_sites = json::array();
  if (f.sc->camera) {
    FEDGE_ASSIGN_OR_RETURN(camera_sites, FeedCameras(f, out_dir));
  }
  for (auto& c : *f.clients) c->Start();
  return camera_sites;
}

// The stream phase's view of the run; completed_rounds reads `summaries` under `mu`.
StreamEnv MakeStreamEnv(const Scenario& sc, const ml::Dataset* train, coordinator::Server* server,
                        std::mutex& mu, const std::vector<coordinator::RoundSummary>& summaries,
                        bool quiet) {
  StreamEnv env;
  env.scenario = &sc;
  env.train = train;
  env.server = server;
  env.completed_rounds = [&mu, &summaries] {
    std::lock_guard<std::mutex> lock(mu);
    return summaries.size();
  };
  env.quiet = quiet;
  return env;
}

// What runs once the rounds are done: the live stream (stream scenarios), then the release
// phase ([release]). Each result is json() when its phase does not run.
struct LaterPhases {
  Result<json> stream = json();
  Result<json> release = json();
};

LaterPhases RunLaterPhases(const RunOptions& options, Fleet& fleet, StreamEnv& stream_env) {
  const Scenario& sc = *fleet.sc;
  LaterPhases out;
  if (!fleet.stream_sites->empty()) out.stream = RunStream(stream_env, *fleet.stream_sites);
  if (!*fleet.release_repo || !out.stream.ok()) return out;
  ReleaseEnv env;
  env.scenario = &sc;
  env.server = stream_env.server;
  for (int i = 0; i < sc.clients; ++i) env.clients.push_back((*fleet.clients)[i].get());
  env.repo = **fleet.release_repo;
  env.out_dir = options.out_dir;
  env.completed_rounds = stream_env.completed_rounds;
  env.quiet = options.quiet;
  out.release = RunReleasePhase(env);
  return out;
}

// One run of the scenario; `without_attackers`: the paired run's report, if any.
Result<json> RunOnce(const Scenario& sc, const RunOptions& options, const json* without_attackers) {
  const auto t_start = Clock::now();
  // 1. A throw-away project; 2. the coordinator, from its kit.
  shared::ProvisionResult kits;
  std::optional<ReleaseRepo> release_repo;
  FEDGE_ASSIGN_OR_RETURN(coordinator::CoordinatorConfig cc,
                         SetUpProject(sc, options.out_dir, &kits, &release_repo));
  coordinator::Server server(cc, coordinator::TorchInitialModel);
  FEDGE_RETURN_IF_ERROR(server.Start());

  std::mutex mu;
  std::vector<coordinator::RoundSummary> summaries;
  // Rounds on a terminal: a progress bar with rate and ETA under the round lines; elsewhere
  // the round lines and a plain progress line each quarter.
  std::optional<shared::Progress> progress;  // guarded by mu; from the first round on
  server.engine().set_round_callback(RoundRecorder(sc, mu, summaries, progress));

  // 3. The clients: real TLS over loopback, sharing one dataset copy and a compute pool.
  FEDGE_ASSIGN_OR_RETURN(std::shared_ptr<const ml::Dataset> shared_train, LoadSharedTrain(sc));
  net::asio::io_context client_io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<net::asio::thread_pool>> attacker_pools;  // colluding attackers
  std::vector<std::unique_ptr<client::Client>> clients;
  std::vector<StreamSite> stream_sites;  // stream: what each site sees later
  Fleet fleet{&sc,           &kits, server.port(), &release_repo,  shared_train, &clients,
              &stream_sites, {},    nullptr,       &attacker_pools};
  const auto t_camera = Clock::now();
  FEDGE_ASSIGN_OR_RETURN(json camera_sites,
                         StartClients(fleet, client_io, compute, options.out_dir));
  std::thread client_thread([&client_io] {
    auto guard = net::asio::make_work_guard(client_io);
    client_io.run();
  });
  const double camera_seconds = sc.camera ? Seconds(t_camera) : 0.0;
  double startup_seconds = Seconds(t_start);
  const auto t_first_round = Clock::now();
  if (!options.quiet) AnnounceStart(sc, server.port(), startup_seconds, mu, progress);
  // When the rounds are done, stop the clients first, then the coordinator: clients that see
  // their coordinator vanish would (rightly) start reconnecting.
  StreamEnv stream_env =
      MakeStreamEnv(sc, shared_train.get(), &server, mu, summaries, options.quiet);
  auto stopped = [&options] { return options.stop != nullptr && options.stop->load(); };
  LaterPhases later;
  std::thread watcher([&] {
    while (!server.engine().finished() && !stopped()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (progress) progress->Finish();  // the stream and the release phase print their lines
      progress.reset();
    }
    if (!stopped()) later = RunLaterPhases(options, fleet, stream_env);
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
  for (auto& pool : attacker_pools) pool->join();
  if (stopped()) {
    return Status::Unavailable("interrupted after " + std::to_string(summaries.size()) + " of " +
                               std::to_string(sc.rounds) + " rounds");
  }
  FEDGE_RETURN_IF_ERROR(later.stream.status().WithContext("live stream phase"));
  FEDGE_RETURN_IF_ERROR(later.release.status().WithContext("release phase"));

  RunRecord run{&sc,          &options,        &server,        &summaries,
                t_start,      startup_seconds, rounds_seconds, camera_seconds,
                camera_sites, &stream_env,     &stream_sites,  &*later.stream};
  if (release_repo) run.release = &*later.release;
  run.client_ids = &kits.client_ids;
  run.without_attackers = without_attackers;
  return WriteRunReport(run);
}

}  // namespace

Result<json> RunScenario(const Scenario& sc, const RunOptions& options) {
  if (!sc.adversary.paired || sc.adversary.Count(sc.clients) == 0) {
    return RunOnce(sc, options, nullptr);
  }
  // The paired run first: the same scenario and seeds with the attacking sites honest.
  Scenario honest = sc;
  honest.name += "-without-attackers";
  honest.adversary.fraction = 0;
  honest.adversary.paired = false;
  RunOptions quiet = options;
  quiet.out_dir = options.out_dir + "/without-attackers";
  quiet.quiet = true;
  if (!options.quiet) std::printf("paired run without the attackers: %s\n", quiet.out_dir.c_str());
  FEDGE_ASSIGN_OR_RETURN(json without, RunOnce(honest, quiet, nullptr));
  return RunOnce(sc, options, &without);
}

}  // namespace fedge::sim
