#pragma once
// Client-side verification steps, in TUF's order, as pure transitions of a TrustedState.
//
// Each Update*() either accepts the new metadata into `state` and returns OK, or returns an
// error naming the role and what was wrong and leaves `state` exactly as it was. Callers run
// them in order: root chain (UpdateRoot for each newer root, then CheckRootNotExpired),
// UpdateTimestamp, UpdateSnapshot, UpdateTargets; then CheckTarget and VerifyArtifact for a
// release. Updater (updater.h) does this and persists the result.
//
// Errors: InvalidArgument for malformed bytes, wrong versions (rollback, replay, mix-and-match),
// calls out of order and incompatible releases; PermissionDenied for signatures below a
// threshold; DeadlineExceeded for expired metadata; Corruption for length/hash mismatches;
// ResourceExhausted for an oversized artifact; NotFound for an unknown target.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/release/envelope.h"
#include "shared/release/metadata.h"

namespace fedge::shared::release {

// Unix seconds now. Injected so tests control expiry.
using Clock = std::function<int64_t()>;
int64_t SystemNow();

// Most roots accepted in one update (bounds the work an attacker can cause).
inline constexpr size_t kMaxRootRotationsPerUpdate = 64;

template <typename M>
struct Verified {
  Envelope envelope;
  M meta;
};

struct TrustedState {
  Verified<RootMetadata> root;
  std::optional<Verified<TimestampMetadata>> timestamp;
  std::optional<Verified<SnapshotMetadata>> snapshot;
  std::optional<Verified<TargetsMetadata>> targets;
  uint64_t installed_counter = 0;  // highest release counter ever installed
  std::string installed_target;    // name of that release ("" before the first)
};

// The root a client starts from (from its startup kit): must carry a threshold of signatures
// by its own root keys. Expiry is not checked here: newer roots may follow.
Result<Verified<RootMetadata>> VerifyInitialRoot(std::span<const uint8_t> bytes);

// (a) One step of the root chain: accepts root version N+1 signed by a threshold of trusted
// root N's root keys and by a threshold of its own root keys. If the timestamp or snapshot keys
// changed, the trusted timestamp/snapshot are dropped (recovery from a fast-forward attack by a
// compromised key); the installed release counter is kept.
Status UpdateRoot(TrustedState& state, std::span<const uint8_t> bytes);
// After the chain: the final root must not be expired at `now`.
Status CheckRootNotExpired(const TrustedState& state, int64_t now);
// (b) Timestamp: threshold, never older than the trusted one (same version only with the same
// bytes), snapshot version never lower, not expired.
Status UpdateTimestamp(TrustedState& state, std::span<const uint8_t> bytes, int64_t now);
// (c) Snapshot: length and hash as the trusted timestamp pins, threshold, version as the
// timestamp names, not lower than trusted, targets version not lower, not expired.
Status UpdateSnapshot(TrustedState& state, std::span<const uint8_t> bytes, int64_t now);
// (d) Targets: length, hash and version as the trusted snapshot pins, threshold, not lower than
// trusted, not expired.
Status UpdateTargets(TrustedState& state, std::span<const uint8_t> bytes, int64_t now);

// What a client can run.
struct ClientDescription {
  std::vector<std::string> archs;     // model architectures it can run
  std::vector<uint32_t> input_shape;  // the input it feeds
  std::string client_version;         // "MAJOR.MINOR.PATCH"
};

// (f) and (g) for target `name` in the trusted targets: its release counter is not lower than
// the installed one, and it is compatible with `client`. NotFound if there is no such target.
Result<TargetInfo> CheckTarget(const TrustedState& state, const std::string& name,
                               const ClientDescription& client);

// A stream of untrusted bytes (a download, a file).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() bytes into `out` and returns how many; 0 only at the end.
  virtual Result<size_t> Read(std::span<uint8_t> out) = 0;
};

// A ByteSource over a file; the file stays open for the object's lifetime.
class FileSource : public ByteSource {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  Result<size_t> Read(std::span<uint8_t> out) override;

 private:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// (e) Reads `source` and checks it is exactly `target`: length and SHA-256. Rejects a target
// longer than `max_bytes` before reading anything, and stops reading one byte past the length
// targets lists. On success `out` (if not null) holds the bytes; on failure it is cleared.
Status VerifyArtifact(const TargetInfo& target, ByteSource& source, uint64_t max_bytes,
                      std::vector<uint8_t>* out);

}  // namespace fedge::shared::release
