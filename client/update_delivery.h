#pragma once
// The session's side of delivering updates: what the client does with the coordinator's
// answers to an UpdateSubmit. A BlobRequest is answered with the update's bytes from the
// requested offset; an Ack forgets the update (it is in the round); an Error about a task
// forgets it too unless the error is transient (IOError, Unavailable: submitted again on the
// next session). Counts what it sees in ClientStats.
//
// Not thread-safe: the client's session strand owns it, like the Outbox it works on.

#include <cstdint>
#include <functional>
#include <string>

#include "client/client_stats.h"
#include "client/outbox.h"
#include "client/session_dispatch.h"
#include "schemas/fedge_generated.h"
#include "shared/base/status.h"

namespace fedge::client {

class UpdateDelivery {
 public:
  // `outbox`, `stats` and `faults` (not owned) must outlive this; `client_id` names the client
  // in log lines.
  UpdateDelivery(Outbox& outbox, ClientStats& stats, const ClientFaults& faults,
                 std::function<std::string()> client_id);

  // Sends the chunks of the update whose blob has the request's digest, from its offset.
  // InvalidArgument if the request is not for an update blob or its offset is past the end; an
  // update this client no longer has is ignored.
  shared::Status OnBlobRequest(const wire::BlobRequest& request, MessageSink& sink);
  // Forgets the acknowledged update (with faults.resend_updates: submits it once more first).
  shared::Status OnAck(const wire::Ack& ack, MessageSink& sink);
  // Counts the error (a refused DriftReport separately) and forgets the update it is about,
  // unless the error is IOError or Unavailable.
  shared::Status OnError(const wire::Error& error);

  // Sends `out.blob` from `offset` in chunks of at most half a frame.
  static void SendBlob(MessageSink& sink, const Outbox::Entry& out, uint64_t offset);
  // Removes the update of `task_id` from the outbox (and the store); a store error is logged.
  void Forget(uint64_t task_id);

 private:
  Outbox& outbox_;
  ClientStats& stats_;
  const ClientFaults& faults_;
  std::function<std::string()> client_id_;
};

}  // namespace fedge::client
