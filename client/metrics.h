#pragma once
// The edge client's Prometheus metrics (names and meanings: docs/operations.md), served on
// GET /metrics by `fedge-client run` and `fedge-client infer` when [metrics] enabled = true.
// Thread-safe; FrameDone and the latency histogram are cheap enough for every frame (atomics,
// one short uncontended mutex, no allocation).

#include <chrono>
#include <memory>
#include <mutex>

#include "client/client_stats.h"
#include "shared/base/status.h"
#include "shared/net/connection.h"
#include "shared/net/http_server.h"
#include "shared/observability/metrics.h"

namespace fedge::client {

class ClientMetrics {
 public:
  using Clock = std::chrono::steady_clock;
  // Registers the client's metrics in `registry` (kept alive by this object).
  explicit ClientMetrics(std::shared_ptr<shared::MetricsRegistry> registry);

  shared::MetricsRegistry& registry() { return *registry_; }

  // Every pointer is set by the constructor and lives as long as this object.
  // Per classified frame: preprocessing and the model's forward pass, in seconds.
  shared::Histogram* inference_latency = nullptr;
  shared::Counter* frames_unreadable = nullptr;
  shared::Gauge* model_version = nullptr;
  // Release counter of the signed release being served (0: the registry model).
  shared::Gauge* release_counter = nullptr;
  // The live drift monitor's latest finished window.
  shared::Gauge* drift_score = nullptr;
  shared::Gauge* drifted = nullptr;
  shared::Counter* drift_windows = nullptr;
  shared::Counter* drift_alarms = nullptr;

  // Counts one classified frame (fedge_client_frames_total) and updates the frame rate, measured
  // over windows of at least one second.
  void FrameDone(Clock::time_point now = Clock::now());
  // Frames per second of the last full window; 0 when no frame came for 5 s.
  double FramesPerSecond(Clock::time_point now = Clock::now()) const;

 private:
  std::shared_ptr<shared::MetricsRegistry> registry_;
  shared::Counter* frames_ = nullptr;
  mutable std::mutex rate_mu_;
  Clock::time_point window_start_{};  // guarded by rate_mu_
  Clock::time_point last_frame_{};    // guarded by rate_mu_
  uint64_t window_frames_ = 0;        // guarded by rate_mu_
  double fps_ = 0;                    // guarded by rate_mu_
};

// Adds the metrics a client already counts in `stats` (training and evaluation tasks, drift
// reports) and `traffic` (wire bytes) as callbacks. REQUIRES: `stats` outlives every Render of
// `metrics`' registry (stop the endpoint before destroying the client).
void AddStatsCallbacks(ClientMetrics& metrics, const ClientStats& stats,
                       std::shared_ptr<shared::TrafficCounters> traffic);

// Serves `metrics` on GET /metrics at listen:port (port 0 picks a free one). Errors name the
// config file's [metrics] section.
shared::Result<std::unique_ptr<shared::HttpServer>> ServeMetrics(
    std::shared_ptr<ClientMetrics> metrics, const shared::MetricsSettings& settings,
    const std::string& config_path);

}  // namespace fedge::client
