#pragma once
// One client connection on the coordinator: TLS handshake with a deadline, identity from the
// verified certificate, Hello/Welcome with version negotiation, then a read loop that
// verifies every frame and hands work to the round engine. Owns its Connection.

#include <memory>
#include <string>

#include "coordinator/round_engine.h"
#include "schemas/fedge_generated.h"
#include "shared/blob.h"
#include "shared/connection.h"
#include "shared/pki.h"

namespace fedge::coordinator {

struct SessionOptions {
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};  // no frame (not even a heartbeat) for this long
  std::chrono::milliseconds write_timeout{30000};
  uint32_t heartbeat_ms = 5000;
};

class Session : public Peer, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<shared::Connection> conn, RoundEngine* engine, SessionOptions options,
          std::string remote);

  // Runs the whole session; co_spawn on the connection's strand.
  net::awaitable<void> Run();

  const std::string& client_id() const override { return identity_.common_name; }
  void Send(std::vector<uint8_t> payload) override { conn_->Send(std::move(payload)); }
  void Close() { conn_->Close(); }

 private:
  // Handles one verified message; a non-OK status ends the session after an Error frame.
  shared::Status Dispatch(const wire::Envelope& env);
  shared::Status OnBlobRequest(const wire::BlobRequest& req);
  shared::Status OnBlobChunk(const wire::BlobChunk& chunk);
  shared::Status OnUpdateSubmit(const wire::UpdateSubmit& submit);
  shared::Status OnEvalReport(const wire::EvalReport& report);
  net::awaitable<shared::Status> Greet();
  // Sends a heartbeat every heartbeat_ms so clients can tell a live coordinator from a dead one.
  static net::awaitable<void> HeartbeatLoop(std::shared_ptr<Session> self);

  std::shared_ptr<shared::Connection> conn_;
  RoundEngine* engine_;
  SessionOptions options_;
  std::string remote_;
  shared::PeerIdentity identity_;
  shared::BlobAssembler upload_;
};

}  // namespace fedge::coordinator
