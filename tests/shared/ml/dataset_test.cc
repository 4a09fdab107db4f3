#include "shared/ml/data/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fedge::ml {
namespace {

namespace fs = std::filesystem;
using shared::Code;

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

void PutBigEndian32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

std::vector<uint8_t> ImagesIdx(uint32_t count, uint32_t rows, uint32_t cols,
                               const std::vector<uint8_t>& pixels, uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  PutBigEndian32(out, magic);
  PutBigEndian32(out, count);
  PutBigEndian32(out, rows);
  PutBigEndian32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

std::vector<uint8_t> LabelsIdx(uint32_t count, const std::vector<uint8_t>& labels,
                               uint32_t magic = 0x801) {
  std::vector<uint8_t> out;
  PutBigEndian32(out, magic);
  PutBigEndian32(out, count);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "fedge_ml_dataset_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `bytes` gzip-compressed to dir_/name and returns the path.
  std::string WriteGz(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    EXPECT_EQ(gzclose(f), Z_OK);
    return path;
  }

  // Three 2x2 images with labels 0, 1, 9.
  void WriteValidPair() {
    images_ = WriteGz("images.gz", ImagesIdx(3, 2, 2, {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}));
    labels_ = WriteGz("labels.gz", LabelsIdx(3, {0, 1, 9}));
  }

  fs::path dir_;
  std::string images_, labels_;
};

TEST_F(DatasetTest, LoadsSmallIdxPairAndNormalizes) {
  WriteValidPair();
  auto data = LoadIdx(images_, labels_, 0.5f, 0.25f);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->size, 3);
  EXPECT_EQ(data->channels, 1);
  EXPECT_EQ(data->height, 2);
  EXPECT_EQ(data->width, 2);
  EXPECT_EQ(data->num_classes, 10);
  EXPECT_EQ(data->labels, (std::vector<int64_t>{0, 1, 9}));
  ASSERT_EQ(data->images.size(), 12u);
  EXPECT_FLOAT_EQ(data->images[0], (0.0f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(data->images[1], (1.0f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(data->images[2], (0.2f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(data->images[11], (8.0f / 255.0f - 0.5f) / 0.25f);
}

TEST_F(DatasetTest, MissingFileIsNotFoundWithPath) {
  WriteValidPair();
  const std::string missing = (dir_ / "nope.gz").string();
  auto data = LoadIdx(missing, labels_, 0, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kNotFound);
  EXPECT_NE(data.status().message().find(missing), std::string::npos);

  auto labels = LoadIdx(images_, missing, 0, 1);
  EXPECT_EQ(labels.status().code(), Code::kNotFound);
}

TEST_F(DatasetTest, TruncatedImagePayloadIsCorruption) {
  // Header promises 3 images of 2x2 but only 2 are present.
  images_ = WriteGz("images.gz", ImagesIdx(3, 2, 2, std::vector<uint8_t>(8, 7)));
  labels_ = WriteGz("labels.gz", LabelsIdx(3, {0, 1, 2}));
  auto data = LoadIdx(images_, labels_, 0, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kCorruption);
  EXPECT_NE(data.status().message().find(images_), std::string::npos);
  EXPECT_NE(data.status().message().find("truncated"), std::string::npos);
}

TEST_F(DatasetTest, TruncatedGzipStreamIsCorruption) {
  WriteValidPair();
  std::vector<uint8_t> big(200 * 28 * 28);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  images_ = WriteGz("big.gz", ImagesIdx(200, 28, 28, big));
  fs::resize_file(images_, fs::file_size(images_) / 2);
  auto data = LoadIdx(images_, labels_, 0, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kCorruption);
  EXPECT_NE(data.status().message().find(images_), std::string::npos);
}

TEST_F(DatasetTest, TrailingBytesAreCorruption) {
  images_ = WriteGz("images.gz", ImagesIdx(1, 2, 2, {1, 2, 3, 4, 5}));
  labels_ = WriteGz("labels.gz", LabelsIdx(1, {0}));
  auto data = LoadIdx(images_, labels_, 0, 1);
  EXPECT_EQ(data.status().code(), Code::kCorruption);
}

TEST_F(DatasetTest, WrongMagicIsCorruptionWithPath) {
  images_ = WriteGz("images.gz", ImagesIdx(1, 2, 2, {1, 2, 3, 4}, /*magic=*/0x801));
  labels_ = WriteGz("labels.gz", LabelsIdx(1, {0}));
  auto data = LoadIdx(images_, labels_, 0, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kCorruption);
  EXPECT_NE(data.status().message().find(images_), std::string::npos);
  EXPECT_NE(data.status().message().find("magic"), std::string::npos);

  images_ = WriteGz("images2.gz", ImagesIdx(1, 2, 2, {1, 2, 3, 4}));
  labels_ = WriteGz("labels2.gz", LabelsIdx(1, {0}, /*magic=*/0x803));
  auto labels = LoadIdx(images_, labels_, 0, 1);
  EXPECT_EQ(labels.status().code(), Code::kCorruption);
  EXPECT_NE(labels.status().message().find(labels_), std::string::npos);
}

TEST_F(DatasetTest, ImplausibleDimensionsAreCorruption) {
  images_ = WriteGz("images.gz", ImagesIdx(1, 0, 2, {}));
  labels_ = WriteGz("labels.gz", LabelsIdx(1, {0}));
  EXPECT_EQ(LoadIdx(images_, labels_, 0, 1).status().code(), Code::kCorruption);
  // 2^31 x 28 x 28 would need terabytes: rejected before allocating.
  images_ = WriteGz("huge.gz", ImagesIdx(0x80000000u, 28, 28, {}));
  EXPECT_EQ(LoadIdx(images_, labels_, 0, 1).status().code(), Code::kCorruption);
}

TEST_F(DatasetTest, LabelOutOfRangeIsCorruption) {
  images_ = WriteGz("images.gz", ImagesIdx(2, 1, 1, {0, 0}));
  labels_ = WriteGz("labels.gz", LabelsIdx(2, {3, 10}));
  auto data = LoadIdx(images_, labels_, 0, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kCorruption);
  EXPECT_NE(data.status().message().find(labels_), std::string::npos);
  EXPECT_NE(data.status().message().find("label 10"), std::string::npos);
  // The same file is fine with more classes.
  auto wide = LoadIdx(images_, labels_, 0, 1, /*num_classes=*/11);
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->num_classes, 11);
}

TEST_F(DatasetTest, LabelCountMismatchIsCorruption) {
  images_ = WriteGz("images.gz", ImagesIdx(2, 1, 1, {0, 0}));
  labels_ = WriteGz("labels.gz", LabelsIdx(3, {1, 2, 3}));
  EXPECT_EQ(LoadIdx(images_, labels_, 0, 1).status().code(), Code::kCorruption);
}

TEST_F(DatasetTest, BadNormalizationIsInvalidArgument) {
  WriteValidPair();
  EXPECT_EQ(LoadIdx(images_, labels_, 0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(LoadIdx(images_, labels_, 0, 1, 0).status().code(), Code::kInvalidArgument);
}

TEST_F(DatasetTest, FashionMnistMissingDirIsNotFound) {
  auto data = LoadFashionMnist((dir_ / "absent").string(), Split::kTest);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kNotFound);
  EXPECT_NE(data.status().message().find("t10k-images-idx3-ubyte.gz"), std::string::npos);
}

TEST(FashionMnistTest, LoadsRealTestSplit) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  auto data = LoadFashionMnist(kFashionMnistDir, Split::kTest);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->size, 10000);
  EXPECT_EQ(data->channels, 1);
  EXPECT_EQ(data->height, 28);
  EXPECT_EQ(data->width, 28);
  ASSERT_EQ(data->images.size(), 10000u * 28 * 28);
  ASSERT_EQ(data->labels.size(), 10000u);
  std::vector<int> per_class(10, 0);
  for (int64_t label : data->labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int count : per_class) EXPECT_EQ(count, 1000);  // the test split is balanced
  double sum = 0;
  for (float v : data->images) sum += v;
  // Normalized with the training mean: the test split's mean is close to 0.
  EXPECT_NEAR(sum / static_cast<double>(data->images.size()), 0.0, 0.05);
  EXPECT_FLOAT_EQ(*std::min_element(data->images.begin(), data->images.end()),
                  (0.0f - kFashionMnistMean) / kFashionMnistStd);
}

}  // namespace
}  // namespace fedge::ml
