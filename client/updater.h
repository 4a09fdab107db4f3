#pragma once
// The client's model updater: fetches signed releases from a ReleaseSource, verifies them in
// TUF order (shared/release/updater.h), installs the artifact into an A/B slot, health-checks it
// and only then makes it active. The inference path loads the active slot (LoadActiveRelease).
//
// On-disk layout under <state_dir>/release/:
//   trusted.json          the verifier's trusted state (rollback and freeze protection)
//   slot-a/, slot-b/      each: artifact.fdga and target.json (name, counter, SHA-256)
//   active                "a" or "b", replaced atomically; absent before the first install
//   status.json           the last update's outcome
// An update writes the inactive slot (fsynced), health-checks it, then flips `active`. A crash
// before the flip leaves the old slot active; the flip itself is one atomic rename.
//
// Thread-safety: one updater at a time per state dir (a separate command or thread); readers of
// the active slot may run concurrently (they see the old or the new slot, never a mix).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/weights/artifact.h"
#include "shared/release/verify.h"

namespace fedge::client {

// This client's version, checked against a release's min_client_version.
inline constexpr char kClientVersion[] = "1.0.0";

// Where releases come from. A later coordinator-served source implements the same interface.
class ReleaseSource {
 public:
  virtual ~ReleaseSource() = default;
  // A metadata file by its repository name ("timestamp.json", "3.root.json", ...), at most
  // `max_bytes`. NotFound if the source has no such file.
  virtual shared::Result<std::vector<uint8_t>> ReadMetadata(const std::string& name,
                                                            size_t max_bytes) = 0;
  // A stream of the artifact `name` (untrusted: the caller verifies it).
  virtual shared::Result<std::unique_ptr<shared::release::ByteSource>> OpenArtifact(
      const std::string& name) = 0;
};

// A repository directory written by `fedgectl release publish` (metadata/, targets/).
class DirectoryReleaseSource : public ReleaseSource {
 public:
  explicit DirectoryReleaseSource(std::string repo) : repo_(std::move(repo)) {}
  shared::Result<std::vector<uint8_t>> ReadMetadata(const std::string& name,
                                                    size_t max_bytes) override;
  shared::Result<std::unique_ptr<shared::release::ByteSource>> OpenArtifact(
      const std::string& name) override;

 private:
  std::string repo_;
};

// Files handed over in memory: the metadata of a coordinator's ReleaseOffer and the artifact
// it downloaded (untrusted until RunUpdate verifies them).
class MemoryReleaseSource : public ReleaseSource {
 public:
  MemoryReleaseSource(std::map<std::string, std::vector<uint8_t>> metadata,
                      std::map<std::string, std::vector<uint8_t>> artifacts)
      : metadata_(std::move(metadata)), artifacts_(std::move(artifacts)) {}
  shared::Result<std::vector<uint8_t>> ReadMetadata(const std::string& name,
                                                    size_t max_bytes) override;
  shared::Result<std::unique_ptr<shared::release::ByteSource>> OpenArtifact(
      const std::string& name) override;
  bool empty() const { return metadata_.empty(); }

 private:
  std::map<std::string, std::vector<uint8_t>> metadata_;
  std::map<std::string, std::vector<uint8_t>> artifacts_;
};

// The A/B slots under <state_dir>/release.
class SlotStore {
 public:
  struct Slot {
    std::string id;  // "a" or "b"
    std::string target;
    uint64_t counter = 0;
    std::string sha256_hex;
  };
  explicit SlotStore(std::string release_dir) : dir_(std::move(release_dir)) {}

