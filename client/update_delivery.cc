#include "client/update_delivery.h"

#include <algorithm>

#include "shared/base/log.h"
#include "shared/net/blob.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Status;

namespace {
constexpr const char* kLog = "client";
}  // namespace

UpdateDelivery::UpdateDelivery(Outbox& outbox, ClientStats& stats, const ClientFaults& faults,
                               std::function<std::string()> client_id)
    : outbox_(outbox), stats_(stats), faults_(faults), client_id_(std::move(client_id)) {}

Status UpdateDelivery::OnBlobRequest(const wire::BlobRequest& r, MessageSink& sink) {
  if (r.kind() != wire::BlobKind::Update) {
    return Status::InvalidArgument("coordinator requested a blob that is not an update");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(r.digest(), "BlobRequest.digest"));
  if (const Outbox::Entry* out = outbox_.FindByDigest(digest)) {
    if (r.offset() > out->blob.size()) {
      return Status::InvalidArgument("coordinator asked for update bytes from offset " +
                                     std::to_string(r.offset()) + " of a " +
                                     std::to_string(out->blob.size()) + "-byte blob");
    }
    SendBlob(sink, *out, r.offset());
    return Status::Ok();
  }
  FEDGE_LOG(Debug, kLog).Client(client_id_())
      << "coordinator asked for an update blob this client no longer has";
  return Status::Ok();
}

Status UpdateDelivery::OnAck(const wire::Ack& ack, MessageSink& sink) {
  ++stats_.updates_acked;
  std::string message = ack.message() ? ack.message()->str() : "";
  if (ack.duplicate()) ++stats_.duplicates_acked;
  FEDGE_LOG(Debug, kLog).Client(client_id_()) << "ack: " << message;
  if (Outbox::Entry* out = outbox_.Find(ack.task_id())) {
    if (faults_.resend_updates && !out->resent_by_fault) {
      out->resent_by_fault = true;
      ++stats_.updates_resent;
      sink.Send(out->submit);  // the coordinator must recognise and ignore it
    } else {
      Forget(ack.task_id());
    }
  }
  return Status::Ok();
}

Status UpdateDelivery::OnError(const wire::Error& e) {
  ++stats_.errors_received;
  if (e.subject() == wire::ErrorSubject::Standing) {
    ++stats_.quarantine_notices;
    FEDGE_LOG(Error, kLog).Client(client_id_())
        << "the coordinator quarantined this site: " << (e.message() ? e.message()->str() : "");
    return Status::Ok();
  }
  FEDGE_LOG(Warn, kLog).Client(client_id_())
      << "coordinator error: " << (e.message() ? e.message()->str() : "");
  if (e.subject() == wire::ErrorSubject::DriftReport) ++stats_.drift_reports_refused;
  const Outbox::Entry* out = outbox_.Find(e.task_id());
  if (out != nullptr && e.code() != wire::ErrorCode::IOError &&
      e.code() != wire::ErrorCode::Unavailable) {
    FEDGE_LOG(Warn, kLog).Client(client_id_())
        << "dropping the update of task " << e.task_id() << " (round " << out->round << ")";
    Forget(e.task_id());
  }
  return Status::Ok();
}

void UpdateDelivery::SendBlob(MessageSink& sink, const Outbox::Entry& out, uint64_t offset) {
  uint64_t chunk = std::min<uint64_t>(shared::kDefaultChunkBytes, sink.max_frame_bytes() / 2);
  for (const shared::ChunkRange& r : shared::ChunkRanges(out.blob.size(), offset, chunk)) {
    sink.Send(shared::MakeBlobChunk(wire::BlobKind::Update, out.digest, out.blob.size(), r.offset,
                                    std::span(out.blob.data() + r.offset, r.size)));
  }
}

void UpdateDelivery::Forget(uint64_t task_id) {
  if (Status s = outbox_.Remove(task_id); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(client_id_())
        << "cannot remove task " << task_id << " from the outbox: " << s.ToString();
  }
}

}  // namespace fedge::client
