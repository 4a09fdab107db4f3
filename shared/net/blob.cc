#include "shared/net/blob.h"

#include <string>

namespace fedge::shared {

Status BlobAssembler::Begin(const Digest& digest, uint64_t total_size) {
  if (total_size == 0) return Status::InvalidArgument("blob announced with size 0");
  if (total_size > max_bytes_) {
    return Status::ResourceExhausted("blob of " + std::to_string(total_size) +
                                     " bytes exceeds the limit of " + std::to_string(max_bytes_));
  }
  if (active_ && digest == digest_ && total_size == total_size_) return Status::Ok();
  Reset();
  active_ = true;
  digest_ = digest;
  total_size_ = total_size;
  data_.reserve(total_size);
  return Status::Ok();
}

Status BlobAssembler::Append(const Digest& digest, uint64_t total_size, uint64_t offset,
                             std::span<const uint8_t> data) {
  if (!active_ || digest != digest_ || total_size != total_size_) {
    FEDGE_RETURN_IF_ERROR(Begin(digest, total_size));
  }
  if (offset != received_) {
    return Status::InvalidArgument("chunk at offset " + std::to_string(offset) + ", expected " +
                                   std::to_string(received_));
  }
  if (data.empty() || data.size() > total_size_ - received_) {
    return Status::InvalidArgument("chunk of " + std::to_string(data.size()) + " bytes at offset " +
                                   std::to_string(offset) + " does not fit a blob of " +
                                   std::to_string(total_size_));
  }
  data_.insert(data_.end(), data.begin(), data.end());
  hasher_.Update(data);
  received_ += data.size();
  if (received_ == total_size_) {
    Digest got = hasher_.Finish();
    if (got != digest_) {
      std::string want = ToHex(digest_);
      Reset();
      return Status::Corruption("blob digest mismatch: expected " + want + ", got " + ToHex(got));
    }
    verified_ = true;
  }
  return Status::Ok();
}

std::vector<uint8_t> BlobAssembler::Take() {
  std::vector<uint8_t> out = std::move(data_);
  Reset();
  return out;
}

void BlobAssembler::Reset() {
  active_ = false;
  verified_ = false;
  total_size_ = 0;
  received_ = 0;
  data_.clear();
  data_.shrink_to_fit();
  hasher_ = Sha256Hasher();
}

std::vector<ChunkRange> ChunkRanges(uint64_t total, uint64_t start, uint64_t chunk_bytes) {
  std::vector<ChunkRange> out;
  for (uint64_t off = start; off < total; off += chunk_bytes) {
    out.push_back({off, std::min(chunk_bytes, total - off)});
  }
  return out;
}

}  // namespace fedge::shared
