#include "coordinator/registry.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "shared/base/json_depth.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

// Export header layout (docs/registry.md): magic, format version, flags, record length, blob
// length, SHA-256 over bytes [0, 32) followed by the record JSON.
constexpr size_t kVersionOffset = 8;
constexpr size_t kFlagsOffset = 12;
constexpr size_t kRecordLenOffset = 16;
constexpr size_t kBlobLenOffset = 24;
constexpr size_t kHeaderDigestOffset = 32;
constexpr int kMaxRecordJsonDepth = 64;

std::string V(uint64_t version) { return std::to_string(version); }

void PutLe(uint8_t* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i, value >>= 8) out[i] = static_cast<uint8_t>(value & 0xff);
}

uint64_t GetLe(const uint8_t* in, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

shared::Digest HeaderDigest(std::span<const uint8_t> fixed, std::span<const uint8_t> record) {
  shared::Sha256Hasher hasher;
  hasher.Update(fixed.first(kHeaderDigestOffset));
  hasher.Update(record);
  return hasher.Finish();
}

// The inverse of ToJson(ModelRecord) for a record read from an export file.
Result<ModelRecord> RecordFromJson(std::string_view text) {
  if (!shared::JsonDepthWithin(text, kMaxRecordJsonDepth)) {
    return Status::Corruption("the export's record nests deeper than " +
                              std::to_string(kMaxRecordJsonDepth) + " levels");
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("the export's record is unreadable: ") + e.what());
  }
  Result<ModelRecord> r = ModelRecordFromJson(j);
  if (!r.ok()) return Status::Corruption("the export's " + r.status().message());
  if (!r->metrics.is_object()) return Status::Corruption("the export's metrics are not an object");
  r->blob_deleted = false;  // an export always carries its blob
  return r;
}

// Checks that `blob` is what `record` describes. InvalidArgument naming the mismatch.
Result<shared::Digest> CheckBlobMatches(const ModelRecord& record, std::span<const uint8_t> blob) {
  Result<shared::Digest> digest = shared::DigestFromHex(record.digest_hex);
  if (!digest.ok()) {
    return Status::InvalidArgument("version " + V(record.version) + " has an invalid digest '" +
                                   record.digest_hex + "': " + digest.status().message());
  }
  if (shared::Sha256(blob) != *digest) {
    return Status::InvalidArgument("the blob's SHA-256 is " + shared::ToHex(shared::Sha256(blob)) +
                                   " but version " + V(record.version) + " records " +
                                   record.digest_hex);
  }
  if (record.size_bytes != blob.size()) {
    return Status::InvalidArgument("the blob is " + std::to_string(blob.size()) +
                                   " bytes but version " + V(record.version) + " records " +
                                   std::to_string(record.size_bytes));
  }
  return digest;
}

struct ExportHeader {
  uint64_t record_len = 0;
  uint64_t blob_len = 0;
};

