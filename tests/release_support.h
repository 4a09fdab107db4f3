#pragma once
// Test helper: a model published to a release repository and signed by every role, the way the
// central team does it with fedgectl release create/publish/sign (all keys in one directory).

#include <string>

#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/arch.h"
#include "shared/release/repository.h"

namespace fedge::testing {

// The state of an untrained chain network `arch` without LibTorch: every tensor of
// ml::ChainStateLayout with small values drawn from `seed` (different seeds, different bytes).
inline shared::Result<shared::TensorBundle> FakeChainState(const std::string& arch, uint64_t seed) {
  FEDGE_ASSIGN_OR_RETURN(ml::ArchInfo info, ml::ParseArch(arch));
  shared::TensorBundle state;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& [name, shape] : ml::ChainStateLayout(info)) {
    shared::Tensor t;
    t.name = name;
    t.shape = shape;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    t.data.resize(n);
    for (float& v : t.data) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
      v = static_cast<float>(static_cast<int64_t>(x % 2001) - 1000) * 1e-4f;
    }
    state.tensors.push_back(std::move(t));
  }
  return state;
}

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
