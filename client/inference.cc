#include "client/inference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "client/camera_data.h"
#include "shared/base/log.h"
#include "shared/vision/image_codec.h"
#include "shared/vision/preprocess.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kLog = "inference";

double MsSince(SteadyClock::time_point start, SteadyClock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

}  // namespace

Result<bool> KeepFrame(SampleStore& store, const Frame& frame, const ml::Prediction& p,
                       const std::string& frame_format) {
  FrameRecord record;
  record.id = frame.id;
  record.captured_unix_ms = frame.captured_unix_ms;
  record.format = frame_format;
  record.width = frame.image.width;
  record.height = frame.image.height;
  record.channels = frame.image.channels;
  record.predicted = p.label;
  record.confidence = std::clamp(p.confidence, 0.0f, 1.0f);
  const auto format =
      frame_format == "jpeg" ? vision::ImageFormat::kJpeg : vision::ImageFormat::kPng;
  FEDGE_ASSIGN_OR_RETURN(record.bytes, vision::EncodeImage(frame.image, format));
  FEDGE_ASSIGN_OR_RETURN(AddOutcome outcome, store.AddFrame(record));
  return outcome.kind == AddOutcome::Kind::kStored || outcome.kind == AddOutcome::Kind::kReplaced;
}

void NoteKeepResult(const Status& saved, const std::string& frame_id, KeepFailures& failures) {
  if (saved.ok()) {
    if (failures.failing.exchange(false)) {
      FEDGE_LOG(Info, kLog) << "the sample store keeps frames again (from frame " << frame_id
                            << "; " << failures.count.load() << " frames not kept so far)";
    }
    return;
  }
  ++failures.count;
  if (!failures.failing.exchange(true)) {
    FEDGE_LOG(Warn, kLog) << "frames are not kept, inference goes on: " << saved.ToString()
                          << " (first at frame " << frame_id << ")";
  }
}

LatencyStats ComputeLatencyStats(std::vector<double> samples) {
  LatencyStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto rank = [&samples](double p) {
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(samples.size())));
    return samples[std::clamp<size_t>(r, 1, samples.size()) - 1];
  };
  s.p50 = rank(0.50);
  s.p95 = rank(0.95);
  s.p99 = rank(0.99);
  s.max = samples.back();
  s.mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return s;
}

Result<InferenceSummary> RunInference(FrameSource& source, const ml::Model& model,
                                      std::ostream& sink, SampleStore* store,
                                      const InferenceOptions& options,
                                      const std::atomic<bool>* stop) {
  const vision::InputSpec spec =
      InputSpecFor(model.input_channels(), model.input_height(), model.input_width());
  std::vector<float> input(spec.Floats());
  std::vector<double> capture, preprocess, inference, total;
  InferenceSummary summary;
  KeepFailures failures;
  summary.class_histogram.assign(static_cast<size_t>(model.num_classes()), 0);
  const SteadyClock::time_point start = SteadyClock::now();
  while ((options.max_frames == 0 || summary.frames < options.max_frames) &&
         (stop == nullptr || !stop->load())) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    FEDGE_ASSIGN_OR_RETURN(std::optional<Frame> frame, source.Next());
    if (!frame) break;
    if (!frame->unreadable.empty()) {
      ++summary.unreadable;
      if (options.metrics) options.metrics->frames_unreadable->Inc();
      if (store != nullptr) {
        NoteKeepResult(store->Quarantine(frame->id, "unreadable: " + frame->unreadable,
                                         frame->captured_unix_ms),
                       frame->id, failures);
      }
      continue;
    }
    const SteadyClock::time_point t1 = SteadyClock::now();
    FEDGE_RETURN_IF_ERROR(vision::Preprocess(frame->image, spec, input));
    const SteadyClock::time_point t2 = SteadyClock::now();
    FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> p, model.Predict(input, 1));
    const SteadyClock::time_point t3 = SteadyClock::now();
    ++summary.frames;
    ++summary.class_histogram[static_cast<size_t>(p[0].label)];
    capture.push_back(MsSince(t0, t1));
    preprocess.push_back(MsSince(t1, t2));
    inference.push_back(MsSince(t2, t3));
    if (options.metrics) {
      options.metrics->inference_latency->Observe(MsSince(t1, t3) / 1000.0);
      options.metrics->FrameDone(t3);
    }
    nlohmann::json line = {{"frame_id", frame->id},
                           {"captured_unix_ms", frame->captured_unix_ms},
                           {"class", p[0].label},
                           {"confidence", p[0].confidence},
                           {"entropy", p[0].entropy}};
    line["latency_ms"] = {{"capture", capture.back()},
                          {"preprocess", preprocess.back()},
                          {"inference", inference.back()},
                          {"total", MsSince(t0, SteadyClock::now())}};
    sink << line.dump() << '\n';
    total.push_back(MsSince(t0, SteadyClock::now()));
    if (!sink) return Status::IOError("cannot write the prediction sink");
    if (store != nullptr) {
      Result<bool> stored = KeepFrame(*store, *frame, p[0], options.frame_format);
      NoteKeepResult(stored.status(), frame->id, failures);
      if (stored.ok() && *stored) ++summary.stored;
    }
  }
  sink.flush();
  summary.not_kept = failures.count.load();
  summary.seconds = MsSince(start, SteadyClock::now()) / 1000.0;
  summary.fps = summary.seconds > 0 ? static_cast<double>(summary.frames) / summary.seconds : 0;
  summary.capture = ComputeLatencyStats(std::move(capture));
  summary.preprocess = ComputeLatencyStats(std::move(preprocess));
  summary.inference = ComputeLatencyStats(std::move(inference));
  summary.total = ComputeLatencyStats(std::move(total));
  return summary;
}

}  // namespace fedge::client
