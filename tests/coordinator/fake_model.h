#pragma once
// A tiny model and its updates for the round engine's unit tests (no LibTorch): two tensors
// whose values are 0.5 everywhere, and updates that add a constant to every value.

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/update_ingest.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"

namespace fedge::testing {

inline shared::Result<shared::TensorBundle> FakeInitialModel(const std::string&, uint64_t) {
  shared::TensorBundle b;
  b.tensors.push_back({"w", {2, 3}, std::vector<float>(6, 0.5f)});
  b.tensors.push_back({"b", {2}, std::vector<float>(2, 0.5f)});
  return b;
}

// The fake model plus `delta`, as an update for task `task_id` of `round` (loss 1.0).
inline coordinator::UpdateIn MakeUpdate(uint64_t task_id, const std::string& idempotency_id,
                                        uint64_t examples, float delta, uint64_t round = 1) {
  shared::TensorBundle b = *FakeInitialModel("", 0);
  for (shared::Tensor& t : b.tensors) {
    for (float& v : t.data) v += delta;
  }
  coordinator::UpdateIn u;
  u.task_id = task_id;
  u.round = round;
  u.idempotency_id = idempotency_id;
  u.examples = examples;
  u.metrics = {{"loss", 1.0}};
  u.blob = *shared::EncodeBundle(b);
  u.digest = shared::Sha256(u.blob);
  return u;
}

}  // namespace fedge::testing
