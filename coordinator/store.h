#pragma once
// The coordinator's durable state in RocksDB: clients, model versions (the registry) and
// model blobs, one column family per kind of record. Thread-safe (RocksDB is).

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/crypto.h"
#include "shared/status.h"

namespace fedge::coordinator {

struct ClientRecord {
  std::string id;
  std::string fingerprint;  // SHA-256 of the certificate (hex)
  uint64_t first_seen_ms = 0;
  uint64_t last_seen_ms = 0;
  uint64_t train_examples = 0;
  uint64_t eval_examples = 0;
  std::vector<uint64_t> class_counts;
  uint64_t updates_accepted = 0;
};

struct Contribution {
  std::string client_id;
  uint64_t examples = 0;
};

struct ModelRecord {
  uint64_t version = 0;
  std::optional<uint64_t> parent;
  uint64_t round = 0;
  std::string arch;
  std::string digest_hex;
  uint64_t size_bytes = 0;
  uint64_t created_ms = 0;
  std::vector<Contribution> contributors;
  uint64_t total_examples = 0;
  nlohmann::json metrics = nlohmann::json::object();
};

nlohmann::json ToJson(const ClientRecord& r);
nlohmann::json ToJson(const ModelRecord& r);

class Store {
 public:
  // Opens (creating if missing) the database under `dir`.
  static shared::Result<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  shared::Status PutClient(const ClientRecord& record);
  shared::Result<std::optional<ClientRecord>> GetClient(const std::string& id);
  shared::Result<std::vector<ClientRecord>> ListClients();

  // Stores a model version and its blob in one synced WriteBatch.
  // AlreadyExists if the version exists.
  shared::Status PutModel(const ModelRecord& record, const std::vector<uint8_t>& blob);
  // Replaces a version's metrics (synced).
  shared::Status UpdateModelMetrics(uint64_t version, const nlohmann::json& metrics);
  shared::Result<ModelRecord> GetModel(uint64_t version);
  shared::Result<std::optional<ModelRecord>> LatestModel();
  shared::Result<std::vector<ModelRecord>> ListModels();
  // NotFound if absent; Corruption if the stored bytes do not hash to `digest`.
  shared::Result<std::vector<uint8_t>> GetBlob(const shared::Digest& digest);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedge::coordinator
