#include "client/trainer.h"

#include <algorithm>

#include "client/camera_data.h"
#include "client/live_monitor.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/runtime.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr char kLog[] = "client";
constexpr char kResidualKey[] = "topk_residual";

vision::InputSpec SpecOf(const ml::Model& m) {
  return InputSpecFor(m.input_channels(), m.input_height(), m.input_width());
}
}  // namespace

Trainer::Trainer(const ClientConfig& config, LocalData data, ModelCache& cache, SampleStore& store,
                 Hooks hooks)
    : config_(config),
      cache_(cache),
      store_(store),
      hooks_(std::move(hooks)),
      data_(std::move(data)) {}

Status Trainer::LoadResidual() {
  FEDGE_ASSIGN_OR_RETURN(auto residual, store_.GetState(kResidualKey));
  if (!residual) return Status::Ok();
  Result<shared::TensorBundle> r = shared::DecodeBundle(*residual);
  if (r.ok()) {
    residual_ = std::move(*r);
  } else {
    FEDGE_LOG(Warn, kLog).Client(hooks_.client_id())
        << "ignoring an unreadable top-k residual: " << r.status().message();
  }
  return Status::Ok();
}

Status Trainer::Run(TrainTask& task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!hooks_.still_wanted(task)) {
    return Status::DeadlineExceeded("task " + std::to_string(task.task_id) +
                                    " was superseded or passed its deadline before it started");
  }
  ml::ConfigureRuntime(config_.threads);  // OpenMP thread counts are per calling thread
  shared::TensorBundle state;
  FEDGE_RETURN_IF_ERROR(LoadModel(task, &state));
  FEDGE_RETURN_IF_ERROR(hooks_.loaded(task, state));
  FEDGE_RETURN_IF_ERROR(EnsureStoreData(*model_));
  return task.train ? Train(task, state) : Evaluate(task);
}

Status Trainer::Exclusive(const std::function<Status(const LocalData&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  ml::ConfigureRuntime(config_.threads);
  return fn(data_);
}

Status Trainer::LoadModel(const TrainTask& task, shared::TensorBundle* state) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, cache_.Get(task.digest));
  FEDGE_ASSIGN_OR_RETURN(*state, shared::DecodeBundle(blob));
  if (!model_ || model_->arch() != task.arch) {
    FEDGE_ASSIGN_OR_RETURN(ml::Model m, ml::Model::Create(task.arch, 0));
    model_.emplace(std::move(m));
  }
  return model_->LoadState(*state);
}

Status Trainer::Train(TrainTask& task, const shared::TensorBundle& state) {
  if (task.options.augment.Enabled()) {
    // Photometric augmentation works on pixels: undo the model's input normalisation.
    vision::InputSpec spec = SpecOf(*model_);
    ml::AugmentOptions& a = task.options.augment;
    a.mean.assign(spec.mean.begin(), spec.mean.begin() + spec.channels);
    a.stddev.assign(spec.stddev.begin(), spec.stddev.begin() + spec.channels);
    FEDGE_RETURN_IF_ERROR(ml::ValidateAugment(a, model_->input_channels(), model_->input_height(),
                                              model_->input_width())
                              .WithContext("the task's augmentation"));
  }
  const std::vector<int64_t> indices = task.focus_fraction > 0
                                           ? FocusIndices(task.focus_since_ms, task.focus_fraction)
                                           : data_.train;
  FEDGE_ASSIGN_OR_RETURN(task.trained, model_->Train(*data_.dataset, indices, task.options));
  shared::TensorBundle trained = model_->State();
  if (hooks_.tamper) hooks_.tamper(state, &trained);
  if (task.codec != wire::Codec::TopKInt8) {
    FEDGE_ASSIGN_OR_RETURN(task.update_blob, shared::EncodeBundle(trained, task.codec));
    return Status::Ok();
  }
  // Error feedback: what top-k leaves out this round stays in residual_ for the next.
  FEDGE_ASSIGN_OR_RETURN(task.update_blob, shared::EncodeTopKDelta(trained, state, task.digest,
                                                                   task.topk_fraction, &residual_));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::EncodeBundle(residual_));
  return store_.PutState(kResidualKey, bytes);
}

Status Trainer::Evaluate(TrainTask& task) {
  if (data_.eval.empty()) return Status::NotFound("no held-out examples to evaluate on");
  FEDGE_ASSIGN_OR_RETURN(task.evaluated, model_->Evaluate(*data_.dataset, data_.eval));
  if (!config_.drift.enabled) return Status::Ok();
  // This site's reference profile of the version: its held-out data under the model.
  FEDGE_ASSIGN_OR_RETURN(task.profile,
                         ComputeProfile(*model_, *data_.dataset, data_.eval, SpecOf(*model_),
                                        config_.drift.profile_frames));
  return hooks_.profiled(task, *task.profile);
}

Status Trainer::EnsureStoreData(const ml::Model& model) {
  if (config_.data.source != "store") return Status::Ok();
  std::vector<uint64_t> counts = store_.ClassCounts();
  const bool same_shape = data_.dataset && data_.dataset->channels == model.input_channels() &&
                          data_.dataset->height == model.input_height() &&
                          data_.dataset->width == model.input_width();
  if (same_shape && counts == data_labels_) return Status::Ok();
  FEDGE_ASSIGN_OR_RETURN(LocalData fresh,
                         LoadStoreData(store_, SpecOf(model), model.num_classes(),
                                       config_.data.holdout_fraction, config_.data.seed));
  FEDGE_LOG(Info, kLog).Client(hooks_.client_id())
      << "training data: " << fresh.train.size() << " labelled frames (" << fresh.eval.size()
      << " held out) from the sample store";
  std::lock_guard<std::mutex> lock(data_mu_);
  data_ = std::move(fresh);
  data_labels_ = std::move(counts);
  return Status::Ok();
}

DataCounts Trainer::Counts() const {
  std::lock_guard<std::mutex> lock(data_mu_);
  DataCounts h;
  if (config_.data.source == "store" && !data_.dataset) {
    h.class_counts = store_.ClassCounts();
    for (uint64_t c : h.class_counts) h.train += c;
    return h;
  }
  h.train = data_.train.size();
  h.eval = data_.eval.size();
  h.class_counts = data_.class_counts;
  return h;
}

std::vector<int64_t> Trainer::FocusIndices(uint64_t since_ms, double fraction) const {
  if (data_.captured_ms.size() != static_cast<size_t>(data_.dataset->size)) return data_.train;
  std::vector<int64_t> out =
      client::FocusIndices(data_.train, data_.captured_ms, since_ms, fraction);
  if (out.size() > data_.train.size()) {
    FEDGE_LOG(Info, "drift").Client(hooks_.client_id())
        << "drift retraining: " << (out.size() - data_.train.size())
        << " extra draws of the labelled frames captured since the drift, " << out.size()
        << " examples";
  }
  return out;
}

}  // namespace fedge::client
