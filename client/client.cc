#include "client/client.h"

#include "client/updater.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/drift/drift_wire.h"
#include "shared/net/frame.h"
#include "shared/net/offload.h"
#include "shared/net/resolve.h"
#include "shared/net/tls.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using std::chrono::milliseconds;

namespace {
constexpr const char* kLog = "client";

}  // namespace

Client::Client(ClientConfig config, LocalData data, net::asio::io_context& io,
               net::asio::thread_pool* compute)
    : config_(std::move(config)),
      initial_data_(std::move(data)),
      io_(io),
      compute_(compute),
      strand_(net::asio::make_strand(io)),
      download_(config_.max_frame_bytes * 16ull),
      backoff_timer_(strand_),
      jitter_(std::random_device{}()),
      live_(std::make_unique<LiveMonitor>(config_.drift)),
      release_download_(std::max<uint64_t>(1, config_.update.max_artifact_bytes)) {}

Client::~Client() = default;

Status Client::fatal() const {
  std::lock_guard<std::mutex> lock(id_mu_);
  return fatal_;
}

std::string Client::id() const {
  std::lock_guard<std::mutex> lock(id_mu_);
  return id_;
}

Status Client::Init() {
  FEDGE_ASSIGN_OR_RETURN(tls_, shared::MakeClientTlsContext(config_.tls));
  FEDGE_ASSIGN_OR_RETURN(ModelCache cache, ModelCache::Open(config_.state_dir, 1ull << 31));
  cache_.emplace(std::move(cache));
  FEDGE_ASSIGN_OR_RETURN(store_, SampleStore::Open(StoreDir(config_), StoreOptionsOf(config_)));
  references_ =
      std::make_unique<DriftReferences>(config_.drift, *store_, *live_, [this] { return id(); });
  trainer_ = std::make_unique<Trainer>(config_, std::move(initial_data_), *cache_, *store_,
                                       TrainerHooks());
  if (Result<InstalledModel> m = ReadInstalledModel(config_.state_dir); m.ok()) {
    installed_version_ = m->version;
    // The camera keeps classifying with the installed model after a restart.
    Result<std::vector<uint8_t>> blob = cache_->Get(m->digest);
    Result<shared::TensorBundle> state =
        blob.ok() ? shared::DecodeBundle(*blob) : Result<shared::TensorBundle>(blob.status());
    Status s = state.ok() ? UpdateServing(m->version, m->arch, *state) : state.status();
    if (!s.ok()) {
      FEDGE_LOG(Warn, kLog).Client(id()) << "installed model version " << m->version
                                         << " not loaded for inference: " << s.message();
    }
  }
  // An installed signed release takes precedence over registry models for inference.
  if (Status s = ServeActiveRelease(); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "active release not loaded for inference: " << s.message()
                                       << "; serving the registry model";
  }
  return LoadOutbox();
}

void Client::Start() {
  net::asio::co_spawn(
      strand_, [this] { return Run(); }, shared::LogOnError{kLog});
}

void Client::Stop() {
  stopping_ = true;
  net::asio::post(strand_, [this] {
    backoff_timer_.cancel();
    if (conn_) conn_->Close();
  });
}

net::awaitable<void> Client::Run() {
  int attempt = 0;
  while (!stopping_) {
    uint64_t sessions_before = stats_.sessions.load();
    Status s = co_await RunSession();
    conn_.reset();
    if (stopping_) break;
    if (refused_ && s.code() == shared::Code::kPermissionDenied) {
      // Revoked or not a client certificate: retrying cannot help.
      FEDGE_LOG(Error, kLog).Client(id()) << s.message() << "; not reconnecting";
      {
        std::lock_guard<std::mutex> lock(id_mu_);
        fatal_ = s;
      }
      stopping_ = true;
      break;
    }
    if (stats_.sessions.load() > sessions_before) attempt = 0;  // had a working session
    int64_t base = std::min<int64_t>(
        config_.reconnect_max_ms, int64_t{config_.reconnect_initial_ms} << std::min(attempt, 20));
    int64_t delay = std::uniform_int_distribution<int64_t>(base / 2, base)(jitter_);
    ++attempt;
    FEDGE_LOG(Warn, kLog).Client(id())
        << "connection to " << config_.host << ":" << config_.port << " ended (" << s.message()
        << "); reconnecting in " << delay << " ms";
    backoff_timer_.expires_after(milliseconds(delay));
    net::error_code ec;
    co_await backoff_timer_.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
  }
}

