#include "coordinator/session.h"

#include "coordinator/admin.h"
#include "coordinator/rollout.h"
#include "coordinator/wire_in.h"
#include "shared/base/log.h"
#include "shared/net/frame.h"
#include "shared/net/tls.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "session";
constexpr uint64_t kMaxImportBytes = 1ull << 30;  // a model export an admin may upload

}  // namespace

Session::Session(std::shared_ptr<shared::Connection> conn, RoundEngine* engine, Store* store,
                 AdminService* admin, SessionOptions options, std::string remote)
    : conn_(std::move(conn)),
      engine_(engine),
      store_(store),
      admin_(admin),
      options_(options),
      remote_(std::move(remote)),
      upload_(1) {}

void Session::CloseIfPeer(const std::string& client_id) {
  net::asio::post(conn_->executor(), [self = shared_from_this(), client_id] {
    if (self->identity_.common_name != client_id || self->conn_->closed()) return;
    FEDGE_LOG(Info, kLog).Client(client_id)
        << "closing the session of " << client_id << ": certificate revoked";
    self->conn_->SendAndClose(shared::MakeErrorMessage(
        Status::PermissionDenied("the certificate of " + client_id + " was revoked"), 0,
        wire::ErrorSubject::Session));
  });
}

void Session::SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest, uint64_t offset) {
  net::asio::dispatch(conn_->executor(), [self = shared_from_this(), kind, digest, offset] {
    if (kind == wire::BlobKind::Update) self->requested_ = digest;
    self->WirePeer::SendBlobRequest(kind, digest, offset);
  });
}

void Session::SendError(const Status& status, uint64_t task_id, wire::ErrorSubject subject) {
  if (!refusals_ || refusals_->Spend()) {
    WirePeer::SendError(status, task_id, subject);
    return;
  }
  if (over_budget_.exchange(true)) return;  // closing already
  const Status why = Status::ResourceExhausted(
      "more than " + std::to_string(refusals_->per_minute()) +
      " refused messages in a minute (limits.max_refusals_per_minute); the last: " +
      status.message());
  FEDGE_LOG(Warn, kLog).Client(client_id())
      << "closing " << client_id() << " (" << remote_ << "): " << why.message();
  conn_->SendAndClose(shared::MakeErrorMessage(why, 0, wire::ErrorSubject::Session));
}

net::awaitable<Status> Session::Greet(bool client) {
  Result<std::vector<uint8_t>> frame = co_await conn_->ReadFrame(options_.handshake_timeout);
  if (!frame.ok()) co_return frame.status().WithContext("waiting for Hello");
  Result<const wire::Envelope*> env = shared::VerifyEnvelope(*frame);
  if (!env.ok()) co_return env.status();
  const wire::Hello* hello = (*env)->message_as_Hello();
  if (hello == nullptr) {
    co_return Status::InvalidArgument(std::string("expected Hello first, got ") +
                                      wire::EnumNameMessage((*env)->message_type()));
  }
  if (hello->protocol_min() > shared::kProtocolVersion ||
      hello->protocol_max() < shared::kProtocolVersion) {
    std::string msg = "client speaks protocol " + std::to_string(hello->protocol_min()) + ".." +
                      std::to_string(hello->protocol_max()) + ", this coordinator speaks " +
                      std::to_string(shared::kProtocolVersion) + "; upgrade one side";
    conn_->SendAndClose(shared::MakeUnsupportedVersion(msg));
    co_return Status::InvalidArgument(msg);
  }
  Result<wire_in::HelloIn> in = wire_in::ReadHello(*hello);
  if (!in.ok()) co_return in.status().WithContext("Hello refused");
  ClientHello info = std::move(in->info);
  info.fingerprint = identity_.fingerprint_hex;
  hello_release_ = std::move(in->release_target);
  hello_release_counter_ = in->release_counter;
  flatbuffers::FlatBufferBuilder fbb(128);
  auto id = fbb.CreateString(identity_.common_name);
  conn_->Send(shared::FinishEnvelope(
      fbb, wire::CreateWelcome(fbb, shared::kProtocolVersion, id, options_.heartbeat_ms)));
  if (client) engine_->Connected(shared_from_this(), std::move(info));
  co_return Status::Ok();
}

