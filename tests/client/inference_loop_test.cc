// The one inference loop (client/inference.h) with a fake frame source and a fake classifier:
// the prediction line format, frames skipped before a model, unreadable frames, max_frames,
// stop, and errors. No model, no LibTorch.
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "client/inference.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;
using shared::Result;
using shared::Status;

// Frames "cam#0".."cam#n-1"; the ids listed in `unreadable` come as undecodable files.
class FakeSource : public FrameSource {
 public:
  FakeSource(int n, std::set<int> unreadable = {}) : n_(n), unreadable_(std::move(unreadable)) {}
  Result<std::optional<Frame>> Next() override {
    if (next_ >= n_) return std::optional<Frame>();
    Frame f;
    f.index = static_cast<uint64_t>(next_);
    f.id = "cam#" + std::to_string(next_);
    f.captured_unix_ms = 1000 + next_;
    if (unreadable_.count(next_)) {
      f.unreadable = "bad png";
    } else {
      f.image = vision::Image{4, 4, 3, std::vector<uint8_t>(48, static_cast<uint8_t>(next_))};
    }
    ++next_;
    return std::optional<Frame>(std::move(f));
  }
  const std::string& name() const override { return name_; }
  std::string Describe() const override { return "fake"; }
  int read() const { return next_; }

 private:
  int n_, next_ = 0;
  std::set<int> unreadable_;
  std::string name_ = "cam";
};

// Answers from a script, one entry per classified frame; Unavailable while `no_model` frames
// remain; sets *stop after `stop_after` answers when given.
class FakeClassifier : public FrameClassifier {
 public:
  Result<Classification> Classify(const Frame& frame) override {
    ++calls;
    if (no_model > 0) {
      --no_model;
      return Status::Unavailable("no model installed yet");
    }
    if (fail_on == frame.id) return Status::Internal("model broke");
    if (stop != nullptr && ++answered == stop_after) *stop = true;
    Classification c;
    c.label = static_cast<int>(frame.index % 3);
    c.confidence = 0.5f;
    c.entropy = 0.25f;
    c.model_version = 7;
    c.preprocess_ms = 1.5;
    c.inference_ms = 2.5;
    c.stored = frame.index % 2 == 0;
    if (frame.index == 4) c.drift = DriftNote{2, 0.75, "brightness", true};
    return c;
  }
  int no_model = 0, calls = 0, answered = 0, stop_after = 0;
  std::string fail_on;
  std::atomic<bool>* stop = nullptr;
};

std::vector<nlohmann::json> Lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(InferenceLoopTest, SkipsFramesBeforeAModelAndWritesOneDocumentedLinePerFrame) {
  FakeSource source(6);
  FakeClassifier classifier;
  classifier.no_model = 2;
  std::ostringstream sink;
  Result<InferenceSummary> s = RunInference(source, classifier, &sink, {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->frames, 4u);
  EXPECT_EQ(s->skipped, 2u);
  EXPECT_EQ(s->stored, 2u);                                         // cam#2 and cam#4
  EXPECT_EQ(s->class_histogram, (std::vector<uint64_t>{1, 1, 2}));  // labels 2, 0, 1, 2
  EXPECT_DOUBLE_EQ(s->inference.max, 2.5);
  EXPECT_DOUBLE_EQ(s->preprocess.p50, 1.5);
  std::vector<nlohmann::json> lines = Lines(sink.str());
  ASSERT_EQ(lines.size(), 4u);
  const nlohmann::json& first = lines[0];
  EXPECT_EQ(first["frame_id"], "cam#2");
  EXPECT_EQ(first["captured_unix_ms"], 1002);
  EXPECT_EQ(first["model_version"], 7);
  EXPECT_EQ(first["class"], 2);
  EXPECT_EQ(first["confidence"], 0.5);
  EXPECT_EQ(first["entropy"], 0.25);
  EXPECT_EQ(first["latency_ms"]["preprocess"], 1.5);
  EXPECT_EQ(first["latency_ms"]["inference"], 2.5);
  EXPECT_GE(first["latency_ms"]["capture"].get<double>(), 0);
  EXPECT_GE(first["latency_ms"]["total"].get<double>(), 0);
  EXPECT_EQ(first.size(), 7u) << first.dump();  // no "drift" without a finished window
  const nlohmann::json& drifted = lines[2];
  EXPECT_EQ(drifted["frame_id"], "cam#4");
  EXPECT_EQ(drifted["drift"],
            (nlohmann::json{
                {"window", 2}, {"score", 0.75}, {"feature", "brightness"}, {"drifted", true}}));
}

TEST(InferenceLoopTest, UnreadableFramesAreQuarantinedAndMaxFramesCountsClassifiedOnes) {
  TempDir dir("inference-loop");
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  FakeSource source(10, {1, 2});
  FakeClassifier classifier;
  InferenceOptions options;
  options.max_frames = 3;
  options.quarantine = store->get();
  options.num_classes = 5;
  std::ostringstream sink;
  Result<InferenceSummary> s = RunInference(source, classifier, &sink, options);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->frames, 3u);
  EXPECT_EQ(s->unreadable, 2u);
  EXPECT_EQ(source.read(), 5);  // cam#0, the two unreadable, cam#3, cam#4: then stopped
  EXPECT_EQ(s->class_histogram.size(), 5u);
  auto quarantined = (*store)->Quarantined();
  ASSERT_TRUE(quarantined.ok());
  ASSERT_EQ(quarantined->size(), 2u);
  EXPECT_EQ((*quarantined)[0].reason, "unreadable: bad png");
  EXPECT_EQ(sink.str().find("cam#1"), std::string::npos);
}

TEST(InferenceLoopTest, StopEndsTheRunAfterTheCurrentFrame) {
  FakeSource source(10);
  FakeClassifier classifier;
  std::atomic<bool> stop{false};
  classifier.stop = &stop;
  classifier.stop_after = 2;
  Result<InferenceSummary> s = RunInference(source, classifier, nullptr, {}, &stop);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->frames, 2u);
  EXPECT_EQ(source.read(), 2);
}

TEST(InferenceLoopTest, ClassifierAndSinkErrorsEndTheRun) {
  FakeSource source(10);
  FakeClassifier classifier;
  classifier.fail_on = "cam#3";
  std::ostringstream sink;
  Result<InferenceSummary> s = RunInference(source, classifier, &sink, {});
  EXPECT_EQ(s.status().code(), shared::Code::kInternal);
  EXPECT_EQ(Lines(sink.str()).size(), 3u);

  FakeSource more(10);
  FakeClassifier fine;
  std::ostringstream broken;
  broken.setstate(std::ios::badbit);
  s = RunInference(more, fine, &broken, {});
  EXPECT_EQ(s.status().code(), shared::Code::kIOError);
  EXPECT_EQ(fine.calls, 1);
}

}  // namespace
}  // namespace fedge::client
