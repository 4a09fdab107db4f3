#pragma once
// Pruning for federated fine-tuning (docs/release.md, "Federated fine-tuning of a pruned
// model"): a registry version pruned (ml::PruneChannels, L1 norms of channels) into a smaller
// network, stored as a new version and made the head. The round engine installs the result
// (RoundEngine::PruneHead), so the rounds that follow train the pruned architecture.
// Owns nothing: a function over the Store. Thread-safety: as the Store's (callers serialise
// it with round commits: the engine calls it on its strand, with no round open).

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/store.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

// What to prune, and how (shared/ml/weights/prune.h).
struct PruneRequest {
  uint64_t version = 0;      // the registry version to prune (need not be the head)
  double fraction = 0.5;     // of each prunable layer's outputs removed; in (0, 1)
  bool prune_hidden = true;  // also prune the hidden linear layer ("f1")
};

// A pruned version as stored: its record, blob and decoded state.
struct PrunedModel {
  ModelRecord record;
  std::vector<uint8_t> blob;
  shared::TensorBundle state;
  int64_t parameters_before = 0;  // of the version pruned
  std::string from_arch;
};

// Prunes `request.version` and stores the result as the head (record, blob and head in one
// synced batch). The new record: version = the next free number after `head` and the store's
// highest, parent = request.version, origin "prune", arch = the pruned arch string, round =
// head.round, no contributors, metrics {"prune": {"method": "l1_channels", "fraction",
// "hidden", "from", "from_arch", "parameters_before", "parameters_after",
// "fine_tune_rounds": 0}}, created at `now_ms`.
// Errors (each message starts "prune model version N"): InvalidArgument for a fraction outside
// (0, 1) or an arch PruneChannels cannot prune (mobilenet_small); NotFound for an unknown
// version or one whose blob the retention policy removed; the store's errors. Nothing is
// stored on error.
shared::Result<PrunedModel> PruneIntoNewHead(Store& store, const PruneRequest& request,
                                             const ModelRecord& head, uint64_t now_ms);

}  // namespace fedge::coordinator
