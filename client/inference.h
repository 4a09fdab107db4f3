#pragma once
// On-device inference: THE inference loop of the site. `fedge-client infer` (a fixed model,
// client/serving.h ModelClassifier) and the camera thread of `fedge-client run` (the model the
// client serves, with drift monitoring: Client::RunCamera) both call RunInference; what differs
// between them is the FrameClassifier they pass. Frames come from a FrameSource, each readable
// frame is classified, and one JSON line per frame goes to the sink (format below). Unreadable
// frames are counted and quarantined. Per-stage latency and frame rate are measured.
//
// This header and inference.cc need no model (no LibTorch): they are in fedge_client_core.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "client/client_stats.h"
#include "client/frame_source.h"
#include "client/metrics.h"
#include "client/sample_store.h"
#include "shared/base/status.h"

namespace fedge::client {

// A drift window the frame finished (only `run` monitors drift).
struct DriftNote {
  uint64_t window = 0;  // window index since the monitor's reference was set
  double score = 0;
  std::string feature;  // the feature giving the score
  bool drifted = false;
};

// What a FrameClassifier made of one frame.
struct Classification {
  int label = 0;
  float confidence = 0;        // softmax probability of `label`
  float entropy = 0;           // of the softmax distribution, in nats
  uint64_t model_version = 0;  // registry version of the model that classified (0: unknown)
  double preprocess_ms = 0;    // resize/colour/normalise (and drift statistics, if monitored)
  double inference_ms = 0;     // the model's forward pass
  bool stored = false;         // the frame is new in the sample store
  bool not_kept = false;       // keeping it failed (a full disk): counted, inference goes on
  std::optional<DriftNote> drift;
};

// The model side of the loop. Implementations: ModelClassifier (client/serving.h) and the
// client's serving model (Client::RunCamera). Called from the loop's thread only.
class FrameClassifier {
 public:
  virtual ~FrameClassifier() = default;
  // Classifies one readable frame. Unavailable: no model to classify with yet; the loop skips
  // the frame (InferenceSummary::skipped) and goes on. Any other error ends the loop.
  virtual shared::Result<Classification> Classify(const Frame& frame) = 0;
};

struct InferenceOptions {
  uint64_t max_frames = 0;  // 0: until the source ends (or `stop` is set)
  // When set: unreadable frames are quarantined here (reason "unreadable: ..."). Not owned.
  SampleStore* quarantine = nullptr;
  // Where frames the store failed to keep or quarantine are counted and logged (NoteKeepResult);
  // null: the loop counts its own. Shared with the classifier when it keeps frames, so one
  // full disk gives one warning. Not owned.
  KeepFailures* keep_failures = nullptr;
  // When set: unreadable frames are counted (frames_unreadable). Latency and frame-rate
  // metrics are the classifier's.
  std::shared_ptr<ClientMetrics> metrics;
  size_t num_classes = 0;  // initial size of the class histogram (it grows with the labels)
};

// Latency percentiles of one stage over all frames, in milliseconds (nearest rank).
struct LatencyStats {
  double p50 = 0, p95 = 0, p99 = 0, mean = 0, max = 0;
};
LatencyStats ComputeLatencyStats(std::vector<double> samples_ms);

struct InferenceSummary {
  uint64_t frames = 0;      // classified
  uint64_t unreadable = 0;  // skipped (and quarantined when options.quarantine is set)
  uint64_t skipped = 0;     // readable but not classified: no model yet (Unavailable)
  uint64_t stored = 0;      // new frames kept in the store
  uint64_t not_kept = 0;    // frames the store failed to keep (e.g. a full disk); inference went on
  double seconds = 0;       // wall time from the first read to the last sink write
  double fps = 0;           // frames / seconds
  LatencyStats capture, preprocess, inference, total;  // total = capture to sink write
  std::vector<uint64_t> class_histogram;               // predictions per class
};

// Per-stage latency of one frame, in milliseconds.
struct FrameLatency {
  double capture = 0, preprocess = 0, inference = 0, total = 0;
};

// The one JSON-lines prediction format (docs/edge_client.md), one object per frame:
// {"frame_id", "captured_unix_ms", "model_version", "class", "confidence", "entropy",
//  "latency_ms": {"capture", "preprocess", "inference", "total"}} and, when the frame finished
// a drift window, "drift": {"window", "score", "feature", "drifted"}. No trailing newline.
std::string PredictionLine(const Frame& frame, const Classification& c,
                           const FrameLatency& latency);

// Keeps a classified frame in `store` with its prediction, encoded as `frame_format` (png or
// jpeg); exact duplicates are quarantined by the store. True if the frame is new (or replaced).
shared::Result<bool> KeepFrame(SampleStore& store, const Frame& frame, int predicted,
                               float confidence, const std::string& frame_format);

// Keeping frames is a side effect of inference: a full disk must not stop predictions. Notes the
// outcome `saved` of keeping (or quarantining) frame `frame_id`: a failure is counted in
// `failures`, and logged when saving starts failing and once more when it works again.
void NoteKeepResult(const shared::Status& saved, const std::string& frame_id,
                    KeepFailures& failures);

// Reads `source` until it ends, options.max_frames frames were classified, or *stop becomes
// true (`stop` may be null), classifying every readable frame with `classifier` and writing
// its PredictionLine to `sink` (not written when null). Errors from the source, the
// classifier (other than Unavailable) or the sink end the run and are returned; a frame the
// store fails to keep or quarantine does not (NoteKeepResult, summary.not_kept). Runs on the
// calling thread; `source` and `classifier` are used by it only.
shared::Result<InferenceSummary> RunInference(FrameSource& source, FrameClassifier& classifier,
                                              std::ostream* sink, const InferenceOptions& options,
                                              const std::atomic<bool>* stop = nullptr);

}  // namespace fedge::client
