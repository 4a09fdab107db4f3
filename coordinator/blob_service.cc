#include "coordinator/blob_service.h"

#include <utility>

namespace fedge::coordinator {

void BlobService::InstallModel(const shared::Digest& digest, std::vector<uint8_t> blob) {
  max_update_bytes_ = blob.size() + blob.size() / 8 + (64u << 10);
  std::lock_guard<std::mutex> lock(blobs_mu_);
  // Keep the current and the previous model: clients may still fetch the previous one.
  while (blobs_.size() > 1) blobs_.erase(blobs_.begin());
  blobs_[digest] = std::make_shared<const std::vector<uint8_t>>(std::move(blob));
}

std::shared_ptr<const std::vector<uint8_t>> BlobService::ModelBlob(
    const shared::Digest& digest) const {
  std::lock_guard<std::mutex> lock(blobs_mu_);
  auto it = blobs_.find(digest);
  return it == blobs_.end() ? nullptr : it->second;
}

void BlobService::StashUpload(const std::string& client_id, shared::BlobAssembler upload) {
  if (!upload.active() || upload.received() == 0) return;
  std::lock_guard<std::mutex> lock(uploads_mu_);
  uploads_.insert_or_assign(client_id, std::move(upload));
}

shared::BlobAssembler BlobService::TakeUpload(const std::string& client_id,
                                              const shared::Digest& digest) {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  auto it = uploads_.find(client_id);
  if (it == uploads_.end() || it->second.digest() != digest) {
    return shared::BlobAssembler(max_update_bytes_);
  }
  shared::BlobAssembler out = std::move(it->second);
  uploads_.erase(it);
  return out;
}

void BlobService::ClearUploads() {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  uploads_.clear();
}

size_t BlobService::stashed_uploads() const {
  std::lock_guard<std::mutex> lock(uploads_mu_);
  return uploads_.size();
}

}  // namespace fedge::coordinator
