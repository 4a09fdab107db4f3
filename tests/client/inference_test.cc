// On-device inference: latency percentiles, the JSON-lines sink, frames kept in the sample
// store for review, and unreadable frames, on a rendered video and an image folder.
#include "client/inference.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "client/serving.h"
#include "shared/base/log.h"
#include "shared/ml/torch/model.h"
#include "shared/storage/fault_env.h"
#include "shared/vision/image_codec.h"
#include "shared/vision/render.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

// n 28x28 grey items: a bright bar whose position and width depend on the class, plus noise.
std::vector<uint8_t> Items(const std::vector<int64_t>& labels, uint64_t seed) {
  std::vector<uint8_t> items(labels.size() * 784, 0);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(0, 40);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int c = static_cast<int>(labels[i]);
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const bool on = x >= 2 + 2 * c && x < 6 + 2 * c && y >= 3 && y < 25;
        items[i * 784 + y * 28 + x] = static_cast<uint8_t>(on ? 215 + noise(rng) : noise(rng));
      }
    }
  }
  return items;
}

std::vector<int64_t> Labels(int n) {
  std::vector<int64_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = (i * 7 + 3) % 10;
  return labels;
}

// Writes a rendered site video of n frames; returns its path (labels next to it).
std::string WriteVideo(const std::string& dir, const std::string& stem, int n) {
  const std::string video = dir + "/" + stem + ".avi";
  std::vector<int64_t> labels = Labels(n);
  std::vector<uint8_t> items = Items(labels, 5);
  vision::SiteConditions site = vision::SiteConditionsForIndex(2, 9);
  shared::Status s = vision::WriteSiteVideo(video, dir + "/" + stem + ".csv", items, labels, site,
                                            10, /*frame_size=*/48);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return video;
}

std::unique_ptr<FrameSource> Open(const std::string& uri) {
  SourceOptions o;
  o.uri = uri;
  auto source = OpenFrameSource(o);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(*source) : nullptr;
}

// `fedge-client infer`'s use of the loop: a fixed model, frames kept in `store` (may be null).
shared::Result<InferenceSummary> Infer(FrameSource& source, const ml::Model& model,
                                       std::ostream& sink, SampleStore* store,
                                       InferenceOptions options) {
  KeepFailures not_kept;  // shared by loop and classifier, as RunInferCommand does
  options.quarantine = store;
  options.keep_failures = &not_kept;
  options.num_classes = static_cast<size_t>(model.num_classes());
  ModelClassifier::Options classify;
  classify.model_version = 3;
  classify.keep = store;
  classify.keep_failures = &not_kept;
  ModelClassifier classifier(model, classify);
  return RunInference(source, classifier, &sink, options);
}

ml::Model ColorModel() {
  auto m = ml::Model::Create("cnn_color", 1);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(*m);
}

TEST(LatencyStatsTest, NearestRankPercentilesOfOneToHundred) {
  std::vector<double> samples(100);
  std::iota(samples.begin(), samples.end(), 1.0);
  std::shuffle(samples.begin(), samples.end(), std::mt19937(4));  // order must not matter
  LatencyStats s = ComputeLatencyStats(samples);
  EXPECT_EQ(s.p50, 50);
  EXPECT_EQ(s.p95, 95);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
}