// OK if the peer may stay: its certificate is not revoked, and it is a client (or an admin,
// when this coordinator serves admin commands). Else why not.
Status Session::Admit() {
  Result<std::optional<RevocationRecord>> revoked = store_->GetRevocation(identity_.common_name);
  if (!revoked.ok()) return revoked.status();
  if (revoked->has_value()) {
    return Status::PermissionDenied(
        "the certificate of " + identity_.common_name + " was revoked" +
        ((*revoked)->reason.empty() ? "" : " (" + (*revoked)->reason + ")") +
        "; ask the project's central team for a new startup kit");
  }
  const bool client = identity_.role == shared::kRoleClient;
  if (!client && !(identity_.role == shared::kRoleAdmin && admin_ != nullptr)) {
    return Status::PermissionDenied("certificate role '" + identity_.role +
                                    "' may not join training rounds or run admin commands");
  }
  return Status::Ok();
}

// Reads and dispatches messages (`admin`: to DispatchAdmin, else Dispatch) until the connection
// closes (OK) or a message fails (why).
net::awaitable<Status> Session::ReadMessages(bool admin) {
  while (!conn_->closed()) {
    Result<std::vector<uint8_t>> frame = co_await conn_->ReadFrame(options_.idle_timeout);
    Status s = frame.status();
    if (frame.ok()) {
      Result<const wire::Envelope*> env = shared::VerifyEnvelope(*frame);
      try {
        s = !env.ok() ? env.status() : admin ? DispatchAdmin(**env) : Dispatch(**env);
      } catch (const std::exception& e) {
        // A bug, not the peer's fault alone: logged once; the session ends with an Error.
        FEDGE_LOG(Error, kLog).Client(identity_.common_name)
            << "handling a message of " << identity_.common_name << " threw: " << e.what();
        s = Status::Internal("the coordinator could not handle the last message");
      }
    }
    if (!s.ok()) co_return s;
  }
  co_return Status::Ok();  // closed by this side
}

// A client's messages until it goes away or sends something wrong.
net::awaitable<void> Session::ReadLoop() {
  const Status s = co_await ReadMessages(/*admin=*/false);
  if (s.ok()) co_return;
  if (conn_->send_queue_overflowed()) {
    FEDGE_LOG(Warn, kLog).Client(identity_.common_name)
        << "closed client " << identity_.common_name << ": it asked for more than "
        << conn_->max_queued_bytes() << " bytes without reading them";
    co_return;
  }
  if (s.code() == shared::Code::kUnavailable) {
    FEDGE_LOG(Info, kLog).Client(identity_.common_name)
        << "client " << identity_.common_name << " disconnected (" << s.message() << ")";
    co_return;
  }
  FEDGE_LOG(Warn, kLog).Client(identity_.common_name)
      << "closing client " << identity_.common_name << ": " << s.ToString();
  if (!conn_->closed()) {
    conn_->SendAndClose(shared::MakeErrorMessage(s, 0, wire::ErrorSubject::Session));
  }
}

