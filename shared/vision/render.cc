#include "shared/vision/render.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "shared/vision/mat_util.h"

namespace fedge::vision {
namespace {

using shared::Status;

constexpr int kItemSide = 28;
constexpr float kItemBrightness = 235.0f;
constexpr double kContrastPivot = 128.0;  // contrast scales values around this level
constexpr double kHazeLevel = 200.0;      // the brightness a full haze (1.0) veils a frame in

// Own uniform/normal draws (not <random>'s distributions, whose output differs between
// standard libraries) so that a seed renders the same frames everywhere.
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * Uniform01(rng);
}
double Normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - Uniform01(rng);  // (0, 1]
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The site's background (CV_32FC3): base colour, a linear gradient in a seed-chosen direction
// and a smooth low-frequency texture, both of amplitude c.texture. Fixed per site.
cv::Mat Background(const SiteConditions& c, int size) {
  std::mt19937_64 rng(SplitMix64(c.seed ^ 0xB6C0));
  const double angle = Uniform(rng, 0, 2 * M_PI);
  cv::Mat grid(6, 6, CV_32FC1);
  for (int i = 0; i < grid.rows * grid.cols; ++i) {
    grid.at<float>(i) = static_cast<float>(Uniform(rng, -0.5, 0.5) * c.texture);
  }
  cv::Mat texture;
  cv::resize(grid, texture, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  cv::Mat bg(size, size, CV_32FC3);
  const double dx = std::cos(angle) / size, dy = std::sin(angle) / size;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const double ramp = ((x - size / 2.0) * dx + (y - size / 2.0) * dy) * c.texture;
      const float v = static_cast<float>(ramp) + texture.at<float>(y, x);
      cv::Vec3f& px = bg.at<cv::Vec3f>(y, x);
      for (int ch = 0; ch < 3; ++ch) px[ch] = c.background[ch] + v;
    }
  }
  return bg;
}

// Blends the item, scaled and shifted with jitter from rng, into `frame` as a light object.
void PlaceItem(std::span<const uint8_t> item, std::mt19937_64& rng, cv::Mat& frame) {
  const int size = frame.rows;
  const int side = static_cast<int>(std::lround(size * Uniform(rng, 0.70, 0.83)));
  const int max_shift = std::min((size - side) / 2, size / 16);
  const int x0 = (size - side) / 2 + static_cast<int>(std::lround(Uniform(rng, -1, 1) * max_shift));
  const int y0 = (size - side) / 2 + static_cast<int>(std::lround(Uniform(rng, -1, 1) * max_shift));
  cv::Mat small(kItemSide, kItemSide, CV_8UC1, const_cast<uint8_t*>(item.data()));
  cv::Mat alpha;
  small.convertTo(alpha, CV_32F, 1.0 / 255.0);
  cv::resize(alpha, alpha, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const float a = std::clamp(alpha.at<float>(y, x), 0.0f, 1.0f);
      cv::Vec3f& px = frame.at<cv::Vec3f>(y0 + y, x0 + x);
      for (int ch = 0; ch < 3; ++ch) px[ch] = px[ch] * (1 - a) + kItemBrightness * a;
    }
  }
}

