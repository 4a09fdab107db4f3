#include "coordinator/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "shared/base/config.h"
#include "shared/crypto/crypto.h"

namespace fedge::coordinator {

using shared::ConfigFile;
using shared::Result;
using shared::Status;

namespace {

// An update codec name from `key`.
Result<std::string> LoadCodec(const shared::ConfigFile& file, const std::string& key) {
  FEDGE_ASSIGN_OR_RETURN(std::string codec, file.String(key, ml::TrainingSettings().codec));
  if (codec != "fp32" && codec != "fp16" && codec != "int8" && codec != "topk_int8") {
    return Status::InvalidArgument(file.path() + ": key '" + key + "': '" + codec +
                                   "' is not an update codec; use fp32, fp16, int8 or topk_int8");
  }
  return codec;
}

const std::set<std::string>& AugmentKeys() {
  static const std::set<std::string> keys = {
      "augment.hflip", "augment.crop_pad",  "augment.brightness", "augment.contrast",
      "augment.gamma", "augment.blur_prob", "augment.noise_std"};
  return keys;
}

Result<ml::AugmentOptions> LoadAugment(const shared::ConfigFile& file) {
  ml::AugmentOptions a;
  FEDGE_ASSIGN_OR_RETURN(a.hflip, file.Bool("augment.hflip", false));
  FEDGE_ASSIGN_OR_RETURN(int64_t pad, file.Int("augment.crop_pad", 0, 0, 64));
  a.crop_pad = static_cast<int>(pad);
  FEDGE_ASSIGN_OR_RETURN(double brightness, file.Double("augment.brightness", 0.0, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(double contrast, file.Double("augment.contrast", 0.0, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(double gamma, file.Double("augment.gamma", 0.0, 0.0, 2.0));
  FEDGE_ASSIGN_OR_RETURN(double blur, file.Double("augment.blur_prob", 0.0, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(double noise, file.Double("augment.noise_std", 0.0, 0.0, 1.0));
  a.brightness = static_cast<float>(brightness);
  a.contrast = static_cast<float>(contrast);
  a.gamma = static_cast<float>(gamma);
  a.blur_prob = static_cast<float>(blur);
  a.noise_std = static_cast<float>(noise);
  return a;
}

}  // namespace

std::set<std::string> AggregationKeys(const std::string& section) {
  std::set<std::string> keys;
  for (const char* k :
       {"aggregation", "trim_fraction", "krum_byzantine", "krum_select", "clip_radius",
        "clip_iterations", "bucket_size", "adaptive_norm_multiple"}) {
    keys.insert(section + "." + k);
  }
  return keys;
}

Result<AggregationSettings> LoadAggregationSettings(const shared::ConfigFile& file,
                                                    const std::string& section) {
  AggregationSettings a;
  const std::string p = section + ".";
  FEDGE_ASSIGN_OR_RETURN(std::string method, file.String(p + "aggregation", "fedavg"));
  Result<AggregationMethod> m = ParseAggregationMethod(method);
  if (!m.ok()) {
    return Status::InvalidArgument(file.path() + ": key '" + p +
                                   "aggregation': " + m.status().message());
  }
  a.method = *m;
  FEDGE_ASSIGN_OR_RETURN(a.trim_fraction, file.Double(p + "trim_fraction", 0.2, 0.0, 0.49));
  FEDGE_ASSIGN_OR_RETURN(int64_t f, file.Int(p + "krum_byzantine", 1, 0, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t m_sel, file.Int(p + "krum_select", 0, 0, 1000000));
  FEDGE_ASSIGN_OR_RETURN(a.clip_radius, file.Double(p + "clip_radius", 0.0, 0.0, 1e12));
  FEDGE_ASSIGN_OR_RETURN(int64_t iters, file.Int(p + "clip_iterations", 3, 1, 100));
  FEDGE_ASSIGN_OR_RETURN(int64_t bucket, file.Int(p + "bucket_size", 2, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(a.adaptive_norm_multiple,
                         file.Double(p + "adaptive_norm_multiple", 0.0, 0.0, 1e6));
  a.krum_byzantine = static_cast<int>(f);
  a.krum_select = static_cast<int>(m_sel);
  a.clip_iterations = static_cast<int>(iters);
  a.bucket_size = static_cast<int>(bucket);
  return a;
}

std::set<std::string> DefenceKeys(const std::string& section) {
  std::set<std::string> keys;
  for (const char* k :
       {"score", "threshold", "window", "quarantine_after", "revoke_after", "min_updates"}) {
    keys.insert(section + "." + k);
  }
  return keys;
}

Result<DefenceSettings> LoadDefenceSettings(const shared::ConfigFile& file,
                                            const std::string& section) {
  DefenceSettings d;
  const std::string p = section + ".";
  FEDGE_ASSIGN_OR_RETURN(d.score, file.Bool(p + "score", false));
  FEDGE_ASSIGN_OR_RETURN(d.threshold, file.Double(p + "threshold", d.threshold, 0.5, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t window, file.Int(p + "window", d.window, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t quarantine, file.Int(p + "quarantine_after", 0, 0, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t revoke, file.Int(p + "revoke_after", 0, 0, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_updates,
                         file.Int(p + "min_updates", d.min_updates, 3, 1000000));
  d.window = static_cast<int>(window);
  d.quarantine_after = static_cast<int>(quarantine);
  d.revoke_after = static_cast<int>(revoke);
  d.min_updates = static_cast<int>(min_updates);
  for (const auto& [key, value] : {std::pair{"quarantine_after", d.quarantine_after},
                                   std::pair{"revoke_after", d.revoke_after}}) {
    if (value > d.window) {
      return Status::InvalidArgument(file.path() + ": key '" + p + key +
                                     "': " + std::to_string(value) + " is more than " + p +
                                     "window (" + std::to_string(d.window) +
                                     "), so it could never be reached; raise the window or "
                                     "lower it");
    }
  }
  return d;
}

const std::set<std::string>& DriftKeys() {
  static const std::set<std::string> keys = {
      "drift.enabled",         "drift.score_threshold",
      "drift.persistence",     "drift.min_clients",
      "drift.min_fraction",    "drift.campaign_rounds",
      "drift.cooldown_rounds", "drift.max_campaigns_per_client",
      "drift.focus_fraction",  "drift.campaign_augment",
      "drift.update_weight",   "drift.campaign_lr_scale"};
  return keys;
}

Result<DriftSettings> LoadDriftSettings(const shared::ConfigFile& file) {
  DriftSettings d;
  FEDGE_ASSIGN_OR_RETURN(d.enabled, file.Bool("drift.enabled", true));
  FEDGE_ASSIGN_OR_RETURN(d.score_threshold, file.Double("drift.score_threshold", 0.25, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t persistence, file.Int("drift.persistence", 3, 1, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_clients, file.Int("drift.min_clients", 1, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(d.min_fraction, file.Double("drift.min_fraction", 0.0, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t rounds, file.Int("drift.campaign_rounds", 5, 1, 10000));
  FEDGE_ASSIGN_OR_RETURN(int64_t cooldown, file.Int("drift.cooldown_rounds", 2, 0, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t per_client,
                         file.Int("drift.max_campaigns_per_client", 3, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(d.focus_fraction, file.Double("drift.focus_fraction", 0.5, 0.0, 0.95));
  FEDGE_ASSIGN_OR_RETURN(d.campaign_augment, file.Bool("drift.campaign_augment", true));
  FEDGE_ASSIGN_OR_RETURN(int64_t weight, file.Int("drift.update_weight", 1, 1, 100));
  FEDGE_ASSIGN_OR_RETURN(d.campaign_lr_scale,
                         file.Double("drift.campaign_lr_scale", 0.5, 0.001, 1.0));
  d.update_weight = static_cast<int>(weight);
  d.persistence = static_cast<int>(persistence);
  d.min_clients = static_cast<int>(min_clients);
  d.campaign_rounds = static_cast<int>(rounds);
  d.cooldown_rounds = static_cast<int>(cooldown);
  d.max_campaigns_per_client = static_cast<int>(per_client);
  return d;
}

namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

// The token in `path`: one line (a final newline is allowed) of URL-safe characters, in a file
// only its owner may read. Errors start with what `key` names.
Result<std::string> ReadToken(const std::string& where, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(where + path + " does not exist");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidArgument(where + path + " may be read by others (mode " + mode +
                                   "); chmod 600 it");
  }
  Result<std::vector<uint8_t>> bytes = shared::ReadFile(path, 4096);
  if (!bytes.ok()) return Status::InvalidArgument(where + bytes.status().message());
  std::string token(bytes->begin(), bytes->end());
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.size() < 32 || token.size() > 256 ||
      !std::all_of(token.begin(), token.end(), IsTokenChar)) {
    return Status::InvalidArgument(where + path +
                                   " must hold one token of 32 to 256 characters from "
                                   "A-Z a-z 0-9 . _ ~ - (e.g. `openssl rand -hex 32`)");
  }
  return token;
}

}  // namespace

const std::set<std::string>& StatusKeys() {
  static const std::set<std::string> keys = {"status.enabled", "status.listen", "status.port",
                                             "status.token_file"};
  return keys;
}

Result<StatusSettings> LoadStatusSettings(const shared::ConfigFile& file) {
  StatusSettings s;
  FEDGE_ASSIGN_OR_RETURN(s.enabled, file.Bool("status.enabled", false));
  FEDGE_ASSIGN_OR_RETURN(s.listen, file.String("status.listen", "127.0.0.1"));
  unsigned char addr[sizeof(in6_addr)];
  if (inet_pton(AF_INET, s.listen.c_str(), addr) != 1 &&
      inet_pton(AF_INET6, s.listen.c_str(), addr) != 1) {
    return Status::InvalidArgument(file.path() + ": key 'status.listen': '" + s.listen +
                                   "' is not an IP address");
  }
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("status.port", 8443, 0, 65535));
  s.port = static_cast<uint16_t>(port);
  FEDGE_ASSIGN_OR_RETURN(s.token_file, file.String("status.token_file", ""));
  if (!s.token_file.empty()) {
    s.token_file = file.ResolvePath(s.token_file);
    FEDGE_ASSIGN_OR_RETURN(s.token,
                           ReadToken(file.path() + ": key 'status.token_file': ", s.token_file));
  }
  return s;
}

const std::set<std::string>& ReleaseKeys() {
  static const std::set<std::string> keys = {"release.repo",
                                             "release.max_accuracy_drop",
                                             "release.canary_timeout_seconds",
                                             "release.min_canary_reports",
                                             "release.auto_promote",
                                             "release.online_keys",
                                             "release.timestamp_hours"};
  return keys;
}

Result<ReleaseSettings> LoadReleaseSettings(const shared::ConfigFile& file) {
  ReleaseSettings s;
  FEDGE_ASSIGN_OR_RETURN(s.repo, file.String("release.repo", ""));
  if (!s.repo.empty()) s.repo = file.ResolvePath(s.repo);
  FEDGE_ASSIGN_OR_RETURN(s.max_accuracy_drop,
                         file.Double("release.max_accuracy_drop", 0.01, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t timeout,
                         file.Int("release.canary_timeout_seconds", 600, 1, 7 * 86400));
  s.canary_timeout_seconds = static_cast<int>(timeout);
  FEDGE_ASSIGN_OR_RETURN(int64_t reports, file.Int("release.min_canary_reports", 1, 1, 1000000));
  s.min_canary_reports = static_cast<int>(reports);
  FEDGE_ASSIGN_OR_RETURN(s.auto_promote, file.Bool("release.auto_promote", true));
  FEDGE_ASSIGN_OR_RETURN(s.online_keys, file.String("release.online_keys", ""));
  if (!s.online_keys.empty()) s.online_keys = file.ResolvePath(s.online_keys);
  FEDGE_ASSIGN_OR_RETURN(int64_t hours, file.Int("release.timestamp_hours", 24, 1, 24 * 365));
  s.timestamp_hours = static_cast<int>(hours);
  if (!s.online_keys.empty() && s.repo.empty()) {
    return Status::InvalidArgument(file.path() +
                                   ": key 'release.online_keys' is set but release.repo is not; "
                                   "set release.repo to the release repository directory");
  }
  return s;
}

std::set<std::string> TrainingKeys(const std::string& section) {
  std::set<std::string> keys = AugmentKeys();
  for (const char* key :
       {"local_epochs", "batch_size", "learning_rate", "momentum", "codec", "topk_fraction"}) {
    keys.insert(section + "." + key);
  }
  return keys;
}

Result<ml::TrainingSettings> LoadTrainingSettings(const ConfigFile& file,
                                                  const std::string& section) {
  const ml::TrainingSettings d;
  ml::TrainingSettings t;
  const std::string p = section + ".";
  FEDGE_ASSIGN_OR_RETURN(int64_t epochs, file.Int(p + "local_epochs", d.local_epochs, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t batch, file.Int(p + "batch_size", d.batch_size, 1, 65536));
  FEDGE_ASSIGN_OR_RETURN(t.learning_rate,
                         file.Double(p + "learning_rate", d.learning_rate, 1e-9, 100.0));
  FEDGE_ASSIGN_OR_RETURN(t.momentum, file.Double(p + "momentum", d.momentum, 0.0, 0.999999));
  FEDGE_ASSIGN_OR_RETURN(t.codec, LoadCodec(file, p + "codec"));
  FEDGE_ASSIGN_OR_RETURN(t.topk_fraction,
                         file.Double(p + "topk_fraction", d.topk_fraction, 1e-6, 1.0));
  FEDGE_ASSIGN_OR_RETURN(t.augment, LoadAugment(file));
  t.local_epochs = static_cast<int>(epochs);
  t.batch_size = static_cast<int>(batch);
  return t;
}

namespace {

// Every key coordinator.toml may hold.
std::set<std::string> CoordinatorKeys() {
  std::set<std::string> known = TrainingKeys("rounds");
  for (const std::string& k : AggregationKeys("rounds")) known.insert(k);
  for (const std::string& k : DefenceKeys("defence")) known.insert(k);
  known.insert(DriftKeys().begin(), DriftKeys().end());
  known.insert(shared::MetricsKeys().begin(), shared::MetricsKeys().end());
  known.insert(StatusKeys().begin(), StatusKeys().end());
  known.insert(ReleaseKeys().begin(), ReleaseKeys().end());
  known.insert({"server.listen",
                "server.port",
                "server.data_dir",
                "server.max_frame_bytes",
                "server.threads",
                "server.heartbeat_ms",
                "tls.ca",
                "tls.cert",
                "tls.key",
                "rounds.count",
                "rounds.min_clients",
                "rounds.fraction_fit",
                "rounds.min_fit",
                "rounds.min_train_examples",
                "rounds.timeout_seconds",
                "rounds.eval_timeout_seconds",
                "rounds.evaluate",
                "rounds.seed",
                "rounds.max_client_share",
                "rounds.max_update_norm",
                "model.arch",
                "model.seed",
                "registry.keep_last",
                "registry.keep_every",
                "registry.idempotency_rounds",
                "limits.max_connections",
                "limits.max_connections_per_address",
                "limits.max_connections_per_identity",
                "limits.max_refusals_per_minute",
                "limits.send_queue_bytes",
                "limits.handshake_timeout_ms"});
  return known;
}

// The [rounds] section (and [augment], which the rounds hand to clients).
Result<RoundSettings> LoadRoundSettings(const ConfigFile& file) {
  RoundSettings r;
  FEDGE_ASSIGN_OR_RETURN(r.training, LoadTrainingSettings(file, "rounds"));
  FEDGE_ASSIGN_OR_RETURN(int64_t count, file.Int("rounds.count", 20, 0, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_clients, file.Int("rounds.min_clients", 1, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(r.fraction_fit, file.Double("rounds.fraction_fit", 1.0, 1e-6, 1.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_fit, file.Int("rounds.min_fit", 1, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_examples,
                         file.Int("rounds.min_train_examples", 1, 0, int64_t{1} << 32));
  r.min_train_examples = static_cast<uint64_t>(min_examples);
  FEDGE_ASSIGN_OR_RETURN(int64_t timeout, file.Int("rounds.timeout_seconds", 300, 1, 86400));
  FEDGE_ASSIGN_OR_RETURN(int64_t eval_timeout,
                         file.Int("rounds.eval_timeout_seconds", 60, 1, 86400));
  FEDGE_ASSIGN_OR_RETURN(r.evaluate, file.Bool("rounds.evaluate", true));
  FEDGE_ASSIGN_OR_RETURN(int64_t seed,
                         file.Int("rounds.seed", 0, 0, std::numeric_limits<int64_t>::max()));
  r.count = static_cast<int>(count);
  r.min_clients = static_cast<int>(min_clients);
  r.min_fit = static_cast<int>(min_fit);
  r.timeout_seconds = static_cast<int>(timeout);
  r.eval_timeout_seconds = static_cast<int>(eval_timeout);
  r.seed = static_cast<uint64_t>(seed);
  FEDGE_ASSIGN_OR_RETURN(r.max_client_share,
                         file.Double("rounds.max_client_share", 1.0, 1e-6, 1.0));
  FEDGE_ASSIGN_OR_RETURN(r.aggregation, LoadAggregationSettings(file, "rounds"));
  FEDGE_ASSIGN_OR_RETURN(r.max_update_norm, file.Double("rounds.max_update_norm", 0.0, 0.0, 1e12));
  if (r.aggregation.method == AggregationMethod::kMultiKrum &&
      r.min_fit < 2 * r.aggregation.krum_byzantine + 3) {
    return Status::InvalidArgument(
        file.path() + ": key 'rounds.min_fit': " + std::to_string(r.min_fit) +
        " is too few for multi_krum with rounds.krum_byzantine = " +
        std::to_string(r.aggregation.krum_byzantine) + ", which needs at least " +
        std::to_string(2 * r.aggregation.krum_byzantine + 3) + " updates per round");
  }
  if (r.min_fit > r.min_clients) {
    return Status::InvalidArgument(file.path() +
                                   ": key 'rounds.min_fit': " + std::to_string(r.min_fit) +
                                   " exceeds rounds.min_clients (" + std::to_string(r.min_clients) +
                                   "); no round could ever complete");
  }
  return r;
}

// The [limits] section.
Result<LimitSettings> LoadLimitSettings(const ConfigFile& file) {
  LimitSettings l;
  FEDGE_ASSIGN_OR_RETURN(int64_t total, file.Int("limits.max_connections", 10000, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t per_address,
                         file.Int("limits.max_connections_per_address", 64, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t per_identity,
                         file.Int("limits.max_connections_per_identity", 8, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t refusals,
                         file.Int("limits.max_refusals_per_minute", 120, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t queue,
                         file.Int("limits.send_queue_bytes", 64 << 20, 1 << 20, int64_t{16} << 30));
  FEDGE_ASSIGN_OR_RETURN(int64_t handshake,
                         file.Int("limits.handshake_timeout_ms", 10000, 100, 600000));
  l.max_connections = static_cast<uint64_t>(total);
  l.max_connections_per_address = static_cast<uint64_t>(per_address);
  l.max_connections_per_identity = static_cast<uint64_t>(per_identity);
  l.max_refusals_per_minute = static_cast<uint64_t>(refusals);
  l.send_queue_bytes = static_cast<uint64_t>(queue);
  l.handshake_timeout_ms = static_cast<int>(handshake);
  return l;
}

}  // namespace

Result<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
  FEDGE_RETURN_IF_ERROR(file.CheckKnownKeys(CoordinatorKeys()));
  CoordinatorConfig c;
  c.config_path = path;
  FEDGE_ASSIGN_OR_RETURN(c.listen, file.String("server.listen", "0.0.0.0"));
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("server.port", 7443, 0, 65535));
  c.port = static_cast<uint16_t>(port);
  FEDGE_ASSIGN_OR_RETURN(c.data_dir, file.Path("server.data_dir", "data"));
  FEDGE_ASSIGN_OR_RETURN(int64_t max_frame,
                         file.Int("server.max_frame_bytes", 16 << 20, 64 << 10, 1 << 30));
  c.max_frame_bytes = static_cast<uint32_t>(max_frame);
  FEDGE_ASSIGN_OR_RETURN(int64_t threads, file.Int("server.threads", 2, 1, 64));
  c.threads = static_cast<int>(threads);
  FEDGE_ASSIGN_OR_RETURN(int64_t hb, file.Int("server.heartbeat_ms", 5000, 100, 600000));
  c.heartbeat_ms = static_cast<int>(hb);
  FEDGE_ASSIGN_OR_RETURN(c.tls.ca, file.Path("tls.ca"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.cert, file.Path("tls.cert"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.key, file.Path("tls.key"));

  FEDGE_ASSIGN_OR_RETURN(c.rounds, LoadRoundSettings(file));
  FEDGE_ASSIGN_OR_RETURN(c.drift, LoadDriftSettings(file));
  FEDGE_ASSIGN_OR_RETURN(c.defence, LoadDefenceSettings(file, "defence"));
  FEDGE_ASSIGN_OR_RETURN(c.model_arch, file.String("model.arch", "cnn_small"));
  FEDGE_ASSIGN_OR_RETURN(int64_t mseed,
                         file.Int("model.seed", 0, 0, std::numeric_limits<int64_t>::max()));
  c.model_seed = static_cast<uint64_t>(mseed);
  FEDGE_ASSIGN_OR_RETURN(int64_t keep_last, file.Int("registry.keep_last", 0, 0, 1000000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t keep_every, file.Int("registry.keep_every", 0, 0, 1000000000));
  c.keep_last = static_cast<uint64_t>(keep_last);
  c.keep_every = static_cast<uint64_t>(keep_every);
  FEDGE_ASSIGN_OR_RETURN(int64_t id_rounds,
                         file.Int("registry.idempotency_rounds", 100, 1, 1000000000));
  c.idempotency_rounds = static_cast<uint64_t>(id_rounds);
  FEDGE_ASSIGN_OR_RETURN(c.metrics,
                         shared::LoadMetricsSettings(file, CoordinatorConfig::DefaultMetrics()));
  FEDGE_ASSIGN_OR_RETURN(c.status, LoadStatusSettings(file));
  FEDGE_ASSIGN_OR_RETURN(c.release, LoadReleaseSettings(file));
  FEDGE_ASSIGN_OR_RETURN(c.limits, LoadLimitSettings(file));
  if (c.status.enabled && c.metrics.enabled && c.status.port != 0 &&
      c.status.port == c.metrics.port) {
    return Status::InvalidArgument(path + ": key 'status.port': " + std::to_string(c.status.port) +
                                   " is also metrics.port; give the status page its own port");
  }
  return c;
}

}  // namespace fedge::coordinator
