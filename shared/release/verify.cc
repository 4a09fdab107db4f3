#include "shared/release/verify.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "shared/codec/tensor_bundle.h"

namespace fedge::shared::release {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

Status CheckExpiry(Role role, uint64_t version, int64_t expires, int64_t now) {
  if (now < expires) return Status::Ok();
  return Status::DeadlineExceeded(std::string(RoleName(role)) + ": version " + Str(version) +
                                  " expired at " + std::to_string(expires) + " (now " +
                                  std::to_string(now) + "; freeze attack or stale repository)");
}

// Length, then hash, of `envelope`'s payload against what another role pinned.
Status CheckPinned(const Envelope& envelope, const MetaFileInfo& pinned, Role role, Role by) {
  const std::string name = RoleName(role);
  if (envelope.payload().size() != pinned.length) {
    return Status::Corruption(name + ": payload is " + Str(envelope.payload().size()) +
                              " bytes but " + RoleName(by) + " pins " + name + " version " +
                              Str(pinned.version) + " at " + Str(pinned.length) +
                              " bytes (mixed versions or tampering)");
  }
  if (envelope.PayloadSha256() != pinned.sha256) {
    return Status::Corruption(name + ": SHA-256 of the payload does not match the one " +
                              RoleName(by) + " pins for " + name + " version " +
                              Str(pinned.version) + " (mixed versions or tampering)");
  }
  return Status::Ok();
}

Status CheckNotOlder(Role role, uint64_t version, uint64_t trusted) {
  if (version >= trusted) return Status::Ok();
  return Status::InvalidArgument(std::string(RoleName(role)) + ": version " + Str(version) +
                                 " is older than the trusted version " + Str(trusted) +
                                 " (replay or freeze attack)");
}

bool IsSubset(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::all_of(a.begin(), a.end(), [&](const std::string& id) {
    return std::find(b.begin(), b.end(), id) != b.end();
  });
}

bool SameRoleKeys(const RoleKeys& a, const RoleKeys& b) {
  return a.threshold == b.threshold && IsSubset(a.key_ids, b.key_ids) &&
         IsSubset(b.key_ids, a.key_ids);
}

bool VersionAtLeast(const std::array<uint32_t, 3>& have, const std::array<uint32_t, 3>& need) {
  return have >= need;  // lexicographic: major, minor, patch
}

}  // namespace

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Verified<RootMetadata>> VerifyInitialRoot(std::span<const uint8_t> bytes) {
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope,
                         Envelope::Parse(bytes, kMaxEnvelopeBytes, "initial root"));
  FEDGE_ASSIGN_OR_RETURN(RootMetadata root, DecodeRoot(envelope.payload()));
  FEDGE_RETURN_IF_ERROR(envelope.VerifyRole(root, Role::kRoot, "initial root"));
  return Verified<RootMetadata>{std::move(envelope), std::move(root)};
}

Status UpdateRoot(TrustedState& state, std::span<const uint8_t> bytes) {
  const RootMetadata& trusted = state.root.meta;
  const std::string what = "root version " + Str(trusted.version + 1);
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, Envelope::Parse(bytes, kMaxEnvelopeBytes, what));
  // Signatures by the trusted root's keys are checked before the new payload is even decoded.
  Status old_ok = envelope.VerifyRole(trusted, Role::kRoot, what);
  if (!old_ok.ok()) {
    return old_ok.WithContext(
        "root: rotation not signed by a threshold of the trusted root's keys");
  }
  FEDGE_ASSIGN_OR_RETURN(RootMetadata next, DecodeRoot(envelope.payload()));
  if (next.version != trusted.version + 1) {
    return Status::InvalidArgument("root: got version " + Str(next.version) +
                                   " after trusted version " + Str(trusted.version) +
                                   "; each root must be exactly one version newer");
  }
  Status new_ok = envelope.VerifyRole(next, Role::kRoot, what);
  if (!new_ok.ok()) {
    return new_ok.WithContext("root: rotation not signed by a threshold of its own new keys");
  }
  if (!SameRoleKeys(trusted.timestamp, next.timestamp)) state.timestamp.reset();
  if (!SameRoleKeys(trusted.snapshot, next.snapshot)) state.snapshot.reset();
  state.root = Verified<RootMetadata>{std::move(envelope), std::move(next)};
  return Status::Ok();
}

Status CheckRootNotExpired(const TrustedState& state, int64_t now) {
  return CheckExpiry(Role::kRoot, state.root.meta.version, state.root.meta.expires, now);
}

