#include "client/frame_source.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <random>
#include <thread>
#include <vector>

#include "shared/vision/image_codec.h"
#include "shared/vision/preprocess.h"

namespace fedge::client {
namespace {

namespace fs = std::filesystem;
using shared::Result;
using shared::Status;

constexpr int kStreamTimeoutMs = 10000;

class SystemClock : public Clock {
 public:
  int64_t SteadyMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t UnixMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void SleepMs(int64_t ms) override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

enum class Kind { kCamera, kStream, kFolder, kFile };

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() <= 6 && std::all_of(s.begin(), s.end(), ::isdigit);
}

bool IsUrl(const std::string& uri) {
  return uri.starts_with("rtsp://") || uri.starts_with("http://") || uri.starts_with("https://");
}

Kind Classify(const std::string& uri) {
  if (AllDigits(uri)) return Kind::kCamera;
  if (IsUrl(uri)) return Kind::kStream;
  std::error_code ec;
  if (fs::is_directory(uri, ec)) return Kind::kFolder;
  return Kind::kFile;
}

// Whether a query parameter named `key` may carry a secret (password, token, API key, ...).
bool SecretParameter(std::string key) {
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"pass", "pwd", "token", "secret", "key", "auth", "sig", "cred"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}

// "rtsp://user:secret@host:554/x" -> "rtsp://***@host:554/x", and the values of query
// parameters that may carry secrets ("?token=...") -> "***": credentials stay out of logs.
// The user info ends at the last '@' before the query, so a password holding '/' is caught too.
std::string Redact(const std::string& uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const size_t start = scheme + 3;
  const size_t query = uri.find_first_of("?#", start);
  std::string out = uri;
  const size_t at = uri.rfind('@', query == std::string::npos ? std::string::npos : query - 1);
  if (at != std::string::npos && at >= start) out = uri.substr(0, start) + "***" + uri.substr(at);
  const size_t q = out.find('?', start);
  if (q == std::string::npos) return out;
  const size_t fragment = out.find('#', q);
  std::string redacted = out.substr(0, q + 1);
  const std::string params =
      out.substr(q + 1, fragment == std::string::npos ? std::string::npos : fragment - q - 1);
  size_t begin = 0;
  while (begin <= params.size()) {
    const size_t end = std::min(params.find('&', begin), params.size());
    const std::string param = params.substr(begin, end - begin);
    const size_t eq = param.find('=');
    if (begin > 0) redacted += '&';
    redacted += eq != std::string::npos && SecretParameter(param.substr(0, eq))
                    ? param.substr(0, eq) + "=***"
                    : param;
    begin = end + 1;
  }
  if (fragment != std::string::npos) redacted += out.substr(fragment);
  return redacted;
}

std::string UrlHost(const std::string& uri) {
  const std::string redacted = Redact(uri);
  size_t begin = redacted.find("://") + 3;
  const size_t at = redacted.find('@', begin);
  const size_t end_of_authority = redacted.find('/', begin);
  if (at != std::string::npos && at < end_of_authority) begin = at + 1;
  const size_t end = redacted.find_first_of(":/?", begin);
  return redacted.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::string DefaultName(const std::string& uri, Kind kind) {
  switch (kind) {
    case Kind::kCamera:
      return "camera" + std::to_string(std::stoi(uri));
    case Kind::kStream:
      return UrlHost(uri);
    case Kind::kFolder: {
      std::error_code ec;  // absolute: "." or "cams/.." name the folder itself
      fs::path p = fs::absolute(uri, ec).lexically_normal();
      if (!p.has_filename()) p = p.parent_path();
      return p.filename().string();
    }
    case Kind::kFile:
      return fs::path(uri).stem().string();
  }
  return uri;
}

// Copies an 8-bit capture frame into an Image (grey stays grey, BGRA loses alpha).
bool MatToImage(const cv::Mat& in, vision::Image* out) {
  if (in.empty() || in.depth() != CV_8U) return false;
  cv::Mat mat = in;
  if (mat.channels() == 4) cv::cvtColor(in, mat, cv::COLOR_BGRA2BGR);
  if (mat.channels() != 1 && mat.channels() != 3) return false;
  out->width = mat.cols;
  out->height = mat.rows;
  out->channels = mat.channels();
  out->pixels.resize(out->ExpectedBytes());
  const size_t row = static_cast<size_t>(mat.cols) * mat.channels();
  for (int y = 0; y < mat.rows; ++y) {
    std::copy_n(mat.ptr<uint8_t>(y), row, out->pixels.data() + y * row);
  }
  return true;
}

class CvCapture : public Capture {
 public:
  explicit CvCapture(std::unique_ptr<cv::VideoCapture> capture) : capture_(std::move(capture)) {}
  bool Read(vision::Image* out) override {
    try {
      return capture_->read(frame_) && MatToImage(frame_, out);
    } catch (const cv::Exception&) {
      return false;
    }
  }

 private:
  std::unique_ptr<cv::VideoCapture> capture_;
  cv::Mat frame_;
};

Result<std::unique_ptr<Capture>> OpenCvCapture(const std::string& uri) {
  auto capture = std::make_unique<cv::VideoCapture>();
  try {
    if (AllDigits(uri)) {
      capture->open(std::stoi(uri));
    } else if (IsUrl(uri)) {
      capture->open(uri, cv::CAP_FFMPEG,
                    {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, kStreamTimeoutMs,
                     cv::CAP_PROP_READ_TIMEOUT_MSEC, kStreamTimeoutMs});
    } else if (!capture->open(uri, cv::CAP_FFMPEG)) {
      // OpenCV's own MJPEG reader as a fallback; CAP_ANY would also try GStreamer and image
      // sequence patterns, with noisy failures and surprising matches.
      capture->open(uri, cv::CAP_OPENCV_MJPEG);
    }
  } catch (const cv::Exception& e) {
    return Status::Unavailable(std::string("OpenCV: ") + e.what());
  }
  if (!capture->isOpened()) return Status::Unavailable("cv::VideoCapture could not open it");
  return std::unique_ptr<Capture>(std::make_unique<CvCapture>(std::move(capture)));
}

// Waits so that successive calls to Wait() are at least 1000/fps ms apart on average.
class Pacer {
 public:
  Pacer(Clock* clock, double fps) : clock_(clock), period_ms_(fps > 0 ? 1000.0 / fps : 0) {}
  void Wait() {
    if (period_ms_ <= 0) return;
    const double now = static_cast<double>(clock_->SteadyMs());
    if (!started_) next_ms_ = now, started_ = true;
    if (now < next_ms_) clock_->SleepMs(static_cast<int64_t>(std::ceil(next_ms_ - now)));
    next_ms_ = std::max(next_ms_, now) + period_ms_;  // no catching up after a stall
  }

 private:
  Clock* clock_;
  double period_ms_;
  double next_ms_ = 0;
  bool started_ = false;
};

// What every source shares: options, name, clock, and the final resize.
class SourceBase : public FrameSource {
 public:
  SourceBase(SourceOptions options, Clock* clock, std::string description)
      : options_(std::move(options)), clock_(clock), description_(std::move(description)) {}
  const std::string& name() const override { return options_.name; }
  std::string Describe() const override { return description_; }

 protected:
  // Sets id and time and resizes the image if the options ask for it.
  Result<std::optional<Frame>> Finish(Frame frame, const std::string& id_suffix) {
    frame.id = options_.name + "#" + id_suffix;
    frame.captured_unix_ms = clock_->UnixMs();
    if (options_.width > 0 && frame.unreadable.empty()) {
      auto resized = vision::ResizeImage(frame.image, options_.width, options_.height);
      if (!resized.ok()) return resized.status().WithContext(description_);
      frame.image = std::move(*resized);
    }
    return std::optional<Frame>(std::move(frame));
  }

  SourceOptions options_;
  Clock* clock_;
  std::string description_;
};

// A video file, paced to options.fps, optionally looping.
class VideoFileSource : public SourceBase {
 public:
  VideoFileSource(SourceOptions options, Clock* clock, CaptureOpener opener,
                  std::unique_ptr<Capture> capture)
      : SourceBase(options, clock, "video file '" + options.uri + "' as '" + options.name + "'"),
        opener_(std::move(opener)),
        capture_(std::move(capture)),
        pacer_(clock, options.fps) {}

  Result<std::optional<Frame>> Next() override {
    Frame frame;
    if (!capture_->Read(&frame.image)) {
      // At the end: a looping source starts over, unless the file gave nothing this pass.
      if (!options_.loop || index_ == 0) return std::optional<Frame>();
      auto reopened = opener_(options_.uri);
      if (!reopened.ok()) return reopened.status().WithContext("reopening " + description_);
      capture_ = std::move(*reopened);
      index_ = 0;
      if (!capture_->Read(&frame.image)) return std::optional<Frame>();
    }
    pacer_.Wait();  // after the read: the end of the file is reported without waiting
    frame.index = index_++;
    const std::string suffix = std::to_string(frame.index);
    return Finish(std::move(frame), suffix);
  }

 private:
  CaptureOpener opener_;
  std::unique_ptr<Capture> capture_;
  Pacer pacer_;
  uint64_t index_ = 0;
};

bool IsImageFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

Result<std::vector<std::string>> ListImages(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && IsImageFile(it->path())) {
      names.push_back(it->path().filename().string());
    }
  }
  if (ec) return Status::IOError("cannot list image folder '" + dir + "': " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// A folder of image files in name order, paced to options.fps, optionally looping (the folder
// is listed again at each pass).
class ImageFolderSource : public SourceBase {
 public:
  ImageFolderSource(SourceOptions options, Clock* clock, std::vector<std::string> files)
      : SourceBase(options, clock, "image folder '" + options.uri + "' as '" + options.name + "'"),
        files_(std::move(files)),
        pacer_(clock, options.fps) {}

  Result<std::optional<Frame>> Next() override {
    if (next_ == files_.size()) {
      if (!options_.loop || files_.empty()) return std::optional<Frame>();
      FEDGE_ASSIGN_OR_RETURN(files_, ListImages(options_.uri));
      next_ = 0;
      if (files_.empty()) return std::optional<Frame>();
    }
    pacer_.Wait();
    Frame frame;
    frame.index = next_;
    const std::string& file = files_[next_++];
    auto image = vision::ReadImageFile((fs::path(options_.uri) / file).string());
    if (image.ok()) {
      frame.image = std::move(*image);
    } else {
      frame.unreadable = image.status().ToString();
    }
    return Finish(std::move(frame), file);
  }

 private:
  std::vector<std::string> files_;
  Pacer pacer_;
  size_t next_ = 0;
};

// A camera or network stream: frames dropped to options.fps, reconnects with backoff.
class LiveSource : public SourceBase {
 public:
  LiveSource(SourceOptions options, Clock* clock, std::string description, SourceEnv env,
             std::unique_ptr<Capture> capture)
      : SourceBase(std::move(options), clock, std::move(description)),
        opener_(env.open_capture),
        jitter_(std::clamp(env.backoff_jitter, 0.0, 1.0)),
        rng_(env.jitter_seed != 0 ? env.jitter_seed : std::random_device{}()),
        capture_(std::move(capture)) {}

  Result<std::optional<Frame>> Next() override {
    const double period_ms = options_.fps > 0 ? 1000.0 / options_.fps : 0;
    while (true) {
      Frame frame;
      if (capture_ == nullptr || !capture_->Read(&frame.image)) {
        FEDGE_RETURN_IF_ERROR(Reconnect());
        continue;
      }
      failed_attempts_ = 0;
      const double now = static_cast<double>(clock_->SteadyMs());
      if (period_ms > 0) {
        if (delivered_ > 0 && now < next_due_ms_) continue;  // dropped: too soon
        // Keep the average rate, but do not burst to catch up after a stall.
        const bool behind = delivered_ == 0 || now - next_due_ms_ > period_ms;
        next_due_ms_ = behind ? now + period_ms : next_due_ms_ + period_ms;
      }
      frame.index = delivered_++;
      const std::string suffix =
          std::to_string(clock_->UnixMs()) + "-" + std::to_string(frame.index);
      return Finish(std::move(frame), suffix);
    }
  }

 private:
  // Drops the capture and reopens it, sleeping initial * 2^k ms (capped, with jitter) before
  // attempt k + 1. Unavailable after max_reconnects consecutive attempts without a frame.
  Status Reconnect() {
    capture_.reset();
    while (true) {
      if (options_.max_reconnects >= 0 && failed_attempts_ >= options_.max_reconnects) {
        return Status::Unavailable(description_ + ": no frames after " +
                                   std::to_string(failed_attempts_) +
                                   " reconnect attempts; check that the device/stream is up");
      }
      const double base = std::min<double>(
          options_.reconnect_max_ms,
          options_.reconnect_initial_ms * std::ldexp(1.0, std::min(failed_attempts_, 30)));
      const double factor =
          1.0 - jitter_ * static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // in (1-j, 1]
      clock_->SleepMs(static_cast<int64_t>(std::lround(base * factor)));
      ++failed_attempts_;
      auto reopened = opener_(options_.uri);
      if (reopened.ok()) {
        capture_ = std::move(*reopened);
        return Status::Ok();
      }
    }
  }

  CaptureOpener opener_;
  double jitter_;
  std::mt19937_64 rng_;
  std::unique_ptr<Capture> capture_;
  int failed_attempts_ = 0;
  uint64_t delivered_ = 0;
  double next_due_ms_ = 0;
};

Status ValidateOptions(const SourceOptions& o) {
  if (o.uri.empty()) return Status::InvalidArgument("frame source: empty uri");
  if (!(o.fps >= 0) || !std::isfinite(o.fps)) {
    return Status::InvalidArgument("frame source '" + Redact(o.uri) + "': fps must be >= 0");
  }
  if (o.width < 0 || o.height < 0 || (o.width > 0) != (o.height > 0) ||
      o.width > vision::kMaxImageSide || o.height > vision::kMaxImageSide) {
    return Status::InvalidArgument("frame source '" + Redact(o.uri) +
                                   "': width and height must both be 0 (native) or both be "
                                   "positive (at most " +
                                   std::to_string(vision::kMaxImageSide) + ")");
  }
  if (o.reconnect_initial_ms <= 0 || o.reconnect_max_ms < o.reconnect_initial_ms) {
    return Status::InvalidArgument("frame source '" + Redact(o.uri) +
                                   "': need 0 < reconnect_initial_ms <= reconnect_max_ms");
  }
  return Status::Ok();
}

Result<std::unique_ptr<FrameSource>> OpenFolder(SourceOptions options, Clock* clock) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> files, ListImages(options.uri));
  return std::unique_ptr<FrameSource>(
      std::make_unique<ImageFolderSource>(std::move(options), clock, std::move(files)));
}

Result<std::unique_ptr<FrameSource>> OpenVideoFile(SourceOptions options, Clock* clock,
                                                   const CaptureOpener& opener) {
  std::error_code ec;
  if (!fs::exists(options.uri, ec)) {
    return Status::NotFound("video file or image folder '" + options.uri +
                            "' does not exist: check the path (camera sources are device "
                            "numbers, streams start with rtsp://, http:// or https://)");
  }
  auto capture = opener(options.uri);
  if (!capture.ok()) {
    return Status::Corruption("cannot read '" + options.uri + "' as a video (" +
                              capture.status().message() +
                              "): check it is a video format OpenCV/FFmpeg can decode");
  }
  return std::unique_ptr<FrameSource>(
      std::make_unique<VideoFileSource>(std::move(options), clock, opener, std::move(*capture)));
}

Result<std::unique_ptr<FrameSource>> OpenLive(SourceOptions options, Clock* clock,
                                              const SourceEnv& env, Kind kind) {
  const std::string what =
      kind == Kind::kCamera ? "camera " + options.uri : "stream '" + Redact(options.uri) + "'";
  auto capture = env.open_capture(options.uri);
  if (!capture.ok()) {
    const std::string hint =
        kind == Kind::kCamera
            ? "check that /dev/video" + options.uri +
                  " exists, is not used by another program and is readable by this user"
            : "check the URL, the credentials and that the stream is reachable from this host";
    return Status::Unavailable("cannot open " + what + " (" + capture.status().message() +
                               "): " + hint);
  }
  std::string description = what + " as '" + options.name + "'";
  return std::unique_ptr<FrameSource>(std::make_unique<LiveSource>(
      std::move(options), clock, std::move(description), env, std::move(*capture)));
}

}  // namespace

Clock* RealClock() {
  static SystemClock clock;
  return &clock;
}

Result<std::unique_ptr<FrameSource>> OpenFrameSource(const SourceOptions& options,
                                                     const SourceEnv& env) {
  FEDGE_RETURN_IF_ERROR(ValidateOptions(options));
  SourceEnv resolved = env;
  if (resolved.clock == nullptr) resolved.clock = RealClock();
  if (!resolved.open_capture) resolved.open_capture = OpenCvCapture;
  const Kind kind = Classify(options.uri);
  SourceOptions named = options;
  if (named.name.empty()) named.name = DefaultName(options.uri, kind);
  if (named.name.empty()) named.name = "source";
  switch (kind) {
    case Kind::kFolder:
      return OpenFolder(std::move(named), resolved.clock);
    case Kind::kFile:
      return OpenVideoFile(std::move(named), resolved.clock, resolved.open_capture);
    case Kind::kCamera:
    case Kind::kStream:
      return OpenLive(std::move(named), resolved.clock, resolved, kind);
  }
  return Status::Internal("unknown source kind");
}

}  // namespace fedge::client