  // The active slot; nullopt before the first install. Corruption for a bad pointer file.
  shared::Result<std::optional<Slot>> Active() const;
  // The slot an update writes: the one that is not active ("a" before the first install).
  shared::Result<std::string> Inactive() const;
  // Writes `artifact` and its description into slot `id` durably (does not activate it).
  shared::Status Write(const std::string& id, const Slot& meta,
                       const std::vector<uint8_t>& artifact);
  // The artifact bytes of slot `id`, checked against its recorded SHA-256 (Corruption if not).
  shared::Result<std::vector<uint8_t>> Read(const std::string& id) const;
  // Makes slot `id` active (atomic replace of the pointer file).
  shared::Status Activate(const std::string& id);
  // The description of slot `id`, nullopt if it holds nothing.
  shared::Result<std::optional<Slot>> Describe(const std::string& id) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

struct UpdateOptions {
  std::string state_dir;          // <state_dir>/release holds trusted state and slots
  std::string initial_root_path;  // root metadata from the startup kit (first run only)
  uint64_t max_artifact_bytes = 64ull << 20;
  double latency_budget_ms = 200;  // median batch-1 latency the health check allows
  int health_frames = 8;           // inputs the health check runs
  // What this client runs: base architectures ("cnn_small"...; any width variant of them is
  // accepted) and its input shape.
  std::vector<std::string> arch_bases = {"cnn_small", "cnn_color", "mobilenet_small"};
  std::vector<uint32_t> input_shape = {1, 28, 28};
  shared::release::Clock clock = shared::release::SystemNow;
  // Install exactly this target (the coordinator's assignment); empty: the highest counter.
  std::string target;
  // Inputs for the health check, `health_frames` of them back to back in the model's input
  // layout (recent frames of this site); empty: deterministic synthetic inputs.
  std::vector<float> health_inputs;
};

struct UpdateOutcome {
  bool installed = false;   // a new release became active
  bool up_to_date = false;  // nothing newer than the installed release
  std::string target;       // the release considered
  uint64_t counter = 0;     // its release counter
  std::string slot;         // the active slot after the update
  std::string error;        // why it was refused (empty on success)
  double median_latency_ms = 0;
};

// One update: refresh metadata, pick the target with the highest counter, verify, install into
// the inactive slot, health-check, flip. Never throws away the active slot on failure. Writes
// <state_dir>/release/status.json with the outcome (also for a refused release) and returns it;
// an error Status only if the outcome itself cannot be recorded or the trusted state cannot be
// opened.
shared::Result<UpdateOutcome> RunUpdate(ReleaseSource& source, const UpdateOptions& options);

// Health check of a decoded artifact: loads it into ml::Model (dequantised), runs `frames`
// inputs one at a time (from `inputs`, recent frames in the model's input layout, when it holds
// at least one; deterministic synthetic inputs otherwise), requires finite outputs and a median
// latency within budget. Sets *median_ms.
shared::Status HealthCheck(const ml::Artifact& artifact, int frames, double latency_budget_ms,
                           double* median_ms, const std::vector<float>& inputs = {});

// What a release offer is, once its metadata verified (CheckRelease).
struct ReleaseCheck {
  shared::release::TargetInfo target;  // the signed description of the release to download
  bool up_to_date = false;             // it is already the active release: nothing to download
};

// The first half of RunUpdate, run before anything is downloaded: refresh the trusted metadata
// from `source` (all or nothing), pick the target as RunUpdate does and check its counter and
// compatibility (docs/release.md steps a-d, f, g) and that its signed length fits
// options.max_artifact_bytes. The artifact is then fetched capped at target.length.
shared::Result<ReleaseCheck> CheckRelease(ReleaseSource& source, const UpdateOptions& options);

struct RevertOutcome {
  bool reverted = false;      // `target` is no longer active
  std::string active_target;  // what is active now (never "" once a release was active)
  uint64_t active_counter = 0;
  std::string error;  // why the revert was refused (the active release stays)
};

// Rollback ordered by the coordinator. If release `options.target` is active, first refreshes
// the trusted metadata from `source` (the files the coordinator sent with the revert; nullptr:
// the trusted metadata as it is), then activates the other slot only when the signed targets
// still list the release it holds (same name, counter and SHA-256) and it is older. Otherwise
// the revert is refused and the active release stays: a site that runs a signed release never
// goes back to an unsigned model, nor to a release the release team withdrew, on the
// coordinator's word alone. The trusted state keeps the highest installed counter, so `target`
// stays installable and nothing older can be installed. Writes status.json. An error Status
// only if the slots cannot be read or changed.
shared::Result<RevertOutcome> RevertRelease(ReleaseSource* source, const UpdateOptions& options);

struct ActiveRelease {
  ml::Model model;
  std::string target;
  uint64_t counter = 0;
  std::string slot;
  uint64_t registry_version = 0;  // the registry version it was built from (0: unknown)
};

// The active slot's model, or nullopt when no release was ever installed.
shared::Result<std::optional<ActiveRelease>> LoadActiveRelease(const std::string& state_dir);

std::string UpdateOutcomeJson(const UpdateOutcome& outcome);

}  // namespace fedge::client
