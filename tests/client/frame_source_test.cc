#include "client/frame_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "shared/vision/image_codec.h"
#include "shared/vision/render.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

class FakeClock : public Clock {
 public:
  int64_t SteadyMs() override { return now_ms; }
  int64_t UnixMs() override { return 1'700'000'000'000 + now_ms; }
  void SleepMs(int64_t ms) override {
    sleeps.push_back(ms);
    now_ms += ms;
  }
  int64_t now_ms = 0;
  std::vector<int64_t> sleeps;
};

// Yields `frames` small frames (-1: endless), each read taking read_ms of fake time, then fails.
class FakeCapture : public Capture {
 public:
  FakeCapture(FakeClock* clock, int frames, int read_ms)
      : clock_(clock), left_(frames), read_ms_(read_ms) {}
  bool Read(vision::Image* out) override {
    if (left_ == 0) return false;
    if (left_ > 0) --left_;
    clock_->now_ms += read_ms_;
    *out = vision::Image{8, 6, 3, std::vector<uint8_t>(8 * 6 * 3, 77)};
    return true;
  }

 private:
  FakeClock* clock_;
  int left_;
  int read_ms_;
};

constexpr int kOpenFails = -2;
constexpr int kEndless = -1;

// A camera whose successive opens follow `plan`: kOpenFails, or the number of frames the
// capture yields before its stream drops (kEndless: never).
struct FakeCamera {
  explicit FakeCamera(std::vector<int> plan_in, int read_ms_in = 0)
      : plan(std::move(plan_in)), read_ms(read_ms_in) {}
  FakeClock clock;
  std::vector<int> plan;
  int read_ms = 0;
  size_t opens = 0;

  SourceEnv Env() {
    SourceEnv env;
    env.clock = &clock;
    env.backoff_jitter = 0;
    env.open_capture = [this](const std::string& uri) -> shared::Result<std::unique_ptr<Capture>> {
      const int step = opens < plan.size() ? plan[opens] : kOpenFails;
      ++opens;
      if (step == kOpenFails) return shared::Status::Unavailable("fake camera is down");
      return std::unique_ptr<Capture>(std::make_unique<FakeCapture>(&clock, step, read_ms));
    };
    return env;
  }
};

SourceOptions Options(const std::string& uri) {
  SourceOptions options;
  options.uri = uri;
  return options;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Writes <dir>/<stem>.avi with n rendered frames and <dir>/<stem>.csv; returns the video path.
std::string WriteVideo(const std::string& dir, const std::string& stem, int n) {
  std::vector<uint8_t> items;
  std::vector<int64_t> labels;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> item(784, 0);
    for (int p = 200; p < 600; ++p) item[p] = static_cast<uint8_t>(100 + i * 10);
    items.insert(items.end(), item.begin(), item.end());
    labels.push_back(i % 10);
  }
  const std::string video = dir + "/" + stem + ".avi";
  shared::Status s = vision::WriteSiteVideo(video, dir + "/" + stem + ".csv", items, labels,
                                            vision::SiteConditionsForIndex(1, 3));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return video;
}

std::vector<Frame> ReadAll(FrameSource& source, size_t limit = 1000) {
  std::vector<Frame> frames;
  while (frames.size() < limit) {
    auto next = source.Next();
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok() || !next->has_value()) break;
    frames.push_back(std::move(**next));
  }
  return frames;
}