net::awaitable<void> Session::Run() {
  auto self = shared_from_this();
  Status hs = co_await conn_->Handshake(net::ssl::stream_base::server, options_.handshake_timeout);
  if (!hs.ok()) {
    FEDGE_LOG(Warn, kLog) << "refused " << remote_ << ": " << hs.message();
    conn_->Close();
    co_return;
  }
  Result<shared::PeerIdentity> id = shared::PeerIdentityOf(conn_->stream());
  if (!id.ok()) {
    FEDGE_LOG(Warn, kLog) << "refused " << remote_ << ": " << id.status().message();
    conn_->Close();
    co_return;
  }
  identity_ = *id;
  net::asio::co_spawn(conn_->executor(),
                      shared::Connection::WriteLoop(conn_, options_.write_timeout),
                      shared::LogOnError{kLog});
  if (limiter_ != nullptr && !limiter_->TryAdmitIdentity(identity_.common_name)) {
    Status s = Status::ResourceExhausted(
        "too many connections with this certificate (limits.max_connections_per_identity = " +
        std::to_string(limiter_->per_identity()) + "); close the others first");
    conn_->SendAndClose(shared::MakeErrorMessage(s, 0, wire::ErrorSubject::Session));
    FEDGE_LOG(Warn, kLog).Client(identity_.common_name)
        << "refused " << remote_ << " (" << identity_.common_name << "): " << s.message();
    co_return;
  }
  // The identity's slot is freed however the session ends (an exception included).
  struct IdentitySlot {
    ConnectionLimiter* limiter;
    std::string name;
    ~IdentitySlot() {
      if (limiter != nullptr) limiter->ReleaseIdentity(name);
    }
  } slot{limiter_, identity_.common_name};
  if (Status s = Admit(); !s.ok()) {
    conn_->SendAndClose(shared::MakeErrorMessage(s, 0, wire::ErrorSubject::Session));
    FEDGE_LOG(Warn, kLog).Client(identity_.common_name)
        << "refused " << remote_ << " (" << identity_.common_name << "): " << s.message();
    co_return;
  }
  const bool client = identity_.role == shared::kRoleClient;
  upload_ = shared::BlobAssembler(client ? engine_->max_update_bytes() : kMaxImportBytes);
  if (Status s = co_await Greet(client); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(identity_.common_name)
        << identity_.common_name << " (" << remote_ << "): " << s.ToString();
    if (!conn_->closed())
      conn_->SendAndClose(shared::MakeErrorMessage(s, 0, wire::ErrorSubject::Session));
    co_return;
  }
  if (!client) {
    co_await RunAdmin();
    co_return;
  }
  FEDGE_LOG(Info, kLog).Client(identity_.common_name)
      << "client " << identity_.common_name << " connected from " << remote_;
  net::asio::co_spawn(conn_->executor(), HeartbeatLoop(shared_from_this()),
                      shared::LogOnError{kLog});
  if (rollouts_ != nullptr) {
    rollouts_->Connected(shared_from_this(), hello_release_, hello_release_counter_);
  }
  co_await ReadLoop();
  engine_->StashUpload(identity_.common_name, std::move(upload_));
  engine_->Disconnected(shared_from_this());
  if (rollouts_ != nullptr) rollouts_->Disconnected(shared_from_this());
}

net::awaitable<void> Session::HeartbeatLoop(std::shared_ptr<Session> self) {
  net::asio::steady_timer timer(self->conn_->executor());
  while (!self->conn_->closed()) {
    timer.expires_after(std::chrono::milliseconds(self->options_.heartbeat_ms));
    net::error_code ec;
    co_await timer.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
    if (!self->conn_->closed()) self->SendPayload(shared::MakeHeartbeat());
  }
}

Status Session::Dispatch(const wire::Envelope& env) {
  switch (env.message_type()) {
    case wire::Message::Heartbeat:
      return Status::Ok();
    case wire::Message::BlobRequest:
      return OnBlobRequest(*env.message_as_BlobRequest());
    case wire::Message::BlobChunk:
      return OnBlobChunk(*env.message_as_BlobChunk());
    case wire::Message::UpdateSubmit:
      return OnUpdateSubmit(*env.message_as_UpdateSubmit());
    case wire::Message::EvalReport:
      return OnEvalReport(*env.message_as_EvalReport());
    case wire::Message::DriftReport:
      return OnDriftReport(*env.message_as_DriftReport());
    case wire::Message::InstallReport:
      return OnInstallReport(*env.message_as_InstallReport());
    case wire::Message::Error:
      return OnPeerError(*env.message_as_Error());
    default:
      return Status::InvalidArgument(std::string("unexpected message ") +
                                     wire::EnumNameMessage(env.message_type()) + " from a client");
  }
}

