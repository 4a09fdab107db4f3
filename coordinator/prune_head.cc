// RoundEngine::PruneHead: a pruned registry version becomes the head, for federated
// fine-tuning (docs/release.md, "Federated fine-tuning of a pruned model").
#include <cmath>
#include <future>
#include <memory>
#include <optional>

#include "coordinator/round_engine.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/weights/prune.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "rounds";

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

Result<ModelRecord> RoundEngine::PruneHeadOnStrand(const PruneRequest& request) {
  const std::string what = "prune model version " + std::to_string(request.version);
  if (std::optional<uint64_t> open = OpenRoundNumber()) {
    return Status::Unavailable(what + ": round " + std::to_string(*open) +
                               " is running; prune after it ends (see `fedgectl status`)");
  }
  if (!(request.fraction > 0 && request.fraction < 1)) {
    return Status::InvalidArgument(what +
                                   ": the fraction must be above 0 and below 1 (0.5 "
                                   "removes half of each layer's channels), got " +
                                   std::to_string(request.fraction));
  }
  Result<ModelRecord> source = store_->GetModel(request.version);
  if (!source.ok()) return source.status().WithContext(what);
  Result<shared::TensorBundle> state = LoadState(*store_, *source);
  if (!state.ok()) return state.status().WithContext(what);
  Result<ml::Pruned> pruned =
      ml::PruneChannels(source->arch, *state, {request.fraction, request.prune_hidden});
  if (!pruned.ok()) return pruned.status().WithContext(what + " (" + source->arch + ")");
  Result<std::vector<uint8_t>> blob = shared::EncodeBundle(pruned->state);
  if (!blob.ok()) return blob.status().WithContext(what);
  // Imports may have taken version numbers since the head was made: take the next free one.
  Result<std::optional<ModelRecord>> highest = store_->LatestModel();
  if (!highest.ok()) return highest.status().WithContext(what);

  ModelRecord record;
  record.version = std::max(model_.version, *highest ? (*highest)->version : 0) + 1;
  record.parent = request.version;
  record.round = model_.round;
  record.arch = pruned->arch;
  record.digest_hex = shared::ToHex(shared::Sha256(*blob));
  record.size_bytes = blob->size();
  record.created_ms = shared::UnixMillis();
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
  if (Status s = store_->PutModel(record, *blob, /*make_head=*/true); !s.ok()) {
    return s.WithContext(what);
  }
  {
    std::lock_guard<std::mutex> lock(uploads_mu_);
    uploads_.clear();  // partial uploads were updates of the previous head
  }
  const int64_t before = state->NumElements();
  if (Status s = InstallModel(record, std::move(*blob), std::move(pruned->state)); !s.ok()) {
    return s.WithContext(what);
  }
  FEDGE_LOG(Info, kLog) << "pruned model version " << request.version << " (" << source->arch
                        << ", " << before << " parameters) into version " << record.version << " ("
                        << record.arch << ", " << state_.NumElements()
                        << " parameters); it is the head: the next rounds fine-tune it";
  PublishSnapshot();
  Wake();
  return record;
}

void RoundEngine::PruneHead(PruneRequest request, std::function<void(Result<ModelRecord>)> done) {
  net::asio::post(strand_, [this, request, done = std::move(done)] {
    Result<ModelRecord> r = PruneHeadOnStrand(request);
    if (done) done(std::move(r));
  });
}

Result<ModelRecord> RoundEngine::PruneHeadAndWait(const PruneRequest& request) {
  auto promise = std::make_shared<std::promise<Result<ModelRecord>>>();
  std::future<Result<ModelRecord>> future = promise->get_future();
  PruneHead(request, [promise](Result<ModelRecord> r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace fedge::coordinator