TEST(FrameSourceTest, VideoFileYieldsEveryFrameWithIdsMatchingTheLabelsFile) {
  TempDir dir("fs-video");
  const std::string video = WriteVideo(dir.path(), "site1", 7);
  auto source = OpenFrameSource(Options(video));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ((*source)->name(), "site1");
  EXPECT_NE((*source)->Describe().find(video), std::string::npos);
  const std::vector<Frame> frames = ReadAll(**source);
  const std::vector<std::string> labels = ReadLines(dir.path() + "/site1.csv");
  ASSERT_EQ(frames.size(), 7u);
  ASSERT_EQ(labels.size(), 8u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].id, "site1#" + std::to_string(i));
    EXPECT_EQ(labels[i + 1].substr(0, labels[i + 1].find(',')), frames[i].id);
    EXPECT_EQ(frames[i].index, i);
    EXPECT_TRUE(frames[i].unreadable.empty());
    EXPECT_EQ(frames[i].image.width, 96);
    EXPECT_EQ(frames[i].image.height, 96);
    EXPECT_EQ(frames[i].image.channels, 3);
    EXPECT_GT(frames[i].captured_unix_ms, 1'600'000'000'000);
  }
  auto after_end = (*source)->Next();
  ASSERT_TRUE(after_end.ok());
  EXPECT_FALSE(after_end->has_value());
}

TEST(FrameSourceTest, VideoFileResizesNamesAndLoops) {
  TempDir dir("fs-loop");
  const std::string video = WriteVideo(dir.path(), "clip", 3);
  SourceOptions options = Options(video);
  options.name = "door";
  options.width = 48;
  options.height = 32;
  options.loop = true;
  auto source = OpenFrameSource(options);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  const std::vector<Frame> frames = ReadAll(**source, 7);
  ASSERT_EQ(frames.size(), 7u);
  const char* expected[] = {"door#0", "door#1", "door#2", "door#0", "door#1", "door#2", "door#0"};
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].id, expected[i]);
    EXPECT_EQ(frames[i].image.width, 48);
    EXPECT_EQ(frames[i].image.height, 32);
    EXPECT_TRUE(frames[i].image.Valid());
  }
}

TEST(FrameSourceTest, VideoFileIsPacedToFpsOnTheInjectedClock) {
  TempDir dir("fs-pace");
  const std::string video = WriteVideo(dir.path(), "paced", 5);
  FakeClock clock;
  clock.now_ms = 1000;
  SourceOptions options = Options(video);
  options.fps = 10;
  SourceEnv env;
  env.clock = &clock;
  auto source = OpenFrameSource(options, env);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  const std::vector<Frame> frames = ReadAll(**source);
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(clock.sleeps, (std::vector<int64_t>{100, 100, 100, 100}));
  EXPECT_EQ(frames[4].captured_unix_ms - frames[0].captured_unix_ms, 400);
}

TEST(FrameSourceTest, ImageFolderReportsTheCorruptFileAndReadsTheOthers) {
  TempDir dir("fs-folder");
  const std::string folder = dir.path() + "/dock_cam";
  std::filesystem::create_directories(folder);
  const vision::Image img{5, 4, 3, std::vector<uint8_t>(60, 90)};
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream(folder + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  };
  write("b.png", *vision::EncodeImage(img, vision::ImageFormat::kPng));
  write("a.JPG", *vision::EncodeImage(img, vision::ImageFormat::kJpeg));
  write("c.png", {0x89, 'P', 'N', 'G', 1, 2, 3});
  write("notes.txt", {'h', 'i'});
  auto source = OpenFrameSource(Options(folder + "/"));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ((*source)->name(), "dock_cam");
  const std::vector<Frame> frames = ReadAll(**source);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].id, "dock_cam#a.JPG");
  EXPECT_EQ(frames[1].id, "dock_cam#b.png");
  EXPECT_EQ(frames[2].id, "dock_cam#c.png");
  for (int i : {0, 1}) {
    EXPECT_TRUE(frames[i].unreadable.empty()) << frames[i].unreadable;
    EXPECT_EQ(frames[i].image.width, 5);
    EXPECT_EQ(frames[i].image.height, 4);
  }
  EXPECT_EQ(frames[1].image.pixels, img.pixels);
  EXPECT_NE(frames[2].unreadable.find("c.png"), std::string::npos) << frames[2].unreadable;
  EXPECT_NE(frames[2].unreadable.find("Corruption"), std::string::npos);
  EXPECT_FALSE(frames[2].image.Valid());
  EXPECT_EQ(frames[2].index, 2u);

  auto dotted = OpenFrameSource(Options(folder + "/../dock_cam/."));
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ((*dotted)->name(), "dock_cam");
}

