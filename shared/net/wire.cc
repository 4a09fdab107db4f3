#include "shared/net/wire.h"

#include <chrono>

namespace fedge::shared {

std::vector<uint8_t> MakeErrorMessage(const Status& status, uint64_t task_id,
                                      wire::ErrorSubject subject) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto msg = fbb.CreateString(status.ToString());
  return FinishEnvelope(fbb,
                        wire::CreateError(fbb, ToWireCode(status.code()), msg, task_id, subject));
}

std::vector<uint8_t> MakeTaskFailure(Code code, uint64_t task_id) {
  return MakeErrorMessage(Status(code, std::string("the task failed on the site (") +
                                           CodeName(code) + "); the site's log has the details"),
                          task_id, wire::ErrorSubject::Task);
}

std::vector<uint8_t> MakeUnsupportedVersion(const std::string& message) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto msg = fbb.CreateString(message);
  return FinishEnvelope(fbb, wire::CreateError(fbb, wire::ErrorCode::UnsupportedVersion, msg, 0));
}

std::vector<uint8_t> MakeHeartbeat() {
  flatbuffers::FlatBufferBuilder fbb(64);
  return FinishEnvelope(fbb, wire::CreateHeartbeat(fbb, UnixMillis()));
}

std::vector<uint8_t> MakeAck(uint64_t task_id, const std::string& message, bool duplicate) {
  flatbuffers::FlatBufferBuilder fbb(128);
  auto msg = fbb.CreateString(message);
  return FinishEnvelope(fbb, wire::CreateAck(fbb, task_id, msg, duplicate));
}

std::vector<uint8_t> MakeBlobRequest(wire::BlobKind kind, const Digest& digest, uint64_t offset) {
  flatbuffers::FlatBufferBuilder fbb(128);
  auto d = fbb.CreateVector(digest.data(), digest.size());
  return FinishEnvelope(fbb, wire::CreateBlobRequest(fbb, kind, d, offset));
}

std::vector<uint8_t> MakeBlobChunk(wire::BlobKind kind, const Digest& digest, uint64_t total_size,
                                   uint64_t offset, std::span<const uint8_t> data) {
  flatbuffers::FlatBufferBuilder fbb(data.size() + 256);
  auto bytes = fbb.CreateVector(data.data(), data.size());
  auto d = fbb.CreateVector(digest.data(), digest.size());
  return FinishEnvelope(fbb, wire::CreateBlobChunk(fbb, kind, d, total_size, offset, bytes));
}

wire::ErrorCode ToWireCode(Code code) {
  switch (code) {
    case Code::kOk:
      return wire::ErrorCode::Unknown;
    case Code::kInvalidArgument:
      return wire::ErrorCode::InvalidArgument;
    case Code::kNotFound:
      return wire::ErrorCode::NotFound;
    case Code::kAlreadyExists:
      return wire::ErrorCode::AlreadyExists;
    case Code::kCorruption:
      return wire::ErrorCode::Corruption;
    case Code::kIOError:
      return wire::ErrorCode::IOError;
    case Code::kUnavailable:
      return wire::ErrorCode::Unavailable;
    case Code::kDeadlineExceeded:
      return wire::ErrorCode::DeadlineExceeded;
    case Code::kPermissionDenied:
      return wire::ErrorCode::PermissionDenied;
    case Code::kResourceExhausted:
      return wire::ErrorCode::ResourceExhausted;
    case Code::kInternal:
      return wire::ErrorCode::Internal;
  }
  return wire::ErrorCode::Unknown;
}

Code FromWireCode(wire::ErrorCode code) {
  switch (code) {
    case wire::ErrorCode::InvalidArgument:
      return Code::kInvalidArgument;
    case wire::ErrorCode::NotFound:
      return Code::kNotFound;
    case wire::ErrorCode::AlreadyExists:
      return Code::kAlreadyExists;
    case wire::ErrorCode::Corruption:
      return Code::kCorruption;
    case wire::ErrorCode::IOError:
      return Code::kIOError;
    case wire::ErrorCode::Unavailable:
      return Code::kUnavailable;
    case wire::ErrorCode::DeadlineExceeded:
      return Code::kDeadlineExceeded;
    case wire::ErrorCode::PermissionDenied:
      return Code::kPermissionDenied;
    case wire::ErrorCode::ResourceExhausted:
      return Code::kResourceExhausted;
    case wire::ErrorCode::UnsupportedVersion:
      return Code::kInvalidArgument;
    default:
      return Code::kInternal;
  }
}

Result<Digest> DigestField(const flatbuffers::Vector<uint8_t>* field, const char* what) {
  if (field == nullptr || field->size() != 32) {
    return Status::InvalidArgument(std::string(what) + " must be a 32-byte SHA-256 digest");
  }
  Digest d;
  std::copy(field->begin(), field->end(), d.begin());
  return d;
}

uint64_t UnixMillis() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace fedge::shared
