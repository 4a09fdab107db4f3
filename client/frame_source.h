#pragma once
// FrameSource: one interface for every camera input (USB/CSI camera, RTSP/HTTP stream, video
// file, folder of images). OpenCV stays in frame_source.cc; the capture device, the clock and
// sleeping are injectable through SourceEnv so tests can simulate cameras and time.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "shared/base/status.h"
#include "shared/vision/image.h"

namespace fedge::client {

struct Frame {
  // Stable identifier: "<name>#<index>" for video files, "<name>#<file name>" for image folders,
  // "<name>#<captured_unix_ms>-<index>" for live sources (unique across restarts).
  std::string id;
  // Position in the current pass over a file or folder (restarts at 0 when it loops); for live
  // sources, the number of frames delivered before this one since the source was opened.
  uint64_t index = 0;
  int64_t captured_unix_ms = 0;
  vision::Image image;  // BGR or grey; empty when `unreadable` is set
  // Non-empty: the frame could not be decoded (image folder), with the reason.
  std::string unreadable;
};

struct SourceOptions {
  // All digits: camera device index; rtsp://, http://, https://: network stream; an existing
  // directory: image folder; anything else: video file.
  std::string uri;
  // Default: file stem, folder name, "camera<N>", or the URL's host.
  std::string name;
  // 0: native rate / as fast as possible. > 0: live sources drop frames to this rate, files and
  // folders are paced to it.
  double fps = 0;
  int width = 0;  // 0 (both): native size; else frames are resized to width x height
  int height = 0;
  int reconnect_initial_ms = 500;  // live sources: first reconnect delay, doubled each attempt
  int reconnect_max_ms = 30000;    // ... up to this
  int max_reconnects = -1;         // consecutive failed attempts before Unavailable; -1 unlimited
  bool loop = false;               // restart files and folders at the end
};

// Thread-compatible: one thread at a time calls Next().
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame; nullopt at the end of a finite source (file, folder without loop). A video
  // file frame that cannot be decoded ends the file (OpenCV cannot tell damage from the end).
  // Unavailable when a live source could not be reconnected within max_reconnects.
  virtual shared::Result<std::optional<Frame>> Next() = 0;
  virtual const std::string& name() const = 0;
  // One line for logs, e.g. "video file 'a/b.avi' as 'b'".
  virtual std::string Describe() const = 0;
};

// The raw capture behind camera, stream and video file sources.
class Capture {
 public:
  virtual ~Capture() = default;
  // Reads the next frame into *out (8-bit, 1 or 3 channels); false if none could be read (end
  // of file, device or stream failure).
  virtual bool Read(vision::Image* out) = 0;
};

// Opens a capture for a camera index, stream URL or video file path. The real one uses
// cv::VideoCapture (FFmpeg for URLs, with 10 s open/read timeouts).
using CaptureOpener =
    std::function<shared::Result<std::unique_ptr<Capture>>(const std::string& uri)>;

// Time as the sources see it. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t SteadyMs() = 0;  // monotonic, for pacing
  virtual int64_t UnixMs() = 0;    // wall clock, for Frame::captured_unix_ms
  virtual void SleepMs(int64_t ms) = 0;
};

// The process-wide real clock (steady_clock, system_clock, this_thread::sleep_for).
Clock* RealClock();

// Injection points; the defaults are the real ones.
struct SourceEnv {
  Clock* clock = nullptr;       // nullptr: RealClock(). Not owned; must outlive the source.
  CaptureOpener open_capture;   // empty: cv::VideoCapture
  double backoff_jitter = 0.2;  // reconnect delays are scaled by a random factor in [1-j, 1]
  uint64_t jitter_seed = 0;     // 0: seeded from std::random_device
};

// Opens the source described by options.uri (see SourceOptions). Errors name the URI and what
// to check: NotFound for a missing video file, Unavailable for a camera or stream that cannot
// be opened, Corruption for a file OpenCV cannot read as video, InvalidArgument for bad
// options (negative fps or sizes, only one of width/height, reconnect delays <= 0).
shared::Result<std::unique_ptr<FrameSource>> OpenFrameSource(const SourceOptions& options,
                                                             const SourceEnv& env = {});

}  // namespace fedge::client