// Exposure, gamma, contrast, haze, colour cast, noise, blur, in that order, on a CV_32FC3 frame.
// Contrast and haze are skipped at their defaults so that those render bit for bit as before.
void ApplyConditions(const SiteConditions& c, std::mt19937_64& rng, cv::Mat& f) {
  f *= c.exposure;
  cv::max(cv::min(f, 255.0), 0.0, f);
  if (c.gamma != 1.0) {
    f *= 1.0 / 255.0;
    cv::pow(f, c.gamma, f);
    f *= 255.0;
  }
  if (c.contrast != 1.0) {
    f.convertTo(f, CV_32F, c.contrast, kContrastPivot * (1 - c.contrast));
    cv::max(cv::min(f, 255.0), 0.0, f);
  }
  if (c.haze != 0.0) {
    const double haze = std::clamp(c.haze, 0.0, 1.0);
    f.convertTo(f, CV_32F, 1 - haze, haze * kHazeLevel);
  }
  cv::multiply(f, cv::Scalar(c.color_gain[0], c.color_gain[1], c.color_gain[2]), f);
  if (c.noise_std > 0) {
    float* p = f.ptr<float>(0);  // continuous: created by this file
    for (size_t i = 0; i < f.total() * 3; ++i)
      p[i] += static_cast<float>(Normal(rng) * c.noise_std);
  }
  cv::max(cv::min(f, 255.0), 0.0, f);
  if (c.blur_sigma > 0) cv::GaussianBlur(f, f, cv::Size(0, 0), c.blur_sigma);
}

std::string Stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

std::string VideoFrameId(const std::string& video_path, uint64_t index) {
  return Stem(video_path) + "#" + std::to_string(index);
}

Image RenderFrame(std::span<const uint8_t> item28x28, const SiteConditions& conditions,
                  std::mt19937_64& rng, int frame_size) {
  if (item28x28.size() != kItemSide * kItemSide || frame_size < 32 || frame_size > 1024) {
    return Image{};
  }
  cv::Mat frame = Background(conditions, frame_size);
  PlaceItem(item28x28, rng, frame);
  ApplyConditions(conditions, rng, frame);
  cv::Mat out;
  frame.convertTo(out, CV_8UC3);  // rounds and saturates
  return internal::ToImage(out);
}

SiteConditions SiteConditionsForIndex(int site, uint64_t seed) {
  SiteConditions c;
  c.seed = SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(site) + 1));
  std::mt19937_64 rng(c.seed);
  c.exposure = Uniform(rng, 0.7, 1.3);
  c.gamma = std::exp(Uniform(rng, std::log(0.8), std::log(1.25)));
  for (double& g : c.color_gain) g = Uniform(rng, 0.85, 1.15);
  c.noise_std = Uniform(rng, 0, 8);
  c.blur_sigma = Uniform(rng, 0, 1) < 0.3 ? 0 : Uniform(rng, 0.3, 1.0);
  c.jpeg_quality = 60 + static_cast<int>(Uniform01(rng) * 36);  // 60..95
  for (uint8_t& b : c.background) b = static_cast<uint8_t>(Uniform(rng, 15, 110));
  c.texture = Uniform(rng, 4, 16);
  return c;
}

namespace {

Status WriteFrames(const std::string& path, std::span<const uint8_t> items, size_t n,
                   const SiteConditions& c, double fps, int frame_size) {
  cv::VideoWriter writer(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                         fps, cv::Size(frame_size, frame_size), true);
  if (!writer.isOpened()) {
    return Status::IOError("cannot open a MJPG video writer for '" + path +
                           "': check the directory exists and is writable");
  }
  if (!writer.set(cv::VIDEOWRITER_PROP_QUALITY, c.jpeg_quality)) {
    return Status::Internal("the MJPG writer refused quality " + std::to_string(c.jpeg_quality));
  }
  std::mt19937_64 rng(c.seed);
  Image first;
  for (size_t i = 0; i < n; ++i) {
    if (c.fault == SiteConditions::Fault::kBlack) {
      writer.write(cv::Mat::zeros(frame_size, frame_size, CV_8UC3));
      continue;
    }
    if (c.fault == SiteConditions::Fault::kFrozen && i > 0) {
      writer.write(internal::WrapMat(first));
      continue;
    }
    Image frame = RenderFrame(items.subspan(i * kItemSide * kItemSide, kItemSide * kItemSide), c,
                              rng, frame_size);
    writer.write(internal::WrapMat(frame));
    if (i == 0) first = std::move(frame);
  }
  writer.release();
  return Status::Ok();
}

shared::Result<int64_t> CountFrames(const std::string& path) {
  cv::VideoCapture capture(path);
  if (!capture.isOpened()) return Status::Corruption("cannot read back video '" + path + "'");
  int64_t count = 0;
  cv::Mat frame;
  while (capture.read(frame) && !frame.empty()) ++count;
  return count;
}

Status WriteLabels(const std::string& path, const std::string& video_path,
                   std::span<const int64_t> labels) {
  std::ofstream out(path, std::ios::trunc);
  out << "frame_id,label\n";
  for (size_t i = 0; i < labels.size(); ++i) {
    out << VideoFrameId(video_path, i) << ',' << labels[i] << '\n';
  }
  out.close();
  if (!out) return Status::IOError("cannot write labels file '" + path + "'");
  return Status::Ok();
}

Status RenameInto(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) return Status::IOError("cannot rename '" + from + "' to '" + to + "': " + ec.message());
  return Status::Ok();
}

