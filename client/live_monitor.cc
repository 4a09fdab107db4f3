#include "client/live_monitor.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "client/camera_data.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

drift::FrameObservation Observation(const vision::ImageStats& stats,
                                    const ml::Prediction* prediction, int num_classes) {
  drift::FrameObservation f;
  f.brightness = stats.brightness;
  f.contrast = stats.contrast;
  f.sharpness = stats.sharpness;
  f.saturation = stats.saturation;
  f.clipped = stats.clipped;
  if (prediction != nullptr && num_classes > 1) {
    f.has_output = true;
    f.confidence = std::clamp(static_cast<double>(prediction->confidence), 0.0, 1.0);
    f.entropy =
        std::clamp(static_cast<double>(prediction->entropy) / std::log(num_classes), 0.0, 1.0);
    f.predicted_class = prediction->label;
  }
  return f;
}

vision::Image ImageFromInput(std::span<const float> chw, const vision::InputSpec& spec) {
  vision::Image img;
  img.width = spec.width;
  img.height = spec.height;
  img.channels = spec.channels;
  img.pixels.resize(img.ExpectedBytes());
  const size_t plane = static_cast<size_t>(spec.width) * static_cast<size_t>(spec.height);
  for (int c = 0; c < spec.channels; ++c) {
    // Input channels are R, G, B; images store B, G, R.
    const int dst = spec.channels == 3 ? 2 - c : 0;
    const float mean = spec.mean[static_cast<size_t>(c)];
    const float stddev = spec.stddev[static_cast<size_t>(c)];
    for (size_t i = 0; i < plane; ++i) {
      const float v = (chw[static_cast<size_t>(c) * plane + i] * stddev + mean) * 255.0f;
      img.pixels[i * static_cast<size_t>(spec.channels) + static_cast<size_t>(dst)] =
          static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  return img;
}

Result<std::vector<ml::Prediction>> ClassifyForDrift(
    const ml::Model& model, std::span<const vision::Image* const> images,
    std::vector<drift::FrameObservation>* observations, ClassifyTiming* timing) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const vision::InputSpec spec =
      InputSpecFor(model.input_channels(), model.input_height(), model.input_width());
  const size_t per = spec.Floats();
  std::vector<float> batch(images.size() * per);
  std::vector<vision::ImageStats> stats(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    std::span<float> input(batch.data() + i * per, per);
    FEDGE_RETURN_IF_ERROR(vision::Preprocess(*images[i], spec, input));
    stats[i] = vision::ComputeImageStats(ImageFromInput(input, spec));
  }
  const Clock::time_point preprocessed = Clock::now();
  FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> predictions,
                         model.Predict(batch, static_cast<int64_t>(images.size())));
  if (timing != nullptr) {
    timing->preprocess_seconds = std::chrono::duration<double>(preprocessed - start).count();
    timing->inference_seconds = std::chrono::duration<double>(Clock::now() - preprocessed).count();
  }
  observations->clear();
  for (size_t i = 0; i < images.size(); ++i) {
    observations->push_back(Observation(stats[i], &predictions[i], model.num_classes()));
  }
  return predictions;
}

Result<drift::Summary> ComputeProfile(const ml::Model& model, const ml::Dataset& data,
                                      std::span<const int64_t> indices,
                                      const vision::InputSpec& spec, int max_frames) {
  if (static_cast<size_t>(data.ExampleElements()) != spec.Floats()) {
    return Status::InvalidArgument(
        "drift profile: the data's examples do not match the model's "
        "input size");
  }
  const size_t n = std::min(indices.size(), static_cast<size_t>(std::max(0, max_frames)));
  const size_t per = spec.Floats();
  const int k = model.num_classes();
  drift::Summary summary;
  constexpr size_t kBatch = 64;
  std::vector<float> batch;
  for (size_t start = 0; start < n; start += kBatch) {
    const size_t len = std::min(kBatch, n - start);
    batch.resize(len * per);
    for (size_t i = 0; i < len; ++i) {
      const float* src = data.images.data() + static_cast<size_t>(indices[start + i]) * per;
      std::copy(src, src + per, batch.data() + i * per);
    }
    FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> predictions,
                           model.Predict(batch, static_cast<int64_t>(len)));
    for (size_t i = 0; i < len; ++i) {
      vision::Image img = ImageFromInput(std::span<const float>(batch.data() + i * per, per), spec);
      summary.Add(Observation(vision::ComputeImageStats(img), &predictions[i], k), k);
    }
  }
  return summary;
}

std::vector<int64_t> FocusIndices(const std::vector<int64_t>& train,
                                  const std::vector<int64_t>& captured_ms, uint64_t since_ms,
                                  double fraction) {
  std::vector<int64_t> out = train;
  std::vector<int64_t> recent;
  for (int64_t i : train) {
    if (captured_ms[static_cast<size_t>(i)] >= static_cast<int64_t>(since_ms)) recent.push_back(i);
  }
  const double n = static_cast<double>(train.size());
  const double r = static_cast<double>(recent.size());
  if (recent.empty() || fraction <= 0 || fraction >= 1 || r >= fraction * n) return out;
  // (r + x) / (n + x) >= fraction  <=>  x >= (fraction * n - r) / (1 - fraction)
  const auto wanted = static_cast<size_t>(std::ceil((fraction * n - r) / (1.0 - fraction)));
  const size_t extra = std::min(wanted, recent.size() * (kMaxFocusRepeats - 1));
  for (size_t i = 0; i < extra; ++i) out.push_back(recent[i % recent.size()]);
  return out;
}

LiveMonitor::LiveMonitor(DriftMonitorSettings settings) : settings_(std::move(settings)) {}

void LiveMonitor::SetReference(uint64_t version, drift::Summary reference,
                               const std::string& source, int num_classes) {
  std::lock_guard<std::mutex> lock(mu_);
  monitor_.emplace(settings_.monitor, std::move(reference), num_classes);
  version_ = version;
  source_ = source;
  window_open_ = false;
  onset_ms_ = 0;
}

uint64_t LiveMonitor::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

std::string LiveMonitor::source() const {
  std::lock_guard<std::mutex> lock(mu_);
  return source_;
}

std::optional<DriftWindow> LiveMonitor::Observe(const drift::FrameObservation& frame,
                                                int64_t captured_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!monitor_) return std::nullopt;
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(captured_ms, 1));
  if (!window_open_) {
    window_start_ms_ = ms;
    window_open_ = true;
  }
  std::optional<drift::WindowResult> result = monitor_->Add(frame);
  if (!result) return std::nullopt;
  window_open_ = false;
  if (result->alarm && onset_ms_ == 0) onset_ms_ = window_start_ms_;
  DriftWindow w;
  w.model_version = version_;
  w.reference = source_;
  w.onset_ms = result->drifted ? onset_ms_ : 0;
  w.captured_ms = std::max(ms, w.onset_ms);
  w.result = std::move(*result);
  return w;
}

}  // namespace fedge::client
