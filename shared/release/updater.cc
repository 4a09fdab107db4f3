#include "shared/release/updater.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "shared/crypto/crypto.h"
#include "shared/release/canonical.h"

namespace fedge::shared::release {
namespace {

constexpr uint64_t kStateFormat = 1;
constexpr size_t kMaxStateBytes = 4 * kMaxEnvelopeBytes + 4096;

std::string StatePath(const UpdaterOptions& options) {
  return options.state_dir + "/" + kStateFileName;
}

Status CorruptState(const Status& why) {
  return Status::Corruption("trusted release state: " + why.message());
}

// A stored metadata file, re-checked against the stored root (signatures and payload).
template <typename M, typename Decode>
Result<std::optional<Verified<M>>> LoadStored(const Json& j, const char* key,
                                              const RootMetadata& root, Role role, Decode decode) {
  if (!j.contains(key)) return std::optional<Verified<M>>();
  FEDGE_ASSIGN_OR_RETURN(std::string text, GetString(j, key, kMaxEnvelopeBytes, "state"));
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, Envelope::Parse(AsBytes(text), kMaxEnvelopeBytes, key));
  FEDGE_RETURN_IF_ERROR(envelope.VerifyRole(root, role, key));
  FEDGE_ASSIGN_OR_RETURN(M meta, decode(envelope.payload()));
  return std::optional<Verified<M>>(Verified<M>{std::move(envelope), std::move(meta)});
}

}  // namespace

std::string EncodeTrustedState(const TrustedState& state) {
  Json j{{"format", kStateFormat},
         {"installed_counter", state.installed_counter},
         {"installed_target", state.installed_target},
         {"root", state.root.envelope.Serialize()}};
  if (state.timestamp) j["timestamp"] = state.timestamp->envelope.Serialize();
  if (state.snapshot) j["snapshot"] = state.snapshot->envelope.Serialize();
  if (state.targets) j["targets"] = state.targets->envelope.Serialize();
  return j.dump();
}

Result<TrustedState> DecodeTrustedState(std::span<const uint8_t> bytes) {
  FEDGE_ASSIGN_OR_RETURN(Json j, ParseJson(bytes, kMaxStateBytes, "state"));
  if (!j.is_object()) return Status::InvalidArgument("state: not an object");
  FEDGE_ASSIGN_OR_RETURN(uint64_t format, GetUint(j, "format", "state"));
  if (format != kStateFormat) {
    return Status::InvalidArgument("state: unknown format " + std::to_string(format));
  }
  TrustedState state;
  FEDGE_ASSIGN_OR_RETURN(state.installed_counter, GetUint(j, "installed_counter", "state"));
  FEDGE_ASSIGN_OR_RETURN(state.installed_target,
                         GetString(j, "installed_target", kMaxNameLength, "state"));
  FEDGE_ASSIGN_OR_RETURN(std::string root, GetString(j, "root", kMaxEnvelopeBytes, "state"));
  FEDGE_ASSIGN_OR_RETURN(state.root, VerifyInitialRoot(AsBytes(root)));
  const RootMetadata& r = state.root.meta;
  FEDGE_ASSIGN_OR_RETURN(
      state.timestamp,
      LoadStored<TimestampMetadata>(j, "timestamp", r, Role::kTimestamp, DecodeTimestamp));
  FEDGE_ASSIGN_OR_RETURN(state.snapshot, LoadStored<SnapshotMetadata>(
                                             j, "snapshot", r, Role::kSnapshot, DecodeSnapshot));
  FEDGE_ASSIGN_OR_RETURN(
      state.targets, LoadStored<TargetsMetadata>(j, "targets", r, Role::kTargets, DecodeTargets));
  return state;
}

Result<Updater> Updater::Open(UpdaterOptions options, std::span<const uint8_t> initial_root) {
  if (options.state_dir.empty()) return Status::InvalidArgument("updater: empty state_dir");
  if (!options.clock) return Status::InvalidArgument("updater: no clock");
  Result<std::vector<uint8_t>> stored = ReadFile(StatePath(options), kMaxStateBytes);
  if (stored.ok()) {
    Result<TrustedState> state = DecodeTrustedState(*stored);
    if (!state.ok()) return CorruptState(state.status());
    return Updater(std::move(options), std::move(*state));
  }
  if (stored.status().code() != Code::kNotFound) return stored.status();
  if (initial_root.empty()) {
    return Status::NotFound("updater: no trusted state in " + options.state_dir +
                            " and no initial root to start from");
  }
  TrustedState state;
  FEDGE_ASSIGN_OR_RETURN(state.root, VerifyInitialRoot(initial_root));
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Status::IOError("cannot create " + options.state_dir + ": " + ec.message());
  }
  Updater updater(std::move(options), std::move(state));
  FEDGE_RETURN_IF_ERROR(updater.Persist(updater.state_));
  return updater;
}

Status Updater::Persist(const TrustedState& state) const {
  return WriteFileAtomic(StatePath(options_), AsBytes(EncodeTrustedState(state)), 0644);
}

Status Updater::Refresh(const ReleaseBundle& bundle) {
  if (bundle.roots.size() > kMaxRootRotationsPerUpdate) {
    return Status::InvalidArgument("root: more than 64 new root versions in one update");
  }
  const int64_t now = options_.clock();
  TrustedState next = state_;
  for (const std::vector<uint8_t>& root : bundle.roots) {
    FEDGE_RETURN_IF_ERROR(UpdateRoot(next, root));
  }
  FEDGE_RETURN_IF_ERROR(CheckRootNotExpired(next, now));
  FEDGE_RETURN_IF_ERROR(UpdateTimestamp(next, bundle.timestamp, now));
  FEDGE_RETURN_IF_ERROR(UpdateSnapshot(next, bundle.snapshot, now));
  FEDGE_RETURN_IF_ERROR(UpdateTargets(next, bundle.targets, now));
  FEDGE_RETURN_IF_ERROR(Persist(next));
  state_ = std::move(next);
  return Status::Ok();
}

Result<TargetInfo> Updater::CheckTarget(const std::string& name,
                                        const ClientDescription& client) const {
  return release::CheckTarget(state_, name, client);
}

Result<TargetInfo> Updater::VerifyRelease(const std::string& name, const ClientDescription& client,
                                          ByteSource& source, std::vector<uint8_t>* out) const {
  FEDGE_ASSIGN_OR_RETURN(TargetInfo target, CheckTarget(name, client));
  FEDGE_RETURN_IF_ERROR(VerifyArtifact(target, source, options_.max_artifact_bytes, out));
  return target;
}

Status Updater::RecordInstalled(const TargetInfo& target) {
  if (target.release_counter < state_.installed_counter) {
    return Status::InvalidArgument("release: counter " + std::to_string(target.release_counter) +
                                   " is lower than the installed " +
                                   std::to_string(state_.installed_counter) + " (rollback)");
  }
  TrustedState next = state_;
  next.installed_counter = target.release_counter;
  next.installed_target = target.name;
  FEDGE_RETURN_IF_ERROR(Persist(next));
  state_ = std::move(next);
  return Status::Ok();
}

}  // namespace fedge::shared::release
