#pragma once
// Preprocessing of camera images into model input tensors (float, CHW), and resizing.

#include <array>
#include <span>
#include <vector>

#include "shared/base/status.h"
#include "shared/vision/image.h"

namespace fedge::vision {

// What a model expects as input. Values are produced as ((pixel / 255) - mean[c]) / stddev[c]
// for each output channel c in RGB order (only index 0 is used when channels == 1).
struct InputSpec {
  int channels = 3;  // 1 (grey) or 3 (R, G, B)
  int height = 32;
  int width = 32;
  std::array<float, 3> mean{};
  std::array<float, 3> stddev{1, 1, 1};  // each > 0

  size_t Floats() const {
    return static_cast<size_t>(channels) * static_cast<size_t>(height) * static_cast<size_t>(width);
  }
};

// Checks that spec has 1 or 3 channels, positive sides (at most 8192) and positive finite
// stddevs. InvalidArgument with the reason otherwise.
shared::Status ValidateInputSpec(const InputSpec& spec);

// Resizes `img` to spec's size (INTER_AREA when shrinking, bilinear otherwise), converts BGR to
// RGB (or to grey when spec.channels == 1; grey is replicated when spec.channels == 3),
// normalises as described on InputSpec and writes the result to `out` in CHW order.
// REQUIRES: out.size() == spec.Floats(), else InvalidArgument; an invalid image or spec is
// InvalidArgument too. `out` is untouched on error.
shared::Status Preprocess(const Image& img, const InputSpec& spec, std::span<float> out);

// Preprocess for each image, concatenated (NCHW): images.size() * spec.Floats() floats.
// Fails (InvalidArgument naming the index) if any image is invalid.
shared::Result<std::vector<float>> PreprocessBatch(std::span<const Image> images,
                                                   const InputSpec& spec);

// A copy of `img` resized to width x height (INTER_AREA when shrinking, bilinear otherwise),
// same channels. InvalidArgument for an invalid image or non-positive size.
shared::Result<Image> ResizeImage(const Image& img, int width, int height);

}  // namespace fedge::vision