// The session's MessageHandlers and MessageSink on one connection: each message kind goes to
// the part that owns it (tasks and model downloads here, updates to UpdateDelivery, drift
// references and releases to client_drift.cc and client_release.cc).
class Client::SessionHandlers final : public MessageHandlers, public MessageSink {
 public:
  SessionHandlers(Client& client, std::shared_ptr<shared::Connection> conn)
      : c_(client), conn_(std::move(conn)) {}

  void Send(std::vector<uint8_t> payload) override { conn_->Send(std::move(payload)); }
  uint32_t max_frame_bytes() const override { return conn_->max_frame_bytes(); }

  Status OnTaskOffer(const wire::TaskOffer& m) override { return c_.OnTaskOffer(conn_, m); }
  Status OnModelChunk(const wire::BlobChunk& m) override { return c_.OnModelChunk(conn_, m); }
  Status OnReleaseChunk(const wire::BlobChunk& m) override { return c_.OnReleaseChunk(conn_, m); }
  Status OnBlobRequest(const wire::BlobRequest& m) override {
    return c_.delivery_->OnBlobRequest(m, *this);
  }
  Status OnAck(const wire::Ack& m) override { return c_.delivery_->OnAck(m, *this); }
  Status OnError(const wire::Error& m) override { return c_.delivery_->OnError(m); }
  Status OnReferenceProfile(const wire::ReferenceProfile& m) override {
    c_.OnReferenceProfile(m);
    return Status::Ok();
  }
  Status OnReleaseOffer(const wire::ReleaseOffer& m) override {
    return c_.OnReleaseOffer(conn_, m);
  }
  Status OnReleaseRevert(const wire::ReleaseRevert& m) override {
    c_.OnReleaseRevert(m);
    return Status::Ok();
  }

 private:
  Client& c_;
  std::shared_ptr<shared::Connection> conn_;
};

net::awaitable<Result<std::shared_ptr<shared::Connection>>> Client::Connect() {
  Result<shared::Endpoints> endpoints = co_await shared::ResolveWithDeadline(
      config_.host, std::to_string(config_.port), milliseconds(config_.resolve_timeout_ms));
  if (!endpoints.ok()) co_return endpoints.status();
  net::error_code ec;
  net::tcp::socket socket(strand_);
  {
    net::asio::steady_timer timer(strand_, milliseconds(config_.connect_timeout_ms));
    timer.async_wait([&socket](const net::error_code& e) {
      if (!e) socket.close();
    });
    co_await net::asio::async_connect(socket, *endpoints,
                                      net::asio::redirect_error(net::use_awaitable, ec));
    timer.cancel();
  }
  if (ec) co_return shared::NetError(ec, "connect to " + config_.host);
  socket.set_option(net::tcp::no_delay(true), ec);
  net::TlsStream stream(std::move(socket), *tls_);
  FEDGE_CO_RETURN_IF_ERROR(shared::ConfigureClientStream(stream, config_.host));
  auto conn = std::make_shared<shared::Connection>(std::move(stream), config_.max_frame_bytes);
  conn->set_send_observer([this](std::span<const uint8_t> payload) { AuditSent(payload); });
  conn->set_traffic_counters(traffic_);
  conn_ = conn;
  co_return conn;
}

