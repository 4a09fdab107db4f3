#pragma once
// Drift monitoring on the device. Every frame the model classifies becomes a drift observation
// (image statistics of the model-input-sized frame, and the model's confidence, entropy and
// class); windows of them are compared with the serving model version's reference profile by
// drift::Monitor. The reference profile of a version is computed by each client on its own
// held-out data when it evaluates that version (ComputeProfile), sent with the evaluation, and
// merged by the coordinator into the version's global profile, which is shipped back.

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "client/config.h"
#include "shared/drift/monitor.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/torch/model.h"
#include "shared/net/wire.h"
#include "shared/vision/image.h"
#include "shared/vision/image_stats.h"
#include "shared/vision/preprocess.h"

namespace fedge::client {

// One frame's drift observation; `prediction` may be null (no model yet).
drift::FrameObservation Observation(const vision::ImageStats& stats,
                                    const ml::Prediction* prediction, int num_classes);

// The inverse of the model's input normalisation: a CHW float example back to an 8-bit image
// (B, G, R for colour, as frames are), so that reference statistics are computed on the same
// pixels the live monitor sees. REQUIRES: chw.size() == spec.Floats().
vision::Image ImageFromInput(std::span<const float> chw, const vision::InputSpec& spec);

// Classifies `images` (camera frames, any size) with `model` and fills one drift observation
// per image: statistics of exactly what the model sees (the preprocessed input turned back
// into pixels, as ComputeProfile does for references) and the model's outputs. When `timing`
// is not null it receives the seconds spent preprocessing (with the statistics) and predicting.
struct ClassifyTiming {
  double preprocess_seconds = 0;
  double inference_seconds = 0;
};
shared::Result<std::vector<ml::Prediction>> ClassifyForDrift(
    const ml::Model& model, std::span<const vision::Image* const> images,
    std::vector<drift::FrameObservation>* observations, ClassifyTiming* timing = nullptr);

// The drift summary of up to `max_frames` of `indices` (the first ones) of `data` under
// `model`: image statistics of every example and the model's outputs.
shared::Result<drift::Summary> ComputeProfile(const ml::Model& model, const ml::Dataset& data,
                                              std::span<const int64_t> indices,
                                              const vision::InputSpec& spec, int max_frames);

// Drift retraining: `train` (indices into a dataset whose examples were captured at
// `captured_ms`) with the examples captured at or after `since_ms` repeated so that they make
// up `fraction` of the result, but each at most kMaxFocusRepeats times in all (a few new labels
// repeated dozens of times are memorised, and such an update can swing the federated model).
// `train` unchanged when there are none or they already make up `fraction`.
inline constexpr size_t kMaxFocusRepeats = shared::kMaxFocusRepeats;
std::vector<int64_t> FocusIndices(const std::vector<int64_t>& train,
                                  const std::vector<int64_t>& captured_ms, uint64_t since_ms,
                                  double fraction);

// A finished window, ready to be reported.
struct DriftWindow {
  uint64_t model_version = 0;
  std::string reference;  // "local" or "global"
  drift::WindowResult result;
  uint64_t onset_ms = 0;     // capture time of the first frame of the window that alarmed
  uint64_t captured_ms = 0;  // of the window's last frame
};

// Thread-safe.
class LiveMonitor {
 public:
  explicit LiveMonitor(DriftMonitorSettings settings);

  // Compares frames with `reference` from now on (the monitor restarts: window 0, no drift).
  void SetReference(uint64_t version, drift::Summary reference, const std::string& source,
                    int num_classes);
  // The version and source ("local"/"global") of the current reference; version 0 if none.
  uint64_t version() const;
  std::string source() const;

  // Adds one frame; returns the window it completes, if any. Without a reference nothing is
  // monitored (nullopt).
  std::optional<DriftWindow> Observe(const drift::FrameObservation& frame, int64_t captured_ms);

 private:
  DriftMonitorSettings settings_;
  mutable std::mutex mu_;
  std::optional<drift::Monitor> monitor_;  // guarded by mu_
  uint64_t version_ = 0;
  std::string source_;
  uint64_t window_start_ms_ = 0;
  bool window_open_ = false;
  uint64_t onset_ms_ = 0;
};

}  // namespace fedge::client