Status UpdateTimestamp(TrustedState& state, std::span<const uint8_t> bytes, int64_t now) {
  constexpr Role kRole = Role::kTimestamp;
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, Envelope::Parse(bytes, kMaxEnvelopeBytes, "timestamp"));
  FEDGE_RETURN_IF_ERROR(envelope.VerifyRole(state.root.meta, kRole, "timestamp"));
  FEDGE_ASSIGN_OR_RETURN(TimestampMetadata next, DecodeTimestamp(envelope.payload()));
  if (state.timestamp) {
    const TimestampMetadata& trusted = state.timestamp->meta;
    FEDGE_RETURN_IF_ERROR(CheckNotOlder(kRole, next.version, trusted.version));
    if (next.version == trusted.version &&
        envelope.payload() != state.timestamp->envelope.payload()) {
      return Status::InvalidArgument("timestamp: version " + Str(next.version) +
                                     " differs from the trusted timestamp of the same version");
    }
    if (next.snapshot.version < trusted.snapshot.version) {
      return Status::InvalidArgument("timestamp: names snapshot version " +
                                     Str(next.snapshot.version) +
                                     ", older than the trusted snapshot version " +
                                     Str(trusted.snapshot.version) + " (rollback attack)");
    }
  }
  FEDGE_RETURN_IF_ERROR(CheckExpiry(kRole, next.version, next.expires, now));
  state.timestamp = Verified<TimestampMetadata>{std::move(envelope), next};
  return Status::Ok();
}

Status UpdateSnapshot(TrustedState& state, std::span<const uint8_t> bytes, int64_t now) {
  constexpr Role kRole = Role::kSnapshot;
  if (!state.timestamp) {
    return Status::InvalidArgument("snapshot: no trusted timestamp yet; update timestamp first");
  }
  const MetaFileInfo& pinned = state.timestamp->meta.snapshot;
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, Envelope::Parse(bytes, kMaxEnvelopeBytes, "snapshot"));
  FEDGE_RETURN_IF_ERROR(CheckPinned(envelope, pinned, kRole, Role::kTimestamp));
  FEDGE_RETURN_IF_ERROR(envelope.VerifyRole(state.root.meta, kRole, "snapshot"));
  FEDGE_ASSIGN_OR_RETURN(SnapshotMetadata next, DecodeSnapshot(envelope.payload()));
  if (next.version != pinned.version) {
    return Status::InvalidArgument("snapshot: version " + Str(next.version) +
                                   " but timestamp names version " + Str(pinned.version));
  }
  if (state.snapshot) {
    const SnapshotMetadata& trusted = state.snapshot->meta;
    FEDGE_RETURN_IF_ERROR(CheckNotOlder(kRole, next.version, trusted.version));
    if (next.targets.version < trusted.targets.version) {
      return Status::InvalidArgument("snapshot: names targets version " +
                                     Str(next.targets.version) +
                                     ", older than the trusted snapshot's " +
                                     Str(trusted.targets.version) + " (rollback attack)");
    }
  }
  FEDGE_RETURN_IF_ERROR(CheckExpiry(kRole, next.version, next.expires, now));
  state.snapshot = Verified<SnapshotMetadata>{std::move(envelope), next};
  return Status::Ok();
}

Status UpdateTargets(TrustedState& state, std::span<const uint8_t> bytes, int64_t now) {
  constexpr Role kRole = Role::kTargets;
  if (!state.snapshot) {
    return Status::InvalidArgument("targets: no trusted snapshot yet; update snapshot first");
  }
  const MetaFileInfo& pinned = state.snapshot->meta.targets;
  FEDGE_ASSIGN_OR_RETURN(Envelope envelope, Envelope::Parse(bytes, kMaxEnvelopeBytes, "targets"));
  FEDGE_RETURN_IF_ERROR(CheckPinned(envelope, pinned, kRole, Role::kSnapshot));
  FEDGE_RETURN_IF_ERROR(envelope.VerifyRole(state.root.meta, kRole, "targets"));
  FEDGE_ASSIGN_OR_RETURN(TargetsMetadata next, DecodeTargets(envelope.payload()));
  if (next.version != pinned.version) {
    return Status::InvalidArgument("targets: version " + Str(next.version) +
                                   " but snapshot names version " + Str(pinned.version));
  }
  if (state.targets) {
    FEDGE_RETURN_IF_ERROR(CheckNotOlder(kRole, next.version, state.targets->meta.version));
  }
  FEDGE_RETURN_IF_ERROR(CheckExpiry(kRole, next.version, next.expires, now));
  state.targets = Verified<TargetsMetadata>{std::move(envelope), std::move(next)};
  return Status::Ok();
}

