#include "client/config.h"

#include <limits>
#include <set>
#include <sstream>

#include "shared/base/config.h"

namespace fedge::client {

using shared::ConfigFile;
using shared::Result;
using shared::Status;

namespace {

Status LoadCameraAndStore(const ConfigFile& file, const std::string& path, ClientConfig* c) {
  CameraSettings& cam = c->camera;
  FEDGE_ASSIGN_OR_RETURN(cam.source, file.String("camera.source", ""));
  FEDGE_ASSIGN_OR_RETURN(cam.name, file.String("camera.name", ""));
  FEDGE_ASSIGN_OR_RETURN(cam.fps, file.Double("camera.fps", 0.0, 0.0, 1000.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t w, file.Int("camera.width", 0, 0, 8192));
  FEDGE_ASSIGN_OR_RETURN(int64_t h, file.Int("camera.height", 0, 0, 8192));
  cam.width = static_cast<int>(w);
  cam.height = static_cast<int>(h);
  FEDGE_ASSIGN_OR_RETURN(cam.keep_frames, file.Bool("camera.keep_frames", true));
  FEDGE_ASSIGN_OR_RETURN(cam.frame_format, file.String("camera.frame_format", "png"));
  if (cam.frame_format != "png" && cam.frame_format != "jpeg") {
    return Status::InvalidArgument(path + ": key 'camera.frame_format': '" + cam.frame_format +
                                   "' is not png or jpeg");
  }
  StoreSettings& st = c->store;
  FEDGE_ASSIGN_OR_RETURN(st.dir, file.String("store.dir", ""));
  if (!st.dir.empty()) st.dir = file.ResolvePath(st.dir);
  FEDGE_ASSIGN_OR_RETURN(int64_t mb, file.Int("store.disk_budget_mb", 1024, 1, 1 << 24));
  st.disk_budget_bytes = static_cast<uint64_t>(mb) << 20;
  FEDGE_ASSIGN_OR_RETURN(double days, file.Double("store.max_age_days", 0.0, 0.0, 36500.0));
  st.max_age_seconds = static_cast<int64_t>(days * 86400);
  FEDGE_ASSIGN_OR_RETURN(int64_t audit,
                         file.Int("store.audit_max_entries", 100000, 100, int64_t{1} << 32));
  st.audit_max_entries = static_cast<uint64_t>(audit);
  FEDGE_ASSIGN_OR_RETURN(c->predictions_path, file.String("inference.predictions", ""));
  if (!c->predictions_path.empty()) c->predictions_path = file.ResolvePath(c->predictions_path);
  return Status::Ok();
}

Status LoadDrift(const ConfigFile& file, const std::string& path, DriftMonitorSettings* d) {
  drift::MonitorOptions& m = d->monitor;
  FEDGE_ASSIGN_OR_RETURN(d->enabled, file.Bool("drift.enabled", true));
  FEDGE_ASSIGN_OR_RETURN(int64_t window, file.Int("drift.window", m.window, 10, 100000));
  m.window = static_cast<int>(window);
  // Missing: the image features (drift::MonitorOptions); "all": the model outputs too.
  FEDGE_ASSIGN_OR_RETURN(std::string features, file.String("drift.features", ""));
  if (features == "all") {
    const auto every = drift::AllFeatures();
    m.features.assign(every.begin(), every.end());
  } else if (!features.empty()) {
    m.features.clear();
    std::stringstream list(features);
    std::string name;
    while (std::getline(list, name, ',')) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      std::optional<drift::Feature> f = drift::FeatureFromName(name);
      if (!f) {
        return Status::InvalidArgument(
            path + ": key 'drift.features': unknown feature '" + name +
            "'; use \"all\" or a comma-separated list of brightness, contrast, sharpness, "
            "saturation, clipped, confidence, entropy");
      }
      m.features.push_back(*f);
    }
  }
  FEDGE_ASSIGN_OR_RETURN(m.psi_threshold,
                         file.Double("drift.psi_threshold", m.psi_threshold, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(m.min_shift, file.Double("drift.min_shift", m.min_shift, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(m.detector.delta,
                         file.Double("drift.ph_delta", m.detector.delta, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(m.detector.lambda,
                         file.Double("drift.ph_lambda", m.detector.lambda, 1e-9, 1e9));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_windows,
                         file.Int("drift.ph_min_windows", m.detector.min_samples, 1, 100000));
  m.detector.min_samples = static_cast<int>(min_windows);
  FEDGE_ASSIGN_OR_RETURN(d->reference, file.String("drift.reference", "local"));
  if (d->reference != "local" && d->reference != "global") {
    return Status::InvalidArgument(path + ": key 'drift.reference': '" + d->reference +
                                   "' is not one of local, global");
  }
  FEDGE_ASSIGN_OR_RETURN(int64_t frames, file.Int("drift.profile_frames", 2000, 10, 1000000));
  d->profile_frames = static_cast<int>(frames);
  if (Status s = drift::ValidateMonitorOptions(m); !s.ok()) {
    return Status::InvalidArgument(path + ": [drift]: " + s.message());
  }
  return Status::Ok();
}

Status LoadUpdate(const ConfigFile& file, UpdateSettings* u) {
  FEDGE_ASSIGN_OR_RETURN(u->repo, file.String("update.repo", ""));
  if (!u->repo.empty()) u->repo = file.ResolvePath(u->repo);
  FEDGE_ASSIGN_OR_RETURN(u->root, file.String("update.root", ""));
  if (!u->root.empty()) u->root = file.ResolvePath(u->root);
  FEDGE_ASSIGN_OR_RETURN(int64_t mb, file.Int("update.max_artifact_mb", 64, 1, 1024));
  u->max_artifact_bytes = static_cast<uint64_t>(mb) << 20;
  FEDGE_ASSIGN_OR_RETURN(u->latency_budget_ms,
                         file.Double("update.latency_budget_ms", 200.0, 0.001, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t frames, file.Int("update.health_frames", 8, 1, 10000));
  u->health_frames = static_cast<int>(frames);
  return Status::Ok();
}

// An int key of [coordinator] into *out.
Status LoadInt(const ConfigFile& file, const char* key, int64_t fallback, int64_t min, int64_t max,
               int* out) {
  FEDGE_ASSIGN_OR_RETURN(int64_t v,
                         file.Int(std::string("coordinator.") + key, fallback, min, max));
  *out = static_cast<int>(v);
  return Status::Ok();
}

// [coordinator]: where it is, how to reconnect, the deadlines of a session.
Status LoadCoordinator(const ConfigFile& file, ClientConfig* c) {
  FEDGE_ASSIGN_OR_RETURN(c->host, file.String("coordinator.host"));
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("coordinator.port", std::nullopt, 1, 65535));
  c->port = static_cast<uint16_t>(port);
  FEDGE_ASSIGN_OR_RETURN(int64_t frame,
                         file.Int("coordinator.max_frame_bytes", 16 << 20, 64 << 10, 1 << 30));
  c->max_frame_bytes = static_cast<uint32_t>(frame);
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "reconnect_initial_ms", 500, 10, 600000, &c->reconnect_initial_ms));
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "reconnect_max_ms", 30000, 10, 3600000, &c->reconnect_max_ms));
  c->reconnect_max_ms = std::max(c->reconnect_initial_ms, c->reconnect_max_ms);
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "resolve_timeout_ms", 10000, 10, 600000, &c->resolve_timeout_ms));
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "connect_timeout_ms", 10000, 10, 600000, &c->connect_timeout_ms));
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "handshake_timeout_ms", 10000, 10, 600000, &c->handshake_timeout_ms));
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "welcome_timeout_ms", 15000, 10, 600000, &c->welcome_timeout_ms));
  FEDGE_RETURN_IF_ERROR(
      LoadInt(file, "write_timeout_ms", 60000, 100, 3600000, &c->write_timeout_ms));
  return LoadInt(file, "idle_heartbeats", 12, 2, 1000, &c->idle_heartbeats);
}