Status Session::OnInstallReport(const wire::InstallReport& r) {
  if (rollouts_ == nullptr) {
    return Status::InvalidArgument("InstallReport sent to a coordinator without releases");
  }
  Result<InstallReportIn> in = wire_in::ReadInstallReport(r);
  if (!in.ok()) return in.status().WithContext("InstallReport refused");
  return rollouts_->Report(shared_from_this(), *in);
}

// A client's Error: logged (as safe text) and, when it names a task of the open round, that
// task fails now, so the round does not wait for it until its deadline.
Status Session::OnPeerError(const wire::Error& e) {
  FEDGE_LOG(Warn, kLog).Client(client_id())
      << "client " << client_id() << " reports error " << wire::EnumNameErrorCode(e.code())
      << (e.task_id() ? " for task " + std::to_string(e.task_id()) : "") << ": "
      << wire_in::ReadPeerError(e);
  if (e.task_id() != 0) {
    engine_->TaskFailed(shared_from_this(), e.task_id(),
                        Status(shared::FromWireCode(e.code()), "the client reported an error"));
  }
  return Status::Ok();
}

Status Session::OnBlobRequest(const wire::BlobRequest& req) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(req.digest(), "BlobRequest.digest"));
  const bool release = req.kind() == wire::BlobKind::Release;
  if (req.kind() != wire::BlobKind::Model && !release) {
    return Status::InvalidArgument("clients may only request model and release blobs");
  }
  std::shared_ptr<const std::vector<uint8_t>> blob =
      release ? (rollouts_ != nullptr ? rollouts_->Artifact(digest) : nullptr)
              : engine_->ModelBlob(digest);
  if (!blob) {
    SendError(Status::NotFound((release ? "release artifact " : "model ") + shared::ToHex(digest) +
                               " is not served any more"),
              0, wire::ErrorSubject::Blob);
    return Status::Ok();
  }
  if (req.offset() >= blob->size()) {
    return Status::InvalidArgument("BlobRequest offset " + std::to_string(req.offset()) +
                                   " is past the end of a " + std::to_string(blob->size()) +
                                   "-byte blob");
  }
  uint64_t chunk = std::min<uint64_t>(shared::kDefaultChunkBytes, conn_->max_frame_bytes() / 2);
  // One batch: admitted whole while the peer reads (Connection::SendAll).
  std::vector<std::vector<uint8_t>> chunks;
  for (const shared::ChunkRange& r : shared::ChunkRanges(blob->size(), req.offset(), chunk)) {
    chunks.push_back(shared::MakeBlobChunk(req.kind(), digest, blob->size(), r.offset,
                                           std::span(blob->data() + r.offset, r.size)));
  }
  conn_->SendAll(std::move(chunks));
  return Status::Ok();
}

Status Session::OnBlobChunk(const wire::BlobChunk& chunk) {
  if (chunk.kind() != wire::BlobKind::Update) {
    return Status::InvalidArgument("clients may only upload update blobs");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(chunk.digest(), "BlobChunk.digest"));
  if (!submitted_ || digest != submitted_digest_) {
    SendError(Status::InvalidArgument("update chunk for blob " + shared::ToHex(digest) +
                                      " arrived without an UpdateSubmit for it; send "
                                      "UpdateSubmit first"),
              0, wire::ErrorSubject::Update);
    return Status::Ok();
  }
  if (!requested_ || *requested_ != digest) {
    SendError(Status::InvalidArgument("update chunk for blob " + shared::ToHex(digest) +
                                      " arrived before the coordinator asked for it; wait for "
                                      "its BlobRequest (or its Ack or Error)"),
              submitted_->task_id, wire::ErrorSubject::Update);
    return Status::Ok();
  }
  Status s = upload_.Append(digest, chunk.total_size(), chunk.offset(),
                            std::span(chunk.data()->data(), chunk.data()->size()));
  if (!s.ok()) {
    // The transfer is reset; the client can submit it again. Tell it why.
    upload_.Reset();
    uint64_t task = submitted_->task_id;
    submitted_.reset();
    requested_.reset();
    SendError(s.WithContext("update upload"), task, wire::ErrorSubject::Update);
    return Status::Ok();
  }
  if (upload_.complete()) {
    UpdateIn u = std::move(*submitted_);
    submitted_.reset();
    requested_.reset();
    u.digest = digest;
    u.blob = upload_.Take();
    engine_->SubmitUpdate(shared_from_this(), std::move(u));
  }
  return Status::Ok();
}

