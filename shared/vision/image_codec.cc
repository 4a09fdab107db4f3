#include "shared/vision/image_codec.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "shared/vision/mat_util.h"

namespace fedge::vision {
namespace {

using shared::Result;
using shared::Status;

struct Dimensions {
  int64_t width = 0;
  int64_t height = 0;
};

uint32_t BigEndian32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

int32_t LittleEndian32(std::span<const uint8_t> b, size_t at) {
  return static_cast<int32_t>(uint32_t{b[at]} | (uint32_t{b[at + 1]} << 8) |
                              (uint32_t{b[at + 2]} << 16) | (uint32_t{b[at + 3]} << 24));
}

// Width and height from a JPEG's first start-of-frame marker.
Result<Dimensions> JpegDimensions(std::span<const uint8_t> b) {
  size_t at = 2;  // after SOI
  while (at + 4 <= b.size()) {
    if (b[at] != 0xFF) return Status::Corruption("JPEG marker expected");
    const uint8_t marker = b[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    const size_t length = (size_t{b[at + 2]} << 8) | b[at + 3];
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (at + 9 > b.size()) break;
      return Dimensions{(int64_t{b[at + 7]} << 8) | b[at + 8],
                        (int64_t{b[at + 5]} << 8) | b[at + 6]};
    }
    if (length < 2) return Status::Corruption("bad JPEG segment length");
    at += 2 + length;
  }
  return Status::Corruption("truncated JPEG: no frame header");
}

// Reads the dimensions from the header of a PNG, JPEG or BMP without decoding pixels.
Result<Dimensions> SniffDimensions(std::span<const uint8_t> b) {
  static constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= 24 && std::equal(kPng, kPng + 8, b.begin())) {
    return Dimensions{BigEndian32(b, 16), BigEndian32(b, 20)};
  }
  if (b.size() >= 4 && b[0] == 0xFF && b[1] == 0xD8) return JpegDimensions(b);
  if (b.size() >= 26 && b[0] == 'B' && b[1] == 'M') {
    const int64_t height = LittleEndian32(b, 22);
    return Dimensions{LittleEndian32(b, 18), height < 0 ? -height : height};
  }
  return Status::Corruption("not a PNG, JPEG or BMP image (" + std::to_string(b.size()) +
                            " bytes, unknown signature)");
}

// Converts whatever imdecode produced (8/16-bit, 1/3/4 channels) to 8-bit grey or BGR.
Result<Image> ToEightBit(cv::Mat mat) {
  if (mat.depth() == CV_16U) mat.convertTo(mat, CV_8U, 1.0 / 257.0);
  if (mat.depth() != CV_8U) return Status::Corruption("unsupported sample depth");
  if (mat.channels() == 4) cv::cvtColor(mat, mat, cv::COLOR_BGRA2BGR);
  if (mat.channels() == 2) return Status::Corruption("unsupported grey+alpha image");
  return internal::ToImage(mat);
}

}  // namespace

Result<std::vector<uint8_t>> EncodeImage(const Image& image, ImageFormat format, int jpeg_quality) {
  if (!image.Valid()) return Status::InvalidArgument("EncodeImage: invalid image");
  if (format == ImageFormat::kJpeg && (jpeg_quality < 1 || jpeg_quality > 100)) {
    return Status::InvalidArgument("EncodeImage: jpeg_quality must be in 1..100, got " +
                                   std::to_string(jpeg_quality));
  }
  std::vector<int> params;
  const char* ext = ".png";
  if (format == ImageFormat::kJpeg) {
    ext = ".jpg";
    params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  } else {
    // Fixed settings so that the output depends on the pixels only.
    params = {cv::IMWRITE_PNG_COMPRESSION, 3, cv::IMWRITE_PNG_STRATEGY,
              cv::IMWRITE_PNG_STRATEGY_DEFAULT};
  }
  std::vector<uint8_t> out;
  try {
    if (!cv::imencode(ext, internal::WrapMat(image), out, params)) {
      return Status::Internal(std::string("EncodeImage: the ") + ext + " encoder failed");
    }
  } catch (const cv::Exception& e) {
    return Status::Internal(std::string("EncodeImage: ") + e.what());
  }
  return out;
}

Result<Image> DecodeImage(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return Status::Corruption("cannot decode an image from 0 bytes");
  FEDGE_ASSIGN_OR_RETURN(Dimensions dims, SniffDimensions(bytes));
  if (dims.width <= 0 || dims.height <= 0 || dims.width > kMaxImageSide ||
      dims.height > kMaxImageSide) {
    return Status::Corruption("image header says " + std::to_string(dims.width) + "x" +
                              std::to_string(dims.height) + ": refusing (each side must be 1.." +
                              std::to_string(kMaxImageSide) + ")");
  }
  cv::Mat mat;
  try {
    // imdecode does not modify its input; the Mat only wraps the caller's bytes.
    const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1,
                      const_cast<uint8_t*>(bytes.data()));
    mat = cv::imdecode(raw, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    return Status::Corruption(std::string("image decoder failed: ") + e.what());
  }
  if (mat.empty()) {
    return Status::Corruption("unreadable image data (" + std::to_string(bytes.size()) +
                              " bytes): truncated or damaged");
  }
  if (mat.cols != dims.width || mat.rows != dims.height) {
    return Status::Corruption("decoded size does not match the image header");
  }
  return ToEightBit(std::move(mat));
}

Result<Image> ReadImageFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("image file '" + path + "' does not exist or is not a regular file");
  }
  // An uncompressed kMaxImageSide^2 BGR bitmap is ~200 MB; nothing legitimate is bigger.
  constexpr uintmax_t kMaxFileBytes = uintmax_t{256} << 20;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError("cannot stat image file '" + path + "': " + ec.message());
  if (size > kMaxFileBytes) {
    return Status::Corruption("image file '" + path + "' is " + std::to_string(size) +
                              " bytes: too big for an image");
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad() || !in.is_open()) return Status::IOError("cannot read image file '" + path + "'");
  Result<Image> image = DecodeImage(bytes);
  if (!image.ok()) return image.status().WithContext("image file '" + path + "'");
  return image;
}

}  // namespace fedge::vision