Result<TargetInfo> CheckTarget(const TrustedState& state, const std::string& name,
                               const ClientDescription& client) {
  if (!state.targets) return Status::InvalidArgument("release: no trusted targets metadata yet");
  auto it = state.targets->meta.targets.find(name);
  if (it == state.targets->meta.targets.end()) {
    return Status::NotFound("release: targets version " + Str(state.targets->meta.version) +
                            " lists no target \"" + name + "\"");
  }
  const TargetInfo& t = it->second;
  if (t.release_counter < state.installed_counter) {
    return Status::InvalidArgument(
        "release: target \"" + name + "\" has release counter " + Str(t.release_counter) +
        ", lower than the installed release's " + Str(state.installed_counter) + " (rollback)");
  }
  const Compatibility& c = t.compatibility;
  const std::string prefix = "release: target \"" + name + "\" is incompatible: ";
  if (std::find(client.archs.begin(), client.archs.end(), c.arch) == client.archs.end()) {
    return Status::InvalidArgument(prefix + "architecture \"" + c.arch +
                                   "\" is not one this client runs");
  }
  if (c.input_shape != client.input_shape) {
    return Status::InvalidArgument(prefix + "input shape " + shared::ShapeText(c.input_shape) +
                                   " but the client feeds " +
                                   shared::ShapeText(client.input_shape));
  }
  Result<std::array<uint32_t, 3>> have = ParseVersionTriple(client.client_version);
  if (!have.ok()) return have.status().WithContext("client description");
  FEDGE_ASSIGN_OR_RETURN(auto need, ParseVersionTriple(c.min_client_version));
  if (!VersionAtLeast(*have, need)) {
    return Status::InvalidArgument(prefix + "needs client version " + c.min_client_version +
                                   " or later, this is " + client.client_version);
  }
  return t;
}

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string m = "cannot open " + path + ": " + std::strerror(errno);
    return errno == ENOENT ? Status::NotFound(m) : Status::IOError(m);
  }
  return std::unique_ptr<FileSource>(new FileSource(fd, path));
}

FileSource::~FileSource() { ::close(fd_); }

Result<size_t> FileSource::Read(std::span<uint8_t> out) {
  while (true) {
    ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR)
      return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
  }
}

Status VerifyArtifact(const TargetInfo& target, ByteSource& source, uint64_t max_bytes,
                      std::vector<uint8_t>* out) {
  const std::string name = "artifact \"" + target.name + "\"";
  if (out != nullptr) out->clear();
  if (target.length > max_bytes) {
    return Status::ResourceExhausted(name + ": targets lists " + Str(target.length) +
                                     " bytes, over this client's limit of " + Str(max_bytes));
  }
  Sha256Hasher hasher;
  std::vector<uint8_t> buffer(64 * 1024);
  uint64_t total = 0;
  while (true) {
    // Never ask for more than one byte past the listed length: a longer stream is cut there.
    const uint64_t room = target.length - total + 1;
    std::span<uint8_t> chunk(buffer.data(),
                             static_cast<size_t>(std::min<uint64_t>(room, buffer.size())));
    Result<size_t> n = source.Read(chunk);
    if (!n.ok()) {
      if (out != nullptr) out->clear();
      return n.status().WithContext(name);
    }
    if (*n == 0) break;
    if (*n > chunk.size()) {
      if (out != nullptr) out->clear();
      return Status::Internal(name + ": source returned more bytes than asked for");
    }
    total += *n;
    if (total > target.length) {
      if (out != nullptr) out->clear();
      return Status::ResourceExhausted(name + ": longer than the " + Str(target.length) +
                                       " bytes targets lists (stopped reading)");
    }
    hasher.Update(chunk.first(*n));
    if (out != nullptr) out->insert(out->end(), chunk.begin(), chunk.begin() + *n);
  }
  if (total != target.length) {
    if (out != nullptr) out->clear();
    return Status::Corruption(name + ": " + Str(total) + " bytes but targets lists " +
                              Str(target.length));
  }
  if (hasher.Finish() != target.sha256) {
    if (out != nullptr) out->clear();
    return Status::Corruption(name + ": SHA-256 does not match the one targets lists (tampered)");
  }
  return Status::Ok();
}

}  // namespace fedge::shared::release