Status Session::OnUpdateSubmit(const wire::UpdateSubmit& submit) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(submit.blob_digest(), "UpdateSubmit.blob_digest"));
  Result<UpdateIn> read = wire_in::ReadUpdateSubmit(submit);
  if (!read.ok()) {
    // Refused before anything is buffered; the task fails, so the round does not wait for it.
    const Status why = read.status().WithContext("update refused");
    SendError(why, submit.task_id(), wire::ErrorSubject::Update);
    engine_->TaskFailed(shared_from_this(), submit.task_id(), why);
    return Status::Ok();
  }
  UpdateIn u = std::move(*read);
  // Continue a partial upload of the same blob: from this session or, after a reconnect,
  // from the previous one.
  if (!upload_.active() || upload_.digest() != digest) {
    if (upload_.active()) engine_->StashUpload(identity_.common_name, std::move(upload_));
    upload_ = engine_->TakeUpload(identity_.common_name, digest);
  }
  if (Status s = upload_.Begin(digest, submit.blob_size()); !s.ok()) {
    upload_.Reset();
    SendError(s.WithContext("update upload"), u.task_id, wire::ErrorSubject::Update);
    return Status::Ok();
  }
  submitted_ = std::move(u);
  submitted_digest_ = digest;
  requested_.reset();  // chunks wait for the engine's BlobRequest for this submission
  if (upload_.complete()) {
    UpdateIn ready = std::move(*submitted_);
    submitted_.reset();
    ready.digest = digest;
    ready.blob = upload_.Take();
    engine_->SubmitUpdate(shared_from_this(), std::move(ready));
    return Status::Ok();
  }
  UploadIntent intent;
  intent.task_id = submitted_->task_id;
  intent.round = submitted_->round;
  intent.idempotency_id = submitted_->idempotency_id;
  intent.digest = digest;
  intent.size = submit.blob_size();
  intent.offset = upload_.received();
  if (intent.offset > 0) {
    FEDGE_LOG(Info, kLog).Client(client_id())
        << "client " << client_id() << " resumes its upload at byte " << intent.offset << " of "
        << intent.size;
  }
  engine_->OfferUpload(shared_from_this(), std::move(intent));
  return Status::Ok();
}

Status Session::OnEvalReport(const wire::EvalReport& report) {
  Result<EvalIn> e = wire_in::ReadEvalReport(report);
  if (!e.ok()) {
    const Status why = e.status().WithContext("evaluation refused");
    SendError(why, report.task_id(), wire::ErrorSubject::Evaluation);
    engine_->TaskFailed(shared_from_this(), report.task_id(), why);
    return Status::Ok();
  }
  engine_->SubmitEval(shared_from_this(), std::move(*e));
  return Status::Ok();
}

Status Session::OnDriftReport(const wire::DriftReport& report) {
  Result<DriftReportIn> r = wire_in::ReadDriftReport(report);
  if (!r.ok()) {
    // A bad report is refused; the session goes on.
    SendError(r.status().WithContext("drift report rejected"), 0, wire::ErrorSubject::DriftReport);
    return Status::Ok();
  }
  engine_->SubmitDriftReport(shared_from_this(), std::move(*r));
  return Status::Ok();
}

}  // namespace fedge::coordinator
