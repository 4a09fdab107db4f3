#pragma once
// Random data augmentation for local training, on normalized NCHW float batches. Plain C++ (no
// LibTorch): Model::Train applies it to each gathered batch when TrainOptions::augment enables
// any operation; the primitives are exposed for tests.

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "shared/base/status.h"

namespace fedge::ml {

// All operations are off by default; an all-off AugmentOptions leaves training bitwise
// unchanged (Train does not even draw random numbers for it).
//
// Per example, in this order:
//   1. shift: a random crop of the image padded by `crop_pad` pixels on every side with
//      reflection, i.e. a shift by (dy, dx), each uniform in [-crop_pad, crop_pad];
//   2. hflip: a left-right mirror with probability 1/2;
//   3. photometric ops in pixel space, p = x * stddev[c] + mean[c] (dataset normalization):
//      brightness p *= U[1 - brightness, 1 + brightness];
//      contrast   p = m + (p - m) * U[1 - contrast, 1 + contrast], m = mean of p over the image;
//      clamp to [0, 1]; gamma p = p^g with g = exp(U[-gamma, gamma]);
//      blur (with probability blur_prob) by the 3x3 binomial kernel [1 2 1]^T [1 2 1] / 16 with
//      replicated borders; noise p += N(0, noise_std); clamp to [0, 1]; x = (p - mean) / stddev.
//   The geometric ops (1, 2) do not need the normalization; the photometric ones assume
//   pixels in [0, 1] after de-normalization.
struct AugmentOptions {
  bool hflip = false;
  int crop_pad = 0;           // in [0, min(height, width) - 1]
  float brightness = 0;       // in [0, 1]
  float contrast = 0;         // in [0, 1]
  float gamma = 0;            // in [0, 2]
  float blur_prob = 0;        // in [0, 1]
  float noise_std = 0;        // in [0, 1], in pixel units
  std::vector<float> mean;    // one per channel, or one for all; empty means 0
  std::vector<float> stddev;  // one per channel, or one for all, each > 0; empty means 1

  bool Enabled() const;
  bool Photometric() const;
};

// InvalidArgument naming the field if a value is out of range (or not finite), or if mean /
// stddev have neither 0, 1 nor `channels` entries.
shared::Status ValidateAugment(const AugmentOptions& options, int64_t channels, int64_t height,
                               int64_t width);

// Applies AugmentOptions to batches with its own random engine: the same (options, seed) and
// the same sequence of batches give bitwise the same output. Not thread-safe.
// REQUIRES: ValidateAugment(options, c, h, w) is OK for every batch shape passed to Apply.
class Augmenter {
 public:
  Augmenter(AugmentOptions options, uint64_t seed);

  // Augments `batch` (n * c * h * w normalized values, NCHW) in place.
  void Apply(std::span<float> batch, int64_t n, int64_t c, int64_t h, int64_t w);

 private:
  // Step 3 of AugmentOptions on one example.
  void ApplyPhotometric(std::span<float> image, int64_t c, int64_t h, int64_t w);

  AugmentOptions options_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
};

// Primitives on one example (c x h x w, row-major), exposed for tests.
namespace augment {

// Mirrors every row left-right.
void HFlip(std::span<float> image, int64_t c, int64_t h, int64_t w);
// out(y, x) = in(reflect(y + dy), reflect(x + dx)), reflection without repeating the edge
// (PyTorch's "reflect" padding). REQUIRES |dy| < h, |dx| < w; scratch is resized as needed.
void Shift(std::span<float> image, int64_t c, int64_t h, int64_t w, int dy, int dx,
           std::vector<float>& scratch);
// 3x3 binomial blur per channel with replicated borders.
void Blur(std::span<float> image, int64_t c, int64_t h, int64_t w, std::vector<float>& scratch);

}  // namespace augment
}  // namespace fedge::ml
