#include "client/inference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "shared/base/log.h"
#include "shared/vision/image_codec.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kLog = "inference";

double MsSince(SteadyClock::time_point start, SteadyClock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Latency samples of every classified frame, per stage.
struct LatencySamples {
  std::vector<double> capture, preprocess, inference, total;
};

void OnUnreadable(const Frame& frame, const InferenceOptions& options, KeepFailures& failures,
                  InferenceSummary& summary) {
  ++summary.unreadable;
  if (options.metrics) options.metrics->frames_unreadable->Inc();
  if (options.quarantine == nullptr) return;
  Status quarantined = options.quarantine->Quarantine(frame.id, "unreadable: " + frame.unreadable,
                                                      frame.captured_unix_ms);
  NoteKeepResult(quarantined, frame.id, failures);
  if (!quarantined.ok()) ++summary.not_kept;
}

// Counts a classified frame and writes its line; `t0` is when its capture began.
Status OnClassified(const Frame& frame, const Classification& c, SteadyClock::time_point t0,
                    SteadyClock::time_point captured, std::ostream* sink, InferenceSummary& summary,
                    LatencySamples& samples) {
  ++summary.frames;
  if (c.stored) ++summary.stored;
  if (c.not_kept) ++summary.not_kept;
  const size_t label = static_cast<size_t>(std::max(c.label, 0));
  if (summary.class_histogram.size() <= label) summary.class_histogram.resize(label + 1, 0);
  ++summary.class_histogram[label];
  FrameLatency latency{MsSince(t0, captured), c.preprocess_ms, c.inference_ms, 0};
  latency.total = MsSince(t0, SteadyClock::now());
  if (sink != nullptr) {
    *sink << PredictionLine(frame, c, latency) << '\n';
    if (!*sink) return Status::IOError("cannot write the prediction sink");
  }
  samples.capture.push_back(latency.capture);
  samples.preprocess.push_back(latency.preprocess);
  samples.inference.push_back(latency.inference);
  samples.total.push_back(MsSince(t0, SteadyClock::now()));
  return Status::Ok();
}

void Finish(SteadyClock::time_point start, LatencySamples samples, InferenceSummary& summary) {
  summary.seconds = MsSince(start, SteadyClock::now()) / 1000.0;
  summary.fps = summary.seconds > 0 ? static_cast<double>(summary.frames) / summary.seconds : 0;
  summary.capture = ComputeLatencyStats(std::move(samples.capture));
  summary.preprocess = ComputeLatencyStats(std::move(samples.preprocess));
  summary.inference = ComputeLatencyStats(std::move(samples.inference));
  summary.total = ComputeLatencyStats(std::move(samples.total));
}

}  // namespace

std::string PredictionLine(const Frame& frame, const Classification& c,
                           const FrameLatency& latency) {
  nlohmann::json line = {{"frame_id", frame.id},
                         {"captured_unix_ms", frame.captured_unix_ms},
                         {"model_version", c.model_version},
                         {"class", c.label},
                         {"confidence", c.confidence},
                         {"entropy", c.entropy}};
  line["latency_ms"] = {{"capture", latency.capture},
                        {"preprocess", latency.preprocess},
                        {"inference", latency.inference},
                        {"total", latency.total}};
  if (c.drift) {
    line["drift"] = {{"window", c.drift->window},
                     {"score", c.drift->score},
                     {"feature", c.drift->feature},
                     {"drifted", c.drift->drifted}};
  }
  return line.dump();
}

Result<bool> KeepFrame(SampleStore& store, const Frame& frame, int predicted, float confidence,
                       const std::string& frame_format) {
  FrameRecord record;
  record.id = frame.id;
  record.captured_unix_ms = frame.captured_unix_ms;
  record.format = frame_format;
  record.width = frame.image.width;
  record.height = frame.image.height;
  record.channels = frame.image.channels;
  record.predicted = predicted;
  record.confidence = std::clamp(confidence, 0.0f, 1.0f);
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

Result<InferenceSummary> RunInference(FrameSource& source, FrameClassifier& classifier,
                                      std::ostream* sink, const InferenceOptions& options,
                                      const std::atomic<bool>* stop) {
  InferenceSummary summary;
  summary.class_histogram.assign(options.num_classes, 0);
  LatencySamples samples;
  KeepFailures own_failures;
  KeepFailures& failures = options.keep_failures ? *options.keep_failures : own_failures;
  const SteadyClock::time_point start = SteadyClock::now();
  while ((options.max_frames == 0 || summary.frames < options.max_frames) &&
         (stop == nullptr || !stop->load())) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    FEDGE_ASSIGN_OR_RETURN(std::optional<Frame> frame, source.Next());
    if (!frame) break;
    if (!frame->unreadable.empty()) {
      OnUnreadable(*frame, options, failures, summary);
      continue;
    }
    const SteadyClock::time_point captured = SteadyClock::now();
    Result<Classification> c = classifier.Classify(*frame);
    if (c.status().code() == shared::Code::kUnavailable) {
      ++summary.skipped;
      continue;
    }
    FEDGE_RETURN_IF_ERROR(c.status());
    FEDGE_RETURN_IF_ERROR(OnClassified(*frame, *c, t0, captured, sink, summary, samples));
  }
  if (sink != nullptr) sink->flush();
  Finish(start, std::move(samples), summary);
  return summary;
}

}  // namespace fedge::client
