#pragma once
// Scenario files for fedge-sim (TOML). Every key has a default; unknown keys are errors.

#include <cstdint>
#include <string>

#include "coordinator/config.h"
#include "shared/base/status.h"
#include "shared/drift/monitor.h"
#include "shared/ml/data/training.h"
#include "simulations/adversary.h"
#include "simulations/drift_timeline.h"

namespace fedge::sim {

// The release pipeline after the training rounds ([release]; simulations/release_phase.h):
// prune the head, fine-tune it in federation, build an int8 artifact, gate it against the dense
// model on validation data, sign it, deploy it to a canary cohort and let the coordinator
// promote it; optionally then a regressed candidate the canaries must roll back.
struct ReleaseScenario {
  bool enabled = false;
  double prune = 0.5;              // fraction of channels removed (0: not pruned)
  bool prune_hidden = true;        // also the hidden linear layer
  int finetune_rounds = 3;         // federated fine-tuning rounds after pruning
  std::string quantize = "int8";   // fp32, int8 (per channel), int8_per_tensor
  double gate_max_drop = 1.0;      // points the candidate may lose against the dense model
  int validation_examples = 5000;  // Fashion-MNIST test images the gate evaluates on
  double canary_percent = 30;
  double max_accuracy_drop = 0.01;  // canary promotion (coordinator's release.max_accuracy_drop)
  int canary_timeout_seconds = 300;
  // After the release is promoted, deploy a candidate pruned once more by `regress_prune`
  // WITHOUT fine-tuning and without the gate (an operator's mistake): the canaries' evaluation
  // must catch it and the coordinator must roll it back. 0: no regressed candidate.
  double regress_prune = 0;
};

struct Scenario {
  std::string path;
  std::string name = "scenario";
  int clients = 10;
  int rounds = 20;
  uint64_t seed = 0;
  // data
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string partition = "dirichlet";  // iid | dirichlet | shards
  double alpha = 0.5;
  int shards_per_client = 2;
  double holdout_fraction = 0.1;
  int max_train_per_client = 0;  // cap on each client's training examples (0: its whole share)
  // training
  ml::TrainingSettings training;  // [training] and [augment], as in coordinator.toml's [rounds]
  // [training] aggregation, trim_fraction, ... as in coordinator.toml's [rounds]
  coordinator::AggregationSettings aggregation;
  coordinator::DefenceSettings defence;  // [defence]: as in coordinator.toml
  AdversarySettings adversary;           // [adversary]: malicious sites (simulations/adversary.h)
  double fraction_fit = 1.0;
  int min_fit = 0;                  // 0: 80% of clients
  uint64_t min_train_examples = 1;  // [training]: as coordinator.toml's [rounds]
  int round_timeout_seconds = 300;
  bool federated_eval = true;
  // camera: clients learn from rendered camera videos of their partition, read through the
  // client's frame sources into its sample store (data.source = store)
  bool camera = false;
  int frame_size = 96;               // rendered frames are frame_size x frame_size colour
  int frames_per_client = 0;         // 0: the client's whole partition
  int test_frames = 2000;            // rendered test split (spread over the sites' conditions)
  std::string frame_format = "png";  // how clients keep frames in their store
  // model
  std::string arch = "cnn_small";
  uint64_t model_seed = 0;
  // how the simulation uses this machine
  // Clients train one at a time on one compute thread: OpenBLAS built with OpenMP (the
  // fast BLAS on Debian) corrupts memory when called from several threads at once.
  int torch_threads = 2;  // LibTorch threads for each training
  // faults
  int silent_clients = 0;  // extra clients that connect, get sampled and never answer
  // Live camera streams after the first `rounds` rounds (camera scenarios; [stream]): every
  // step, each client classifies step_frames new frames of its site (rendered under the drift
  // timeline's conditions), its drift monitor reports to the coordinator, and a simulated
  // reviewer labels label_budget frames of the step label_delay_steps steps later. Rounds the
  // coordinator starts by itself (drift campaigns) run one per step.
  int stream_frames = 0;  // per client; 0: no stream phase
  int step_frames = 100;
  int label_budget = 30;
  int label_delay_steps = 1;
  int eval_frames = 500;          // per client: held-out items rendered clean and drifted, paired
  drift::MonitorOptions monitor;  // [monitor]: the clients' drift monitor
  coordinator::DriftSettings drift;  // [drift]: the coordinator's policy
  DriftTimeline timeline;            // [[drift.events]]
  ReleaseScenario release;           // [release]
};

shared::Result<Scenario> LoadScenario(const std::string& path);

}  // namespace fedge::sim
