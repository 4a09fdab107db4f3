#pragma once
// The trainer: the model being trained (kept apart from the served one), the site's training
// data and the top-k residual. It runs the coordinator's train and evaluation tasks on the
// compute pool, one at a time; the release installer takes its turn through Exclusive.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/config.h"
#include "client/local_data.h"
#include "client/model_cache.h"
#include "client/sample_store.h"
#include "schemas/fedge_generated.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/drift/drift_stats.h"
#include "shared/ml/torch/model.h"

namespace fedge::client {

// A task offered by the coordinator, and what running it produced.
struct TrainTask {
  uint64_t task_id = 0;
  uint64_t round = 0;
  bool train = true;  // false: evaluate
  uint64_t model_version = 0;
  shared::Digest digest{};
  uint64_t model_size = 0;
  std::string arch;
  ml::TrainOptions options;
  std::chrono::steady_clock::time_point deadline;
  wire::Codec codec = wire::Codec::Fp32;  // how the coordinator wants the update encoded
  float topk_fraction = 0;                // TopKInt8: fraction of values to send
  uint64_t focus_since_ms = 0;            // drift retraining: favour frames since then
  float focus_fraction = 0;
  // Results, filled by Trainer::Run.
  shared::Status status;
  std::vector<uint8_t> update_blob;
  ml::TrainResult trained;
  ml::EvalResult evaluated;
  std::optional<drift::Summary> profile;  // drift statistics of the evaluated data
};

// The task `offer` describes, bounded where it enters: epochs 1..1000, batch size 1..65536,
// focus fraction 0..0.95, crop padding at most 65536; deadline = now + deadline_ms.
// InvalidArgument for a malformed digest or a missing architecture.
shared::Result<TrainTask> TaskFromOffer(const wire::TaskOffer& offer,
                                        std::chrono::steady_clock::time_point now);

// What Hello tells the coordinator about the data: counts only.
// Which offered task of each kind (training, evaluation) is current: the latest offer
// supersedes the earlier ones whatever their ids (a coordinator restored from a backup offers
// lower ids than this client has seen, and must not be ignored). Thread-safe.
class TaskRecency {
 public:
  void Offered(bool train, uint64_t task_id) { (train ? train_ : eval_).store(task_id); }
  bool Current(bool train, uint64_t task_id) const {
    return (train ? train_ : eval_).load() == task_id;
  }

 private:
  std::atomic<uint64_t> train_{0};
  std::atomic<uint64_t> eval_{0};
};

struct DataCounts {
  uint64_t train = 0, eval = 0;
  std::vector<uint64_t> class_counts;
};

class Trainer {
 public:
  // Called by Run on the compute pool while it holds the trainer's lock.
  struct Hooks {
    // The task is still worth running (not superseded, not late). Checked once the lock is
    // held, so a task that waited for the one before it is checked after the wait.
    std::function<bool(const TrainTask&)> still_wanted;
    // The task's model `state` was loaded: the client records it as installed and serves it.
    std::function<shared::Status(const TrainTask&, const shared::TensorBundle& state)> loaded;
    // An evaluation computed this site's drift profile of the task's model version.
    std::function<shared::Status(const TrainTask&, const drift::Summary& profile)> profiled;
    std::function<std::string()> client_id;  // for log lines
    // Optional (fedge-sim's attackers, ClientFaults::tamper_update): rewrites the trained
    // model before it is encoded.
    std::function<void(const shared::TensorBundle& base, shared::TensorBundle* trained)> tamper;
  };
  // `cache` and `store` (not owned) must outlive the trainer. `data` is the site's dataset
  // (data.source = "dataset"), or empty: built from the store's labelled frames per task.
  Trainer(const ClientConfig& config, LocalData data, ModelCache& cache, SampleStore& store,
          Hooks hooks);

  // Reads the top-k residual an earlier run kept in the store (an unreadable one is ignored).
  shared::Status LoadResidual();
  // Compute pool: trains or evaluates as `task` asks, filling its results. DeadlineExceeded
  // if hooks.still_wanted says no. Takes the trainer's lock for the whole task.
  shared::Status Run(TrainTask& task);
  // Compute pool: runs `fn` with the site's data under the trainer's lock (training and
  // release installation take turns; the runtime's thread count is set first).
  shared::Status Exclusive(const std::function<shared::Status(const LocalData&)>& fn);
  // Thread-safe: the counts Hello reports.
  DataCounts Counts() const;

 private:
  shared::Status LoadModel(const TrainTask& task, shared::TensorBundle* state);
  shared::Status Train(TrainTask& task, const shared::TensorBundle& state);
  shared::Status Evaluate(TrainTask& task);
  // (Re)builds data_ from the store's labelled frames for the model's input shape when the
  // labels changed (data.source = "store").
  shared::Status EnsureStoreData(const ml::Model& model);
  // Training indices with frames captured at or after `since_ms` oversampled towards
  // `fraction` of them (drift retraining); data_'s train indices otherwise.
  std::vector<int64_t> FocusIndices(uint64_t since_ms, double fraction) const;

  const ClientConfig& config_;
  ModelCache& cache_;
  SampleStore& store_;
  Hooks hooks_;
  std::mutex mu_;                      // one task (or release installation) at a time
  mutable std::mutex data_mu_;         // guards data_'s counts while EnsureStoreData replaces it
  LocalData data_;                     // written under mu_ and data_mu_
  std::vector<uint64_t> data_labels_;  // store class counts data_ was built from (mu_)
  std::optional<ml::Model> model_;     // guarded by mu_
  shared::TensorBundle residual_;      // guarded by mu_: top-k error feedback
};

}  // namespace fedge::client