TEST(FrameSourceTest, MissingOrUnreadableFilesAndBadOptionsAreClearErrors) {
  TempDir dir("fs-missing");
  const std::string missing = dir.path() + "/nope.avi";
  auto r = OpenFrameSource(Options(missing));
  EXPECT_EQ(r.status().code(), shared::Code::kNotFound);
  EXPECT_NE(r.status().message().find(missing), std::string::npos);
  EXPECT_NE(r.status().message().find("check the path"), std::string::npos);

  std::ofstream(dir.path() + "/junk.avi") << "this is not a video";
  r = OpenFrameSource(Options(dir.path() + "/junk.avi"));
  EXPECT_EQ(r.status().code(), shared::Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("junk.avi"), std::string::npos);

  EXPECT_EQ(OpenFrameSource(Options("")).status().code(), shared::Code::kInvalidArgument);
  SourceOptions bad = Options(missing);
  bad.fps = -1;
  EXPECT_EQ(OpenFrameSource(bad).status().code(), shared::Code::kInvalidArgument);
  bad = Options(missing);
  bad.width = 10;  // height left native
  EXPECT_EQ(OpenFrameSource(bad).status().code(), shared::Code::kInvalidArgument);
  bad = Options(missing);
  bad.reconnect_initial_ms = 0;
  EXPECT_EQ(OpenFrameSource(bad).status().code(), shared::Code::kInvalidArgument);
}

TEST(FrameSourceTest, CameraThatCannotOpenIsUnavailableWithAHint) {
  FakeCamera camera({kOpenFails});
  auto r = OpenFrameSource(Options("7"), camera.Env());
  EXPECT_EQ(r.status().code(), shared::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("camera 7"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("/dev/video7"), std::string::npos);
  EXPECT_TRUE(camera.clock.sleeps.empty());
}

TEST(FrameSourceTest, LiveSourceReconnectsWithExponentialBackoffAfterDrops) {
  // Opens: 3 frames, drop; fail; 2 frames, drop; fail; fail; endless.
  FakeCamera camera({3, kOpenFails, 2, kOpenFails, kOpenFails, kEndless});
  auto source = OpenFrameSource(Options("0"), camera.Env());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ((*source)->name(), "camera0");
  const std::vector<Frame> frames = ReadAll(**source, 8);
  ASSERT_EQ(frames.size(), 8u);
  // The attempt count restarts after frames flow again.
  EXPECT_EQ(camera.clock.sleeps, (std::vector<int64_t>{500, 1000, 500, 1000, 2000}));
  EXPECT_EQ(camera.opens, 6u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].index, i);
    EXPECT_EQ(frames[i].id,
              "camera0#" + std::to_string(frames[i].captured_unix_ms) + "-" + std::to_string(i));
  }
  EXPECT_EQ(frames[3].captured_unix_ms - frames[2].captured_unix_ms, 1500);
}

