#pragma once
// Per-frame image statistics for drift monitoring: cheap, exactly hand-computable summaries of a
// frame's luma and colour, computed in plain C++ (no OpenCV) on the frame as the model sees it
// (already resized to the model's input size, e.g. 32x32).

#include "shared/vision/image.h"

namespace fedge::vision {

// Statistics of one frame. luma = 0.299 R + 0.587 G + 0.114 B per pixel (grey: the value), in
// 0..255 units; N = width * height.
struct ImageStats {
  double brightness = 0;  // mean luma / 255, in [0, 1]
  double contrast = 0;    // population standard deviation of luma / 255, in [0, 0.5]
  // log10(1 + variance of the 4-neighbour Laplacian of luma), the Laplacian
  // L(x, y) = 4 luma(x, y) - luma(x-1, y) - luma(x+1, y) - luma(x, y-1) - luma(x, y+1) taken over
  // the (width-2) * (height-2) interior pixels, luma in 0..255 units; population variance.
  // 0 for images smaller than 3x3. Blur lowers it, noise and fine detail raise it.
  double sharpness = 0;
  // Mean over pixels of (max(B,G,R) - min(B,G,R)) / max(B,G,R) (HSV saturation; 0 where max is
  // 0), in [0, 1]. 0 for grey images.
  double saturation = 0;
  double clipped = 0;  // fraction of pixels with luma <= 2 or >= 253 (under/over-exposed)
};

// Computes the statistics above in two passes over the pixels and one luma buffer of N doubles.
// REQUIRES: image.Valid(); an invalid image gives all zeros.
ImageStats ComputeImageStats(const Image& image);

}  // namespace fedge::vision
