#pragma once
// Chunked blob transfer: a blob (model or update) moves as bounded chunks with offsets and
// a whole-blob SHA-256. The receiver accepts chunks strictly in order (so a transfer can
// resume from `received()`), caps the size before allocating, and verifies the digest.

#include <cstdint>
#include <span>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::shared {

inline constexpr uint32_t kDefaultChunkBytes = 1u << 20;

class BlobAssembler {
 public:
  // REQUIRES: max_bytes > 0.
  explicit BlobAssembler(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Starts (or, with the same digest and size, continues) a transfer.
  // ResourceExhausted if total_size > max_bytes; InvalidArgument if it is 0.
  Status Begin(const Digest& digest, uint64_t total_size);
  // InvalidArgument if the chunk is for another blob, not at offset `received()`, or would
  // run past total_size. On the last chunk the digest is checked (Corruption on mismatch,
  // which also resets the transfer).
  Status Append(const Digest& digest, uint64_t total_size, uint64_t offset,
                std::span<const uint8_t> data);

  bool active() const { return active_; }
  bool complete() const { return active_ && received_ == total_size_ && verified_; }
  uint64_t received() const { return received_; }
  const Digest& digest() const { return digest_; }
  // REQUIRES: complete(). Moves the blob out and resets the assembler.
  std::vector<uint8_t> Take();
  void Reset();

 private:
  uint64_t max_bytes_;
  bool active_ = false;
  bool verified_ = false;
  Digest digest_{};
  uint64_t total_size_ = 0;
  uint64_t received_ = 0;
  std::vector<uint8_t> data_;
  Sha256Hasher hasher_;
};

// A chunk view into a blob: [offset, offset + size).
struct ChunkRange {
  uint64_t offset;
  uint64_t size;
};
// Splits [start, total) into chunks of at most chunk_bytes. REQUIRES: chunk_bytes > 0.
std::vector<ChunkRange> ChunkRanges(uint64_t total, uint64_t start, uint64_t chunk_bytes);

}  // namespace fedge::shared
