#pragma once
// One connection on the coordinator: TLS handshake with a deadline, identity from the
// verified certificate (refused if revoked), Hello/Welcome with version negotiation, then a
// read loop that verifies every frame. Client certificates take part in rounds (work goes to
// the round engine); admin certificates run admin commands. Owns its Connection.

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/connection_limiter.h"
#include "coordinator/outbound.h"
#include "coordinator/round_engine.h"
#include "schemas/fedge_generated.h"
#include "shared/crypto/pki.h"
#include "shared/net/blob.h"
#include "shared/net/connection.h"

namespace fedge::coordinator {

struct SessionOptions {
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};  // no frame (not even a heartbeat) for this long
  std::chrono::milliseconds write_timeout{30000};
  uint32_t heartbeat_ms = 5000;
};

class AdminService;
class RolloutManager;

class Session : public WirePeer, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<shared::Connection> conn, RoundEngine* engine, Store* store,
          AdminService* admin, SessionOptions options, std::string remote);

  // Runs the whole session; co_spawn on the connection's strand.
  net::awaitable<void> Run();

  const std::string& client_id() const override { return identity_.common_name; }
  void Close() override { conn_->Close(); }
  // Thread-safe: closes the session if it belongs to `client_id`.
  void CloseIfPeer(const std::string& client_id);
  // Where release offers, install reports and release blobs go (null: releases off).
  // REQUIRES: before Run().
  void set_rollouts(RolloutManager* rollouts) { rollouts_ = rollouts; }
  // Sessions per certificate (`limiter` counts them; not owned) and refused messages per minute.
  // REQUIRES: before Run().
  void set_limits(ConnectionLimiter* limiter, uint64_t refusals_per_minute) {
    limiter_ = limiter;
    refusals_.emplace(refusals_per_minute);
  }
  // A refusal for this peer (Peer::SendError); past the session's refusal budget, the session
  // is closed instead, with one log line.
  void SendError(const shared::Status& status, uint64_t task_id,
                 wire::ErrorSubject subject) override;
  // The engine asks for an update's bytes: only then are its chunks accepted (on the session's
  // strand, before the request goes out), so the chunks of an update the engine refused are
  // never buffered or hashed.
  void SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest, uint64_t offset) override;

 private:
  void SendPayload(std::vector<uint8_t> payload) override { conn_->Send(std::move(payload)); }
  // Handles one verified message; a non-OK status ends the session after an Error frame.
  shared::Status Dispatch(const wire::Envelope& env);
  shared::Status OnBlobRequest(const wire::BlobRequest& req);
  shared::Status OnBlobChunk(const wire::BlobChunk& chunk);
  shared::Status OnUpdateSubmit(const wire::UpdateSubmit& submit);
  shared::Status OnEvalReport(const wire::EvalReport& report);
  shared::Status OnDriftReport(const wire::DriftReport& report);
  shared::Status OnInstallReport(const wire::InstallReport& report);
  shared::Status OnPeerError(const wire::Error& error);
  shared::Status Admit();
  net::awaitable<shared::Status> Greet(bool client);
  net::awaitable<shared::Status> ReadMessages(bool admin);
  net::awaitable<void> ReadLoop();
  // The admin half: AdminRequest, model blob download (export) and upload (import).
  net::awaitable<void> RunAdmin();
  shared::Status DispatchAdmin(const wire::Envelope& env);
  // Sends a heartbeat every heartbeat_ms so clients can tell a live coordinator from a dead one.
  static net::awaitable<void> HeartbeatLoop(std::shared_ptr<Session> self);

  std::shared_ptr<shared::Connection> conn_;
  RoundEngine* engine_;
  Store* store_;
  AdminService* admin_;
  RolloutManager* rollouts_ = nullptr;
  ConnectionLimiter* limiter_ = nullptr;
  std::optional<RefusalBudget> refusals_;
  std::atomic<bool> over_budget_{false};
  std::string hello_release_;  // the release the client runs, from its Hello
  uint64_t hello_release_counter_ = 0;
  SessionOptions options_;
  std::string remote_;
  shared::PeerIdentity identity_;
  shared::BlobAssembler upload_;
  std::optional<UpdateIn> submitted_;  // UpdateSubmit waiting for its blob (no blob yet)
  shared::Digest submitted_digest_{};
  std::optional<shared::Digest> requested_;  // the update blob the engine asked for (strand)
};

}  // namespace fedge::coordinator