net::awaitable<Status> Client::RunSession() {
  refused_ = false;
  Result<std::shared_ptr<shared::Connection>> connected = co_await Connect();
  if (!connected.ok()) co_return connected.status();
  std::shared_ptr<shared::Connection> conn = *connected;
  if (stopping_) co_return Status::Unavailable("stopping");
  Status hs = co_await conn->Handshake(net::ssl::stream_base::client,
                                       milliseconds(config_.handshake_timeout_ms));
  if (!hs.ok()) co_return hs;
  net::asio::co_spawn(strand_,
                      shared::Connection::WriteLoop(conn, milliseconds(config_.write_timeout_ms)),
                      shared::LogOnError{kLog});
  Result<milliseconds> heartbeat = co_await Greet(conn);
  if (!heartbeat.ok()) co_return heartbeat.status();
  net::asio::co_spawn(strand_, HeartbeatLoop(conn, *heartbeat), shared::LogOnError{kLog});
  ResumeWork(conn);
  co_return co_await ReadLoop(conn, *heartbeat);
}

std::vector<uint8_t> Client::MakeHello() {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto software = fbb.CreateString("fedge-client 0.1");
  DataCounts hello = trainer_->Counts();  // counts only: no frame, label or id leaves the site
  auto counts = fbb.CreateVector(hello.class_counts);
  std::string release;  // the active release slot, so the coordinator knows what runs here
  uint64_t release_counter = 0;
  if (Result<std::optional<SlotStore::Slot>> a = SlotStore(config_.state_dir + "/release").Active();
      a.ok() && a->has_value()) {
    release = (*a)->target;
    release_counter = (*a)->counter;
  }
  auto release_target = fbb.CreateString(release);
  return shared::FinishEnvelope(
      fbb, wire::CreateHello(fbb, shared::kProtocolVersion, shared::kProtocolVersion, software,
                             hello.train, hello.eval, counts, release_target, release_counter));
}

net::awaitable<Result<milliseconds>> Client::Greet(std::shared_ptr<shared::Connection> conn) {
  conn->Send(MakeHello());
  Result<std::vector<uint8_t>> frame =
      co_await conn->ReadFrame(milliseconds(config_.welcome_timeout_ms));
  if (!frame.ok()) co_return frame.status().WithContext("waiting for Welcome");
  Result<const wire::Envelope*> env = shared::VerifyEnvelope(*frame);
  if (!env.ok()) co_return env.status();
  if (const wire::Error* e = (*env)->message_as_Error()) {
    conn->Close();
    refused_ = true;  // an explicit answer, unlike a reset during the TLS handshake
    co_return Status(shared::FromWireCode(e->code()),
                     "coordinator refused: " + e->message()->str());
  }
  const wire::Welcome* welcome = (*env)->message_as_Welcome();
  if (welcome == nullptr) co_return Status::InvalidArgument("expected Welcome");
  {
    std::lock_guard<std::mutex> lock(id_mu_);
    id_ = welcome->client_id() ? welcome->client_id()->str() : "";
  }
  ++stats_.sessions;
  FEDGE_LOG(Info, kLog).Client(id())
      << "connected to " << config_.host << ":" << config_.port << " as " << id() << " (protocol "
      << welcome->protocol() << ")";
  co_return milliseconds(std::max<uint32_t>(100, welcome->heartbeat_ms()));
}

void Client::ResumeWork(const std::shared_ptr<shared::Connection>& conn) {
  // A task whose model download was interrupted resumes on this connection, and updates not
  // yet acknowledged are submitted again (their upload resumes where it stopped).
  if (waiting_for_model_) StartTask(conn, waiting_for_model_);
  for (auto& [task_id, out] : outbox_->entries()) {
    ++stats_.updates_resent;
    out.sent_on = conn.get();
    conn->Send(out.submit);
  }
}

net::awaitable<Status> Client::ReadLoop(std::shared_ptr<shared::Connection> conn,
                                        milliseconds heartbeat) {
  SessionHandlers handlers(*this, conn);
  while (!conn->closed()) {
    Result<std::vector<uint8_t>> frame =
        co_await conn->ReadFrame(heartbeat * config_.idle_heartbeats);
    Status s = frame.status();
    if (frame.ok()) {
      Result<const wire::Envelope*> env = shared::VerifyEnvelope(*frame);
      s = env.ok() ? DispatchMessage(**env, handlers) : env.status();
    }
    if (!s.ok()) {
      if (s.code() != shared::Code::kUnavailable && !conn->closed()) {
        conn->SendAndClose(shared::MakeErrorMessage(s));
      } else {
        conn->Close();
      }
      co_return s;
    }
  }
  co_return Status::Unavailable("connection closed");
}

