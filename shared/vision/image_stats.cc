#include "shared/vision/image_stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace fedge::vision {
namespace {

constexpr double kClipLow = 2;
constexpr double kClipHigh = 253;

// Fills `luma` (N values, row-major) and returns the summed saturation over pixels.
double LumaAndSaturation(const Image& image, std::vector<double>& luma) {
  const size_t n = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  luma.resize(n);
  const uint8_t* p = image.pixels.data();
  if (image.channels == 1) {
    for (size_t i = 0; i < n; ++i) luma[i] = p[i];
    return 0;
  }
  double saturation_sum = 0;
  for (size_t i = 0; i < n; ++i, p += 3) {
    const int b = p[0], g = p[1], r = p[2];
    luma[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    const int hi = std::max({b, g, r});
    const int lo = std::min({b, g, r});
    if (hi > 0) saturation_sum += static_cast<double>(hi - lo) / hi;
  }
  return saturation_sum;
}

// Population variance of the 4-neighbour Laplacian over interior pixels; 0 below 3x3. Two
// passes (mean, then squared deviations) so that flat images give exactly 0.
double LaplacianVariance(const std::vector<double>& luma, int width, int height) {
  if (width < 3 || height < 3) return 0;
  const auto laplacian = [&](int x, int y) {
    const double* row = luma.data() + static_cast<size_t>(y) * width;
    return 4 * row[x] - row[x - 1] - row[x + 1] - row[x - width] - row[x + width];
  };
  const double count = static_cast<double>(width - 2) * (height - 2);
  double sum = 0;
  for (int y = 1; y + 1 < height; ++y) {
    for (int x = 1; x + 1 < width; ++x) sum += laplacian(x, y);
  }
  const double mean = sum / count;
  double sq_dev = 0;
  for (int y = 1; y + 1 < height; ++y) {
    for (int x = 1; x + 1 < width; ++x) {
      const double d = laplacian(x, y) - mean;
      sq_dev += d * d;
    }
  }
  return sq_dev / count;
}

}  // namespace

ImageStats ComputeImageStats(const Image& image) {
  ImageStats stats;
  if (!image.Valid()) return stats;
  std::vector<double> luma;
  const double saturation_sum = LumaAndSaturation(image, luma);
  const double n = static_cast<double>(luma.size());

  double sum = 0;
  size_t clipped = 0;
  for (double v : luma) {
    sum += v;
    if (v <= kClipLow || v >= kClipHigh) ++clipped;
  }
  const double mean = sum / n;
  double sq_dev = 0;  // two-pass variance: exact for constant images
  for (double v : luma) sq_dev += (v - mean) * (v - mean);

  stats.brightness = mean / 255.0;
  stats.contrast = std::sqrt(sq_dev / n) / 255.0;
  stats.sharpness = std::log10(1.0 + LaplacianVariance(luma, image.width, image.height));
  stats.saturation = saturation_sum / n;
  stats.clipped = static_cast<double>(clipped) / n;
  return stats;
}

}  // namespace fedge::vision