TEST(LatencyStatsTest, SmallSamplesUseTheNearestRankNotInterpolation) {
  // Ten samples: rank ceil(0.5*10) = 5, ceil(0.95*10) = 10, ceil(0.99*10) = 10.
  LatencyStats s = ComputeLatencyStats({10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
  EXPECT_EQ(s.p50, 5);
  EXPECT_EQ(s.p95, 10);
  EXPECT_EQ(s.p99, 10);
  LatencyStats one = ComputeLatencyStats({3.25});
  EXPECT_EQ(one.p50, 3.25);
  EXPECT_EQ(one.p95, 3.25);
  EXPECT_EQ(one.p99, 3.25);
  EXPECT_EQ(one.max, 3.25);
  EXPECT_EQ(one.mean, 3.25);
  LatencyStats none = ComputeLatencyStats({});
  EXPECT_EQ(none.p50, 0);
  EXPECT_EQ(none.p99, 0);
  EXPECT_EQ(none.max, 0);
  EXPECT_EQ(none.mean, 0);
}

TEST(RunInferenceTest, WritesOneLinePerVideoFrameAndKeepsFramesForReview) {
  TempDir dir("infer-video");
  const std::string video = WriteVideo(dir.path(), "gate", 20);
  auto source = Open(video);
  ASSERT_NE(source, nullptr);
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const ml::Model model = ColorModel();
  std::ostringstream sink;
  auto summary = Infer(*source, model, sink, store->get(), {});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();

  EXPECT_EQ(summary->frames, 20u);
  EXPECT_EQ(summary->unreadable, 0u);
  EXPECT_EQ(summary->stored, 20u);
  EXPECT_GT(summary->fps, 0);
  ASSERT_EQ(summary->class_histogram.size(), 10u);
  EXPECT_EQ(std::accumulate(summary->class_histogram.begin(), summary->class_histogram.end(),
                            uint64_t{0}),
            20u);
  EXPECT_GT(summary->total.p50, 0);
  EXPECT_GE(summary->total.max, summary->inference.max);

  std::istringstream lines(sink.str());
  std::string line;
  std::vector<uint64_t> histogram(10, 0);
  std::map<std::string, float> confidence_of;
  int i = 0;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["frame_id"], "gate#" + std::to_string(i)) << line;
    const int c = j["class"].get<int>();
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 10);
    ++histogram[c];
    const float conf = j["confidence"].get<float>();
    EXPECT_GT(conf, 0);
    EXPECT_LE(conf, 1);
    confidence_of[j["frame_id"]] = conf;
    EXPECT_TRUE(j.contains("entropy") && j.contains("captured_unix_ms")) << line;
    EXPECT_EQ(j["model_version"], 3) << line;
    EXPECT_FALSE(j.contains("drift")) << "no drift monitor in infer: " << line;
    for (const char* stage : {"capture", "preprocess", "inference", "total"}) {
      ASSERT_TRUE(j["latency_ms"].contains(stage)) << stage << ": " << line;
      EXPECT_GE(j["latency_ms"][stage].get<double>(), 0) << stage;
    }
    ++i;
  }
  EXPECT_EQ(i, 20);
  EXPECT_EQ(histogram, summary->class_histogram);

  // Every frame is kept with its prediction, and the review queue lists them least confident
  // first, each with the confidence the sink reported.
  auto frame = (*store)->GetFrame("gate#7");
  ASSERT_TRUE(frame.ok() && frame->has_value());
  EXPECT_GE((*frame)->predicted, 0);
  EXPECT_FLOAT_EQ((*frame)->confidence, confidence_of["gate#7"]);
  auto review = (*store)->ReviewQueue(100);
  ASSERT_TRUE(review.ok()) << review.status().ToString();
  ASSERT_EQ(review->size(), 20u);
  for (size_t k = 0; k < review->size(); ++k) {
    const ReviewItem& r = (*review)[k];
    EXPECT_FLOAT_EQ(r.confidence, confidence_of[r.id]) << r.id;
    EXPECT_GE(r.predicted, 0);
    if (k > 0) {
      EXPECT_LE((*review)[k - 1].confidence, r.confidence) << k;
    }
  }
}

TEST(RunInferenceTest, MaxFramesStopsEarlyAndNoStoreKeepsNothing) {
  TempDir dir("infer-max");
  auto source = Open(WriteVideo(dir.path(), "dock", 12));
  ASSERT_NE(source, nullptr);
  const ml::Model model = ColorModel();
  std::ostringstream sink;
  InferenceOptions options;
  options.max_frames = 5;
  auto summary = Infer(*source, model, sink, nullptr, options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->frames, 5u);
  EXPECT_EQ(summary->stored, 0u);
  const std::string out = sink.str();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 5);
  // The source was left at frame 5: the run stopped without reading further.
  auto next = source->Next();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, "dock#5");
}

