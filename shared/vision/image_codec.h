#pragma once
// Encoding and decoding of images (PNG, JPEG) as plain bytes, with the size of untrusted input
// checked before any pixel buffer is allocated.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/vision/image.h"

namespace fedge::vision {

enum class ImageFormat { kPng, kJpeg };

// Largest width or height DecodeImage accepts: bigger pictures are refused, not allocated.
inline constexpr int kMaxImageSide = 8192;

// Encodes `image` (1 or 3 channels). PNG is lossless and deterministic: the same pixels always
// give the same bytes. jpeg_quality (1..100) applies to kJpeg only.
// Errors: InvalidArgument for an invalid image or quality, Internal if the encoder fails.
shared::Result<std::vector<uint8_t>> EncodeImage(const Image& image, ImageFormat format,
                                                 int jpeg_quality = 90);

// Decodes PNG, JPEG or BMP bytes into a 1-channel (grey) or 3-channel (BGR) image; alpha is
// dropped, 16-bit samples are scaled to 8 bits. The dimensions are read from the header first:
// anything wider or higher than kMaxImageSide is refused before decoding.
// Errors: Corruption (with the reason) for bytes that are not a readable image of those kinds.
shared::Result<Image> DecodeImage(std::span<const uint8_t> bytes);

// Reads and decodes the file at `path`. NotFound if it does not exist, IOError if it cannot be
// read, Corruption (naming the file) if it is not a readable image.
shared::Result<Image> ReadImageFile(const std::string& path);

}  // namespace fedge::vision
