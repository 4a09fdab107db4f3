#pragma once
// PRIVATE to fedge_vision's .cc files: conversions between Image and cv::Mat. Never include this
// from a public header; users of fedge_vision see plain types only and do not get OpenCV's
// include path.

#include <opencv2/core.hpp>

#include "shared/vision/image.h"

namespace fedge::vision::internal {

// A cv::Mat header over the image's pixels (no copy). REQUIRES: image.Valid(). The Mat must not
// outlive `image` and must not be written through.
inline cv::Mat WrapMat(const Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels),
                 const_cast<uint8_t*>(image.pixels.data()));
}

// Copies an 8-bit 1- or 3-channel Mat into an Image. REQUIRES: mat.depth() == CV_8U and
// mat.channels() is 1 or 3.
inline Image ToImage(const cv::Mat& mat) {
  Image image;
  image.width = mat.cols;
  image.height = mat.rows;
  image.channels = mat.channels();
  image.pixels.resize(image.ExpectedBytes());
  const size_t row_bytes = static_cast<size_t>(mat.cols) * mat.channels();
  for (int y = 0; y < mat.rows; ++y) {
    std::copy_n(mat.ptr<uint8_t>(y), row_bytes, image.pixels.data() + y * row_bytes);
  }
  return image;
}

}  // namespace fedge::vision::internal
