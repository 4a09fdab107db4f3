#include "client/session_dispatch.h"

#include <string>

namespace fedge::client {

using shared::Status;

Status DispatchMessage(const wire::Envelope& env, MessageHandlers& h) {
  switch (env.message_type()) {
    case wire::Message::TaskOffer:
      return h.OnTaskOffer(*env.message_as_TaskOffer());
    case wire::Message::BlobChunk: {
      const wire::BlobChunk& c = *env.message_as_BlobChunk();
      if (c.kind() == wire::BlobKind::Release) return h.OnReleaseChunk(c);
      if (c.kind() != wire::BlobKind::Model) {
        return Status::InvalidArgument("coordinator sent a non-model blob");
      }
      return h.OnModelChunk(c);
    }
    case wire::Message::BlobRequest:
      return h.OnBlobRequest(*env.message_as_BlobRequest());
    case wire::Message::Ack:
      return h.OnAck(*env.message_as_Ack());
    case wire::Message::Error:
      return h.OnError(*env.message_as_Error());
    case wire::Message::ReferenceProfile:
      return h.OnReferenceProfile(*env.message_as_ReferenceProfile());
    case wire::Message::ReleaseOffer:
      return h.OnReleaseOffer(*env.message_as_ReleaseOffer());
    case wire::Message::ReleaseRevert:
      return h.OnReleaseRevert(*env.message_as_ReleaseRevert());
    case wire::Message::Heartbeat:
      return Status::Ok();
    default:
      return Status::InvalidArgument(std::string("unexpected message ") +
                                     wire::EnumNameMessage(env.message_type()));
  }
}

}  // namespace fedge::client
