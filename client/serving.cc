#include "client/serving.h"

#include <chrono>

#include "client/camera_data.h"
#include "shared/vision/preprocess.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

ServedModel::Snapshot ServedModel::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

bool ServedModel::WouldServeRegistry(uint64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  return !(current_.model && version <= current_.version) && current_.release.empty();
}

bool ServedModel::ServeRegistry(uint64_t version, std::shared_ptr<const ml::Model> model) {
  std::lock_guard<std::mutex> lock(mu_);
  if ((current_.model && version <= current_.version) || !current_.release.empty()) return false;
  current_.model = std::move(model);
  current_.version = version;
  return true;
}

void ServedModel::ServeRelease(std::shared_ptr<const ml::Model> model, uint64_t version,
                               const std::string& target, uint64_t counter) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = {std::move(model), version, target, counter};
}

bool ServedModel::ClearRelease() {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_.release.empty()) return false;
  current_ = {};
  return true;
}

ModelClassifier::ModelClassifier(const ml::Model& model, Options options)
    : model_(model), options_(std::move(options)) {}

Result<Classification> ModelClassifier::Classify(const Frame& frame) {
  using Clock = std::chrono::steady_clock;
  const vision::InputSpec spec =
      InputSpecFor(model_.input_channels(), model_.input_height(), model_.input_width());
  input_.resize(spec.Floats());
  const Clock::time_point t1 = Clock::now();
  FEDGE_RETURN_IF_ERROR(vision::Preprocess(frame.image, spec, input_));
  const Clock::time_point t2 = Clock::now();
  FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> p, model_.Predict(input_, 1));
  const Clock::time_point t3 = Clock::now();
  if (options_.metrics) {
    options_.metrics->inference_latency->Observe(std::chrono::duration<double>(t3 - t1).count());
    options_.metrics->FrameDone(t3);
  }
  Classification c;
  c.label = p[0].label;
  c.confidence = p[0].confidence;
  c.entropy = p[0].entropy;
  c.model_version = options_.model_version;
  c.preprocess_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  c.inference_ms = std::chrono::duration<double, std::milli>(t3 - t2).count();
  if (options_.keep != nullptr) {
    Result<bool> stored =
        KeepFrame(*options_.keep, frame, c.label, c.confidence, options_.frame_format);
    NoteKeepResult(stored.status(), frame.id,
                   options_.keep_failures ? *options_.keep_failures : own_failures_);
    c.stored = stored.ok() && *stored;
    c.not_kept = !stored.ok();
  }
  return c;
}

}  // namespace fedge::client
