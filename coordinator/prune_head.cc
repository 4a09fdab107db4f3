#include "coordinator/prune_head.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/prune.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
// The blob and decoded state of registry version `record`.
Result<shared::TensorBundle> LoadState(Store& store, const ModelRecord& record) {
  if (record.blob_deleted) {
    return Status::NotFound("model version " + std::to_string(record.version) +
                            " cannot be pruned: its blob was removed by the retention policy "
                            "(registry.keep_last); prune a version that still has its weights");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(record.digest_hex));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, store.GetBlob(digest));
  return shared::DecodeBundle(blob);
}
}  // namespace

Result<PrunedModel> PruneIntoNewHead(Store& store, const PruneRequest& request,
                                     const ModelRecord& head, uint64_t now_ms) {
  const std::string what = "prune model version " + std::to_string(request.version);
  if (!(request.fraction > 0 && request.fraction < 1)) {
    return Status::InvalidArgument(what +
                                   ": the fraction must be above 0 and below 1 (0.5 "
                                   "removes half of each layer's channels), got " +
                                   std::to_string(request.fraction));
  }
  Result<ModelRecord> source = store.GetModel(request.version);
  if (!source.ok()) return source.status().WithContext(what);
  Result<shared::TensorBundle> state = LoadState(store, *source);
  if (!state.ok()) return state.status().WithContext(what);
  Result<ml::Pruned> pruned =
      ml::PruneChannels(source->arch, *state, {request.fraction, request.prune_hidden});
  if (!pruned.ok()) return pruned.status().WithContext(what + " (" + source->arch + ")");
  Result<std::vector<uint8_t>> blob = shared::EncodeBundle(pruned->state);
  if (!blob.ok()) return blob.status().WithContext(what);
  // Imports may have taken version numbers since the head was made: take the next free one.
  Result<std::optional<ModelRecord>> highest = store.LatestModel();
  if (!highest.ok()) return highest.status().WithContext(what);

  PrunedModel out;
  ModelRecord& record = out.record;
  record.version = std::max(head.version, *highest ? (*highest)->version : 0) + 1;
  record.parent = request.version;
  record.round = head.round;
  record.arch = pruned->arch;
  record.digest_hex = shared::ToHex(shared::Sha256(*blob));
  record.size_bytes = blob->size();
  record.created_ms = now_ms;
  record.origin = "prune";
  record.metrics = {{"prune",
                     {{"method", "l1_channels"},
                      {"fraction", request.fraction},
                      {"hidden", request.prune_hidden},
                      {"from", request.version},
                      {"from_arch", source->arch},
                      {"parameters_before", state->NumElements()},
                      {"parameters_after", pruned->state.NumElements()},
                      {"fine_tune_rounds", uint64_t{0}}}}};
  if (Status s = store.PutModel(record, *blob, /*make_head=*/true); !s.ok()) {
    return s.WithContext(what);
  }
  out.blob = std::move(*blob);
  out.state = std::move(pruned->state);
  out.parameters_before = state->NumElements();
  out.from_arch = source->arch;
  return out;
}

}  // namespace fedge::coordinator
