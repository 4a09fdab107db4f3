#include "client/camera_data.h"

#include <numeric>

#include "shared/base/log.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/data/partition.h"
#include "shared/net/wire.h"
#include "shared/vision/image_codec.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr char kLog[] = "camera";
constexpr float kCameraMean = 0.5f;
constexpr float kCameraStd = 0.25f;
}  // namespace

vision::InputSpec InputSpecFor(int64_t channels, int64_t height, int64_t width) {
  vision::InputSpec spec;
  spec.channels = static_cast<int>(channels);
  spec.height = static_cast<int>(height);
  spec.width = static_cast<int>(width);
  const bool grey = channels == 1;
  spec.mean.fill(grey ? ml::kFashionMnistMean : kCameraMean);
  spec.stddev.fill(grey ? ml::kFashionMnistStd : kCameraStd);
  return spec;
}

Result<IngestSummary> IngestFrames(FrameSource& source, SampleStore& store,
                                   const IngestOptions& options) {
  const vision::ImageFormat format =
      options.format == "jpeg" ? vision::ImageFormat::kJpeg : vision::ImageFormat::kPng;
  IngestSummary summary;
  while (options.max_frames == 0 || summary.frames < options.max_frames) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<Frame> frame, source.Next());
    if (!frame) break;
    ++summary.frames;
    if (!frame->unreadable.empty()) {
      ++summary.unreadable;
      FEDGE_RETURN_IF_ERROR(
          store.Quarantine(frame->id, "unreadable: " + frame->unreadable, frame->captured_unix_ms));
      continue;
    }
    FrameRecord record;
    record.id = frame->id;
    record.captured_unix_ms = frame->captured_unix_ms;
    record.format = options.format;
    record.width = frame->image.width;
    record.height = frame->image.height;
    record.channels = frame->image.channels;
    FEDGE_ASSIGN_OR_RETURN(record.bytes,
                           vision::EncodeImage(frame->image, format, options.jpeg_quality));
    FEDGE_ASSIGN_OR_RETURN(AddOutcome outcome, store.AddFrame(record));
    summary.evicted += outcome.evicted.size();
    if (outcome.kind == AddOutcome::Kind::kDuplicate) {
      ++summary.duplicates;
    } else if (outcome.kind != AddOutcome::Kind::kAlreadyStored) {
      ++summary.stored;
    }
  }
  return summary;
}

Result<LocalData> LoadStoreData(SampleStore& store, const vision::InputSpec& spec, int num_classes,
                                double holdout_fraction, uint64_t seed) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<LabelledFrame> frames, store.LabelledFrames());
  auto data = std::make_shared<ml::Dataset>();
  data->channels = spec.channels;
  data->height = spec.height;
  data->width = spec.width;
  data->num_classes = num_classes;
  const size_t per_example = static_cast<size_t>(data->ExampleElements());
  data->images.resize(frames.size() * per_example);
  data->labels.reserve(frames.size());
  uint64_t quarantined = 0;
  std::vector<int64_t> captured;
  captured.reserve(frames.size());
  for (const LabelledFrame& f : frames) {
    if (f.label < 0 || f.label >= num_classes) {
      return Status::InvalidArgument("frame " + f.id + " has label " + std::to_string(f.label) +
                                     " but the model has " + std::to_string(num_classes) +
                                     " classes");
    }
    Result<vision::Image> image = vision::DecodeImage(f.bytes);
    Status s = image.status();
    if (s.ok()) {
      s = vision::Preprocess(
          *image, spec,
          std::span<float>(data->images.data() + data->labels.size() * per_example, per_example));
    }
    if (!s.ok()) {
      ++quarantined;
      FEDGE_RETURN_IF_ERROR(store.Quarantine(f.id, "stored frame does not decode: " + s.message(),
                                             static_cast<int64_t>(shared::UnixMillis())));
      continue;
    }
    data->labels.push_back(f.label);
    captured.push_back(f.captured_unix_ms);
  }
  if (quarantined > 0) {
    FEDGE_LOG(Warn, kLog) << quarantined << " stored frames no longer decode; quarantined";
  }
  data->size = static_cast<int64_t>(data->labels.size());
  data->images.resize(static_cast<size_t>(data->size) * per_example);
  if (data->size == 0) {
    return Status::InvalidArgument(
        "the sample store has no labelled frames to train on; import labels with "
        "`fedge-client labels import FILE`");
  }
  std::vector<int64_t> all(static_cast<size_t>(data->size));
  std::iota(all.begin(), all.end(), 0);
  ml::HoldoutSplit split = ml::SplitHoldout(all, holdout_fraction, seed + 7919);
  LocalData out;
  out.train = std::move(split.train);
  out.eval = std::move(split.eval);
  out.class_counts.assign(static_cast<size_t>(num_classes), 0);
  for (int64_t i : out.train) ++out.class_counts[static_cast<size_t>(data->labels[i])];
  out.dataset = std::move(data);
  out.captured_ms = std::move(captured);
  return out;
}

}  // namespace fedge::client
