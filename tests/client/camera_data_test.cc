// Camera frames as training data: ingest into the sample store, labels from the CSV a
// labelling tool wrote, and the store's labelled frames as a normalised dataset.
#include "client/camera_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>

#include "client/label_import.h"
#include "shared/vision/image_codec.h"
#include "shared/vision/render.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

std::vector<uint8_t> Items(const std::vector<int64_t>& labels) {
  std::vector<uint8_t> items(labels.size() * 784, 0);
  std::mt19937_64 rng(17);
  std::uniform_int_distribution<int> noise(0, 40);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int c = static_cast<int>(labels[i]);
    for (int p = 0; p < 784; ++p) {
      const int x = p % 28, y = p / 28;
      const bool on = y >= 2 + 2 * c && y < 6 + 2 * c && x >= 4 && x < 24;
      items[i * 784 + p] = static_cast<uint8_t>(on ? 215 + noise(rng) : noise(rng));
    }
  }
  return items;
}

std::unique_ptr<FrameSource> Open(const std::string& uri) {
  SourceOptions o;
  o.uri = uri;
  auto source = OpenFrameSource(o);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? std::move(*source) : nullptr;
}

// frame_id -> label, read independently of the product's CSV parser.
std::map<std::string, int> ReadLabelsCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "frame_id,label");
  std::map<std::string, int> out;
  while (std::getline(in, line)) {
    const size_t comma = line.rfind(',');
    if (comma == std::string::npos) continue;
    out[line.substr(0, comma)] = std::stoi(line.substr(comma + 1));
  }
  return out;
}

// A broken camera (vision::SiteConditions::fault): a black or frozen feed is the same frame
// over and over, which the store keeps once; the reviewer's labels for the others find no frame.
TEST(CameraDataTest, ABrokenCameraFeedIsStoredOnceAndItsOtherLabelsFindNoFrame) {
  for (auto fault :
       {vision::SiteConditions::Fault::kBlack, vision::SiteConditions::Fault::kFrozen}) {
    TempDir dir("camdata-broken");
    constexpr int kFrames = 12;
    std::vector<int64_t> labels(kFrames);
    for (int i = 0; i < kFrames; ++i) labels[i] = i % 10;
    vision::SiteConditions c = vision::SiteConditionsForIndex(2, 5);
    c.fault = fault;
    const std::string video = dir.path() + "/cam.avi", csv = dir.path() + "/cam.csv";
    ASSERT_TRUE(vision::WriteSiteVideo(video, csv, Items(labels), labels, c, 10, 48).ok());
    auto source = Open(video);
    ASSERT_NE(source, nullptr);
    std::vector<vision::Image> frames;
    while (true) {
      auto f = source->Next();
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (!f->has_value()) break;
      frames.push_back((*f)->image);
    }
    ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
    for (const vision::Image& f : frames) {
      EXPECT_EQ(f.pixels, frames[0].pixels) << "every frame of a broken feed is the same";
    }
    if (fault == vision::SiteConditions::Fault::kBlack) {
      EXPECT_EQ(*std::max_element(frames[0].pixels.begin(), frames[0].pixels.end()), 0);
    } else {
      EXPECT_GT(*std::max_element(frames[0].pixels.begin(), frames[0].pixels.end()), 100);
    }
    auto store = SampleStore::Open(dir.path() + "/store", {});
    ASSERT_TRUE(store.ok());
    auto again = Open(video);
    auto ingest = IngestFrames(*again, **store, {});
    ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
    EXPECT_EQ(ingest->stored, 1u);
    EXPECT_EQ(ingest->duplicates, static_cast<uint64_t>(kFrames - 1));
  }
}