// Validates the fixed header, the header digest and the lengths against `bytes`.
Result<ExportHeader> ParseHeader(std::span<const uint8_t> bytes) {
  const size_t magic_len = std::min(bytes.size(), sizeof(kExportMagic));
  if (std::memcmp(bytes.data(), kExportMagic, magic_len) != 0) {
    return Status::InvalidArgument(
        "not a fedge model export: the file does not start with \"FEDGEMDL\" (export models "
        "with `ExportModel`; a raw tensor bundle cannot be imported)");
  }
  if (bytes.size() < kExportHeaderSize) {
    return Status::Corruption("the export is truncated: " + std::to_string(bytes.size()) +
                              " bytes, shorter than its " + std::to_string(kExportHeaderSize) +
                              "-byte header; copy the file again");
  }
  const uint64_t format = GetLe(bytes.data() + kVersionOffset, 4);
  if (format != kExportFormatVersion) {
    return Status::InvalidArgument("export format version " + std::to_string(format) +
                                   " is not supported (this build reads version " +
                                   std::to_string(kExportFormatVersion) +
                                   "); import it with the fedge release that wrote it");
  }
  ExportHeader h{GetLe(bytes.data() + kRecordLenOffset, 8),
                 GetLe(bytes.data() + kBlobLenOffset, 8)};
  const uint64_t after_header = bytes.size() - kExportHeaderSize;
  if (h.record_len == 0 || h.record_len > kMaxExportRecordBytes) {
    return Status::Corruption("the export's header is corrupt: record length " +
                              std::to_string(h.record_len) + " is outside 1.." +
                              std::to_string(kMaxExportRecordBytes));
  }
  if (h.record_len > after_header) {
    return Status::Corruption("the export is truncated or its header is corrupt: the record is " +
                              std::to_string(h.record_len) + " bytes but only " +
                              std::to_string(after_header) + " follow the header");
  }
  const auto record = bytes.subspan(kExportHeaderSize, h.record_len);
  if (!std::equal(bytes.begin() + kHeaderDigestOffset, bytes.begin() + kExportHeaderSize,
                  HeaderDigest(bytes, record).begin())) {
    return Status::Corruption(
        "the export's header checksum does not match: its header or record was altered or "
        "damaged; export the model again");
  }
  if (uint64_t flags = GetLe(bytes.data() + kFlagsOffset, 4); flags != 0) {
    return Status::InvalidArgument("the export sets unknown flags " + std::to_string(flags) +
                                   "; import it with the fedge release that wrote it");
  }
  const uint64_t after_record = after_header - h.record_len;
  if (h.blob_len > after_record) {
    return Status::Corruption("the export is truncated: the blob should be " +
                              std::to_string(h.blob_len) + " bytes but only " +
                              std::to_string(after_record) + " remain; copy the file again");
  }
  if (h.blob_len < after_record) {
    return Status::Corruption("the export has " + std::to_string(after_record - h.blob_len) +
                              " unexpected bytes after the blob");
  }
  return h;
}

// Every numeric leaf of `j` by '.'-joined path (array elements by index).
void FlattenNumbers(const json& j, const std::string& path, std::map<std::string, double>* out) {
  if (j.is_number()) {
    (*out)[path] = j.get<double>();
  } else if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (path.empty() && key == "imported_from") continue;  // identity, not a measurement
      FlattenNumbers(value, path.empty() ? key : path + "." + key, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      FlattenNumbers(j[i], path.empty() ? std::to_string(i) : path + "." + std::to_string(i), out);
    }
  }
}

json CompareMetrics(const json& a, const json& b) {
  std::map<std::string, double> fa, fb;
  FlattenNumbers(a, "", &fa);
  FlattenNumbers(b, "", &fb);
  std::set<std::string> paths;
  for (const auto& [path, v] : fa) paths.insert(path);
  for (const auto& [path, v] : fb) paths.insert(path);
  json out = json::object();
  for (const std::string& path : paths) {
    auto ia = fa.find(path), ib = fb.find(path);
    json va = ia == fa.end() ? json(nullptr) : json(ia->second);
    json vb = ib == fb.end() ? json(nullptr) : json(ib->second);
    json delta = va.is_null() || vb.is_null() ? json(nullptr) : json(ib->second - ia->second);
    out[path] = {{"a", va}, {"b", vb}, {"delta", delta}};
  }
  return out;
}