net::awaitable<void> Client::HeartbeatLoop(std::shared_ptr<shared::Connection> conn,
                                           milliseconds interval) {
  net::asio::steady_timer timer(strand_);
  while (!conn->closed()) {
    timer.expires_after(interval);
    net::error_code ec;
    co_await timer.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
    if (!conn->closed()) conn->Send(shared::MakeHeartbeat());
  }
}

Status Client::OnTaskOffer(const std::shared_ptr<shared::Connection>& conn,
                           const wire::TaskOffer& offer) {
  FEDGE_ASSIGN_OR_RETURN(Task offered, TaskFromOffer(offer, std::chrono::steady_clock::now()));
  auto task = std::make_shared<Task>(std::move(offered));
  offered_.Offered(task->train, task->task_id);
  StartTask(conn, std::move(task));
  return Status::Ok();
}

Status Client::OnModelChunk(const std::shared_ptr<shared::Connection>& conn,
                            const wire::BlobChunk& c) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(c.digest(), "BlobChunk.digest"));
  if (!waiting_for_model_ || waiting_for_model_->digest != digest) return Status::Ok();  // stale
  Status s = download_.Append(digest, c.total_size(), c.offset(),
                              std::span(c.data()->data(), c.data()->size()));
  if (!s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "model download failed: " << s.ToString() << "; retrying";
    download_.Reset();
    conn->Send(shared::MakeBlobRequest(wire::BlobKind::Model, digest, 0));
    return Status::Ok();
  }
  if (download_.complete()) {
    std::vector<uint8_t> blob = download_.Take();
    FEDGE_RETURN_IF_ERROR(cache_->Put(digest, blob));
    ++stats_.models_downloaded;
    std::shared_ptr<Task> task = std::move(waiting_for_model_);
    in_progress_.erase(task->task_id);
    StartTask(conn, std::move(task));
  }
  return Status::Ok();
}

void Client::StartTask(const std::shared_ptr<shared::Connection>& conn,
                       std::shared_ptr<Task> task) {
  if (faults_.never_answer) return;
  if (Outbox::Entry* out = outbox_->Find(task->task_id)) {
    // Offered again (e.g. the coordinator restarted): the answer is ready, submit it again
    // unless it is already on its way on this connection.
    if (out->sent_on != conn.get()) {
      ++stats_.updates_resent;
      out->sent_on = conn.get();
      conn->Send(out->submit);
    }
    return;
  }
  if (in_progress_.count(task->task_id) && waiting_for_model_ != task) return;  // working on it
  in_progress_.insert(task->task_id);
  if (!cache_->Has(task->digest)) {
    // Fetch the model first (resuming a partial download of the same blob).
    uint64_t offset =
        download_.active() && download_.digest() == task->digest ? download_.received() : 0;
    if (offset == 0) download_.Reset();
    waiting_for_model_ = std::move(task);
    conn->Send(shared::MakeBlobRequest(wire::BlobKind::Model, waiting_for_model_->digest, offset));
    return;
  }
  net::asio::co_spawn(strand_, DoTask(conn, std::move(task)), shared::LogOnError{kLog});
}

Trainer::Hooks Client::TrainerHooks() {
  Trainer::Hooks h;
  h.still_wanted = [this](const Task& task) {
    return offered_.Current(task.train, task.task_id) &&
           std::chrono::steady_clock::now() <= task.deadline;
  };
  h.loaded = [this](const Task& task, const shared::TensorBundle& state) {
    FEDGE_RETURN_IF_ERROR(RecordInstalled(task.model_version, task.digest, task.arch));
    return UpdateServing(task.model_version, task.arch, state);
  };
  h.profiled = [this](const Task& task, const drift::Summary& profile) {
    FEDGE_RETURN_IF_ERROR(SaveLocalProfile(task.model_version, profile));
    UseReference(task.model_version);
    return Status::Ok();
  };
  h.client_id = [this] { return id(); };
  h.tamper = [this](const shared::TensorBundle& base, shared::TensorBundle* trained) {
    if (faults_.tamper_update) faults_.tamper_update(base, trained);
  };
  return h;
}

