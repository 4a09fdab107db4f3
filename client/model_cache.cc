#include "client/model_cache.h"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace fedge::client {

using shared::Result;
using shared::Status;

Result<ModelCache> ModelCache::Open(const std::string& dir, uint64_t max_model_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/models", ec);
  if (ec) return Status::IOError("cannot create model cache " + dir + "/models: " + ec.message());
  return ModelCache(dir + "/models", max_model_bytes);
}

std::string ModelCache::PathOf(const shared::Digest& digest) const {
  return dir_ + "/" + shared::ToHex(digest) + ".fdgt";
}

bool ModelCache::Has(const shared::Digest& digest) const {
  std::error_code ec;
  return std::filesystem::is_regular_file(PathOf(digest), ec);
}

Result<std::vector<uint8_t>> ModelCache::Get(const shared::Digest& digest) const {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(PathOf(digest), max_bytes_));
  if (shared::Sha256(bytes) != digest) {
    std::error_code ec;
    std::filesystem::remove(PathOf(digest), ec);
    return Status::Corruption("cached model " + PathOf(digest) +
                              " does not match its digest; removed it, it will be fetched again");
  }
  return bytes;
}

Status ModelCache::Put(const shared::Digest& digest, const std::vector<uint8_t>& bytes) {
  if (shared::Sha256(bytes) != digest) {
    return Status::InvalidArgument("model bytes do not match digest " + shared::ToHex(digest));
  }
  return shared::WriteFileAtomic(PathOf(digest), bytes, 0644);
}

Result<InstalledModel> ReadInstalledModel(const std::string& dir) {
  const std::string path = dir + "/installed.json";
  if (!std::filesystem::exists(path)) {
    return Status::NotFound("no installed model in " + dir +
                            ": run the client against its coordinator first (fedge-client run) "
                            "so it receives a model, or pass --model FILE --arch ARCH");
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(path, 1 << 16));
  try {
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    InstalledModel m;
    m.version = j.at("version").get<uint64_t>();
    m.arch = j.at("arch").get<std::string>();
    FEDGE_ASSIGN_OR_RETURN(m.digest, shared::DigestFromHex(j.at("digest").get<std::string>()));
    return m;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(path + " is not a valid installed-model record (" + e.what() +
                              "); delete it and let the client receive a model again");
  }
}

Status WriteInstalledModel(const std::string& dir, const InstalledModel& model) {
  nlohmann::json j = {
      {"version", model.version}, {"arch", model.arch}, {"digest", shared::ToHex(model.digest)}};
  const std::string text = j.dump() + "\n";
  return shared::WriteFileAtomic(dir + "/installed.json", shared::AsBytes(text), 0644);
}

}  // namespace fedge::client