// Ancestry facts from the two lineages (each starts at its own version).
void CompareLineages(const std::vector<ModelRecord>& la, const std::vector<ModelRecord>& lb,
                     json* out) {
  std::unordered_map<uint64_t, uint64_t> distance_from_a;
  for (size_t i = 0; i < la.size(); ++i) distance_from_a.emplace(la[i].version, i);
  const uint64_t a = la.front().version, b = lb.front().version;
  (*out)["ancestry"] = nullptr;
  (*out)["common_ancestor"] = nullptr;
  if (auto it = distance_from_a.find(b); it != distance_from_a.end()) {
    (*out)["ancestry"] = {{"ancestor", b}, {"descendant", a}, {"distance", it->second}};
  }
  for (size_t j = 0; j < lb.size(); ++j) {
    auto it = distance_from_a.find(lb[j].version);
    if (it == distance_from_a.end()) continue;
    if (lb[j].version == a) {
      (*out)["ancestry"] = {{"ancestor", a}, {"descendant", b}, {"distance", j}};
    }
    (*out)["common_ancestor"] = {
        {"version", lb[j].version}, {"distance_from_a", it->second}, {"distance_from_b", j}};
    return;
  }
}

// Which of `models` (ascending by version) keep their blobs: the head, the first version, the
// newest keep_last, multiples of keep_every, and any version sharing a digest with one of those.
Result<std::vector<bool>> KeptByPolicy(const std::vector<ModelRecord>& models,
                                       const RetentionPolicy& policy, uint64_t head) {
  const size_t newest_from =
      models.size() > policy.keep_last ? models.size() - policy.keep_last : 0;
  std::vector<bool> kept(models.size());
  std::vector<shared::Digest> digests;
  std::set<shared::Digest> kept_digests;
  for (size_t i = 0; i < models.size(); ++i) {
    const uint64_t v = models[i].version;
    Result<shared::Digest> d = shared::DigestFromHex(models[i].digest_hex);
    if (!d.ok()) {
      return Status::Corruption("retention: version " + V(v) + " has an invalid digest '" +
                                models[i].digest_hex + "'; the registry is damaged");
    }
    digests.push_back(*d);
    kept[i] = v == head || i == 0 || i >= newest_from ||
              (policy.keep_every != 0 && v % policy.keep_every == 0);
    if (kept[i]) kept_digests.insert(*d);
  }
  for (size_t i = 0; i < models.size(); ++i) {
    if (kept_digests.count(digests[i]) != 0) kept[i] = true;
  }
  return kept;
}

}  // namespace

json ModelFacts(const ModelRecord& r) {
  return {{"version", r.version},
          {"parent", r.parent ? json(*r.parent) : json(nullptr)},
          {"round", r.round},
          {"arch", r.arch},
          {"digest", r.digest_hex},
          {"size_bytes", r.size_bytes},
          {"created_ms", r.created_ms},
          {"origin", r.origin},
          {"blob_deleted", r.blob_deleted},
          {"contributors", r.contributors.size()},
          {"total_examples", r.total_examples}};
}

Result<std::vector<ModelRecord>> Lineage(Store& store, uint64_t version) {
  Result<ModelRecord> first = store.GetModel(version);
  if (!first.ok() && first.status().code() == shared::Code::kNotFound) {
    return Status::NotFound("no model version " + V(version) + " in the registry");
  }
  FEDGE_RETURN_IF_ERROR(first.status());
  std::vector<ModelRecord> out{std::move(first).value()};
  std::unordered_set<uint64_t> seen{version};
  while (out.back().parent) {
    const uint64_t child = out.back().version, parent = *out.back().parent;
    if (!seen.insert(parent).second) {
      return Status::Corruption("the lineage of version " + V(version) + " loops: version " +
                                V(child) + " names " + V(parent) +
                                " as its parent, which is already in the chain; the registry's "
                                "records are damaged (restore the database from a backup)");
    }
    Result<ModelRecord> next = store.GetModel(parent);
    if (!next.ok() && next.status().code() == shared::Code::kNotFound) {
      return Status::Corruption("version " + V(child) + " names parent version " + V(parent) +
                                ", which has no record; the registry is damaged (restore the "
                                "database from a backup)");
    }
    FEDGE_RETURN_IF_ERROR(next.status());
    out.push_back(std::move(next).value());
  }
  return out;
}

