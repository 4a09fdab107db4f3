// The targets side of release_tools.h: what `fedgectl release publish | withdraw | timestamp`
// write into a repository (targets, snapshot and timestamp, unsigned until key holders sign).
#include <filesystem>

#include "coordinator/release_tools.h"
#include "shared/crypto/crypto.h"
#include "shared/release/envelope.h"
#include "shared/release/repository.h"

namespace fedge::coordinator {

namespace fs = std::filesystem;
namespace rel = shared::release;
using shared::Result;
using shared::Status;

Result<uint64_t> HighestReleaseCounter(const std::string& repo) {
  const std::string path = RepoMetadataPath(repo, "targets.json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return uint64_t{0};
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(path));
  FEDGE_ASSIGN_OR_RETURN(rel::TargetsMetadata t, rel::DecodeTargets(env.payload()));
  uint64_t highest = 0;
  for (const auto& [name, info] : t.targets) highest = std::max(highest, info.release_counter);
  return highest;
}

namespace {
// REPO's current targets (version 0 and none listed when there is no targets file yet).
Result<rel::TargetsMetadata> CurrentTargets(const std::string& repo) {
  rel::TargetsMetadata previous;
  previous.version = 0;
  const std::string targets_path = RepoMetadataPath(repo, "targets.json");
  std::error_code ec;
  if (fs::exists(targets_path, ec)) {
    FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(targets_path));
    FEDGE_ASSIGN_OR_RETURN(previous, rel::DecodeTargets(env.payload()));
  }
  return previous;
}

// Writes targets version `previous_version + 1` listing `list`, then a new snapshot and
// timestamp over it, all unsigned.
Status WriteTargetsChain(const PublishOptions& o, uint64_t previous_version,
                         const std::vector<rel::TargetInfo>& list) {
  FEDGE_ASSIGN_OR_RETURN(
      rel::Envelope targets,
      rel::MakeTargets(previous_version + 1, o.now + o.targets_expires_days * kDay, list));
  uint64_t snapshot_version = 1;
  const std::string snapshot_path = RepoMetadataPath(o.repo, "snapshot.json");
  std::error_code ec;
  if (fs::exists(snapshot_path, ec)) {
    FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(snapshot_path));
    FEDGE_ASSIGN_OR_RETURN(rel::SnapshotMetadata s, rel::DecodeSnapshot(env.payload()));
    snapshot_version = s.version + 1;
  }
  FEDGE_ASSIGN_OR_RETURN(
      rel::Envelope snapshot,
      rel::MakeSnapshot(snapshot_version, o.now + o.snapshot_expires_days * kDay, targets));
  FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(RepoMetadataPath(o.repo, "targets.json"), targets));
  FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(snapshot_path, snapshot));
  return RefreshTimestamp(o.repo, o.timestamp_expires_hours, o.now);
}
}  // namespace

Result<rel::TargetInfo> Publish(const PublishOptions& o) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(o.artifact_path, 1u << 30));
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact a, ml::DecodeArtifact(bytes));
  FEDGE_RETURN_IF_ERROR(LoadRepoRoot(o.repo).status());
  FEDGE_ASSIGN_OR_RETURN(rel::TargetsMetadata previous, CurrentTargets(o.repo));
  for (const auto& [name, info] : previous.targets) {
    if (info.release_counter >= a.version) {
      return Status::InvalidArgument(
          "artifact " + o.artifact_path + " has release counter " + std::to_string(a.version) +
          " but the repository already lists " + name + " with counter " +
          std::to_string(info.release_counter) + "; rebuild it with `fedgectl release create`");
    }
  }
  rel::TargetInfo fields;
  fields.name = a.model_id + "-" + std::to_string(a.version) + ".fdga";
  fields.release_counter = a.version;
  fields.model_id = a.model_id;
  fields.compatibility = a.compatibility;
  FEDGE_ASSIGN_OR_RETURN(rel::TargetInfo target, rel::DescribeArtifact(fields, bytes));
  std::error_code ec;
  fs::create_directories(o.repo + "/targets", ec);
  if (ec) return Status::IOError("cannot create " + o.repo + "/targets: " + ec.message());
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(RepoTargetPath(o.repo, target.name), bytes, 0644));
  std::vector<rel::TargetInfo> list;
  for (const auto& [name, info] : previous.targets) list.push_back(info);
  list.push_back(target);
  FEDGE_RETURN_IF_ERROR(WriteTargetsChain(o, previous.version, list));
  return target;
}

Status Withdraw(const PublishOptions& o, const std::string& target) {
  FEDGE_RETURN_IF_ERROR(LoadRepoRoot(o.repo).status());
  FEDGE_ASSIGN_OR_RETURN(rel::TargetsMetadata previous, CurrentTargets(o.repo));
  if (previous.targets.count(target) == 0) {
    std::string listed;
    for (const auto& [name, info] : previous.targets) listed += (listed.empty() ? "" : ", ") + name;
    return Status::NotFound("the repository's targets do not list \"" + target +
                            "\" (listed: " + (listed.empty() ? "none" : listed) + ")");
  }
  std::vector<rel::TargetInfo> list;
  for (const auto& [name, info] : previous.targets) {
    if (name != target) list.push_back(info);
  }
  return WriteTargetsChain(o, previous.version, list);
}

Status RefreshTimestamp(const std::string& repo, int64_t hours, int64_t now) {
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope snapshot,
                         rel::ReadEnvelope(RepoMetadataPath(repo, "snapshot.json")));
  uint64_t version = 1;
  const std::string path = RepoMetadataPath(repo, "timestamp.json");
  std::error_code ec;
  if (fs::exists(path, ec)) {
    FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(path));
    FEDGE_ASSIGN_OR_RETURN(rel::TimestampMetadata t, rel::DecodeTimestamp(env.payload()));
    version = t.version + 1;
  }
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope ts,
                         rel::MakeTimestamp(version, now + hours * 3600, snapshot));
  return rel::WriteEnvelope(path, ts);
}

}  // namespace fedge::coordinator
