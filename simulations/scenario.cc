#include "simulations/scenario.h"

#include <algorithm>
#include <limits>

#include "coordinator/config.h"
#include "shared/base/config.h"

namespace fedge::sim {

using shared::ConfigFile;
using shared::Result;
using shared::Status;

namespace {

Status LoadStream(const ConfigFile& f, const std::string& path, Scenario* s) {
  FEDGE_ASSIGN_OR_RETURN(int64_t frames, f.Int("stream.frames", 0, 0, 10000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t step, f.Int("stream.step_frames", 100, 1, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t budget, f.Int("stream.label_budget", 30, 0, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t delay, f.Int("stream.label_delay_steps", 1, 0, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t eval, f.Int("stream.eval_frames", 500, 0, 100000));
  if (frames > 0 && !s->camera) {
    return Status::InvalidArgument(path +
                                   ": key 'stream.frames': live streams need "
                                   "[camera] enabled = true");
  }
  s->stream_frames = static_cast<int>(frames);
  s->step_frames = static_cast<int>(step);
  s->label_budget = static_cast<int>(std::min(budget, step));
  s->label_delay_steps = static_cast<int>(delay);
  s->eval_frames = static_cast<int>(eval);
  drift::MonitorOptions& m = s->monitor;
  FEDGE_ASSIGN_OR_RETURN(int64_t window, f.Int("monitor.window", m.window, 10, 100000));
  m.window = static_cast<int>(window);
  FEDGE_ASSIGN_OR_RETURN(m.psi_threshold,
                         f.Double("monitor.psi_threshold", m.psi_threshold, 0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(m.min_shift, f.Double("monitor.min_shift", m.min_shift, 0, 1));
  FEDGE_ASSIGN_OR_RETURN(m.detector.delta, f.Double("monitor.ph_delta", m.detector.delta, 0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(m.detector.lambda,
                         f.Double("monitor.ph_lambda", m.detector.lambda, 1e-9, 1e9));
  FEDGE_ASSIGN_OR_RETURN(int64_t minw,
                         f.Int("monitor.ph_min_windows", m.detector.min_samples, 1, 100000));
  m.detector.min_samples = static_cast<int>(minw);
  FEDGE_ASSIGN_OR_RETURN(s->drift, coordinator::LoadDriftSettings(f));
  FEDGE_ASSIGN_OR_RETURN(s->timeline, LoadDriftTimeline(f, s->clients));
  if (!s->timeline.Empty() && s->stream_frames == 0) {
    return Status::InvalidArgument(path + ": [[drift.events]] need a stream: set stream.frames");
  }
  return Status::Ok();
}

Status LoadRelease(const ConfigFile& f, const std::string& path, Scenario* s) {
  ReleaseScenario& r = s->release;
  FEDGE_ASSIGN_OR_RETURN(r.enabled, f.Bool("release.enabled", false));
  FEDGE_ASSIGN_OR_RETURN(r.prune, f.Double("release.prune", r.prune, 0.0, 0.95));
  FEDGE_ASSIGN_OR_RETURN(r.prune_hidden, f.Bool("release.prune_hidden", r.prune_hidden));
  FEDGE_ASSIGN_OR_RETURN(int64_t ft, f.Int("release.finetune_rounds", r.finetune_rounds, 0, 1000));
  r.finetune_rounds = static_cast<int>(ft);
  FEDGE_ASSIGN_OR_RETURN(r.quantize, f.String("release.quantize", r.quantize));
  if (r.quantize != "fp32" && r.quantize != "int8" && r.quantize != "int8_per_channel" &&
      r.quantize != "int8_per_tensor") {
    return Status::InvalidArgument(path + ": key 'release.quantize': '" + r.quantize +
                                   "' is not one of fp32, int8, int8_per_channel, "
                                   "int8_per_tensor");
  }
  FEDGE_ASSIGN_OR_RETURN(r.gate_max_drop,
                         f.Double("release.gate_max_drop", r.gate_max_drop, 0.0, 100.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t val,
                         f.Int("release.validation_examples", r.validation_examples, 1, 10000));
  r.validation_examples = static_cast<int>(val);
  FEDGE_ASSIGN_OR_RETURN(r.canary_percent,
                         f.Double("release.canary_percent", r.canary_percent, 1.0, 100.0));
  FEDGE_ASSIGN_OR_RETURN(r.max_accuracy_drop,
                         f.Double("release.max_accuracy_drop", r.max_accuracy_drop, 0.0, 1.0));
  FEDGE_ASSIGN_OR_RETURN(
      int64_t timeout, f.Int("release.canary_timeout_seconds", r.canary_timeout_seconds, 1, 86400));
  r.canary_timeout_seconds = static_cast<int>(timeout);
  FEDGE_ASSIGN_OR_RETURN(r.regress_prune, f.Double("release.regress_prune", 0.0, 0.0, 0.95));
  if (r.enabled && s->camera) {
    return Status::InvalidArgument(path +
                                   ": key 'release.enabled': the release phase runs on "
                                   "Fashion-MNIST clients; set camera.enabled = false");
  }
  if (r.enabled && s->arch == "mobilenet_small" && r.prune > 0) {
    return Status::InvalidArgument(path +
                                   ": key 'release.prune': mobilenet_small cannot be "
                                   "pruned yet; use cnn_small or cnn_color, or prune = 0");
  }
  return Status::Ok();
}

// Every key a scenario file may have.
std::set<std::string> KnownKeys() {
  std::set<std::string> known = coordinator::TrainingKeys("training");
  for (const std::string& k : coordinator::AggregationKeys("training")) known.insert(k);
  for (const std::string& k : coordinator::DefenceKeys("defence")) known.insert(k);
  for (const std::string& k : AdversaryKeys()) known.insert(k);
  known.insert(coordinator::DriftKeys().begin(), coordinator::DriftKeys().end());
  known.insert({"drift.events", "stream.frames", "stream.step_frames", "stream.label_budget",
                "stream.label_delay_steps", "stream.eval_frames", "monitor.window",
                "monitor.psi_threshold", "monitor.min_shift", "monitor.ph_delta",
                "monitor.ph_lambda", "monitor.ph_min_windows"});
  known.insert({"scenario.name",
                "scenario.clients",
                "scenario.rounds",
                "scenario.seed",
                "data.dir",
                "data.partition",
                "data.alpha",
                "data.shards_per_client",
                "data.holdout_fraction",
                "training.fraction_fit",
                "training.min_fit",
                "training.min_train_examples",
                "training.round_timeout_seconds",
                "training.federated_eval",
                "camera.enabled",
                "camera.frame_size",
                "camera.frames_per_client",
                "camera.test_frames",
                "camera.frame_format",
                "model.arch",
                "model.seed",
                "simulation.torch_threads",
                "faults.silent_clients",
                "data.max_train_per_client",
                "release.enabled",
                "release.prune",
                "release.prune_hidden",
                "release.finetune_rounds",
                "release.quantize",
                "release.gate_max_drop",
                "release.validation_examples",
                "release.canary_percent",
                "release.max_accuracy_drop",
                "release.canary_timeout_seconds",
                "release.regress_prune"});
  return known;
}

// [scenario] and [data].
Status LoadBasics(const ConfigFile& f, const std::string& path, Scenario* s) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  FEDGE_ASSIGN_OR_RETURN(s->name, f.String("scenario.name", s->name));
  FEDGE_ASSIGN_OR_RETURN(int64_t clients, f.Int("scenario.clients", s->clients, 1, 10000));
  FEDGE_ASSIGN_OR_RETURN(int64_t rounds, f.Int("scenario.rounds", s->rounds, 1, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t seed, f.Int("scenario.seed", 0, 0, kMax));
  FEDGE_ASSIGN_OR_RETURN(s->data_dir, f.Path("data.dir", s->data_dir));
  FEDGE_ASSIGN_OR_RETURN(s->partition, f.String("data.partition", s->partition));
  if (s->partition != "iid" && s->partition != "dirichlet" && s->partition != "shards") {
    return Status::InvalidArgument(path + ": key 'data.partition': '" + s->partition +
                                   "' is not one of iid, dirichlet, shards");
  }
  FEDGE_ASSIGN_OR_RETURN(s->alpha, f.Double("data.alpha", s->alpha, 1e-6, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t spc, f.Int("data.shards_per_client", 2, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(s->holdout_fraction, f.Double("data.holdout_fraction", 0.1, 0.0, 0.9));
  s->clients = static_cast<int>(clients);
  s->rounds = static_cast<int>(rounds);
  s->seed = static_cast<uint64_t>(seed);
  s->shards_per_client = static_cast<int>(spc);
  return Status::Ok();
}

// [training] and the augmentation keys. REQUIRES: s->clients loaded (min_fit's bound).
Status LoadTraining(const ConfigFile& f, Scenario* s) {
  FEDGE_ASSIGN_OR_RETURN(s->training, coordinator::LoadTrainingSettings(f, "training"));
  FEDGE_ASSIGN_OR_RETURN(s->aggregation, coordinator::LoadAggregationSettings(f, "training"));
  FEDGE_ASSIGN_OR_RETURN(s->defence, coordinator::LoadDefenceSettings(f, "defence"));
  FEDGE_ASSIGN_OR_RETURN(s->fraction_fit, f.Double("training.fraction_fit", 1.0, 1e-6, 1.0));
  FEDGE_ASSIGN_OR_RETURN(int64_t min_fit, f.Int("training.min_fit", 0, 0, s->clients));
  FEDGE_ASSIGN_OR_RETURN(int64_t timeout, f.Int("training.round_timeout_seconds", 300, 1, 86400));
  FEDGE_ASSIGN_OR_RETURN(s->federated_eval, f.Bool("training.federated_eval", true));
  s->min_fit = static_cast<int>(min_fit);
  FEDGE_ASSIGN_OR_RETURN(int64_t min_examples,
                         f.Int("training.min_train_examples", 1, 0, int64_t{1} << 32));
  s->min_train_examples = static_cast<uint64_t>(min_examples);
  s->round_timeout_seconds = static_cast<int>(timeout);
  const int quorum = s->min_fit > 0 ? s->min_fit : std::max(1, (s->clients * 4 + 4) / 5);
  const int needed = 2 * s->aggregation.krum_byzantine + 3;
  if (s->aggregation.method == coordinator::AggregationMethod::kMultiKrum && quorum < needed) {
    return Status::InvalidArgument(
        f.path() + ": key 'training.aggregation': multi_krum with " +
        "krum_byzantine = " + std::to_string(s->aggregation.krum_byzantine) + " needs " +
        std::to_string(needed) + " updates per round; the quorum is " + std::to_string(quorum));
  }
  return Status::Ok();
}

// [camera].
Status LoadCamera(const ConfigFile& f, const std::string& path, Scenario* s) {
  FEDGE_ASSIGN_OR_RETURN(s->camera, f.Bool("camera.enabled", false));
  FEDGE_ASSIGN_OR_RETURN(int64_t fsize, f.Int("camera.frame_size", 96, 28, 1024));
  FEDGE_ASSIGN_OR_RETURN(int64_t fpc, f.Int("camera.frames_per_client", 0, 0, 1000000));
  FEDGE_ASSIGN_OR_RETURN(int64_t tf, f.Int("camera.test_frames", 2000, 10, 10000));
  FEDGE_ASSIGN_OR_RETURN(s->frame_format, f.String("camera.frame_format", "png"));
  if (s->frame_format != "png" && s->frame_format != "jpeg") {
    return Status::InvalidArgument(path + ": key 'camera.frame_format': '" + s->frame_format +
                                   "' is not png or jpeg");
  }
  s->frame_size = static_cast<int>(fsize);
  s->frames_per_client = static_cast<int>(fpc);
  s->test_frames = static_cast<int>(tf);
  return Status::Ok();
}

}  // namespace

Result<Scenario> LoadScenario(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(ConfigFile f, ConfigFile::Load(path));
  FEDGE_RETURN_IF_ERROR(f.CheckKnownKeys(KnownKeys()));
  Scenario s;
  s.path = path;
  FEDGE_RETURN_IF_ERROR(LoadBasics(f, path, &s));
  FEDGE_RETURN_IF_ERROR(LoadTraining(f, &s));
  FEDGE_ASSIGN_OR_RETURN(s.adversary, LoadAdversary(f));
  FEDGE_RETURN_IF_ERROR(LoadCamera(f, path, &s));
  if (s.adversary.kind == "broken_camera" && s.adversary.fraction > 0 && !s.camera) {
    return Status::InvalidArgument(path +
                                   ": key 'adversary.kind': broken_camera breaks the sites' "
                                   "cameras, so it needs [camera] enabled = true");
  }
  FEDGE_ASSIGN_OR_RETURN(s.arch, f.String("model.arch", s.arch));
  FEDGE_ASSIGN_OR_RETURN(int64_t mseed,
                         f.Int("model.seed", 0, 0, std::numeric_limits<int64_t>::max()));
  FEDGE_ASSIGN_OR_RETURN(int64_t tt, f.Int("simulation.torch_threads", 2, 1, 256));
  FEDGE_ASSIGN_OR_RETURN(int64_t silent, f.Int("faults.silent_clients", 0, 0, 10000));
  s.model_seed = static_cast<uint64_t>(mseed);
  s.torch_threads = static_cast<int>(tt);
  s.silent_clients = static_cast<int>(silent);
  FEDGE_RETURN_IF_ERROR(LoadStream(f, path, &s));
  FEDGE_ASSIGN_OR_RETURN(int64_t cap, f.Int("data.max_train_per_client", 0, 0, 10000000));
  s.max_train_per_client = static_cast<int>(cap);
  FEDGE_RETURN_IF_ERROR(LoadRelease(f, path, &s));
  return s;
}

}  // namespace fedge::sim
