#pragma once
// Client side ("updater"): verifies release metadata and artifacts against a trusted state that
// survives restarts, so a restarted client keeps its rollback and freeze protection.
//
// Trusted state lives in one file, <state_dir>/trusted.json, replaced atomically
// (WriteFileAtomic): the metadata files last accepted for root, timestamp, snapshot and targets,
// and the highest release counter installed. A restart or a crash at any moment leaves either
// the old or the new state, never a mix.
//
// Thread-safety: not thread-safe; one owner (the client's model updater) calls it.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/release/verify.h"

namespace fedge::shared::release {

inline constexpr char kStateFileName[] = "trusted.json";

struct UpdaterOptions {
  std::string state_dir;
  uint64_t max_artifact_bytes = uint64_t{1} << 30;
  Clock clock = SystemNow;
};

// The metadata a client got for one update, as raw files: any newer roots in version order,
// then the current timestamp, snapshot and targets.
struct ReleaseBundle {
  std::vector<std::vector<uint8_t>> roots;
  std::vector<uint8_t> timestamp;
  std::vector<uint8_t> snapshot;
  std::vector<uint8_t> targets;
};

class Updater {
 public:
  // Loads the trusted state from options.state_dir. If there is none yet, trusts
  // `initial_root` (the root metadata file from the startup kit, which must be signed by a
  // threshold of its own root keys), creates the directory and persists the state. Corruption
  // if a state file exists but does not verify.
  static Result<Updater> Open(UpdaterOptions options, std::span<const uint8_t> initial_root);

  // Verifies `bundle` in TUF order (root chain, root expiry, timestamp, snapshot, targets) at
  // the clock's time and, only if every step passes, persists the new trusted state. All or
  // nothing: on any error the trusted state, in memory and on disk, is unchanged.
  Status Refresh(const ReleaseBundle& bundle);

  // (f) and (g): the trusted target `name`, if its release counter is not below the installed
  // one and it suits `client`. Call before downloading.
  Result<TargetInfo> CheckTarget(const std::string& name, const ClientDescription& client) const;

  // CheckTarget, then (e): reads `source` (capped at the smaller of the target's length and
  // options.max_artifact_bytes) into `out` and checks length and SHA-256.
  Result<TargetInfo> VerifyRelease(const std::string& name, const ClientDescription& client,
                                   ByteSource& source, std::vector<uint8_t>* out) const;

  // Records that `target` (from CheckTarget/VerifyRelease) was installed: the installed
  // counter becomes its release counter, persisted. InvalidArgument if that would lower it.
  Status RecordInstalled(const TargetInfo& target);

  const TrustedState& state() const { return state_; }

 private:
  Updater(UpdaterOptions options, TrustedState state)
      : options_(std::move(options)), state_(std::move(state)) {}
  Status Persist(const TrustedState& state) const;

  UpdaterOptions options_;
  TrustedState state_;
};

// Serialised trusted state (the content of trusted.json) and its strict inverse, which
// re-verifies every stored file's signatures against the stored root. Exposed for tests.
std::string EncodeTrustedState(const TrustedState& state);
Result<TrustedState> DecodeTrustedState(std::span<const uint8_t> bytes);

}  // namespace fedge::shared::release
