#pragma once
// Test helper: a model published to a release repository and signed by every role, the way the
// central team does it with fedgectl release create/publish/sign (all keys in one directory).

#include <string>

#include "coordinator/release_tools.h"
#include "shared/bundle_codec.h"
#include "shared/crypto.h"
#include "shared/release/repository.h"

namespace fedge::testing {

// Builds the artifact of (arch, state) as registry version `version` with the repository's next
// release counter, writes it to `scratch_path`, publishes it and signs targets, snapshot and
// timestamp with the keys in `key_dir`. Returns its target name.
inline shared::Result<std::string> PublishSigned(const std::string& repo,
                                                 const std::string& key_dir,
                                                 const std::string& arch,
                                                 const shared::TensorBundle& state,
                                                 uint64_t version, const std::string& scratch_path,
                                                 const std::string& quantization = "fp32") {
  namespace rel = shared::release;
  coordinator::ExportedModel m;
  FEDGE_ASSIGN_OR_RETURN(m.blob, shared::EncodeBundle(state));
  m.record.version = version;
  m.record.arch = arch;
  m.record.digest_hex = shared::ToHex(shared::Sha256(m.blob));
  m.record.size_bytes = m.blob.size();
  coordinator::BuildOptions b;
  b.quantization = quantization;
  FEDGE_ASSIGN_OR_RETURN(uint64_t highest, coordinator::HighestReleaseCounter(repo));
  b.counter = highest + 1;
  b.parent = highest;
  b.now = rel::SystemNow();
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact artifact, coordinator::BuildArtifact(m, {}, b));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ml::EncodeArtifact(artifact));
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(scratch_path, bytes, 0644));
  coordinator::PublishOptions p;
  p.repo = repo;
  p.artifact_path = scratch_path;
  p.now = rel::SystemNow();
  FEDGE_ASSIGN_OR_RETURN(rel::TargetInfo target, coordinator::Publish(p));
  for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
    FEDGE_RETURN_IF_ERROR(coordinator::SignRole(repo, key_dir, role).status());
  }
  return target.name;
}

}  // namespace fedge::testing
