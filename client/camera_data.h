#pragma once
// Camera frames as training data: frames from a FrameSource go into the private sample store,
// and the store's labelled frames become the client's local dataset.

#include <cstdint>
#include <functional>
#include <string>

#include "client/frame_source.h"
#include "client/local_data.h"
#include "client/sample_store.h"
#include "shared/vision/preprocess.h"

namespace fedge::client {

// How model inputs are made from frames: the architecture's input shape, and per-channel
// normalisation (grey models use Fashion-MNIST's statistics, colour models 0.5 +- 0.25).
vision::InputSpec InputSpecFor(int64_t channels, int64_t height, int64_t width);

struct IngestOptions {
  std::string format = "png";  // how frames are encoded in the store: png or jpeg
  int jpeg_quality = 90;
  uint64_t max_frames = 0;  // 0: until the source ends
};

struct IngestSummary {
  uint64_t frames = 0;      // read from the source
  uint64_t stored = 0;      // new in the store
  uint64_t duplicates = 0;  // quarantined as exact duplicates
  uint64_t unreadable = 0;  // quarantined as unreadable
  uint64_t evicted = 0;     // older frames evicted to stay within the disk budget
};

// Reads `source` to its end (or max_frames) into `store`. Unreadable frames and exact
// duplicates are quarantined with a reason, not errors. Errors from the source or the store
// stop the ingest and are returned.
shared::Result<IngestSummary> IngestFrames(FrameSource& source, SampleStore& store,
                                           const IngestOptions& options);

// The store's labelled frames as a dataset for `spec`, split into train and held-out eval with
// `holdout_fraction` (deterministic from `seed`). A frame that no longer decodes is quarantined
// and skipped. InvalidArgument if no labelled frame is left for training.
shared::Result<LocalData> LoadStoreData(SampleStore& store, const vision::InputSpec& spec,
                                        int num_classes, double holdout_fraction, uint64_t seed);

}  // namespace fedge::client
