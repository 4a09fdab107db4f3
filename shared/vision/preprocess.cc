#include "shared/vision/preprocess.h"

#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "shared/vision/image_codec.h"
#include "shared/vision/mat_util.h"

namespace fedge::vision {
namespace {

using shared::Result;
using shared::Status;

int Interpolation(const cv::Mat& from, int width, int height) {
  const bool shrinking = width <= from.cols && height <= from.rows;
  return shrinking ? cv::INTER_AREA : cv::INTER_LINEAR;
}

cv::Mat Resized(const cv::Mat& from, int width, int height) {
  if (from.cols == width && from.rows == height) return from;
  cv::Mat to;
  cv::resize(from, to, cv::Size(width, height), 0, 0, Interpolation(from, width, height));
  return to;
}

// The resized image as 8-bit RGB (3 channels) or grey (1 channel), per spec.channels.
cv::Mat ToSpecColour(const cv::Mat& resized, int channels) {
  cv::Mat out;
  if (channels == 1) {
    if (resized.channels() == 1) return resized;
    cv::cvtColor(resized, out, cv::COLOR_BGR2GRAY);
  } else if (resized.channels() == 1) {
    cv::cvtColor(resized, out, cv::COLOR_GRAY2RGB);
  } else {
    cv::cvtColor(resized, out, cv::COLOR_BGR2RGB);
  }
  return out;
}

}  // namespace

Status ValidateInputSpec(const InputSpec& spec) {
  if (spec.channels != 1 && spec.channels != 3) {
    return Status::InvalidArgument("input spec: channels must be 1 or 3, got " +
                                   std::to_string(spec.channels));
  }
  if (spec.height <= 0 || spec.width <= 0 || spec.height > kMaxImageSide ||
      spec.width > kMaxImageSide) {
    return Status::InvalidArgument("input spec: size " + std::to_string(spec.width) + "x" +
                                   std::to_string(spec.height) + " out of range");
  }
  for (int c = 0; c < spec.channels; ++c) {
    if (!(spec.stddev[c] > 0) || !std::isfinite(spec.stddev[c]) || !std::isfinite(spec.mean[c])) {
      return Status::InvalidArgument("input spec: mean/stddev of channel " + std::to_string(c) +
                                     " must be finite with stddev > 0");
    }
  }
  return Status::Ok();
}

Status Preprocess(const Image& img, const InputSpec& spec, std::span<float> out) {
  FEDGE_RETURN_IF_ERROR(ValidateInputSpec(spec));
  if (!img.Valid()) {
    return Status::InvalidArgument("preprocess: invalid image (" + std::to_string(img.width) + "x" +
                                   std::to_string(img.height) + "x" + std::to_string(img.channels) +
                                   ", " + std::to_string(img.pixels.size()) + " bytes)");
  }
  if (out.size() != spec.Floats()) {
    return Status::InvalidArgument("preprocess: output has " + std::to_string(out.size()) +
                                   " floats, the spec needs " + std::to_string(spec.Floats()));
  }
  try {
    const cv::Mat ready =
        ToSpecColour(Resized(internal::WrapMat(img), spec.width, spec.height), spec.channels);
    const size_t plane = static_cast<size_t>(spec.height) * spec.width;
    for (int c = 0; c < spec.channels; ++c) {
      const float scale = 1.0f / (255.0f * spec.stddev[c]);
      const float shift = spec.mean[c] / spec.stddev[c];
      float* dst = out.data() + c * plane;
      for (int y = 0; y < spec.height; ++y) {
        const uint8_t* row = ready.ptr<uint8_t>(y);
        for (int x = 0; x < spec.width; ++x) {
          dst[y * spec.width + x] = row[x * spec.channels + c] * scale - shift;
        }
      }
    }
  } catch (const cv::Exception& e) {
    return Status::Internal(std::string("preprocess: ") + e.what());
  }
  return Status::Ok();
}

Result<std::vector<float>> PreprocessBatch(std::span<const Image> images, const InputSpec& spec) {
  FEDGE_RETURN_IF_ERROR(ValidateInputSpec(spec));
  const size_t per_image = spec.Floats();
  std::vector<float> out(images.size() * per_image);
  for (size_t i = 0; i < images.size(); ++i) {
    Status s = Preprocess(images[i], spec, std::span<float>(out).subspan(i * per_image, per_image));
    if (!s.ok()) return s.WithContext("image " + std::to_string(i) + " of the batch");
  }
  return out;
}

Result<Image> ResizeImage(const Image& img, int width, int height) {
  if (!img.Valid()) return Status::InvalidArgument("resize: invalid image");
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide) {
    return Status::InvalidArgument("resize: target size " + std::to_string(width) + "x" +
                                   std::to_string(height) + " out of range");
  }
  try {
    return internal::ToImage(Resized(internal::WrapMat(img), width, height));
  } catch (const cv::Exception& e) {
    return Status::Internal(std::string("resize: ") + e.what());
  }
}

}  // namespace fedge::vision
