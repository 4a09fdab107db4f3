// The Client's use of its sample store: the persistent outbox, the audit log of what leaves
// the site, the top-k residual, and training data from labelled frames.
#include <string>

#include "client/client.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"
#include "shared/net/wire_json.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr char kLog[] = "client";
}  // namespace

Status Client::LoadOutbox() {
  outbox_ = std::make_unique<Outbox>(*store_);
  delivery_ = std::make_unique<UpdateDelivery>(*outbox_, stats_, faults_, [this] { return id(); });
  FEDGE_RETURN_IF_ERROR(outbox_->Load());
  if (!outbox_->empty()) {
    FEDGE_LOG(Info, kLog).Client(id())
        << outbox_->size()
        << " update(s) from an earlier run wait in the outbox; they are "
           "delivered when the coordinator is reachable and their round is open";
  }
  return trainer_->LoadResidual();
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
  bool sync = true;
  if (env.ok()) {
    if (Result<std::string> content = shared::WireMessageJson(payload); content.ok()) {
      e.content = std::move(*content);
    } else {
      e.content = content.status().message();
    }
    // Heartbeats and blob chunks are many: made durable by the next synced write of the store.
    const wire::Message type = (*env)->message_type();
    sync = type != wire::Message::Heartbeat && type != wire::Message::BlobChunk;
  }
  if (Status s = store_->AppendAudit(e, sync); !s.ok()) {
    FEDGE_LOG(Error, kLog).Client(id()) << "cannot write the audit log: " << s.ToString();
  }
}

Status Client::RecordInstalled(uint64_t version, const shared::Digest& digest,
                               const std::string& arch) {
  if (version <= installed_version_) return Status::Ok();
  FEDGE_RETURN_IF_ERROR(WriteInstalledModel(config_.state_dir, {version, digest, arch}));
  installed_version_ = version;
  return Status::Ok();
}

}  // namespace fedge::client
