#pragma once
// Frame codec: each frame is a 4-byte big-endian payload length, then the payload (one
// FlatBuffers Envelope). The length is checked against a cap before any allocation.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"

namespace fedge::shared {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
inline constexpr uint16_t kProtocolVersion = 1;

std::array<uint8_t, kFrameHeaderBytes> EncodeFrameHeader(uint32_t payload_bytes);

// ResourceExhausted if the announced length exceeds max_bytes; InvalidArgument if zero.
Result<uint32_t> DecodeFrameHeader(std::span<const uint8_t, kFrameHeaderBytes> header,
                                   uint32_t max_bytes);

// Runs the FlatBuffers Verifier (identifier "FDG1", depth and table limits) on a payload.
// The returned pointer aliases `payload`. Corruption with a description on failure.
Result<const wire::Envelope*> VerifyEnvelope(std::span<const uint8_t> payload);

// Whole frame (header + payload) for tests and simple writers.
std::vector<uint8_t> EncodeFrame(std::span<const uint8_t> payload);

// Incremental decoder for a byte stream (used by tests and fuzzers): feed bytes, take
// complete payloads. After an error the decoder stays failed.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_bytes) : max_bytes_(max_bytes) {}
  Status Feed(std::span<const uint8_t> bytes);
  // Moves out the complete payloads decoded so far.
  std::vector<std::vector<uint8_t>> TakeFrames();
  // Bytes of an unfinished frame still buffered.
  size_t pending_bytes() const { return buffer_.size(); }

 private:
  uint32_t max_bytes_;
  std::vector<uint8_t> buffer_;
  std::vector<std::vector<uint8_t>> frames_;
  Status failed_;
};

}  // namespace fedge::shared
