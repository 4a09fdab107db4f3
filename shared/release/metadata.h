#pragma once
// TUF-style release metadata: the four roles and their payloads (what gets signed).
//
// Each payload is a canonical JSON object (see canonical.h) with "_type", "spec_version",
// "version" (uint64, >= 1) and "expires" (Unix seconds). See docs/release.md for every field.
// Encode*() produce the canonical bytes; Decode*() validate untrusted bytes completely (canonical
// form, types, ranges, counts, key ids) and never crash on garbage.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/crypto.h"
#include "shared/release/keys.h"

namespace fedge::shared::release {

inline constexpr std::string_view kSpecVersion = "fedge-release/1";

// Limits on untrusted metadata.
inline constexpr size_t kMaxKeys = 64;         // keys listed in a root
inline constexpr size_t kMaxTargets = 4096;    // targets in one targets metadata
inline constexpr size_t kMaxNameLength = 255;  // a target name or model id
inline constexpr size_t kMaxShapeRank = 8;     // dimensions of a compatibility input shape
inline constexpr size_t kMaxPayloadBytes = 4 << 20;

enum class Role { kRoot, kTargets, kSnapshot, kTimestamp };
// "root", "targets", "snapshot", "timestamp".
const char* RoleName(Role role);

// Keys allowed to sign for a role and how many distinct ones must.
struct RoleKeys {
  std::vector<std::string> key_ids;
  uint32_t threshold = 1;
};

struct RootMetadata {
  uint64_t version = 1;
  int64_t expires = 0;                    // Unix seconds
  std::map<std::string, PublicKey> keys;  // by key id
  RoleKeys root, targets, snapshot, timestamp;

  const RoleKeys& role(Role r) const;
};

// What a release needs from the client that runs it.
struct Compatibility {
  std::string arch;  // model architecture the client must support, e.g. "cnn_small"
  std::vector<uint32_t> input_shape;  // e.g. {1, 28, 28}
  std::string min_client_version;     // "MAJOR.MINOR.PATCH"
};

struct TargetInfo {
  std::string name;
  uint64_t length = 0;
  Digest sha256{};
  uint64_t release_counter = 0;  // never goes down on a client
  std::string model_id;
  Compatibility compatibility;
};

struct TargetsMetadata {
  uint64_t version = 1;
  int64_t expires = 0;
  std::map<std::string, TargetInfo> targets;  // by name
};

// Version, length and SHA-256 of another role's signed payload.
struct MetaFileInfo {
  uint64_t version = 0;
  uint64_t length = 0;
  Digest sha256{};
};

struct SnapshotMetadata {
  uint64_t version = 1;
  int64_t expires = 0;
  MetaFileInfo targets;
};

struct TimestampMetadata {
  uint64_t version = 1;
  int64_t expires = 0;
  MetaFileInfo snapshot;
};

// Canonical payload bytes. InvalidArgument if a field is out of range (e.g. version 0, a key
// id that is not its key's, a threshold of 0, an unusable name).
Result<std::string> EncodePayload(const RootMetadata& root);
Result<std::string> EncodePayload(const TargetsMetadata& targets);
Result<std::string> EncodePayload(const SnapshotMetadata& snapshot);
Result<std::string> EncodePayload(const TimestampMetadata& timestamp);

// Parse and validate untrusted payload bytes. InvalidArgument naming the role and the field.
Result<RootMetadata> DecodeRoot(std::string_view payload);
Result<TargetsMetadata> DecodeTargets(std::string_view payload);
Result<SnapshotMetadata> DecodeSnapshot(std::string_view payload);
Result<TimestampMetadata> DecodeTimestamp(std::string_view payload);

// Parses "MAJOR.MINOR.PATCH" (each 0..999999). InvalidArgument otherwise.
Result<std::array<uint32_t, 3>> ParseVersionTriple(std::string_view text);

}  // namespace fedge::shared::release
