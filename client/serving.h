#pragma once
// Serving: the model a site classifies its frames with. ServedModel holds the model `run`
// serves (the newest registry version installed, or the active signed release) apart from the
// model being trained; ModelClassifier classifies with one fixed model (`fedge-client infer`).
// Both feed the one inference loop (client/inference.h).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "client/inference.h"
#include "client/metrics.h"
#include "client/sample_store.h"
#include "shared/ml/torch/model.h"

namespace fedge::client {

// The model `fedge-client run` serves. Thread-safe: the camera thread reads it while the
// compute pool replaces it (a reader keeps the model it got alive through its shared_ptr).
class ServedModel {
 public:
  struct Snapshot {
    std::shared_ptr<const ml::Model> model;  // null: nothing served yet
    uint64_t version = 0;                    // registry version (of the release's source)
    std::string release;                     // the signed release's target ("": registry model)
    uint64_t release_counter = 0;
  };
  Snapshot Get() const;
  // True if registry model `version` would be served by ServeRegistry: nothing is served yet,
  // or no release is served and `version` is newer than the served one.
  bool WouldServeRegistry(uint64_t version) const;
  // Serves registry model `version` if WouldServeRegistry(version) (checked again under the
  // lock); true if it did.
  bool ServeRegistry(uint64_t version, std::shared_ptr<const ml::Model> model);
  // Serves a signed release built from registry `version`, unconditionally.
  void ServeRelease(std::shared_ptr<const ml::Model> model, uint64_t version,
                    const std::string& target, uint64_t counter);
  // Stops serving the release (nothing is served until the next ServeRegistry); false if no
  // release was served.
  bool ClearRelease();

 private:
  mutable std::mutex mu_;
  Snapshot current_;  // guarded by mu_
};

// Classifies frames one at a time with a fixed model: preprocessing for its input shape
// (InputSpecFor), then its forward pass; optionally keeps each frame in a store.
class ModelClassifier : public FrameClassifier {
 public:
  struct Options {
    uint64_t model_version = 0;   // reported in each Classification (0: a model file)
    SampleStore* keep = nullptr;  // not owned; null: frames are not kept
    // Where frames `keep` fails to take are counted and logged (NoteKeepResult); null: the
    // classifier's own count. Not owned.
    KeepFailures* keep_failures = nullptr;
    std::string frame_format = "png";  // how kept frames are encoded: png or jpeg
    // When set: per-frame latency (preprocess + inference) and the frame rate are counted.
    std::shared_ptr<ClientMetrics> metrics;
  };
  // REQUIRES: `model` outlives this object.
  ModelClassifier(const ml::Model& model, Options options);
  shared::Result<Classification> Classify(const Frame& frame) override;

 private:
  const ml::Model& model_;
  Options options_;
  KeepFailures own_failures_;
  std::vector<float> input_;
};

}  // namespace fedge::client
