#pragma once
// Signer side ("repository"): builds release metadata for the central team's tools.
//
// Every Make*() returns an unsigned Envelope whose payload is fixed; key holders then add their
// signatures with Envelope::AddSignature() (or SignFile() on a written file, which is what
// `release sign` does), each in a separate call if the keys live on different machines.
//
// Usage, first release:
//   root = MakeRootEnvelope(spec)         -> sign with a threshold of spec.root keys
//   targets = MakeTargets(1, expiry, {DescribeArtifact(fields, bytes)}) -> targets keys
//   snapshot = MakeSnapshot(1, expiry, targets)                         -> snapshot keys
//   timestamp = MakeTimestamp(1, now + short, snapshot)                 -> timestamp key (online)
// The timestamp is re-made with a higher version and re-signed whenever it nears expiry.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/release/envelope.h"
#include "shared/release/keys.h"
#include "shared/release/metadata.h"

namespace fedge::shared::release {

struct RoleSpec {
  std::vector<PublicKey> keys;
  uint32_t threshold = 1;
};

struct RootSpec {
  RoleSpec root, targets, snapshot, timestamp;
  int64_t expires = 0;  // Unix seconds
};

// Root metadata of `version` for `spec`. InvalidArgument if a role has no keys, a key twice,
// or a threshold outside 1..its number of keys.
Result<RootMetadata> MakeRoot(const RootSpec& spec, uint64_t version);
// Unsigned root version 1.
Result<Envelope> MakeRootEnvelope(const RootSpec& spec);
// Unsigned root version current.version + 1. It must be signed by a threshold of `current`'s
// root keys AND a threshold of spec.root's keys; CheckRootRotation() says whether it is.
Result<Envelope> RotateRoot(const RootMetadata& current, const RootSpec& spec);
// OK iff a client trusting `current` would accept `next` (the verifier's own check).
Status CheckRootRotation(const RootMetadata& current, const Envelope& next);

// `fields` (name, release_counter, model_id, compatibility) completed with the length and
// SHA-256 of the artifact.
Result<TargetInfo> DescribeArtifact(TargetInfo fields, std::span<const uint8_t> artifact);
// Same, streaming the file at `path` (any size).
Result<TargetInfo> DescribeArtifactFile(TargetInfo fields, const std::string& path);

// Unsigned targets metadata listing `targets` (names must be distinct).
Result<Envelope> MakeTargets(uint64_t version, int64_t expires,
                             const std::vector<TargetInfo>& targets);
// Unsigned snapshot pinning `targets` (its version, payload length and SHA-256).
Result<Envelope> MakeSnapshot(uint64_t version, int64_t expires, const Envelope& targets);
// Unsigned timestamp pinning `snapshot`.
Result<Envelope> MakeTimestamp(uint64_t version, int64_t expires, const Envelope& snapshot);

// Writes `envelope` to `path` atomically (mode 0644).
Status WriteEnvelope(const std::string& path, const Envelope& envelope);
// Reads a metadata file (at most kMaxEnvelopeBytes).
Result<Envelope> ReadEnvelope(const std::string& path);
// Adds `key`'s signature to the metadata file at `path` and rewrites it atomically: one key
// holder's step in offline k-of-n signing.
Status SignFile(const std::string& path, const PrivateKey& key);

}  // namespace fedge::shared::release