TEST(RunInferenceTest, CorruptImageInAFolderIsCountedAndQuarantined) {
  TempDir dir("infer-folder");
  const std::string folder = dir.path() + "/lobby";
  std::filesystem::create_directories(folder);
  for (int i = 0; i < 3; ++i) {
    vision::Image img{40, 40, 3, std::vector<uint8_t>(40 * 40 * 3)};
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = (p * (i + 3) + i * 31) % 251;
    auto png = vision::EncodeImage(img, vision::ImageFormat::kPng);
    ASSERT_TRUE(png.ok());
    std::ofstream(folder + "/img" + std::to_string(i) + ".png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()), png->size());
  }
  std::ofstream(folder + "/img1b.png", std::ios::binary) << "not a png at all";
  auto source = Open(folder);
  ASSERT_NE(source, nullptr);
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const ml::Model model = ColorModel();
  std::ostringstream sink;
  auto summary = Infer(*source, model, sink, store->get(), {});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->frames, 3u);
  EXPECT_EQ(summary->unreadable, 1u);
  EXPECT_EQ(summary->stored, 3u);
  EXPECT_EQ(sink.str().find("img1b"), std::string::npos) << "no prediction for a corrupt file";

  auto quarantined = (*store)->Quarantined();
  ASSERT_TRUE(quarantined.ok());
  ASSERT_EQ(quarantined->size(), 1u);
  EXPECT_EQ((*quarantined)[0].id, "lobby#img1b.png");
  EXPECT_EQ((*quarantined)[0].reason.rfind("unreadable", 0), 0u) << (*quarantined)[0].reason;
  EXPECT_FALSE((*quarantined)[0].stored);
  auto kept = (*store)->HasFrame("lobby#img2.png");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(*kept);
}

// Passes frames through and, before frame i (0-based) is read, sets the disk full (from
// `full_from`) or frees it again (from `free_from`).
class FillDiskSource : public FrameSource {
 public:
  FillDiskSource(std::unique_ptr<FrameSource> inner, storage::FaultFileSystem* fs, int full_from,
                 int free_from)
      : inner_(std::move(inner)), fs_(fs), full_from_(full_from), free_from_(free_from) {}
  shared::Result<std::optional<Frame>> Next() override {
    fs_->NoSpace(next_ >= full_from_ && next_ < free_from_);
    ++next_;
    return inner_->Next();
  }
  const std::string& name() const override { return inner_->name(); }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::unique_ptr<FrameSource> inner_;
  storage::FaultFileSystem* fs_;
  int next_ = 0;
  const int full_from_, free_from_;
};

TEST(RunInferenceTest, FullDiskKeepsPredictionsFlowingAndSaysSoOnce) {
  TempDir dir("infer-full-disk");
  const std::string folder = dir.path() + "/dock";
  std::filesystem::create_directories(folder);
  for (int i = 0; i < 6; ++i) {
    vision::Image img{40, 40, 3, std::vector<uint8_t>(40 * 40 * 3)};
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = (p * (i + 3) + i * 31) % 251;
    auto png = vision::EncodeImage(img, vision::ImageFormat::kPng);
    ASSERT_TRUE(png.ok());
    std::ofstream(folder + "/img" + std::to_string(i) + ".png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()), png->size());
  }
  std::ofstream(folder + "/img2b.png", std::ios::binary) << "not a png at all";
  // Read order: img0 img1 img2 img2b img3 img4 img5; the disk is full for img1..img3.
  auto fs = std::make_shared<storage::FaultFileSystem>();
  std::unique_ptr<rocksdb::Env> env = storage::FaultFileSystem::MakeEnv(fs);
  StoreOptions options;
  options.env = env.get();
  auto store = SampleStore::Open(dir.path() + "/store", options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  FillDiskSource source(Open(folder), fs.get(), /*full_from=*/1, /*free_from=*/5);
  const ml::Model model = ColorModel();
  std::ostringstream sink;
  char* log_text = nullptr;
  size_t log_size = 0;
  std::FILE* log = open_memstream(&log_text, &log_size);
  shared::SetLogOutput(log);
  auto summary = Infer(source, model, sink, store->get(), {});
  shared::SetLogOutput(nullptr);
  std::fclose(log);
  const std::string logged(log_text, log_size);
  std::free(log_text);

  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->frames, 6u);  // every readable frame was classified
  const std::string lines = sink.str();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 6);
  EXPECT_EQ(summary->unreadable, 1u);
  EXPECT_EQ(summary->not_kept, 4u);  // img1, img2, the quarantine of img2b, img3
  EXPECT_EQ(summary->stored, 3u);    // img0, img4, img5
  EXPECT_GT(fs->injected(), 0u);
  EXPECT_TRUE(*(*store)->HasFrame("dock#img4.png"));
  EXPECT_FALSE(*(*store)->HasFrame("dock#img2.png"));
  // One warning naming the full disk when saving started failing, one line when it recovered.
  size_t first = logged.find("frames are not kept");
  ASSERT_NE(first, std::string::npos) << logged;
  EXPECT_EQ(logged.find("frames are not kept", first + 1), std::string::npos) << logged;
  EXPECT_NE(logged.find("is full"), std::string::npos) << logged;
  EXPECT_NE(logged.find("keeps frames again"), std::string::npos) << logged;
}

}  // namespace
}  // namespace fedge::client
