#include "client/metrics.h"

#include "shared/base/log.h"

namespace fedge::client {

namespace {
// Batch-1 inference on an edge CPU: about 1 ms (a small CNN) to 500 ms (a large model).
const std::vector<double> kLatencyBuckets = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                             0.1,   0.2,   0.5,   1,    2.5};
constexpr std::chrono::seconds kStale{5};
}  // namespace

ClientMetrics::ClientMetrics(std::shared_ptr<shared::MetricsRegistry> registry)
    : registry_(std::move(registry)) {
  shared::MetricsRegistry& r = *registry_;
  inference_latency = &r.AddHistogram("fedge_client_inference_latency_seconds",
                                      "Per classified frame: preprocessing and the model's "
                                      "forward pass (capture and sinks excluded).",
                                      kLatencyBuckets)
                           ->Get();
  frames_ = &r.AddCounter("fedge_client_frames_total", "Camera frames classified.")->Get();
  frames_unreadable = &r.AddCounter("fedge_client_frames_unreadable_total",
                                    "Frames the source delivered but could not be decoded.")
                           ->Get();
  r.AddGaugeCallback("fedge_client_frames_per_second",
                     "Frames classified per second over the last window of at least 1 s (0 "
                     "after 5 s without a frame).",
                     [this] { return FramesPerSecond(); });
  model_version =
      &r.AddGauge("fedge_client_model_version",
                  "Version of the model classifying camera frames (0: none installed yet).")
           ->Get();
  release_counter = &r.AddGauge("fedge_client_release_counter",
                                "Release counter of the signed release classifying frames (0: "
                                "none; the newest registry model serves).")
                         ->Get();
  drift_score = &r.AddGauge("fedge_client_drift_score",
                            "Score (max PSI over features) of the latest drift window.")
                     ->Get();
  drifted = &r.AddGauge("fedge_client_drifted",
                        "1 if the drift monitor's change detector has fired since its reference "
                        "was set.")
                 ->Get();
  drift_windows =
      &r.AddCounter("fedge_client_drift_windows_total", "Drift windows finished.")->Get();
  drift_alarms = &r.AddCounter("fedge_client_drift_alarms_total",
                               "Drift windows in which the change detector fired.")
                      ->Get();
}

void ClientMetrics::FrameDone(Clock::time_point now) {
  frames_->Inc();
  std::lock_guard<std::mutex> lock(rate_mu_);
  if (window_frames_ == 0 || now - last_frame_ > kStale) {
    window_start_ = now;  // the first frame, or the first after a pause, opens a window
    window_frames_ = 0;
  }
  last_frame_ = now;
  ++window_frames_;
  const double elapsed = std::chrono::duration<double>(now - window_start_).count();
  if (elapsed >= 1.0) {
    fps_ = static_cast<double>(window_frames_ - 1) / elapsed;  // intervals, not frames
    window_frames_ = 1;
    window_start_ = now;
  }
}

double ClientMetrics::FramesPerSecond(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(rate_mu_);
  if (last_frame_ == Clock::time_point{} || now - last_frame_ > kStale) return 0;
  return fps_;
}

void AddStatsCallbacks(ClientMetrics& metrics, const ClientStats& stats,
                       std::shared_ptr<shared::TrafficCounters> traffic) {
  const ClientStats* s = &stats;
  std::shared_ptr<shared::TrafficCounters> t = std::move(traffic);
  shared::MetricsRegistry& r = metrics.registry();
  r.AddCounterCallback("fedge_client_training_tasks_total", "Training tasks completed.",
                       [s] { return static_cast<double>(s->tasks_trained.load()); });
  r.AddCounterCallback("fedge_client_evaluation_tasks_total", "Evaluation tasks completed.",
                       [s] { return static_cast<double>(s->tasks_evaluated.load()); });
  r.AddCounterCallback("fedge_client_updates_acknowledged_total",
                       "Updates the coordinator acknowledged.",
                       [s] { return static_cast<double>(s->updates_acked.load()); });
  r.AddCounterCallback("fedge_client_errors_received_total",
                       "Error messages received from the coordinator.",
                       [s] { return static_cast<double>(s->errors_received.load()); });
  r.AddCounterCallback("fedge_client_sessions_total",
                       "Sessions established with the coordinator (reconnects included).",
                       [s] { return static_cast<double>(s->sessions.load()); });
  r.AddCounterCallback("fedge_client_drift_reports_sent_total", "Drift reports sent.",
                       [s] { return static_cast<double>(s->drift_reports_sent.load()); });
  r.AddCounterCallback("fedge_client_sent_bytes_total",
                       "Bytes sent to the coordinator (frame headers and payloads, before TLS).",
                       [t] { return static_cast<double>(t->bytes_out.load()); });
  r.AddCounterCallback("fedge_client_received_bytes_total",
                       "Bytes received from the coordinator (frame headers and payloads).",
                       [t] { return static_cast<double>(t->bytes_in.load()); });
}

shared::Result<std::unique_ptr<shared::HttpServer>> ServeMetrics(
    std::shared_ptr<ClientMetrics> metrics, const shared::MetricsSettings& settings,
    const std::string& config_path) {
  auto router = std::make_shared<shared::HttpRouter>();
  router->Get("/metrics", [metrics](const shared::HttpRequest&) {
    shared::HttpResponse r;
    r.content_type = shared::kMetricsContentType;
    r.body = metrics->registry().Render();
    return r;
  });
  auto server = std::make_unique<shared::HttpServer>(std::move(router));
  if (shared::Status s = server->Start(settings.listen, settings.port); !s.ok()) {
    return s.WithContext(config_path + ": [metrics]");
  }
  FEDGE_LOG(Info, "metrics") << "metrics on http://" << settings.listen << ":" << server->port()
                             << "/metrics";
  return server;
}

}  // namespace fedge::client
