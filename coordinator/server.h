#pragma once
// The coordinator process: opens the store, initialises the round engine, accepts mutual
// TLS connections and runs sessions and rounds on a pool of network threads.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "coordinator/admin.h"
#include "coordinator/config.h"
#include "coordinator/connection_limiter.h"
#include "coordinator/metrics.h"
#include "coordinator/model_init.h"
#include "coordinator/rollout.h"
#include "coordinator/round_engine.h"
#include "coordinator/session.h"
#include "coordinator/status_page.h"
#include "coordinator/store.h"
#include "shared/net/asio.h"
#include "shared/net/http_server.h"

namespace fedge::coordinator {

class Server {
 public:
  // `initial_model` creates version 1 when the registry is empty (TorchInitialModel from
  // coordinator/ml_backend.h in programs; a fake in unit tests).
  Server(CoordinatorConfig config, InitialModelFn initial_model,
         SessionOptions session_options = {});
  ~Server();

  // Opens the store, loads TLS files, initialises the engine and binds the listener (port 0
  // picks a free port). Errors name what failed.
  shared::Status Start();
  // Port actually bound. REQUIRES: Start() succeeded.
  uint16_t port() const { return port_; }
  // Serves GET /metrics (Prometheus text) on metrics.listen:metrics.port on its own thread
  // (port 0 picks a free port). Separate from Start() so that programs embedding a Server
  // (fedge-sim) open no HTTP port; fedge-coordinator calls it when metrics.enabled.
  // REQUIRES: Start() succeeded.
  shared::Status StartMetrics();
  // Port of the metrics endpoint. REQUIRES: StartMetrics() succeeded.
  uint16_t metrics_port() const { return http_ ? http_->port() : 0; }
  // Serves the read-only status page (coordinator/status_page.h) over HTTPS on
  // status.listen:status.port with the coordinator's certificate (port 0 picks a free port).
  // Like StartMetrics, only fedge-coordinator calls it (when status.enabled).
  // REQUIRES: Start() succeeded; set_status_sources() before, if at all.
  shared::Status StartStatus();
  // Port of the status page. REQUIRES: StartStatus() succeeded.
  uint16_t status_port() const { return status_http_ ? status_http_->port() : 0; }
  // Where the status page gets what the engine and the store do not hold (releases).
  void set_status_sources(StatusSources sources) { status_sources_ = std::move(sources); }

  // The metrics (always counted, whether or not they are served). Thread-safe.
  CoordinatorMetrics& metrics() { return *metrics_; }

  // Runs network threads, accepting clients and running rounds, until Stop() or until the
  // rounds are done when `exit_when_done`. Blocks.
  void Run(bool exit_when_done);
  // Thread-safe: stops accepting, closes sessions, makes Run() return.
  void Stop();

  // Thread-safe: closes every open session of `client_id` (after a revocation).
  void CloseClient(const std::string& client_id);

  RoundEngine& engine() { return *engine_; }
  // Staged rollout of signed releases ([release]; disabled without release.repo).
  RolloutManager& rollouts() { return *rollouts_; }
  Store& store() { return *store_; }
  const std::shared_ptr<shared::TrafficCounters>& traffic() const { return traffic_; }

 private:
  void RunIo();
  net::awaitable<void> AcceptLoop();
  net::awaitable<void> RunRounds(bool exit_when_done);
  // Calls RolloutManager::Tick every second until stopped.
  net::awaitable<void> TickRollouts();

  CoordinatorConfig config_;
  InitialModelFn initial_model_;
  SessionOptions session_options_;
  net::asio::io_context io_;
  std::unique_ptr<net::ssl::context> tls_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<RolloutManager> rollouts_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<net::tcp::acceptor> acceptor_;
  std::shared_ptr<shared::TrafficCounters> traffic_ = std::make_shared<shared::TrafficCounters>();
  std::shared_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<shared::HttpServer> http_;  // the metrics endpoint, once started
  StatusSources status_sources_;
  std::unique_ptr<shared::HttpServer> status_http_;  // the status page, once started
  ConnectionLimiter limiter_{config_.limits.max_connections,
                             config_.limits.max_connections_per_address,
                             config_.limits.max_connections_per_identity};
  std::mutex sessions_mu_;
  std::vector<std::weak_ptr<Session>> sessions_;  // guarded by sessions_mu_
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace fedge::coordinator
