#pragma once
// Image: an 8-bit picture as plain types, so that code handling frames (the client's sample
// store, the inference loop, tests) does not need OpenCV headers.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedge::vision {

// Rows of width * channels bytes, top to bottom. channels is 1 (grey) or 3 (B, G, R: OpenCV's
// order). pixels.size() == height * width * channels.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  size_t ExpectedBytes() const {
    return static_cast<size_t>(width) * static_cast<size_t>(height) * static_cast<size_t>(channels);
  }
  bool Valid() const {
    return width > 0 && height > 0 && (channels == 1 || channels == 3) &&
           pixels.size() == ExpectedBytes();
  }
};

}  // namespace fedge::vision