net::awaitable<void> Client::DoTask(std::shared_ptr<shared::Connection> conn,
                                    std::shared_ptr<Task> task) {
  auto work = [this, task] { return trainer_->Run(*task); };
  task->status = co_await shared::RunOffThread(compute_, std::move(work));
  in_progress_.erase(task->task_id);
  // Answer on the current connection: the one the task came on may have been replaced.
  if (conn_ && !conn_->closed()) conn = conn_;
  if (task->status.code() == shared::Code::kDeadlineExceeded) {
    ++stats_.tasks_skipped;
    FEDGE_LOG(Info, kLog).Client(id()).Round(task->round) << task->status.message();
    co_return;
  }
  if (!task->status.ok()) {
    FEDGE_LOG(Error, kLog).Client(id()).Round(task->round)
        << "task " << task->task_id << " failed: " << task->status.ToString();
    conn->Send(shared::MakeTaskFailure(task->status.code(), task->task_id));
    co_return;
  }
  if (conn->closed() && !task->train) {
    FEDGE_LOG(Warn, kLog).Client(id()).Round(task->round)
        << "evaluation task " << task->task_id << " finished after the connection closed";
    co_return;
  }
  flatbuffers::FlatBufferBuilder fbb(512);
  if (task->train) {
    ++stats_.tasks_trained;
    Outbox::Entry out;
    out.round = task->round;
    out.blob = std::move(task->update_blob);
    out.digest = shared::Sha256(out.blob);
    auto idem = fbb.CreateString(id() + "/" + std::to_string(task->task_id));
    std::vector<flatbuffers::Offset<wire::KeyValue>> kvs = {
        wire::CreateKeyValue(fbb, fbb.CreateString("loss"), task->trained.mean_loss),
        wire::CreateKeyValue(fbb, fbb.CreateString("seconds"), task->trained.seconds)};
    auto metrics = fbb.CreateVector(kvs);
    auto d = fbb.CreateVector(out.digest.data(), out.digest.size());
    out.submit = shared::FinishEnvelope(
        fbb, wire::CreateUpdateSubmit(fbb, task->task_id, task->round, idem,
                                      static_cast<uint64_t>(task->trained.examples), metrics,
                                      task->codec, d, out.blob.size()));
    // The coordinator answers with a BlobRequest for the bytes it does not have yet. If the
    // connection is down, the update waits in the outbox for the next session.
    // Kept in the store first: a restart of the client before the Ack does not lose it.
    const bool send = !conn->closed();
    if (send) out.sent_on = conn.get();
    if (Status s = outbox_->Add(task->task_id, std::move(out)); !s.ok()) {
      // The update is still delivered from memory; only a restart before that would lose it.
      FEDGE_LOG(Error, kLog).Client(id()) << "cannot keep the update of task " << task->task_id
                                          << " in the outbox: " << s.ToString();
    }
    if (send) conn->Send(outbox_->Find(task->task_id)->submit);
    FEDGE_LOG(Debug, kLog).Client(id()).Round(task->round)
        << "round " << task->round << ": trained on " << task->trained.examples << " examples in "
        << task->trained.seconds << " s, loss " << task->trained.mean_loss;
  } else {
    ++stats_.tasks_evaluated;
    const ml::EvalResult& e = task->evaluated;
    std::vector<uint64_t> confusion(e.confusion.begin(), e.confusion.end());
    auto c = fbb.CreateVector(confusion);
    flatbuffers::Offset<wire::DriftSummary> profile = 0;
    if (task->profile) profile = drift::ToWire(fbb, *task->profile);
    conn->Send(shared::FinishEnvelope(
        fbb, wire::CreateEvalReport(fbb, task->task_id, task->round, task->model_version,
                                    static_cast<uint64_t>(e.examples), e.loss, e.accuracy, c,
                                    static_cast<uint32_t>(e.num_classes), profile)));
  }
}

}  // namespace fedge::client
