#pragma once
// How the client's session answers the coordinator: one handler per message kind, called by
// DispatchMessage, and the seam the handlers send through (MessageSink). The Client implements
// both on a live connection (client.cc); tests implement them with fakes, without TLS or
// LibTorch (tests/client/session_dispatch_test.cc).

#include <cstdint>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"

namespace fedge::client {

// What a session sends on: the connection to the coordinator in production, a recording fake
// in tests. Called on the session's strand only.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Queues one frame payload (a verified-envelope FlatBuffer) for sending.
  virtual void Send(std::vector<uint8_t> payload) = 0;
  // The largest frame the peer accepts.
  virtual uint32_t max_frame_bytes() const = 0;
};

// One handler per message kind a coordinator sends a client. A handler returns an error only
// when the session cannot go on (the session sends it back as an Error and ends); a message it
// merely ignores (stale, unknown task) is OK. The messages are verified envelopes' tables:
// present, but their optional fields may be null.
class MessageHandlers {
 public:
  virtual ~MessageHandlers() = default;
  virtual shared::Status OnTaskOffer(const wire::TaskOffer& offer) = 0;
  virtual shared::Status OnModelChunk(const wire::BlobChunk& chunk) = 0;
  virtual shared::Status OnReleaseChunk(const wire::BlobChunk& chunk) = 0;
  virtual shared::Status OnBlobRequest(const wire::BlobRequest& request) = 0;
  virtual shared::Status OnAck(const wire::Ack& ack) = 0;
  virtual shared::Status OnError(const wire::Error& error) = 0;
  virtual shared::Status OnReferenceProfile(const wire::ReferenceProfile& profile) = 0;
  virtual shared::Status OnReleaseOffer(const wire::ReleaseOffer& offer) = 0;
  virtual shared::Status OnReleaseRevert(const wire::ReleaseRevert& revert) = 0;
};

// Calls the handler of `env`'s message kind; a BlobChunk goes to OnModelChunk or
// OnReleaseChunk by its blob kind. A Heartbeat needs nothing. InvalidArgument for a chunk of
// any other blob kind ("coordinator sent a non-model blob") and for a message a coordinator
// never sends a client ("unexpected message <name>").
shared::Status DispatchMessage(const wire::Envelope& env, MessageHandlers& handlers);

}  // namespace fedge::client
