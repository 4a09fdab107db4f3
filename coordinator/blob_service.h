#pragma once
// Model and blob serving for the round engine: the blobs of the models clients fetch (the
// current model and the previous one, which clients may still be fetching), the size limit of
// an update (derived from the current model's size), and the stash of partial uploads a
// disconnect interrupted, so the client's next session resumes from its offset.
// Thread-safety: every method is thread-safe (sessions read blobs and stash uploads from the
// network threads; the engine installs models on its strand). No callbacks run under a lock.
// Invariants: at most two model blobs are held, the newest installed is the current one;
// max_update_bytes() is 0 until the first model is installed.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shared/crypto/crypto.h"
#include "shared/net/blob.h"

namespace fedge::coordinator {

class BlobService {
 public:
  // The blob of a model that becomes the current one: the previous current model is kept, any
  // older one is dropped. Sets max_update_bytes() from the blob's size.
  void InstallModel(const shared::Digest& digest, std::vector<uint8_t> blob);
  // The blob of a model served, or null.
  std::shared_ptr<const std::vector<uint8_t>> ModelBlob(const shared::Digest& digest) const;
  // The largest update blob accepted for the current model: its size plus 1/8 plus 64 KiB.
  uint64_t max_update_bytes() const { return max_update_bytes_.load(); }

  // Keeps `upload` for `client_id` (replacing an older one) if it received any bytes.
  void StashUpload(const std::string& client_id, shared::BlobAssembler upload);
  // The stashed upload of `client_id` for `digest` (removed from the stash), or an inactive
  // assembler bounded by max_update_bytes() if none matches.
  shared::BlobAssembler TakeUpload(const std::string& client_id, const shared::Digest& digest);
  // Drops every stashed upload (they were updates of a model no longer trained).
  void ClearUploads();
  size_t stashed_uploads() const;

 private:
  mutable std::mutex blobs_mu_;
  std::map<shared::Digest, std::shared_ptr<const std::vector<uint8_t>>> blobs_;  // guarded
  std::atomic<uint64_t> max_update_bytes_{0};
  mutable std::mutex uploads_mu_;
  std::map<std::string, shared::BlobAssembler> uploads_;  // guarded by uploads_mu_
};

}  // namespace fedge::coordinator
