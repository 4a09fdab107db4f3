#include "shared/ml/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <system_error>

namespace fedge::ml {
namespace {

using shared::Result;
using shared::Status;

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
constexpr uint32_t kMaxCount = 1u << 28;
constexpr uint32_t kMaxSide = 4096;
constexpr uint64_t kMaxPixels = uint64_t{1} << 30;  // 4 GiB as fp32
constexpr size_t kChunkBytes = size_t{1} << 20;

// Owns a zlib gzFile; every error message names the file.
class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)) {}
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  Status Open() {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return Status::NotFound("no such file: " + path_);
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Status::IOError("cannot open " + path_ + ": " + std::strerror(errno));
    }
    gzbuffer(file_, 1 << 17);
    return Status::Ok();
  }

  // Reads exactly out.size() bytes; a short read is Corruption (truncated file).
  Status ReadExact(std::span<uint8_t> out, const char* what) {
    size_t done = 0;
    while (done < out.size()) {
      unsigned want = static_cast<unsigned>(std::min<size_t>(out.size() - done, INT_MAX));
      int got = gzread(file_, out.data() + done, want);
      if (got < 0) return ReadError();
      if (got == 0) {
        return Status::Corruption(path_ + ": truncated " + what + " (got " + std::to_string(done) +
                                  " of " + std::to_string(out.size()) + " bytes)");
      }
      done += static_cast<size_t>(got);
    }
    return Status::Ok();
  }

  // OK if the file has no bytes left.
  Status ExpectEnd() {
    uint8_t extra = 0;
    int got = gzread(file_, &extra, 1);
    if (got < 0) return ReadError();
    if (got > 0) return Status::Corruption(path_ + ": unexpected bytes after the IDX payload");
    return Status::Ok();
  }

  const std::string& path() const { return path_; }

 private:
  Status ReadError() {
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    if (errnum == Z_ERRNO) {
      return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
    }
    return Status::Corruption(path_ + ": bad gzip stream: " + (message ? message : "?"));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads an IDX header (magic + `dims` big-endian uint32 dimensions) and checks the magic.
Result<std::vector<uint32_t>> ReadHeader(GzReader& in, uint32_t magic, int dims) {
  std::array<uint8_t, 16> raw{};
  FEDGE_RETURN_IF_ERROR(in.ReadExact(std::span(raw.data(), 4 + 4 * dims), "IDX header"));
  uint32_t got = BigEndian32(raw.data());
  if (got != magic) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), ": bad IDX magic 0x%08x (want 0x%08x)", got, magic);
    return Status::Corruption(in.path() + buf);
  }
  std::vector<uint32_t> shape(dims);
  for (int i = 0; i < dims; ++i) shape[i] = BigEndian32(raw.data() + 4 + 4 * i);
  return shape;
}

// Streams `count` pixels through a 256-entry lookup table into `out`.
Status ReadPixels(GzReader& in, const std::array<float, 256>& lut, std::span<float> out) {
  std::vector<uint8_t> chunk(std::min(kChunkBytes, out.size()));
  for (size_t done = 0; done < out.size();) {
    size_t n = std::min(chunk.size(), out.size() - done);
    FEDGE_RETURN_IF_ERROR(in.ReadExact(std::span(chunk.data(), n), "image data"));
    for (size_t i = 0; i < n; ++i) out[done + i] = lut[chunk[i]];
    done += n;
  }
  return in.ExpectEnd();
}

Status LoadImages(const std::string& path, float mean, float stddev, Dataset& data) {
  GzReader in(path);
  FEDGE_RETURN_IF_ERROR(in.Open());
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint32_t> dims, ReadHeader(in, kImagesMagic, 3));
  const uint32_t count = dims[0], rows = dims[1], cols = dims[2];
  if (count > kMaxCount || rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide ||
      uint64_t{count} * rows * cols > kMaxPixels) {
    return Status::Corruption(path + ": implausible image dimensions " + std::to_string(count) +
                              "x" + std::to_string(rows) + "x" + std::to_string(cols));
  }
  std::array<float, 256> lut{};
  for (int v = 0; v < 256; ++v) lut[v] = (static_cast<float>(v) / 255.0f - mean) / stddev;
  data.size = count;
  data.channels = 1;
  data.height = rows;
  data.width = cols;
  data.images.resize(uint64_t{count} * rows * cols);
  return ReadPixels(in, lut, data.images);
}

Status LoadLabels(const std::string& path, int num_classes, Dataset& data) {
  GzReader in(path);
  FEDGE_RETURN_IF_ERROR(in.Open());
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint32_t> dims, ReadHeader(in, kLabelsMagic, 1));
  if (dims[0] != data.size) {
    return Status::Corruption(path + ": " + std::to_string(dims[0]) + " labels but " +
                              std::to_string(data.size) + " images");
  }
  std::vector<uint8_t> raw(dims[0]);
  FEDGE_RETURN_IF_ERROR(in.ReadExact(raw, "label data"));
  FEDGE_RETURN_IF_ERROR(in.ExpectEnd());
  data.labels.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] >= num_classes) {
      return Status::Corruption(path + ": label " + std::to_string(raw[i]) + " at index " +
                                std::to_string(i) + " is outside [0, " +
                                std::to_string(num_classes) + ")");
    }
    data.labels[i] = raw[i];
  }
  return Status::Ok();
}

}  // namespace

Result<Dataset> LoadIdx(const std::string& images_gz, const std::string& labels_gz, float mean,
                        float stddev, int num_classes) {
  if (!(stddev > 0.0f) || !std::isfinite(mean)) {
    return Status::InvalidArgument("LoadIdx: need finite mean and stddev > 0");
  }
  if (num_classes < 1 || num_classes > 256) {
    return Status::InvalidArgument("LoadIdx: num_classes must be in [1, 256], got " +
                                   std::to_string(num_classes));
  }
  Dataset data;
  data.num_classes = num_classes;
  FEDGE_RETURN_IF_ERROR(LoadImages(images_gz, mean, stddev, data));
  FEDGE_RETURN_IF_ERROR(LoadLabels(labels_gz, num_classes, data));
  return data;
}

Result<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix =
      (dir.empty() ? std::string(".") : dir) + "/" + (split == Split::kTrain ? "train" : "t10k");
  return LoadIdx(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz",
                 kFashionMnistMean, kFashionMnistStd, 10);
}

}  // namespace fedge::ml
