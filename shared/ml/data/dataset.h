#pragma once
// Image-classification datasets as plain types, and the gzipped IDX loader for Fashion-MNIST.

#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::ml {

// Images are stored normalized, NCHW, fp32, example i at images[i * channels * height * width].
struct Dataset {
  int64_t size = 0, channels = 0, height = 0, width = 0;
  int num_classes = 10;
  std::vector<float> images;    // size * channels * height * width
  std::vector<int64_t> labels;  // size, each in [0, num_classes)

  int64_t ExampleElements() const { return channels * height * width; }
};

enum class Split { kTrain, kTest };

// Fashion-MNIST pixel statistics (of the training split, in [0, 1] units).
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

// Reads dir/train-{images-idx3,labels-idx1}-ubyte.gz (kTrain) or dir/t10k-* (kTest) and
// normalizes pixels as (x/255 - 0.2860) / 0.3530. Errors as in LoadIdx.
shared::Result<Dataset> LoadFashionMnist(const std::string& dir, Split split);

// Loads a pair of gzipped IDX files: images (magic 0x00000803, uint8, dims N x H x W) and labels
// (magic 0x00000801, uint8, dim N). Pixels become (x/255 - mean) / stddev, channels = 1.
// Errors (the message names the offending file): NotFound for a missing file; Corruption for a
// bad magic number, zero/oversized dimensions, a truncated or over-long payload, a broken gzip
// stream, mismatched counts or a label outside [0, num_classes); IOError for read failures;
// InvalidArgument for a non-positive stddev or num_classes outside [1, 256].
shared::Result<Dataset> LoadIdx(const std::string& images_gz, const std::string& labels_gz,
                                float mean, float stddev, int num_classes = 10);

}  // namespace fedge::ml