Status WriteBoth(const std::string& video_path, const std::string& labels_path,
                 const std::string& tmp_video, const std::string& tmp_labels,
                 std::span<const uint8_t> items, std::span<const int64_t> labels,
                 const SiteConditions& c, double fps, int frame_size) {
  FEDGE_RETURN_IF_ERROR(WriteFrames(tmp_video, items, labels.size(), c, fps, frame_size));
  FEDGE_ASSIGN_OR_RETURN(int64_t frames, CountFrames(tmp_video));
  if (frames != static_cast<int64_t>(labels.size())) {
    return Status::Corruption("video '" + video_path + "' reads back " + std::to_string(frames) +
                              " frames, wrote " + std::to_string(labels.size()));
  }
  FEDGE_RETURN_IF_ERROR(WriteLabels(tmp_labels, video_path, labels));
  FEDGE_RETURN_IF_ERROR(RenameInto(tmp_video, video_path));
  return RenameInto(tmp_labels, labels_path);
}

}  // namespace

Status WriteSiteVideo(const std::string& video_path, const std::string& labels_path,
                      std::span<const uint8_t> items, std::span<const int64_t> labels,
                      const SiteConditions& conditions, double fps, int frame_size) {
  const size_t per_item = kItemSide * kItemSide;
  if (labels.empty() || items.size() != labels.size() * per_item) {
    return Status::InvalidArgument("WriteSiteVideo: need n >= 1 labels and n*784 item bytes, got " +
                                   std::to_string(labels.size()) + " labels and " +
                                   std::to_string(items.size()) + " bytes");
  }
  const std::filesystem::path video(video_path);
  if (video.extension() != ".avi") {
    return Status::InvalidArgument("WriteSiteVideo: '" + video_path + "' must end in .avi (MJPG)");
  }
  if (!(fps > 0) || frame_size < 32 || frame_size > 1024 || conditions.jpeg_quality < 1 ||
      conditions.jpeg_quality > 100 || video_path == labels_path) {
    return Status::InvalidArgument(
        "WriteSiteVideo: need fps > 0, frame_size 32..1024, jpeg_quality 1..100 and distinct "
        "video and labels paths");
  }
  const std::string suffix = ".tmp" + std::to_string(::getpid());
  // Hidden temporary in the same directory (so the rename is atomic), still ending in .avi.
  std::string tmp_name = ".";  // appended piecewise: "." + string trips g++ 12's -Wrestrict
  tmp_name.append(video.stem().string()).append(suffix).append(".avi");
  const std::string tmp_video = (video.parent_path() / tmp_name).string();
  const std::string tmp_labels = labels_path + suffix;
  Status s;
  try {
    s = WriteBoth(video_path, labels_path, tmp_video, tmp_labels, items, labels, conditions, fps,
                  frame_size);
  } catch (const cv::Exception& e) {
    s = Status::IOError("writing video '" + video_path + "': " + e.what());
  }
  std::error_code ec;
  std::filesystem::remove(tmp_video, ec);
  std::filesystem::remove(tmp_labels, ec);
  return s;
}

}  // namespace fedge::vision
