#include "shared/release/repository.h"

#include <set>
#include <utility>

#include "shared/crypto/crypto.h"
#include "shared/release/verify.h"

namespace fedge::shared::release {
namespace {

Result<RoleKeys> AddRole(const RoleSpec& spec, Role role, RootMetadata& root) {
  const std::string what = std::string("root spec: role ") + RoleName(role);
  if (spec.keys.empty()) return Status::InvalidArgument(what + " has no keys");
  RoleKeys keys;
  std::set<std::string> seen;
  for (const PublicKey& key : spec.keys) {
    if (!seen.insert(key.key_id()).second) {
      return Status::InvalidArgument(what + " lists key " + key.key_id() + " twice");
    }
    keys.key_ids.push_back(key.key_id());
    root.keys.emplace(key.key_id(), key);
  }
  if (spec.threshold == 0 || spec.threshold > spec.keys.size()) {
    return Status::InvalidArgument(what + ": threshold " + std::to_string(spec.threshold) +
                                   " must be between 1 and its " +
                                   std::to_string(spec.keys.size()) + " keys");
  }
  keys.threshold = spec.threshold;
  return keys;
}

MetaFileInfo Pin(const Envelope& envelope, uint64_t version) {
  return MetaFileInfo{version, envelope.payload().size(), envelope.PayloadSha256()};
}

}  // namespace

Result<RootMetadata> MakeRoot(const RootSpec& spec, uint64_t version) {
  RootMetadata root;
  root.version = version;
  root.expires = spec.expires;
  FEDGE_ASSIGN_OR_RETURN(root.root, AddRole(spec.root, Role::kRoot, root));
  FEDGE_ASSIGN_OR_RETURN(root.targets, AddRole(spec.targets, Role::kTargets, root));
  FEDGE_ASSIGN_OR_RETURN(root.snapshot, AddRole(spec.snapshot, Role::kSnapshot, root));
  FEDGE_ASSIGN_OR_RETURN(root.timestamp, AddRole(spec.timestamp, Role::kTimestamp, root));
  if (root.keys.size() > kMaxKeys) {
    return Status::InvalidArgument("root spec: more than 64 distinct keys");
  }
  return root;
}

Result<Envelope> MakeRootEnvelope(const RootSpec& spec) {
  FEDGE_ASSIGN_OR_RETURN(RootMetadata root, MakeRoot(spec, 1));
  FEDGE_ASSIGN_OR_RETURN(std::string payload, EncodePayload(root));
  return Envelope(std::move(payload));
}

Result<Envelope> RotateRoot(const RootMetadata& current, const RootSpec& spec) {
  FEDGE_ASSIGN_OR_RETURN(RootMetadata root, MakeRoot(spec, current.version + 1));
  FEDGE_ASSIGN_OR_RETURN(std::string payload, EncodePayload(root));
  return Envelope(std::move(payload));
}

Status CheckRootRotation(const RootMetadata& current, const Envelope& next) {
  TrustedState state;
  state.root.meta = current;
  return UpdateRoot(state, AsBytes(next.Serialize()));
}

Result<TargetInfo> DescribeArtifact(TargetInfo fields, std::span<const uint8_t> artifact) {
  fields.length = artifact.size();
  fields.sha256 = Sha256(artifact);
  return fields;
}

Result<TargetInfo> DescribeArtifactFile(TargetInfo fields, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  Sha256Hasher hasher;
  std::vector<uint8_t> buffer(1 << 20);
  uint64_t length = 0;
  while (true) {
    FEDGE_ASSIGN_OR_RETURN(size_t n, source->Read(buffer));
    if (n == 0) break;
    hasher.Update(std::span<const uint8_t>(buffer.data(), n));
    length += n;
  }
  fields.length = length;
  fields.sha256 = hasher.Finish();
  return fields;
}

Result<Envelope> MakeTargets(uint64_t version, int64_t expires,
                             const std::vector<TargetInfo>& targets) {
  TargetsMetadata meta;
  meta.version = version;
  meta.expires = expires;
  for (const TargetInfo& t : targets) {
    if (!meta.targets.emplace(t.name, t).second) {
      return Status::InvalidArgument("targets: target \"" + t.name + "\" is listed twice");
    }
  }
  FEDGE_ASSIGN_OR_RETURN(std::string payload, EncodePayload(meta));
  return Envelope(std::move(payload));
}

Result<Envelope> MakeSnapshot(uint64_t version, int64_t expires, const Envelope& targets) {
  FEDGE_ASSIGN_OR_RETURN(TargetsMetadata t, DecodeTargets(targets.payload()));
  SnapshotMetadata meta{version, expires, Pin(targets, t.version)};
  FEDGE_ASSIGN_OR_RETURN(std::string payload, EncodePayload(meta));
  return Envelope(std::move(payload));
}

Result<Envelope> MakeTimestamp(uint64_t version, int64_t expires, const Envelope& snapshot) {
  FEDGE_ASSIGN_OR_RETURN(SnapshotMetadata s, DecodeSnapshot(snapshot.payload()));
  TimestampMetadata meta{version, expires, Pin(snapshot, s.version)};
  FEDGE_ASSIGN_OR_RETURN(std::string payload, EncodePayload(meta));
  return Envelope(std::move(payload));
}

Status WriteEnvelope(const std::string& path, const Envelope& envelope) {
  return WriteFileAtomic(path, AsBytes(envelope.Serialize()), 0644);
}

Result<Envelope> ReadEnvelope(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFile(path, kMaxEnvelopeBytes));
  return Envelope::Parse(bytes, kMaxEnvelopeBytes, path);
}

Status SignFile(const std::string& path, const PrivateKey& key) {
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, ReadEnvelope(path));
  FEDGE_RETURN_IF_ERROR(envelope.AddSignature(key));
  return WriteEnvelope(path, envelope);
}

}  // namespace fedge::shared::release
