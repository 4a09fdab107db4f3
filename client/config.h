#pragma once
// client.toml: coordinator address, TLS files, private data, local state.

#include <cstdint>
#include <string>

#include "client/store_options.h"
#include "shared/base/status.h"
#include "shared/drift/monitor.h"
#include "shared/net/tls.h"
#include "shared/observability/metrics.h"

namespace fedge::client {

struct DataSettings {
  // What the client trains on: "dataset" (its partition of Fashion-MNIST in `dir`; the
  // quickstart) or "store" (the labelled frames of its private sample store).
  std::string source = "dataset";
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string partition = "dirichlet";  // iid | dirichlet | shards
  double alpha = 0.5;
  int shards_per_client = 2;
  int num_partitions = 1;
  int index = 0;
  uint64_t seed = 0;
  double holdout_fraction = 0.1;
};

// The site's camera (see client/frame_source.h for the URI forms).
struct CameraSettings {
  std::string source;         // empty: no camera configured
  std::string name;           // frame ids are "<name>#..."; default from the source
  double fps = 0;             // 0: native rate
  int width = 0, height = 0;  // 0: native size
  bool keep_frames = true;    // store inferred frames in the sample store (for review, training)
  std::string frame_format = "png";  // how stored frames are encoded: png (lossless) or jpeg
};

// The private sample store (RocksDB; see docs/client_store.md). Nothing in it leaves the site.
struct StoreSettings {
  std::string dir;  // empty: <storage.dir>/store (see StoreDir)
  uint64_t disk_budget_bytes = 1ull << 30;
  int64_t max_age_seconds = 0;          // 0: frames are kept until evicted or purged
  uint64_t audit_max_entries = 100000;  // the audit log keeps the newest this many
};

// Drift monitoring of the frames the model sees ([drift]; shared/drift/monitor.h). Each
// finished window is compared with the installed model version's reference profile and sent to
// the coordinator as a DriftReport (summaries only).
struct DriftMonitorSettings {
  bool enabled = true;
  drift::MonitorOptions monitor;  // window, features, psi_threshold, detector
  // Which reference the monitor compares with: "local" (this site's own evaluation data under
  // the model version, falling back to the shipped global profile until it exists) or "global"
  // (the coordinator's profile merged from every client).
  std::string reference = "local";
  int profile_frames = 2000;  // evaluation frames summarised for the reference profile (max)
};

// Signed model releases ([update]; client/updater.h, `fedge-client update`).
struct UpdateSettings {
  std::string repo;  // release repository directory; empty: give --repo
  std::string root;  // trusted root metadata from the startup kit (first update only)
  uint64_t max_artifact_bytes = 64ull << 20;
  double latency_budget_ms = 200;  // median batch-1 latency the health check allows
  int health_frames = 8;
};

struct ClientConfig {
  std::string config_path;
  std::string host = "localhost";
  uint16_t port = 7443;
  shared::TlsFiles tls;
  DataSettings data;
  CameraSettings camera;
  StoreSettings store;
  DriftMonitorSettings drift;
  UpdateSettings update;
  std::string predictions_path;  // sink of `fedge-client infer`; empty: <state>/predictions.jsonl
  std::string state_dir;
  uint32_t max_frame_bytes = 16u << 20;
  int threads = 2;                 // LibTorch threads for training and evaluation
  int reconnect_initial_ms = 500;  // exponential backoff with jitter between reconnects
  int reconnect_max_ms = 30000;
  // Deadlines of one session ([coordinator]); a session that misses one ends and the client
  // reconnects after the backoff.
  int resolve_timeout_ms = 10000;    // DNS lookup of host (shared/net/resolve.h)
  int connect_timeout_ms = 10000;    // TCP connect
  int handshake_timeout_ms = 10000;  // TLS handshake
  int welcome_timeout_ms = 15000;    // from the Hello to the coordinator's Welcome
  int write_timeout_ms = 60000;      // one frame written to the socket
  // Idle limit: nothing received (not even a heartbeat) for this many of the coordinator's
  // heartbeat intervals closes the session.
  int idle_heartbeats = 12;
  // [metrics]: GET /metrics in the Prometheus text format from `run` and `infer`; off by default.
  shared::MetricsSettings metrics = DefaultMetrics();
  static shared::MetricsSettings DefaultMetrics() { return {false, "127.0.0.1", 9465}; }
};

shared::Result<ClientConfig> LoadClientConfig(const std::string& path);

// Where the sample store lives: store.dir, or <state_dir>/store.
inline std::string StoreDir(const ClientConfig& c) {
  return c.store.dir.empty() ? c.state_dir + "/store" : c.store.dir;
}

// How the sample store is opened, from [store].
inline StoreOptions StoreOptionsOf(const ClientConfig& c) {
  StoreOptions options;
  options.disk_budget_bytes = c.store.disk_budget_bytes;
  options.max_age_seconds = c.store.max_age_seconds;
  options.audit_max_entries = c.store.audit_max_entries;
  return options;
}

}  // namespace fedge::client
