#include "shared/ml/data/augment.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace fedge::ml {
namespace {

using shared::Status;

// Index of y + d reflected into [0, n) without repeating the edge. REQUIRES |d| < n.
int64_t Reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

bool InRange(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

float ChannelValue(const std::vector<float>& values, int64_t channel, float fallback) {
  if (values.empty()) return fallback;
  return values.size() == 1 ? values[0] : values[channel];
}

}  // namespace

bool AugmentOptions::Enabled() const { return hflip || crop_pad > 0 || Photometric(); }

bool AugmentOptions::Photometric() const {
  return brightness > 0 || contrast > 0 || gamma > 0 || blur_prob > 0 || noise_std > 0;
}

Status ValidateAugment(const AugmentOptions& o, int64_t channels, int64_t height, int64_t width) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("augment: " + what + " out of range");
  };
  if (o.crop_pad < 0 || o.crop_pad >= std::min(height, width)) return bad("crop_pad");
  if (!InRange(o.brightness, 0, 1)) return bad("brightness (want [0, 1])");
  if (!InRange(o.contrast, 0, 1)) return bad("contrast (want [0, 1])");
  if (!InRange(o.gamma, 0, 2)) return bad("gamma (want [0, 2])");
  if (!InRange(o.blur_prob, 0, 1)) return bad("blur_prob (want [0, 1])");
  if (!InRange(o.noise_std, 0, 1)) return bad("noise_std (want [0, 1])");
  for (const auto* values : {&o.mean, &o.stddev}) {
    const auto size = static_cast<int64_t>(values->size());
    if (size > 1 && size != channels) {
      return Status::InvalidArgument("augment: mean/stddev need 1 or " + std::to_string(channels) +
                                     " values, got " + std::to_string(size));
    }
  }
  for (float m : o.mean) {
    if (!std::isfinite(m)) return bad("mean");
  }
  for (float s : o.stddev) {
    if (!std::isfinite(s) || s <= 0) return bad("stddev (want > 0)");
  }
  return Status::Ok();
}

namespace augment {

void HFlip(std::span<float> image, int64_t c, int64_t h, int64_t w) {
  for (int64_t row = 0; row < c * h; ++row) {
    std::reverse(image.begin() + row * w, image.begin() + (row + 1) * w);
  }
}

void Shift(std::span<float> image, int64_t c, int64_t h, int64_t w, int dy, int dx,
           std::vector<float>& scratch) {
  scratch.assign(image.begin(), image.begin() + c * h * w);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* in = scratch.data() + ch * h * w;
    float* out = image.data() + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const float* src = in + Reflect(y + dy, h) * w;
      for (int64_t x = 0; x < w; ++x) out[y * w + x] = src[Reflect(x + dx, w)];
    }
  }
}

void Blur(std::span<float> image, int64_t c, int64_t h, int64_t w, std::vector<float>& scratch) {
  scratch.resize(h * w);
  for (int64_t ch = 0; ch < c; ++ch) {
    float* p = image.data() + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {  // horizontal pass into scratch
      const float* row = p + y * w;
      for (int64_t x = 0; x < w; ++x) {
        const float left = row[std::max<int64_t>(x - 1, 0)];
        const float right = row[std::min<int64_t>(x + 1, w - 1)];
        scratch[y * w + x] = 0.25f * left + 0.5f * row[x] + 0.25f * right;
      }
    }
    for (int64_t y = 0; y < h; ++y) {  // vertical pass back into the image
      const float* up = scratch.data() + std::max<int64_t>(y - 1, 0) * w;
      const float* mid = scratch.data() + y * w;
      const float* down = scratch.data() + std::min<int64_t>(y + 1, h - 1) * w;
      for (int64_t x = 0; x < w; ++x)
        p[y * w + x] = 0.25f * up[x] + 0.5f * mid[x] + 0.25f * down[x];
    }
  }
}

}  // namespace augment

Augmenter::Augmenter(AugmentOptions options, uint64_t seed)
    : options_(std::move(options)), rng_(seed ^ 0x6a09e667f3bcc909ULL) {}

void Augmenter::Apply(std::span<float> batch, int64_t n, int64_t c, int64_t h, int64_t w) {
  const AugmentOptions& o = options_;
  std::uniform_real_distribution<float> prob(0.0f, 1.0f);
  std::uniform_int_distribution<int> shift(-o.crop_pad, o.crop_pad);
  for (int64_t i = 0; i < n; ++i) {
    std::span<float> image = batch.subspan(i * c * h * w, c * h * w);
    if (o.crop_pad > 0) {
      const int dy = shift(rng_);
      const int dx = shift(rng_);
      if (dy != 0 || dx != 0) augment::Shift(image, c, h, w, dy, dx, scratch_);
    }
    if (o.hflip && prob(rng_) < 0.5f) augment::HFlip(image, c, h, w);
    if (o.Photometric()) ApplyPhotometric(image, c, h, w);
  }
}

void Augmenter::ApplyPhotometric(std::span<float> image, int64_t c, int64_t h, int64_t w) {
  const AugmentOptions& o = options_;
  const int64_t plane = h * w;
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> prob(0.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t ch = 0; ch < c; ++ch) {  // to pixel space
    const float mean = ChannelValue(o.mean, ch, 0.0f);
    const float stddev = ChannelValue(o.stddev, ch, 1.0f);
    for (float& v : image.subspan(ch * plane, plane)) v = v * stddev + mean;
  }
  if (o.brightness > 0) {
    const float factor = 1.0f + o.brightness * unit(rng_);
    for (float& v : image) v *= factor;
  }
  if (o.contrast > 0) {
    const float factor = 1.0f + o.contrast * unit(rng_);
    double sum = 0;
    for (float v : image) sum += v;
    const auto m = static_cast<float>(sum / static_cast<double>(image.size()));
    for (float& v : image) v = m + (v - m) * factor;
  }
  for (float& v : image) v = std::clamp(v, 0.0f, 1.0f);
  if (o.gamma > 0) {
    const float g = std::exp(o.gamma * unit(rng_));
    for (float& v : image) v = std::pow(v, g);
  }
  if (o.blur_prob > 0 && prob(rng_) < o.blur_prob) augment::Blur(image, c, h, w, scratch_);
  if (o.noise_std > 0) {
    for (float& v : image) v = std::clamp(v + o.noise_std * normal(rng_), 0.0f, 1.0f);
  }
  for (int64_t ch = 0; ch < c; ++ch) {  // back to normalized values
    const float mean = ChannelValue(o.mean, ch, 0.0f);
    const float inv = 1.0f / ChannelValue(o.stddev, ch, 1.0f);
    for (float& v : image.subspan(ch * plane, plane)) v = (v - mean) * inv;
  }
}

}  // namespace fedge::ml
