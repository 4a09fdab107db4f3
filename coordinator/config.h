#pragma once
// coordinator.toml: listen address, TLS files, data directory, round settings, model.

#include <cstdint>
#include <set>
#include <string>

#include "coordinator/robust_aggregation.h"
#include "coordinator/site_defence.h"
#include "shared/base/config.h"
#include "shared/base/status.h"
#include "shared/ml/data/augment.h"
#include "shared/ml/data/training.h"
#include "shared/net/tls.h"
#include "shared/observability/metrics.h"

namespace fedge::coordinator {

struct RoundSettings {
  int count = 20;             // rounds to run
  int min_clients = 1;        // connected clients before round 1 starts
  double fraction_fit = 1.0;  // fraction of connected clients sampled per round
  int min_fit = 1;            // valid updates needed to complete a round
  // Sites that registered fewer training examples (their Hello) are not sampled for training:
  // under the robust strategies every site has one vote, so a site with almost nothing to learn
  // from (a broken camera whose store kept one frame) would count as much as a busy one.
  uint64_t min_train_examples = 1;
  int timeout_seconds = 300;  // round deadline
  int eval_timeout_seconds = 60;
  bool evaluate = true;  // federated evaluation after each round
  uint64_t seed = 0;     // client sampling and training seeds
  // No site's fold weight may exceed this share of the round's total: a larger one is cut
  // (coordinator::ShareCap). 1 = no cap.
  double max_client_share = 1.0;
  // Each update's change from the round's model is scaled down to at most this L2 norm before
  // it is folded (coordinator/norm_bound.h). 0 = no bound.
  double max_update_norm = 0;
  // How the round's updates become its model (coordinator/robust_aggregation.h).
  AggregationSettings aggregation;
  ml::TrainingSettings training;  // what each sampled client is asked to do
};

// The drift policy ([drift]): when persistent drift reports from enough clients start a
// retraining campaign by themselves (coordinator/drift_policy.h).
struct DriftSettings {
  bool enabled = true;
  double score_threshold = 0.25;  // a window counts when its score (max PSI) is at least this
  int persistence = 3;            // ... and the client reported so many such windows in a row
  int min_clients = 1;            // drifted clients needed to start a campaign
  double min_fraction = 0.0;      // ... and at least this fraction of connected clients
  int campaign_rounds = 5;        // rounds of a campaign
  int cooldown_rounds = 2;        // rounds after a campaign before another may start
  // A client that was a member of this many campaigns in the last 24 hours no longer counts
  // towards starting one: a site reporting drift forever (a broken camera, a stolen key)
  // cannot keep the federation retraining for it. It still joins campaigns others start.
  int max_campaigns_per_client = 3;
  double focus_fraction = 0.5;  // share of drifted clients' epochs from frames since the drift
  // Campaign rounds add photometric augmentation matching the drifted features (brightness:
  // brightness and gamma; contrast: contrast; sharpness: blur and noise) for every client, so
  // that all sites' data teaches the model the new conditions, not only the few new labels.
  bool campaign_augment = true;
  // In campaign rounds a drifted client's update weighs this many times its example count.
  // 1 (no extra weight) by default: 2 made the federated model collapse in a measured run.
  int update_weight = 1;
  // Campaign rounds train at rounds.learning_rate times this (all clients): smaller steps
  // while the new labels and augmentation pull the model. 0.5: the measured campaign recovered
  // steadily (run 8 in simulations/benchmarks/README.md) where 1.0 swung by ±1.5 points.
  double campaign_lr_scale = 0.5;
};

// The status page ([status]): a read-only HTTPS page (GET /) and its data (GET /status.json)
// for the central team. Off by default. Readers authenticate with an admin certificate of the
// project CA, or with the read-only token kept in `token_file` (never in the toml).
struct StatusSettings {
  bool enabled = false;
  std::string listen = "127.0.0.1";
  uint16_t port = 8443;    // 0 picks a free port (tests)
  std::string token_file;  // optional; resolved against the config file's directory
  std::string token;       // read from token_file at load time; empty without one
};

// Reads the [status] table: status.enabled, listen (an IP address), port, token_file (a file
// holding one token of 32 to 256 characters from [A-Za-z0-9._~-], readable by its owner
// only). InvalidArgument naming the file and the key.
shared::Result<StatusSettings> LoadStatusSettings(const shared::ConfigFile& file);
// The keys LoadStatusSettings reads, for CheckKnownKeys.
const std::set<std::string>& StatusKeys();

// Staged rollout of signed releases ([release]; coordinator/rollout.h). Off while `repo` is
// empty. The repository is the directory `fedgectl release publish` writes; the coordinator
// serves its metadata and artifacts to clients over the mutual-TLS channel.
struct ReleaseSettings {
  std::string repo;  // resolved against the config file's directory
  // Canary promotion: every canary client installed the release and the canary cohort's
  // example-weighted accuracy on held-out data fell by at most this much (absolute).
  double max_accuracy_drop = 0.01;
  int canary_timeout_seconds = 600;  // a canary not decided by then is rolled back
  int min_canary_reports = 1;        // healthy reports a promotion needs at the timeout
  bool auto_promote = true;          // promote a healthy canary without an admin command
  // Online keys (timestamp, optionally snapshot) in a key directory: the coordinator re-signs
  // the timestamp when less than half of its lifetime is left. Empty: an operator does it.
  std::string online_keys;
  int timestamp_hours = 24;
};

// Reads the [release] table; InvalidArgument naming the file and the key.
shared::Result<ReleaseSettings> LoadReleaseSettings(const shared::ConfigFile& file);
// The keys LoadReleaseSettings reads, for CheckKnownKeys.
const std::set<std::string>& ReleaseKeys();

// [limits]: what one site, or one address, may take of the coordinator (docs/security.md).
struct LimitSettings {
  uint64_t max_connections = 10000;           // open connections on the TLS port
  uint64_t max_connections_per_address = 64;  // from one IP address (sites behind one NAT)
  uint64_t max_connections_per_identity = 8;  // sessions of one certificate at once
  uint64_t max_refusals_per_minute = 120;     // Error replies to one session before it is closed
  uint64_t send_queue_bytes = 64ull << 20;    // queued for one peer that does not read
  int handshake_timeout_ms = 10000;           // TCP accept to the end of the TLS handshake
};

struct CoordinatorConfig {
  std::string config_path;
  std::string listen = "0.0.0.0";
  uint16_t port = 7443;
  std::string data_dir;
  uint32_t max_frame_bytes = 16u << 20;
  int threads = 2;          // network threads
  int heartbeat_ms = 5000;  // clients heartbeat this often; silent for 6x is dropped
  shared::TlsFiles tls;
  RoundSettings rounds;
  DriftSettings drift;
  DefenceSettings defence;  // [defence]: scores, quarantine and revocation of sites
  std::string model_arch = "cnn_small";
  uint64_t model_seed = 0;
  // Registry retention: after each round, keep the blobs of the newest `keep_last` versions
  // (0 keeps every blob), of every version divisible by `keep_every`, of the head and of
  // version 1. Records are always kept, so lineage stays complete.
  uint64_t keep_last = 0;
  uint64_t keep_every = 0;
  // The idempotency ids of accepted updates are kept for this many rounds after their own
  // (a site's resend of an older one is refused as for a closed round, and dropped by it).
  uint64_t idempotency_rounds = 100;
  // [metrics]: GET /metrics in the Prometheus text format, on by default, local only.
  shared::MetricsSettings metrics = DefaultMetrics();
  static shared::MetricsSettings DefaultMetrics() { return {true, "127.0.0.1", 9464}; }
  // [status]: the read-only status page over HTTPS, off by default.
  StatusSettings status;
  // [release]: staged rollout of signed releases, off without release.repo.
  ReleaseSettings release;
  LimitSettings limits;
};

// The training settings in table `section` (keys local_epochs, batch_size, learning_rate,
// momentum, codec, topk_fraction) and the [augment] table (hflip, crop_pad, brightness,
// contrast, gamma, blur_prob, noise_std; shared/ml/data/augment.h): coordinator.toml's
// [rounds], a scenario's [training]. Missing keys take ml::TrainingSettings' defaults; errors
// name the file, the key and the allowed values.
shared::Result<ml::TrainingSettings> LoadTrainingSettings(const shared::ConfigFile& file,
                                                          const std::string& section);
// The keys LoadTrainingSettings(file, section) reads, for CheckKnownKeys.
std::set<std::string> TrainingKeys(const std::string& section);

// The [drift] table (keys drift.enabled, score_threshold, persistence, min_clients,
// min_fraction, campaign_rounds, cooldown_rounds, focus_fraction), shared by coordinator.toml
// and scenario files, and the keys it reads.
shared::Result<DriftSettings> LoadDriftSettings(const shared::ConfigFile& file);
const std::set<std::string>& DriftKeys();

// The aggregation keys of table `section` (aggregation, trim_fraction, krum_byzantine,
// krum_select, clip_radius, clip_iterations, bucket_size, adaptive_norm_multiple):
// coordinator.toml's [rounds] and a scenario's [rounds]; and the keys it reads.
shared::Result<AggregationSettings> LoadAggregationSettings(const shared::ConfigFile& file,
                                                            const std::string& section);
std::set<std::string> AggregationKeys(const std::string& section);

// The defence keys of table `section` (score, threshold, window, quarantine_after,
// revoke_after, min_updates): coordinator.toml's and a scenario's [defence]; and the keys it
// reads.
shared::Result<DefenceSettings> LoadDefenceSettings(const shared::ConfigFile& file,
                                                    const std::string& section);
std::set<std::string> DefenceKeys(const std::string& section);

// Loads and validates a coordinator config; errors name the file and the key.
shared::Result<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path);

}  // namespace fedge::coordinator
