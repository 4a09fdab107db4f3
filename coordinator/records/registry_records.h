#pragma once
// The registry's records of clients, model versions, accepted updates and revocations
// (coordinator/store.h), and their JSON codecs: the stored form, also shown by the admin
// commands. They are not versioned yet: their fields only ever grew, and decoding gives a
// missing newer field its default.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

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
  std::string origin = "round";  // "initial", "round", "import" or "prune"
  bool blob_deleted = false;     // blob removed by the retention policy; the record stays
};

// An update accepted into the open round (its blob is stored beside it).
struct UpdateRecord {
  uint64_t round = 0;
  std::string client_id;
  uint64_t task_id = 0;
  std::string idempotency_id;
  uint64_t examples = 0;
  double loss = 0;  // client-reported mean training loss (NaN if not reported)
  std::string blob_digest_hex;
  uint64_t received_ms = 0;
};

struct RevocationRecord {
  std::string client_id;
  std::string fingerprint;  // of the certificate known when it was revoked (may be empty)
  std::string reason;
  std::string revoked_by;
  uint64_t revoked_ms = 0;
};

nlohmann::json ToJson(const ClientRecord& r);
nlohmann::json ToJson(const ModelRecord& r);
// Corruption naming the missing or mistyped field.
shared::Result<ModelRecord> ModelRecordFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const UpdateRecord& r);
nlohmann::json ToJson(const RevocationRecord& r);

// The stored bytes back as records: Corruption naming what is unreadable.
shared::Result<ClientRecord> DecodeClientRecord(std::string_view bytes);
shared::Result<ModelRecord> DecodeModelRecord(std::string_view bytes);
shared::Result<UpdateRecord> DecodeUpdateRecord(std::string_view bytes);
shared::Result<RevocationRecord> DecodeRevocationRecord(std::string_view bytes);

}  // namespace fedge::coordinator