Result<json> CompareModels(Store& store, uint64_t a, uint64_t b) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> la, Lineage(store, a));
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> lb, Lineage(store, b));
  const ModelRecord& ra = la.front();
  const ModelRecord& rb = lb.front();
  json out = {{"a", ModelFacts(ra)},
              {"b", ModelFacts(rb)},
              {"same_digest", ra.digest_hex == rb.digest_hex},
              {"metrics", CompareMetrics(ra.metrics, rb.metrics)}};
  CompareLineages(la, lb, &out);
  return out;
}

Result<std::vector<uint8_t>> EncodeExport(const ModelRecord& record,
                                          std::span<const uint8_t> blob) {
  FEDGE_RETURN_IF_ERROR(CheckBlobMatches(record, blob).status());
  ModelRecord copy = record;
  copy.blob_deleted = false;  // the file carries the blob
  const std::string text = ToJson(copy).dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxExportRecordBytes) {
    return Status::InvalidArgument("the record of version " + V(record.version) + " is " +
                                   std::to_string(text.size()) + " bytes as JSON, over the " +
                                   std::to_string(kMaxExportRecordBytes) + "-byte export limit");
  }
  std::vector<uint8_t> out(kExportHeaderSize);
  std::memcpy(out.data(), kExportMagic, sizeof(kExportMagic));
  PutLe(out.data() + kVersionOffset, kExportFormatVersion, 4);
  PutLe(out.data() + kFlagsOffset, 0, 4);
  PutLe(out.data() + kRecordLenOffset, text.size(), 8);
  PutLe(out.data() + kBlobLenOffset, blob.size(), 8);
  const shared::Digest header_digest = HeaderDigest(out, shared::AsBytes(text));
  std::copy(header_digest.begin(), header_digest.end(), out.begin() + kHeaderDigestOffset);
  out.reserve(kExportHeaderSize + text.size() + blob.size());
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), blob.begin(), blob.end());
  return out;
}

Result<ExportedModel> DecodeExport(std::span<const uint8_t> bytes) {
  FEDGE_ASSIGN_OR_RETURN(ExportHeader h, ParseHeader(bytes));
  const auto text = bytes.subspan(kExportHeaderSize, h.record_len);
  FEDGE_ASSIGN_OR_RETURN(
      ModelRecord record,
      RecordFromJson(std::string_view(reinterpret_cast<const char*>(text.data()), text.size())));
  const auto blob = bytes.subspan(kExportHeaderSize + h.record_len, h.blob_len);
  if (Result<shared::Digest> d = CheckBlobMatches(record, blob); !d.ok()) {
    return Status::Corruption("the export's model weights were altered or damaged: " +
                              d.status().message());
  }
  if (Result<shared::TensorBundle> b = shared::DecodeBundle(blob); !b.ok()) {
    return Status::Corruption("the export's blob is not a valid tensor bundle: " +
                              b.status().message());
  }
  return ExportedModel{std::move(record), std::vector<uint8_t>(blob.begin(), blob.end())};
}

Result<ExportedModel> ReadExport(const std::string& path, size_t max_bytes) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(path, max_bytes));
  Result<ExportedModel> model = DecodeExport(bytes);
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

Status ExportModel(Store& store, uint64_t version, const std::string& path) {
  Result<ModelRecord> record = store.GetModel(version);
  if (!record.ok() && record.status().code() == shared::Code::kNotFound) {
    return Status::NotFound("cannot export version " + V(version) + ": no such version");
  }
  FEDGE_RETURN_IF_ERROR(record.status());
  if (record->blob_deleted) {
    return Status::NotFound("cannot export version " + V(version) +
                            ": its blob was deleted by the retention policy (only the record "
                            "remains); export a version that still has its weights");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record->digest_hex));
  Result<std::vector<uint8_t>> blob = store.GetBlob(digest);
  if (!blob.ok()) {
    return blob.status().WithContext("cannot export version " + V(version) +
                                     " (its record says the blob is present)");
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, EncodeExport(*record, *blob));
  return shared::WriteFileAtomic(path, bytes, 0600)
      .WithContext("cannot export version " + V(version) + " to " + path);
}

