#pragma once
// The one release-creation pipeline, used by `fedgectl release create`
// (coordinator/release_cli.cc) and fedge-sim's release phase (simulations/release_phase.cc):
// build the artifact from a registry model (BuildArtifact), measure its accuracy and gate it
// against a reference, write it and optionally publish it (unsigned: signing is a separate step
// with keys a real project keeps offline).
//
// LibTorch-free: accuracy comes from an injected AccuracyFn. The programs pass one backed by
// ValidationAccuracy (coordinator/ml_backend.h, library fedge_coordinator_ml); tests a fake.
//
// Thread-safety: a plain function; run one at a time per repository (release counters).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/registry.h"
#include "coordinator/release_tools.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/ml/weights/artifact.h"
#include "shared/release/metadata.h"

namespace fedge::coordinator {

// Accuracy in [0, 1] of the model (arch, fp32 state) on the caller's validation set.
using AccuracyFn = std::function<shared::Result<double>(const std::string& arch,
                                                        const shared::TensorBundle& state)>;

enum class GateMode {
  kEnforce,  // measure and check; a refusal writes nothing
  kReport,   // measure and check, but never refuse (a deliberately ungated release)
  kSkip,     // measure nothing (fedgectl --no-gate)
};

struct GateSettings {
  GateMode mode = GateMode::kEnforce;
  double max_drop_points = 1.0;  // ml::CheckAccuracyGate's limit
  // The reference the candidate is compared with: `reference_accuracy` when set; otherwise the
  // accuracy of (reference_arch, reference_state) when reference_arch is non-empty; otherwise
  // that of the exported model itself.
  std::optional<double> reference_accuracy;
  std::string reference_arch;
  shared::TensorBundle reference_state;
  // When the candidate's accuracy is measured: also store it in the artifact's metrics as
  // "val_accuracy" (changes the artifact's bytes).
  bool record_accuracy = true;
};

struct CreateReleaseOptions {
  BuildOptions build;    // counter and parent are replaced from `repo`
  std::string repo;      // the counter follows the highest release it lists
  std::string out;       // the artifact file to write (mode 0644, atomically)
  bool publish = false;  // also Publish the written artifact into `repo` (unsigned)
  GateSettings gate;
};

struct CreatedRelease {
  std::vector<uint8_t> bytes;  // the encoded artifact (also when refused)
  std::string arch;
  ml::ArtifactRecipe recipe;
  uint64_t counter = 0;  // the release counter
  // Unset with GateMode::kSkip.
  std::optional<double> candidate_accuracy, reference_accuracy;
  std::string gate_line;   // CheckAccuracyGate's explanation; empty if skipped or invalid
  shared::Status verdict;  // the gate's result: Ok, PermissionDenied, or InvalidArgument
  bool refused = false;    // kEnforce and a verdict other than Ok: nothing written or published
  std::string path;        // the written artifact; empty when refused
  std::optional<shared::release::TargetInfo> published;  // when options.publish
};

// Builds the artifact of `model` (record + blob) with `drift_profile` (may be empty) as
// options.build says, with release counter = the highest in options.repo + 1 (parent = that
// highest); unless the gate is skipped, measures the candidate with `accuracy`, then the
// reference, and checks the gate; unless refused, writes the artifact to options.out and, with
// options.publish, publishes it. A refusal is a result (see CreatedRelease::refused), not an
// error. Errors: BuildArtifact's, `accuracy`'s, the repository's and the file system's.
// REQUIRES: `accuracy` callable unless options.gate.mode == GateMode::kSkip.
shared::Result<CreatedRelease> CreateRelease(const ExportedModel& model,
                                             const std::vector<uint8_t>& drift_profile,
                                             const CreateReleaseOptions& options,
                                             const AccuracyFn& accuracy);

}  // namespace fedge::coordinator