// Every key client.toml may hold: any other is a typo, refused with its name.
const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {
      "coordinator.host",
      "coordinator.port",
      "coordinator.max_frame_bytes",
      "coordinator.reconnect_initial_ms",
      "coordinator.reconnect_max_ms",
      "coordinator.connect_timeout_ms",
      "coordinator.resolve_timeout_ms",
      "coordinator.handshake_timeout_ms",
      "coordinator.welcome_timeout_ms",
      "coordinator.write_timeout_ms",
      "coordinator.idle_heartbeats",
      "tls.ca",
      "tls.cert",
      "tls.key",
      "data.dir",
      "data.partition",
      "data.alpha",
      "data.shards_per_client",
      "data.num_partitions",
      "data.index",
      "data.seed",
      "data.holdout_fraction",
      "data.source",
      "storage.dir",
      "training.threads",
      "camera.source",
      "camera.name",
      "camera.fps",
      "camera.width",
      "camera.height",
      "camera.keep_frames",
      "camera.frame_format",
      "store.dir",
      "store.disk_budget_mb",
      "store.max_age_days",
      "store.audit_max_entries",
      "inference.predictions",
      "drift.enabled",
      "drift.window",
      "drift.features",
      "drift.psi_threshold",
      "drift.min_shift",
      "drift.ph_delta",
      "drift.ph_lambda",
      "drift.ph_min_windows",
      "drift.reference",
      "drift.profile_frames",
      "metrics.enabled",
      "metrics.listen",
      "metrics.port",
      "update.repo",
      "update.root",
      "update.max_artifact_mb",
      "update.latency_budget_ms",
      "update.health_frames",
  };
  return keys;
}

