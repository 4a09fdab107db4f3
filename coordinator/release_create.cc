#include "coordinator/release_create.h"

#include <utility>

#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/accuracy_gate.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {

// The reference's accuracy as `gate` says (see GateSettings).
Result<double> ReferenceAccuracy(const ExportedModel& model, const GateSettings& gate,
                                 const AccuracyFn& accuracy) {
  if (gate.reference_accuracy) return *gate.reference_accuracy;
  if (!gate.reference_arch.empty()) return accuracy(gate.reference_arch, gate.reference_state);
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(model.blob));
  return accuracy(model.record.arch, state);
}

// Measures the candidate and the reference and checks the gate into `out`; records the
// candidate's accuracy in `artifact` when the gate passes and the settings ask for it.
Status MeasureAndGate(const ExportedModel& model, const GateSettings& gate,
                      const AccuracyFn& accuracy, ml::Artifact& artifact, CreatedRelease& out) {
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle candidate, ml::ArtifactState(artifact));
  FEDGE_ASSIGN_OR_RETURN(double candidate_accuracy, accuracy(artifact.arch, candidate));
  FEDGE_ASSIGN_OR_RETURN(double reference_accuracy, ReferenceAccuracy(model, gate, accuracy));
  out.candidate_accuracy = candidate_accuracy;
  out.reference_accuracy = reference_accuracy;
  out.verdict = ml::CheckAccuracyGate(candidate_accuracy, reference_accuracy, gate.max_drop_points,
                                      &out.gate_line);
  out.refused = gate.mode == GateMode::kEnforce && !out.verdict.ok();
  if (!out.refused && gate.record_accuracy) artifact.metrics["val_accuracy"] = candidate_accuracy;
  return Status::Ok();
}

}  // namespace

Result<CreatedRelease> CreateRelease(const ExportedModel& model,
                                     const std::vector<uint8_t>& drift_profile,
                                     const CreateReleaseOptions& options,
                                     const AccuracyFn& accuracy) {
  BuildOptions build = options.build;
  FEDGE_ASSIGN_OR_RETURN(uint64_t highest, HighestReleaseCounter(options.repo));
  build.counter = highest + 1;
  build.parent = highest;
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact artifact, BuildArtifact(model, drift_profile, build));
  CreatedRelease out;
  if (options.gate.mode != GateMode::kSkip) {
    FEDGE_RETURN_IF_ERROR(MeasureAndGate(model, options.gate, accuracy, artifact, out));
  }
  FEDGE_ASSIGN_OR_RETURN(out.bytes, ml::EncodeArtifact(artifact));
  out.arch = artifact.arch;
  out.recipe = artifact.recipe;
  out.counter = artifact.version;
  if (out.refused) return out;
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(options.out, out.bytes, 0644));
  out.path = options.out;
  if (options.publish) {
    PublishOptions p;
    p.repo = options.repo;
    p.artifact_path = options.out;
    p.now = build.now;
    FEDGE_ASSIGN_OR_RETURN(out.published, Publish(p));
  }
  return out;
}

}  // namespace fedge::coordinator
