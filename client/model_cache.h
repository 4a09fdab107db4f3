#pragma once
// Content-addressed model cache on the client: DIR/models/<sha256-hex>.fdgt. A model the
// client already holds is never downloaded again; every read is verified against its digest.

#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::client {

class ModelCache {
 public:
  // Creates DIR/models if needed.
  static shared::Result<ModelCache> Open(const std::string& dir, uint64_t max_model_bytes);

  bool Has(const shared::Digest& digest) const;
  // NotFound if absent; Corruption (and the file is removed) if it fails its digest.
  shared::Result<std::vector<uint8_t>> Get(const shared::Digest& digest) const;
  // InvalidArgument if `bytes` do not hash to `digest`. Atomic write.
  shared::Status Put(const shared::Digest& digest, const std::vector<uint8_t>& bytes);

 private:
  ModelCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string PathOf(const shared::Digest& digest) const;
  std::string dir_;
  uint64_t max_bytes_;
};

// The model the client last installed (the newest version it trained or evaluated):
// DIR/installed.json, read by `fedge-client infer` without a coordinator.
struct InstalledModel {
  uint64_t version = 0;
  shared::Digest digest{};
  std::string arch;
};
// NotFound with a hint when the client never installed a model; Corruption for a bad file.
shared::Result<InstalledModel> ReadInstalledModel(const std::string& dir);
shared::Status WriteInstalledModel(const std::string& dir, const InstalledModel& model);

}  // namespace fedge::client