// [data]: the dataset partition this client trains on, or the store's labelled frames.
Status LoadData(const ConfigFile& file, const std::string& path, DataSettings* out) {
  DataSettings& d = *out;
  FEDGE_ASSIGN_OR_RETURN(d.dir, file.Path("data.dir", d.dir));
  FEDGE_ASSIGN_OR_RETURN(d.partition, file.String("data.partition", "iid"));
  if (d.partition != "iid" && d.partition != "dirichlet" && d.partition != "shards") {
    return Status::InvalidArgument(path + ": key 'data.partition': '" + d.partition +
                                   "' is not one of iid, dirichlet, shards");
  }
  FEDGE_ASSIGN_OR_RETURN(d.alpha, file.Double("data.alpha", 0.5, 1e-6, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t spc, file.Int("data.shards_per_client", 2, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t parts, file.Int("data.num_partitions", 1, 1, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t index, file.Int("data.index", 0, 0, parts - 1));
  FEDGE_ASSIGN_OR_RETURN(int64_t seed,
                         file.Int("data.seed", 0, 0, std::numeric_limits<int64_t>::max()));
  FEDGE_ASSIGN_OR_RETURN(d.holdout_fraction, file.Double("data.holdout_fraction", 0.1, 0.0, 0.9));
  d.shards_per_client = static_cast<int>(spc);
  d.num_partitions = static_cast<int>(parts);
  d.index = static_cast<int>(index);
  d.seed = static_cast<uint64_t>(seed);
  FEDGE_ASSIGN_OR_RETURN(d.source, file.String("data.source", "dataset"));
  if (d.source != "dataset" && d.source != "store") {
    return Status::InvalidArgument(path + ": key 'data.source': '" + d.source +
                                   "' is not one of dataset (a Fashion-MNIST partition), store "
                                   "(labelled frames of the sample store)");
  }
  return Status::Ok();
}

}  // namespace

Result<ClientConfig> LoadClientConfig(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
  FEDGE_RETURN_IF_ERROR(file.CheckKnownKeys(KnownKeys()));
  ClientConfig c;
  c.config_path = path;
  FEDGE_RETURN_IF_ERROR(LoadCoordinator(file, &c));
  FEDGE_ASSIGN_OR_RETURN(c.tls.ca, file.Path("tls.ca"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.cert, file.Path("tls.cert"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.key, file.Path("tls.key"));
  FEDGE_RETURN_IF_ERROR(LoadData(file, path, &c.data));
  FEDGE_ASSIGN_OR_RETURN(c.state_dir, file.Path("storage.dir", "state"));
  FEDGE_ASSIGN_OR_RETURN(int64_t threads, file.Int("training.threads", 2, 1, 256));
  c.threads = static_cast<int>(threads);
  FEDGE_RETURN_IF_ERROR(LoadCameraAndStore(file, path, &c));
  FEDGE_RETURN_IF_ERROR(LoadDrift(file, path, &c.drift));
  FEDGE_RETURN_IF_ERROR(LoadUpdate(file, &c.update));
  FEDGE_ASSIGN_OR_RETURN(c.metrics,
                         shared::LoadMetricsSettings(file, ClientConfig::DefaultMetrics()));
  return c;
}

}  // namespace fedge::client
