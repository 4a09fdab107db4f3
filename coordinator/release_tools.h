#pragma once
// Offline release tools behind `fedgectl keys ...`, `fedgectl release ...` and `fedgectl
// releases`: role keys in a key directory, a static TUF-style repository directory, artifacts
// built from a registry model (prune, quantize, accuracy gate). See docs/release.md, "Operating
// releases".
//
// Repository layout (served as plain files; a client reads nothing else):
//   REPO/metadata/N.root.json   every root version (N = 1, 2, ...), kept forever
//   REPO/metadata/root.json     a copy of the newest complete root
//   REPO/metadata/N.root.json.pending  a rotation still short of signatures
//   REPO/metadata/targets.json, snapshot.json, timestamp.json
//   REPO/targets/<model_id>-<counter>.fdga   the artifacts targets lists
// Key directory: one PEM file per private key, KEYDIR/<role>-<keyid[0:16]>.key, mode 0600. A
// key's role is whatever the repository's root lists its key id under; the file name is a hint.
//
// Thread-safety: plain functions; run one tool at a time per repository.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/registry.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/weights/artifact.h"
#include "shared/release/keys.h"
#include "shared/release/metadata.h"
#include "shared/release/verify.h"

namespace fedge::coordinator {

// Seconds in a day, for the expiry options given in days.
inline constexpr int64_t kDay = 86400;

// Path of a file in the repository's metadata directory.
std::string RepoMetadataPath(const std::string& repo, const std::string& file);
// Path of an artifact in the repository's targets directory.
std::string RepoTargetPath(const std::string& repo, const std::string& name);

// Every private key in `key_dir` (files ending in ".key"), by key id. NotFound if the
// directory does not exist.
shared::Result<std::map<std::string, shared::release::PrivateKey>> LoadKeyDir(
    const std::string& key_dir);

// The newest complete root of `repo` (metadata/root.json), decoded. The signer trusts its own
// repository: signatures are not checked here.
shared::Result<shared::release::RootMetadata> LoadRepoRoot(const std::string& repo);

struct RoleCount {
  uint32_t keys = 1;
  uint32_t threshold = 1;
};

struct KeysInitOptions {
  std::string key_dir;  // created with mode 0700; must not hold keys yet
  std::string repo;     // created; must not have a root yet
  RoleCount root{3, 2}, targets, snapshot, timestamp;
  int64_t expires_days = 365;
  int64_t now = 0;  // Unix seconds
};

// Generates the keys of every role into options.key_dir and root version 1, signed by a
// threshold of the root keys, into REPO/metadata/1.root.json and root.json. AlreadyExists if
// the key dir already holds keys or the repository a root; InvalidArgument for a threshold
// outside 1..keys.
shared::Result<shared::release::RootMetadata> InitKeys(const KeysInitOptions& options);

struct RotateOptions {
  std::string key_dir;
  std::string repo;
  std::vector<std::string> replace_roles;  // "root", "targets", "snapshot", "timestamp"
  int64_t expires_days = 365;
  int64_t now = 0;
};

struct RotateResult {
  uint64_t version = 0;
  bool complete = false;  // root.json now names `version`
  std::string file;       // the written file (N.root.json or N.root.json.pending)
  std::string detail;     // what was signed, what is missing
};

// Makes root N+1 (fresh keys, same counts and thresholds, for each role in replace_roles;
// the other roles keep theirs), signs it with every old and new root key in key_dir and, if that
// meets both thresholds, writes N+1.root.json and root.json; otherwise N+1.root.json.pending,
// for other holders to sign with SignPendingRoot. InvalidArgument for an unknown role;
// AlreadyExists if a rotation is already pending.
shared::Result<RotateResult> RotateKeys(const RotateOptions& options);

// Adds the signatures of the root keys in `key_dir` to the pending rotation and promotes it
// when both thresholds are met. NotFound if none is pending.
shared::Result<RotateResult> SignPendingRoot(const std::string& repo, const std::string& key_dir);

struct BuildOptions {
  double prune_fraction = 0;  // 0: not pruned
  bool prune_hidden = true;
  std::string quantization = "fp32";  // a QuantSchemeName
  std::string model_id = "fedge";
  std::string min_client_version = "1.0.0";
  uint64_t counter = 1;  // the release counter (NextReleaseCounter)
  uint64_t parent = 0;   // the previous release counter, 0 for the first
  int64_t now = 0;
};

// The artifact for registry model `model` (record + blob) with `drift_profile` (may be empty):
// pruned and quantized as `options` say, metrics = the record's numeric top-level metrics plus
// "registry_version". Errors of PruneChannels, QuantizeBundle, EncodeArtifact's validation.
shared::Result<ml::Artifact> BuildArtifact(const ExportedModel& model,
                                           const std::vector<uint8_t>& drift_profile,
                                           const BuildOptions& options);

// The highest release counter REPO's targets lists (0 when there is no targets file yet).
shared::Result<uint64_t> HighestReleaseCounter(const std::string& repo);

struct PublishOptions {
  std::string repo;
  std::string artifact_path;
  int64_t targets_expires_days = 90;
  int64_t snapshot_expires_days = 30;
  int64_t timestamp_expires_hours = 24;
  int64_t now = 0;
};

// Copies the artifact to REPO/targets/ and writes new, unsigned targets (the previous targets
// plus this one), snapshot and timestamp, each one version higher. The artifact's version is
// its release counter and must exceed every counter listed (InvalidArgument otherwise).
shared::Result<shared::release::TargetInfo> Publish(const PublishOptions& options);

// Removes `target` from REPO's targets (its artifact file stays) and writes new, unsigned
// targets, snapshot and timestamp, each one version higher (options.artifact_path unused). Once
// signed, no client installs it, and a client told to revert goes back to it only while it is
// listed. NotFound if targets does not list it.
shared::Status Withdraw(const PublishOptions& options, const std::string& target);

// Re-makes the timestamp (version + 1, expiring `hours` after `now`) over the current snapshot,
// unsigned.
shared::Status RefreshTimestamp(const std::string& repo, int64_t hours, int64_t now);

// Signs REPO/metadata/<role>.json with every key in `key_dir` that root lists for `role`.
// NotFound if key_dir holds none of them. Returns "N of the M required signatures".
shared::Result<std::string> SignRole(const std::string& repo, const std::string& key_dir,
                                     shared::release::Role role);

struct ReleaseRow {
  uint64_t counter = 0;
  std::string name;
  uint64_t length = 0;
  std::string model_id;
  std::string arch;
  std::string recipe;             // "l1_channels 0.50, int8_per_channel" or "-"
  uint64_t registry_version = 0;  // 0 if unknown
};

struct RepoSummary {
  std::vector<ReleaseRow> releases;  // by counter
  // Per role ("root", "targets", "snapshot", "timestamp"): version, valid signatures present and
  // the threshold.
  struct RoleState {
    std::string role;
    uint64_t version = 0;
    uint32_t signed_by = 0, threshold = 0;
    int64_t expires = 0;
  };
  std::vector<RoleState> roles;
};

shared::Result<RepoSummary> SummarizeRepo(const std::string& repo);

}  // namespace fedge::coordinator
