#include "coordinator/records/registry_records.h"

#include <cmath>

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

Result<ModelRecord> ModelRecordFromJson(const json& j) {
  try {
    ModelRecord r;
    r.version = j.at("version").get<uint64_t>();
    if (!j.at("parent").is_null()) r.parent = j.at("parent").get<uint64_t>();
    r.round = j.at("round").get<uint64_t>();
    r.arch = j.at("arch").get<std::string>();
    r.digest_hex = j.at("digest").get<std::string>();
    r.size_bytes = j.at("size_bytes").get<uint64_t>();
    r.created_ms = j.at("created_ms").get<uint64_t>();
    for (const auto& c : j.at("contributors")) {
      r.contributors.push_back(
          {c.at("client").get<std::string>(), c.at("examples").get<uint64_t>()});
    }
    r.total_examples = j.at("total_examples").get<uint64_t>();
    r.metrics = j.at("metrics");
    r.origin = j.value("origin", std::string("round"));
    r.blob_deleted = j.value("blob_deleted", false);
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is unreadable: ") + e.what());
  }
}

json ToJson(const ClientRecord& r) {
  return {{"id", r.id},
          {"fingerprint", r.fingerprint},
          {"first_seen_ms", r.first_seen_ms},
          {"last_seen_ms", r.last_seen_ms},
          {"train_examples", r.train_examples},
          {"eval_examples", r.eval_examples},
          {"class_counts", r.class_counts},
          {"updates_accepted", r.updates_accepted}};
}

json ToJson(const ModelRecord& r) {
  json contributors = json::array();
  for (const auto& c : r.contributors) {
    contributors.push_back({{"client", c.client_id}, {"examples", c.examples}});
  }
  return {{"version", r.version},
          {"parent", r.parent ? json(*r.parent) : json(nullptr)},
          {"round", r.round},
          {"arch", r.arch},
          {"digest", r.digest_hex},
          {"size_bytes", r.size_bytes},
          {"created_ms", r.created_ms},
          {"contributors", contributors},
          {"total_examples", r.total_examples},
          {"metrics", r.metrics},
          {"origin", r.origin},
          {"blob_deleted", r.blob_deleted}};
}

json ToJson(const UpdateRecord& r) {
  return {{"round", r.round},
          {"client", r.client_id},
          {"task_id", r.task_id},
          {"idempotency_id", r.idempotency_id},
          {"examples", r.examples},
          {"loss", std::isfinite(r.loss) ? json(r.loss) : json(nullptr)},
          {"blob_digest", r.blob_digest_hex},
          {"received_ms", r.received_ms}};
}

json ToJson(const RevocationRecord& r) {
  return {{"client", r.client_id},
          {"fingerprint", r.fingerprint},
          {"reason", r.reason},
          {"revoked_by", r.revoked_by},
          {"revoked_ms", r.revoked_ms}};
}

Result<ModelRecord> DecodeModelRecord(std::string_view text) {
  try {
    return ModelRecordFromJson(json::parse(text.begin(), text.end()));
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is unreadable: ") + e.what());
  }
}

Result<ClientRecord> DecodeClientRecord(std::string_view text) {
  try {
    json j = json::parse(text.begin(), text.end());
    ClientRecord r;
    r.id = j.at("id").get<std::string>();
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.first_seen_ms = j.at("first_seen_ms").get<uint64_t>();
    r.last_seen_ms = j.at("last_seen_ms").get<uint64_t>();
    r.train_examples = j.at("train_examples").get<uint64_t>();
    r.eval_examples = j.at("eval_examples").get<uint64_t>();
    r.class_counts = j.at("class_counts").get<std::vector<uint64_t>>();
    r.updates_accepted = j.at("updates_accepted").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("client record is unreadable: ") + e.what());
  }
}

Result<UpdateRecord> DecodeUpdateRecord(std::string_view text) {
  try {
    json j = json::parse(text.begin(), text.end());
    UpdateRecord r;
    r.round = j.at("round").get<uint64_t>();
    r.client_id = j.at("client").get<std::string>();
    r.task_id = j.at("task_id").get<uint64_t>();
    r.idempotency_id = j.at("idempotency_id").get<std::string>();
    r.examples = j.at("examples").get<uint64_t>();
    r.loss = j.at("loss").is_null() ? std::nan("") : j.at("loss").get<double>();
    r.blob_digest_hex = j.at("blob_digest").get<std::string>();
    r.received_ms = j.at("received_ms").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("update record is unreadable: ") + e.what());
  }
}

Result<RevocationRecord> DecodeRevocationRecord(std::string_view text) {
  try {
    json j = json::parse(text.begin(), text.end());
    RevocationRecord r;
    r.client_id = j.at("client").get<std::string>();
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.reason = j.at("reason").get<std::string>();
    r.revoked_by = j.at("revoked_by").get<std::string>();
    r.revoked_ms = j.at("revoked_ms").get<uint64_t>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("revocation record is unreadable: ") + e.what());
  }
}

}  // namespace fedge::coordinator
