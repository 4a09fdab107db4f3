#pragma once
// Rendering of Fashion-MNIST items as camera frames under per-site conditions, and writing them
// as video files with a labels side file (for simulations of camera sites).

#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "shared/base/status.h"
#include "shared/vision/image.h"

namespace fedge::vision {

// How one camera site sees the world. Applied to a rendered frame in this order: exposure,
// gamma, contrast, haze, colour cast, sensor noise, blur (values are clamped to 0..255 after
// exposure, after contrast and after noise); jpeg_quality applies when frames are written. The
// defaults of contrast and haze leave a frame unchanged; haze is clamped to 0..1.
struct SiteConditions {
  double exposure = 1.0;  // multiplies every pixel value (1 = unchanged)
  double gamma = 1.0;     // v -> 255 * (v / 255)^gamma after exposure (>1 darkens mid-tones)
  double contrast = 1.0;  // v -> 128 + contrast * (v - 128), after gamma (fog lowers it)
  double haze = 0.0;      // 0..1: v -> (1 - haze) * v + haze * 200 (bright veil), after contrast
  std::array<double, 3> color_gain{1, 1, 1};  // per-channel gains, B, G, R order
  double noise_std = 0;   // Gaussian sensor noise, standard deviation in 0..255 units
  double blur_sigma = 0;  // Gaussian blur sigma in pixels; 0 = no blur
  int jpeg_quality = 90;  // 1..100, used when frames are written to video or disk
  std::array<uint8_t, 3> background{60, 70, 80};  // base background colour, B, G, R
  double texture = 12;  // amplitude (0..255 units) of the background gradient and texture
  uint64_t seed = 0;    // fixes the site's background texture; WriteSiteVideo's frame rng
  // A broken camera (WriteSiteVideo only): every frame black (a dead sensor or a covered lens),
  // or every frame the first one (a frozen feed); the labels still name what was in front of it.
  enum class Fault { kNone, kBlack, kFrozen };
  Fault fault = Fault::kNone;
};

// Renders one 28x28 grey item (white item on black, row-major) as a frame_size x frame_size
// BGR frame: the item scaled to ~70-83% of the frame with random scale/offset jitter drawn from
// `rng`, blended as a light object over the site's textured background, then the site's
// conditions applied (exposure, gamma, contrast, haze, colour cast, noise, blur). Deterministic
// for a given item, conditions and rng state.
// REQUIRES: item28x28.size() == 784, 32 <= frame_size <= 1024 (else an empty Image).
Image RenderFrame(std::span<const uint8_t> item28x28, const SiteConditions& conditions,
                  std::mt19937_64& rng, int frame_size = 96);

// Varied but moderate conditions for site number `site` (items stay clearly visible): exposure
// 0.7-1.3, gamma 0.8-1.25, gains 0.85-1.15, noise <= 8, blur <= 1.0, JPEG quality 60-95, a
// dark-to-medium background. Deterministic in (site, seed); different sites differ.
SiteConditions SiteConditionsForIndex(int site, uint64_t seed);

// Renders items (n * 784 bytes, n = labels.size() >= 1) with RenderFrame (rng seeded with
// conditions.seed) into an MJPG .avi at `video_path` (quality conditions.jpeg_quality, frames
// frame_size x frame_size) and writes `labels_path`: CSV with the header "frame_id,label" and
// one line per frame,
// frame_id = "<video file stem>#<frame index from 0>" (the ids a video FrameSource produces).
// Both files are written to temporaries and renamed into place; the video is read back and its
// frame count checked. Errors: InvalidArgument (sizes, extension other than .avi, fps <= 0),
// IOError (cannot write or rename; names the path), Corruption (the video reads back short).
shared::Status WriteSiteVideo(const std::string& video_path, const std::string& labels_path,
                              std::span<const uint8_t> items, std::span<const int64_t> labels,
                              const SiteConditions& conditions, double fps = 10,
                              int frame_size = 96);

// Frame id of frame `index` of the video at `video_path`: "<file stem>#<index>".
std::string VideoFrameId(const std::string& video_path, uint64_t index);

}  // namespace fedge::vision
