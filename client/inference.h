#pragma once
// On-device inference: frames from a FrameSource are preprocessed (shared/vision), classified
// by the installed model, written to a JSON-lines sink, and optionally kept in the sample store
// with their prediction (so the least confident can be reviewed). Per-stage latency and frame
// rate are measured.

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/frame_source.h"
#include "client/metrics.h"
#include "client/sample_store.h"
#include "shared/base/status.h"
#include "shared/ml/torch/model.h"

namespace fedge::client {

struct InferenceOptions {
  uint64_t max_frames = 0;           // 0: until the source ends (or `stop` is set)
  std::string frame_format = "png";  // how kept frames are encoded: png or jpeg
  // When set: per-frame latency (preprocess + inference), frames and frame rate are counted.
  std::shared_ptr<ClientMetrics> metrics;
};

// Latency percentiles of one stage over all frames, in milliseconds (nearest rank).
struct LatencyStats {
  double p50 = 0, p95 = 0, p99 = 0, mean = 0, max = 0;
};
LatencyStats ComputeLatencyStats(std::vector<double> samples_ms);

struct InferenceSummary {
  uint64_t frames = 0;      // classified
  uint64_t unreadable = 0;  // skipped (and quarantined when a store is given)
  uint64_t stored = 0;      // new frames kept in the store
  uint64_t not_kept = 0;    // frames the store failed to keep (e.g. a full disk); inference went on
  double seconds = 0;       // wall time from the first read to the last sink write
  double fps = 0;           // frames / seconds
  LatencyStats capture, preprocess, inference, total;  // total = capture to sink write
  std::vector<uint64_t> class_histogram;               // predictions per class
};

// Keeps a classified frame in `store` with its prediction, encoded as `frame_format` (png or
// jpeg); exact duplicates are quarantined by the store. True if the frame is new (or replaced).
shared::Result<bool> KeepFrame(SampleStore& store, const Frame& frame, const ml::Prediction& p,
                               const std::string& frame_format);

// Frames an inference loop could not keep in the store. Thread-safe.
struct KeepFailures {
  std::atomic<uint64_t> count{0};    // saves (or quarantines) that failed
  std::atomic<bool> failing{false};  // the latest one failed: a warning was logged
};

// Keeping frames is a side effect of inference: a full disk must not stop predictions. Notes the
// outcome `saved` of keeping (or quarantining) frame `frame_id`: a failure is counted in
// `failures`, and logged when saving starts failing and once more when it works again.
void NoteKeepResult(const shared::Status& saved, const std::string& frame_id,
                    KeepFailures& failures);

// Runs until the source ends, max_frames, or *stop becomes true. Each frame's line in `sink`:
// {"frame_id", "captured_unix_ms", "class", "confidence", "entropy", "latency_ms": {"capture",
// "preprocess", "inference", "total"}}. `store` may be null (frames are not kept). Errors from
// the source or the model end the run and are returned; store errors do not (NoteKeepResult).
shared::Result<InferenceSummary> RunInference(FrameSource& source, const ml::Model& model,
                                              std::ostream& sink, SampleStore* store,
                                              const InferenceOptions& options,
                                              const std::atomic<bool>* stop = nullptr);

}  // namespace fedge::client