TEST(FrameSourceTest, LiveSourceGivesUpAfterMaxReconnectsWithCappedDelays) {
  FakeCamera camera({2});
  SourceOptions options = Options("1");
  options.reconnect_initial_ms = 500;
  options.reconnect_max_ms = 1500;
  options.max_reconnects = 4;
  auto source = OpenFrameSource(options, camera.Env());
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(ReadAll(**source, 2).size(), 2u);
  auto r = (*source)->Next();
  EXPECT_EQ(r.status().code(), shared::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("camera 1"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("4 reconnect attempts"), std::string::npos);
  EXPECT_EQ(camera.clock.sleeps, (std::vector<int64_t>{500, 1000, 1500, 1500}));
  EXPECT_EQ(camera.opens, 5u);
}

TEST(FrameSourceTest, BackoffJitterStaysWithinItsBand) {
  FakeCamera camera({1});
  SourceEnv env = camera.Env();
  env.backoff_jitter = 0.2;
  env.jitter_seed = 7;
  SourceOptions options = Options("0");
  options.reconnect_initial_ms = 1000;
  options.reconnect_max_ms = 1000;
  options.max_reconnects = 20;
  auto source = OpenFrameSource(options, env);
  ASSERT_TRUE(source.ok());
  ASSERT_EQ(ReadAll(**source, 1).size(), 1u);
  EXPECT_FALSE((*source)->Next().ok());
  ASSERT_EQ(camera.clock.sleeps.size(), 20u);
  std::set<int64_t> distinct(camera.clock.sleeps.begin(), camera.clock.sleeps.end());
  EXPECT_GT(distinct.size(), 5u);
  for (int64_t ms : camera.clock.sleeps) {
    EXPECT_GE(ms, 800);
    EXPECT_LE(ms, 1000);
  }
}

TEST(FrameSourceTest, LiveSourceDropsFramesDownToTheRequestedRate) {
  FakeCamera camera({kEndless}, /*read_ms=*/40);  // a 25 fps camera
  SourceOptions options = Options("0");
  options.fps = 10;
  auto source = OpenFrameSource(options, camera.Env());
  ASSERT_TRUE(source.ok());
  const std::vector<Frame> frames = ReadAll(**source, 31);
  ASSERT_EQ(frames.size(), 31u);
  const int64_t span_ms = frames.back().captured_unix_ms - frames.front().captured_unix_ms;
  EXPECT_GE(span_ms, 2960);  // 30 periods of 100 ms, within one camera frame
  EXPECT_LE(span_ms, 3040);
  EXPECT_TRUE(camera.clock.sleeps.empty());  // live sources drop, they never sleep
}

TEST(FrameSourceTest, StreamIsNamedByHostAndCredentialsStayOutOfMessages) {
  FakeCamera camera({kEndless});
  const std::string url = "rtsp://admin:s3cret@gate.example.com:554/live";
  auto source = OpenFrameSource(Options(url), camera.Env());
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->name(), "gate.example.com");
  EXPECT_EQ((*source)->Describe().find("s3cret"), std::string::npos) << (*source)->Describe();
  FakeCamera down({kOpenFails});
  auto r = OpenFrameSource(Options(url), down.Env());
  EXPECT_EQ(r.status().code(), shared::Code::kUnavailable);
  EXPECT_EQ(r.status().message().find("s3cret"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("gate.example.com"), std::string::npos);
}

// Issue 16 item 10: a password holding '/' and credentials in the query string were logged.
TEST(FrameSourceTest, CredentialsWithSlashesOrInTheQueryStayOutOfMessages) {
  FakeCamera down({kOpenFails});
  for (const std::string url : {"rtsp://admin:pa/ss@gate.example.com:554/live",
                                "http://gate.example.com/video.mjpg?user=cam&password=s3cret&fps=5",
                                "rtsp://gate.example.com/live?token=s3cret#frag"}) {
    auto r = OpenFrameSource(Options(url), down.Env());
    ASSERT_FALSE(r.ok());
    const std::string m = r.status().message();
    EXPECT_EQ(m.find("pa/ss"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
    EXPECT_NE(m.find("gate.example.com"), std::string::npos) << m;
  }
  auto r = OpenFrameSource(
      Options("http://gate.example.com/video.mjpg?user=cam&password=s3cret&fps=5"), down.Env());
  EXPECT_NE(r.status().message().find("password=***&fps=5"), std::string::npos)
      << r.status().message();
}

TEST(FrameSourceTest, OpensCvSampleVideo) {
  const std::string path = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not installed";
  auto source = OpenFrameSource(Options(path));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ((*source)->name(), "vtest");
  const std::vector<Frame> frames = ReadAll(**source, 10);
  ASSERT_EQ(frames.size(), 10u);
  EXPECT_EQ(frames[9].id, "vtest#9");
  EXPECT_EQ(frames[0].image.width, 768);
  EXPECT_EQ(frames[0].image.height, 576);
  EXPECT_EQ(frames[0].image.channels, 3);
}

}  // namespace
}  // namespace fedge::client