Result<ModelRecord> ImportModel(Store& store, const ExportedModel& model) {
  const ModelRecord& src = model.record;
  Result<shared::Digest> digest = CheckBlobMatches(src, model.blob);
  if (!digest.ok()) return digest.status().WithContext("cannot import");
  if (!src.metrics.is_object()) {
    return Status::InvalidArgument("cannot import: the record's metrics are not a JSON object");
  }
  const std::string digest_hex = shared::ToHex(*digest);
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> existing, store.ListModels());
  uint64_t highest = 0;
  for (const ModelRecord& r : existing) {
    highest = std::max(highest, r.version);
    Result<shared::Digest> d = shared::DigestFromHex(r.digest_hex);
    if (d.ok() && *d == *digest) {
      return Status::AlreadyExists("cannot import: the registry already holds this model (digest " +
                                   digest_hex + ") as version " + V(r.version) +
                                   (r.blob_deleted ? ", whose blob was deleted by retention" : ""));
    }
  }
  json from = {{"version", src.version},
               {"parent", src.parent ? json(*src.parent) : json(nullptr)},
               {"round", src.round},
               {"digest", digest_hex},
               {"created_ms", src.created_ms},
               {"contributors", src.contributors.size()},
               {"total_examples", src.total_examples},
               {"origin", src.origin}};
  if (src.metrics.contains("imported_from")) from["imported_from"] = src.metrics["imported_from"];
  ModelRecord r;
  r.version = highest + 1;
  r.round = 0;
  r.arch = src.arch;
  r.digest_hex = digest_hex;
  r.size_bytes = model.blob.size();
  r.created_ms = shared::UnixMillis();
  r.metrics = src.metrics;
  r.metrics["imported_from"] = std::move(from);
  r.origin = "import";
  FEDGE_RETURN_IF_ERROR(store.PutModel(r, model.blob, /*make_head=*/false)
                            .WithContext("cannot import as version " + V(r.version)));
  return r;
}

Result<RetentionResult> ApplyRetention(Store& store, const RetentionPolicy& policy, uint64_t head) {
  RetentionResult result;
  if (policy.keep_last == 0) return result;
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> models, store.ListModels());
  if (models.empty()) return result;
  std::sort(models.begin(), models.end(),
            [](const ModelRecord& x, const ModelRecord& y) { return x.version < y.version; });
  if (std::none_of(models.begin(), models.end(),
                   [head](const ModelRecord& m) { return m.version == head; })) {
    return Status::InvalidArgument("retention: head version " + V(head) +
                                   " is not in the registry; pass the current head");
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<bool> kept, KeptByPolicy(models, policy, head));
  // Mark the records first, so no reader is told a blob exists after it is gone; a run cut
  // short between the two steps leaves blobs that the next run deletes.
  std::map<shared::Digest, uint64_t> to_delete;  // digest -> size
  for (size_t i = 0; i < models.size(); ++i) {
    ModelRecord& m = models[i];
    if (kept[i]) continue;
    if (!m.blob_deleted) {
      m.blob_deleted = true;
      FEDGE_RETURN_IF_ERROR(store.PutModelRecord(m).WithContext("retention"));
      result.pruned.push_back(m.version);
    }
    FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(m.digest_hex));
    to_delete.emplace(digest, m.size_bytes);
  }
  for (const auto& [digest, size] : to_delete) {
    if (!store.HasBlob(digest)) continue;
    FEDGE_RETURN_IF_ERROR(store.DeleteBlob(digest).WithContext("retention"));
    result.bytes_freed += size;
  }
  return result;
}

}  // namespace fedge::coordinator
