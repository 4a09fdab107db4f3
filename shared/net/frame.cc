#include "shared/net/frame.h"

#include <string>

namespace fedge::shared {

std::array<uint8_t, kFrameHeaderBytes> EncodeFrameHeader(uint32_t n) {
  return {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
}

Result<uint32_t> DecodeFrameHeader(std::span<const uint8_t, kFrameHeaderBytes> h,
                                   uint32_t max_bytes) {
  uint32_t n = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
  if (n == 0) return Status::InvalidArgument("frame announces an empty payload");
  if (n > max_bytes) {
    return Status::ResourceExhausted("frame of " + std::to_string(n) +
                                     " bytes exceeds the cap of " + std::to_string(max_bytes) +
                                     " bytes (server.max_frame_bytes)");
  }
  return n;
}

Result<const wire::Envelope*> VerifyEnvelope(std::span<const uint8_t> payload) {
  if (payload.size() < 8) {
    return Status::Corruption("frame of " + std::to_string(payload.size()) +
                              " bytes is too short to be a fedge message");
  }
  if (!flatbuffers::BufferHasIdentifier(payload.data(), wire::EnvelopeIdentifier())) {
    return Status::Corruption("frame is not a fedge v1 message (file identifier is not FDG1)");
  }
  flatbuffers::Verifier verifier(payload.data(), payload.size(), /*max_depth=*/32,
                                 /*max_tables=*/100000);
  if (!wire::VerifyEnvelopeBuffer(verifier)) {
    return Status::Corruption("frame failed FlatBuffers verification (malformed fedge message)");
  }
  const wire::Envelope* env = wire::GetEnvelope(payload.data());
  if (env->message_type() == wire::Message::NONE) {
    return Status::Corruption("frame carries no message");
  }
  return env;
}

std::vector<uint8_t> EncodeFrame(std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kFrameHeaderBytes + payload.size());
  auto h = EncodeFrameHeader(static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Status FrameDecoder::Feed(std::span<const uint8_t> bytes) {
  if (!failed_.ok()) return failed_;
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  size_t pos = 0;
  while (buffer_.size() - pos >= kFrameHeaderBytes) {
    std::span<const uint8_t, kFrameHeaderBytes> header(buffer_.data() + pos, kFrameHeaderBytes);
    Result<uint32_t> n = DecodeFrameHeader(header, max_bytes_);
    if (!n.ok()) {
      failed_ = n.status();
      buffer_.clear();
      return failed_;
    }
    if (buffer_.size() - pos - kFrameHeaderBytes < *n) break;
    auto begin = buffer_.begin() + static_cast<std::ptrdiff_t>(pos + kFrameHeaderBytes);
    frames_.emplace_back(begin, begin + *n);
    pos += kFrameHeaderBytes + *n;
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos));
  return Status::Ok();
}

std::vector<std::vector<uint8_t>> FrameDecoder::TakeFrames() { return std::move(frames_); }

}  // namespace fedge::shared
