#pragma once
// Builders for small protocol messages and conversions between Status codes and wire codes.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::shared {

// A drift-retraining task repeats each example captured since the drift at most this many times
// in all, so an honest update counts at most (registered training examples) x epochs x this.
inline constexpr uint32_t kMaxFocusRepeats = 4;

// Finishes `message` into an Envelope with the FDG1 identifier and returns the payload.
template <typename T>
std::vector<uint8_t> FinishEnvelope(flatbuffers::FlatBufferBuilder& fbb,
                                    flatbuffers::Offset<T> message) {
  auto env = wire::CreateEnvelope(fbb, wire::MessageTraits<T>::enum_value, message.Union());
  fbb.Finish(env, wire::EnvelopeIdentifier());
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// An Error carrying `status` (code and text) about `task_id` (0: none); `subject` says what was
// refused, so the peer need not parse the text.
std::vector<uint8_t> MakeErrorMessage(const Status& status, uint64_t task_id = 0,
                                      wire::ErrorSubject subject = wire::ErrorSubject::None);
// A site's answer to a task that failed: its typed code only (subject Task). The failure's text
// stays on the site: it may name a frame or a file.
std::vector<uint8_t> MakeTaskFailure(Code code, uint64_t task_id);
std::vector<uint8_t> MakeUnsupportedVersion(const std::string& message);
std::vector<uint8_t> MakeHeartbeat();
// An Ack of `task_id`; `duplicate`: the update was accepted before and this resend ignored.
std::vector<uint8_t> MakeAck(uint64_t task_id, const std::string& message, bool duplicate = false);
std::vector<uint8_t> MakeBlobRequest(wire::BlobKind kind, const Digest& digest, uint64_t offset);
std::vector<uint8_t> MakeBlobChunk(wire::BlobKind kind, const Digest& digest, uint64_t total_size,
                                   uint64_t offset, std::span<const uint8_t> data);

wire::ErrorCode ToWireCode(Code code);
Code FromWireCode(wire::ErrorCode code);

// Reads a 32-byte digest field; InvalidArgument if absent or of another length.
Result<Digest> DigestField(const flatbuffers::Vector<uint8_t>* field, const char* what);

uint64_t UnixMillis();

}  // namespace fedge::shared
