// The Client's use of its sample store: the persistent outbox, the audit log of what leaves
// the site, the top-k residual, and training data from labelled frames.
#include <string>

#include "client/camera_data.h"
#include "client/client.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr char kLog[] = "client";
constexpr char kResidualKey[] = "topk_residual";
}  // namespace

Status Client::LoadOutbox() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<OutgoingRecord> records, store_->Outgoing());
  for (OutgoingRecord& r : records) {
    uint64_t task_id = 0;
    try {
      task_id = std::stoull(r.task_id);
    } catch (const std::exception&) {
      FEDGE_LOG(Warn, kLog).Client(id())
          << "dropping outbox record with a bad task id '" << r.task_id << "'";
      (void)store_->DeleteOutgoing(r.task_id);
      continue;
    }
    Outgoing out;
    out.round = r.round;
    out.submit = std::move(r.submit);
    out.blob = std::move(r.blob);
    out.digest = shared::Sha256(out.blob);
    outbox_[task_id] = std::move(out);
  }
  if (!outbox_.empty()) {
    FEDGE_LOG(Info, kLog).Client(id())
        << outbox_.size()
        << " update(s) from an earlier run wait in the outbox; they are "
           "delivered when the coordinator is reachable and their round is open";
  }
  FEDGE_ASSIGN_OR_RETURN(auto residual, store_->GetState(kResidualKey));
  if (residual) {
    Result<shared::TensorBundle> r = shared::DecodeBundle(*residual);
    if (r.ok()) {
      residual_ = std::move(*r);
    } else {
      FEDGE_LOG(Warn, kLog).Client(id())
          << "ignoring an unreadable top-k residual: " << r.status().message();
    }
  }
  return Status::Ok();
}

void Client::PersistOutgoing(uint64_t task_id, const Outgoing& out) {
  OutgoingRecord r;
  r.task_id = std::to_string(task_id);
  r.round = out.round;
  r.submit = out.submit;
  r.blob = out.blob;
  if (Status s = store_->PutOutgoing(r); !s.ok()) {
    // The update is still delivered from memory; only a restart before that would lose it.
    FEDGE_LOG(Error, kLog).Client(id())
        << "cannot keep the update of task " << task_id << " in the outbox: " << s.ToString();
  }
}

void Client::ForgetOutgoing(uint64_t task_id) {
  if (Status s = store_->DeleteOutgoing(std::to_string(task_id)); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id())
        << "cannot remove task " << task_id << " from the outbox: " << s.ToString();
  }
}

void Client::AuditSent(std::span<const uint8_t> payload) {
  AuditEntry e;
  e.unix_ms = static_cast<int64_t>(shared::UnixMillis());
  e.bytes = payload.size();
  Result<const wire::Envelope*> env = shared::VerifyEnvelope(payload);
  if (!env.ok()) {
    e.type = "unverifiable";
  } else {
    const wire::Envelope& m = **env;
    e.type = wire::EnumNameMessage(m.message_type());
    if (const auto* u = m.message_as_UpdateSubmit()) {
      e.round = u->round();
      e.detail = "task " + std::to_string(u->task_id()) + ", " +
                 std::to_string(u->example_count()) + " examples, " +
                 std::to_string(u->blob_size()) + "-byte update";
    } else if (const auto* r = m.message_as_EvalReport()) {
      e.round = r->round();
      e.detail = "task " + std::to_string(r->task_id()) + ", " +
                 std::to_string(r->example_count()) + " examples evaluated";
    } else if (const auto* c = m.message_as_BlobChunk()) {
      e.detail = std::string(wire::EnumNameBlobKind(c->kind())) + " chunk at byte " +
                 std::to_string(c->offset());
    } else if (const auto* h = m.message_as_Hello()) {
      e.detail = "class counts of " + std::to_string(h->train_examples()) + " training examples";
    }
  }
  if (Status s = store_->AppendAudit(e); !s.ok()) {
    FEDGE_LOG(Error, kLog).Client(id()) << "cannot write the audit log: " << s.ToString();
  }
}

Status Client::EnsureStoreData(const ml::Model& model) {
  if (config_.data.source != "store") return Status::Ok();
  std::vector<uint64_t> counts = store_->ClassCounts();
  const bool same_shape = data_.dataset && data_.dataset->channels == model.input_channels() &&
                          data_.dataset->height == model.input_height() &&
                          data_.dataset->width == model.input_width();
  if (same_shape && counts == data_labels_) return Status::Ok();
  vision::InputSpec spec =
      InputSpecFor(model.input_channels(), model.input_height(), model.input_width());
  FEDGE_ASSIGN_OR_RETURN(LocalData fresh,
                         LoadStoreData(*store_, spec, model.num_classes(),
                                       config_.data.holdout_fraction, config_.data.seed));
  FEDGE_LOG(Info, kLog).Client(id())
      << "training data: " << fresh.train.size() << " labelled frames (" << fresh.eval.size()
      << " held out) from the sample store";
  std::lock_guard<std::mutex> lock(data_mu_);
  data_ = std::move(fresh);
  data_labels_ = std::move(counts);
  return Status::Ok();
}

Client::HelloData Client::Hello() const {
  std::lock_guard<std::mutex> lock(data_mu_);
  HelloData h;
  if (config_.data.source == "store" && !data_.dataset) {
    h.class_counts = store_->ClassCounts();
    for (uint64_t c : h.class_counts) h.train += c;
    return h;
  }
  h.train = data_.train.size();
  h.eval = data_.eval.size();
  h.class_counts = data_.class_counts;
  return h;
}

Status Client::SaveResidual() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::EncodeBundle(residual_));
  return store_->PutState(kResidualKey, bytes);
}

Status Client::RecordInstalled(uint64_t version, const shared::Digest& digest,
                               const std::string& arch) {
  if (version <= installed_version_) return Status::Ok();
  FEDGE_RETURN_IF_ERROR(WriteInstalledModel(config_.state_dir, {version, digest, arch}));
  installed_version_ = version;
  return Status::Ok();
}

}  // namespace fedge::client
