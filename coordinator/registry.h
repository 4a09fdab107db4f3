#pragma once
// Model registry operations over a Store: lineage, comparison, export/import of one version as
// a self-checking file, and blob retention. Plain functions; each call reads what it needs from
// the Store and holds no state. Thread-safety: as safe as the Store, but ImportModel and
// ApplyRetention read then write, so run at most one of them at a time per registry (and not
// while a round is committing a new version). File format: docs/registry.md.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "coordinator/store.h"
#include "shared/base/status.h"

namespace fedge::coordinator {

// The facts listings show for a version (no per-client contributors, no metrics).
nlohmann::json ModelFacts(const ModelRecord& record);

// The records from `version` back through its parents to a version without one, `version`
// first. NotFound for an unknown `version`; Corruption naming the versions if a parent record
// is missing or the parents loop.
shared::Result<std::vector<ModelRecord>> Lineage(Store& store, uint64_t version);

// A JSON report comparing versions `a` and `b`:
//   "a", "b": key facts of each record (version, parent, round, arch, digest, ...);
//   "same_digest": whether the weights are byte-identical;
//   "metrics": {"<path>": {"a": x|null, "b": y|null, "delta": y-x|null}} for every numeric leaf
//     of either record's metrics, flattened with '.' (array elements by index), except the
//     "imported_from" identity block;
//   "ancestry": {"ancestor", "descendant", "distance"} if one is an ancestor of the other
//     (a version is its own ancestor at distance 0), else null;
//   "common_ancestor": {"version", "distance_from_a", "distance_from_b"} of the nearest common
//     ancestor, or null if the lineages never meet.
// Errors of Lineage() for either version.
shared::Result<nlohmann::json> CompareModels(Store& store, uint64_t a, uint64_t b);

// One model version as carried by an export file.
struct ExportedModel {
  ModelRecord record;
  std::vector<uint8_t> blob;  // encoded tensor bundle; SHA-256 equals record.digest_hex
};

inline constexpr char kExportMagic[8] = {'F', 'E', 'D', 'G', 'E', 'M', 'D', 'L'};
inline constexpr uint32_t kExportFormatVersion = 1;
inline constexpr size_t kExportHeaderSize = 64;
inline constexpr uint64_t kMaxExportRecordBytes = 16u << 20;
inline constexpr size_t kMaxExportFileBytes = size_t{2} << 30;

// Serializes `record` and `blob` into the export format. InvalidArgument if the blob's SHA-256
// or size does not match the record.
shared::Result<std::vector<uint8_t>> EncodeExport(const ModelRecord& record,
                                                  std::span<const uint8_t> blob);

// Parses and verifies an export file's bytes (untrusted): magic, format version, lengths,
// header digest, record fields, blob size and digest, and that the blob decodes as a tensor
// bundle. InvalidArgument for a file that is not an export or has an unsupported format
// version; Corruption for truncation, bad lengths or failed integrity checks.
shared::Result<ExportedModel> DecodeExport(std::span<const uint8_t> bytes);

// ReadFile(path, max_bytes) + DecodeExport, with the path in error messages.
shared::Result<ExportedModel> ReadExport(const std::string& path,
                                         size_t max_bytes = kMaxExportFileBytes);

// Writes `version` (record and verified blob) to `path` atomically (mode 0600). NotFound if the
// version is unknown or its blob was deleted by the retention policy (the message says which).
shared::Status ExportModel(Store& store, uint64_t version, const std::string& path);

// Stores `model` as a new version (highest existing version + 1) with origin "import", no
// parent, round 0 and no contributors; the original identity (version, parent, round, digest,
// created_ms, contributor count, total examples) goes to metrics["imported_from"]. Does not
// move the head. AlreadyExists naming the version if one with the same digest is present;
// InvalidArgument if the blob does not match the record's digest or size. Returns the record
// as stored.
shared::Result<ModelRecord> ImportModel(Store& store, const ExportedModel& model);

struct RetentionPolicy {
  uint64_t keep_last = 0;   // keep the blobs of the newest N versions; 0 = keep every blob
  uint64_t keep_every = 0;  // also keep versions divisible by this; 0 = off
};

struct RetentionResult {
  std::vector<uint64_t> pruned;  // versions whose blobs this call marked deleted, ascending
  uint64_t bytes_freed = 0;      // sum of the sizes of the blobs this call deleted
};

// Deletes the blobs of versions outside `policy` and marks their records blob_deleted (the
// records stay). Never deletes the blob of `head`, of the first (lowest) version, of the newest
// `keep_last` versions, of versions kept by `keep_every`, or a blob whose digest a kept version
// shares. Idempotent; re-running also finishes a run that was interrupted between marking a
// record and deleting its blob. InvalidArgument if `head` is not a version in the registry.
shared::Result<RetentionResult> ApplyRetention(Store& store, const RetentionPolicy& policy,
                                               uint64_t head);

}  // namespace fedge::coordinator