TEST(CameraDataTest, IngestedVideoWithImportedLabelsBecomesANormalisedDataset) {
  TempDir dir("camdata");
  constexpr int kFrames = 24;
  std::vector<int64_t> labels(kFrames);
  for (int i = 0; i < kFrames; ++i) labels[i] = (i * 3 + 1) % 10;
  const std::string video = dir.path() + "/yard.avi", csv = dir.path() + "/yard.csv";
  ASSERT_TRUE(vision::WriteSiteVideo(video, csv, Items(labels), labels,
                                     vision::SiteConditionsForIndex(1, 3), 10, 48)
                  .ok());
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto source = Open(video);
  ASSERT_NE(source, nullptr);
  auto ingest = IngestFrames(*source, **store, {});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  EXPECT_EQ(ingest->frames, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(ingest->stored, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(ingest->duplicates, 0u);

  auto imported = ImportLabels(**store, csv);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->labels_set, static_cast<uint64_t>(kFrames));

  // Labels as stored equal the CSV's, frame by frame.
  const std::map<std::string, int> expected = ReadLabelsCsv(csv);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(expected.at("yard#5"), labels[5]);
  auto labelled = (*store)->LabelledFrames();
  ASSERT_TRUE(labelled.ok());
  ASSERT_EQ(labelled->size(), static_cast<size_t>(kFrames));
  for (const LabelledFrame& f : *labelled) EXPECT_EQ(f.label, expected.at(f.id)) << f.id;

  const vision::InputSpec spec = InputSpecFor(3, 32, 32);
  auto data = LoadStoreData(**store, spec, 10, 0.25, 1);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  const ml::Dataset& d = *data->dataset;
  ASSERT_EQ(d.size, kFrames);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  ASSERT_EQ(d.images.size(), static_cast<size_t>(kFrames) * 3 * 32 * 32);
  // Dataset order is the store's order (capture time, ties by id: not frame order when
  // frames share a millisecond); each example carries its frame's CSV label.
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(d.labels[i], expected.at((*labelled)[i].id)) << (*labelled)[i].id;
  }
  EXPECT_EQ(data->train.size() + data->eval.size(), static_cast<size_t>(kFrames));
  EXPECT_FALSE(data->eval.empty());
  EXPECT_FALSE(data->train.empty());
  std::vector<int64_t> all(data->train);
  all.insert(all.end(), data->eval.begin(), data->eval.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < kFrames; ++i) EXPECT_EQ(all[i], i) << "train and eval partition the set";
  ASSERT_EQ(data->class_counts.size(), 10u);
  EXPECT_EQ(std::accumulate(data->class_counts.begin(), data->class_counts.end(), uint64_t{0}),
            data->train.size());
  // (v/255 - 0.5) / 0.25 lies in [-2, 2]; a frame is not a flat colour.
  float lo = 1e9, hi = -1e9;
  for (float v : d.images) {
    ASSERT_TRUE(std::isfinite(v));
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -2.0f - 1e-5f);
  EXPECT_LE(hi, 2.0f + 1e-5f);
  EXPECT_GT(hi - lo, 1.0f);
}

TEST(CameraDataTest, DuplicateImageIsQuarantinedAndNotTrainedOn) {
  TempDir dir("camdata-dup");
  const std::string folder = dir.path() + "/hall";
  std::filesystem::create_directories(folder);
  auto write = [&folder](const std::string& name, int seed) {
    vision::Image img{36, 36, 3, std::vector<uint8_t>(36 * 36 * 3)};
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = (p * 13 + seed * 57) % 256;
    auto png = vision::EncodeImage(img, vision::ImageFormat::kPng);
    ASSERT_TRUE(png.ok());
    std::ofstream(folder + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()), png->size());
  };
  write("a.png", 1);
  write("b.png", 2);
  write("c.png", 1);  // the same image as a.png
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto source = Open(folder);
  ASSERT_NE(source, nullptr);
  auto ingest = IngestFrames(*source, **store, {});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  EXPECT_EQ(ingest->frames, 3u);
  EXPECT_EQ(ingest->stored, 2u);
  EXPECT_EQ(ingest->duplicates, 1u);
  auto quarantined = (*store)->Quarantined();
  ASSERT_TRUE(quarantined.ok());
  ASSERT_EQ(quarantined->size(), 1u);
  EXPECT_EQ((*quarantined)[0].id, "hall#c.png");
  EXPECT_NE((*quarantined)[0].reason.find("duplicate of hall#a.png"), std::string::npos)
      << (*quarantined)[0].reason;

  // A label for the duplicate is refused with the reason; the others train.
  std::ofstream(dir.path() + "/bad.csv") << "frame_id,label\nhall#a.png,1\nhall#c.png,2\n";
  auto refused = ImportLabels(**store, dir.path() + "/bad.csv");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("duplicate"), std::string::npos)
      << refused.status().ToString();
  std::ofstream(dir.path() + "/good.csv") << "frame_id,label\nhall#a.png,1\nhall#b.png,2\n";
  ASSERT_TRUE(ImportLabels(**store, dir.path() + "/good.csv").ok());
  auto data = LoadStoreData(**store, InputSpecFor(3, 32, 32), 10, 0.0, 1);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->dataset->size, 2);
  EXPECT_EQ(data->dataset->labels, (std::vector<int64_t>{1, 2}));
}

TEST(CameraDataTest, StoreWithoutLabelsNamesTheLabelsImport) {
  TempDir dir("camdata-nolabels");
  std::vector<int64_t> labels = {0, 1, 2, 3};
  ASSERT_TRUE(vision::WriteSiteVideo(dir.path() + "/v.avi", dir.path() + "/v.csv", Items(labels),
                                     labels, vision::SiteConditionsForIndex(0, 1), 10, 40)
                  .ok());
  auto store = SampleStore::Open(dir.path() + "/store", {});
  ASSERT_TRUE(store.ok());
  auto source = Open(dir.path() + "/v.avi");
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(IngestFrames(*source, **store, {}).ok());
  auto data = LoadStoreData(**store, InputSpecFor(3, 32, 32), 10, 0.1, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), shared::Code::kInvalidArgument);
  EXPECT_NE(data.status().message().find("labels import"), std::string::npos)
      << data.status().ToString();
}

}  // namespace
}  // namespace fedge::client
