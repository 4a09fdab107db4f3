#include "coordinator/server.h"

#include <algorithm>

#include "shared/base/log.h"
#include "shared/net/accept_backoff.h"
#include "shared/net/tls.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Status;

namespace {
constexpr const char* kLog = "coordinator";

}  // namespace

Server::Server(CoordinatorConfig config, InitialModelFn initial_model,
               SessionOptions session_options)
    : config_(std::move(config)),
      initial_model_(std::move(initial_model)),
      session_options_(session_options),
      io_(config_.threads),
      metrics_(std::make_shared<CoordinatorMetrics>(std::make_shared<shared::MetricsRegistry>())) {
  std::shared_ptr<shared::TrafficCounters> t = traffic_;
  metrics_->registry().AddCounterCallback(
      "fedge_coordinator_received_bytes_total",
      "Bytes received from clients and admins (frame headers and payloads, after TLS).",
      [t] { return static_cast<double>(t->bytes_in.load()); });
  metrics_->registry().AddCounterCallback(
      "fedge_coordinator_sent_bytes_total",
      "Bytes sent to clients and admins (frame headers and payloads, before TLS).",
      [t] { return static_cast<double>(t->bytes_out.load()); });
  session_options_.heartbeat_ms = static_cast<uint32_t>(config_.heartbeat_ms);
  session_options_.idle_timeout = std::chrono::milliseconds(config_.heartbeat_ms * 6);
  session_options_.handshake_timeout =
      std::chrono::milliseconds(config_.limits.handshake_timeout_ms);
}

Server::~Server() {
  Stop();
  status_http_.reset();
  http_.reset();
  admin_.reset();
  rollouts_.reset();
  engine_.reset();
}

Status Server::Start() {
  FEDGE_ASSIGN_OR_RETURN(tls_, shared::MakeServerTlsContext(config_.tls));
  FEDGE_ASSIGN_OR_RETURN(store_, Store::Open(config_.data_dir));
  engine_ = std::make_unique<RoundEngine>(net::asio::make_strand(io_), store_.get(), config_,
                                          traffic_, initial_model_);
  engine_->set_metrics(metrics_);
  engine_->set_close_client([this](const std::string& id) { CloseClient(id); });
  FEDGE_RETURN_IF_ERROR(engine_->Init());
  rollouts_ = std::make_unique<RolloutManager>(config_.release, store_.get(), metrics_,
                                               [] { return shared::UnixMillis(); });
  FEDGE_RETURN_IF_ERROR(rollouts_->Init());
  admin_ = std::make_unique<AdminService>(store_.get(), engine_.get(), config_,
                                          [this](const std::string& id) { CloseClient(id); });
  admin_->set_rollouts(rollouts_.get());
  net::error_code ec;
  auto address = net::asio::ip::make_address(config_.listen, ec);
  if (ec) {
    return Status::InvalidArgument(config_.config_path + ": key 'server.listen': '" +
                                   config_.listen + "' is not an IP address");
  }
  net::tcp::endpoint endpoint(address, config_.port);
  acceptor_ = std::make_unique<net::tcp::acceptor>(io_);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(net::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + config_.listen + ":" +
                               std::to_string(config_.port) + ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  FEDGE_LOG(Info, kLog) << "listening on " << config_.listen << ":" << port_ << " (mutual TLS 1.3)";
  return Status::Ok();
}

Status Server::StartMetrics() {
  auto router = std::make_shared<shared::HttpRouter>();
  std::shared_ptr<CoordinatorMetrics> metrics = metrics_;
  router->Get("/metrics", [metrics](const shared::HttpRequest&) {
    shared::HttpResponse r;
    r.content_type = shared::kMetricsContentType;
    r.body = metrics->registry().Render();
    return r;
  });
  auto http = std::make_unique<shared::HttpServer>(std::move(router));
  if (Status s = http->Start(config_.metrics.listen, config_.metrics.port); !s.ok()) {
    return s.WithContext(config_.config_path + ": [metrics]");
  }
  http_ = std::move(http);
  FEDGE_LOG(Info, kLog) << "metrics on http://" << config_.metrics.listen << ":" << http_->port()
                        << "/metrics";
  return Status::Ok();
}

Status Server::StartStatus() {
  Store* store = store_.get();
  auto auth = std::make_shared<StatusAuth>(
      config_.status.token, [store](const std::string& cn) -> shared::Result<bool> {
        FEDGE_ASSIGN_OR_RETURN(std::optional<RevocationRecord> r, store->GetRevocation(cn));
        return r.has_value();
      });
  const RoundEngine* engine = engine_.get();
  StatusSources sources = status_sources_;
  if (!sources.releases && rollouts_->enabled()) {
    const RolloutManager* rollouts = rollouts_.get();
    sources.releases = [rollouts]() -> shared::Result<nlohmann::json> {
      return rollouts->StatusRows();
    };
  }
  auto router = MakeStatusRouter(
      std::move(auth), [store, engine, sources] { return GatherStatus(*store, *engine, sources); });
  auto http = std::make_unique<shared::HttpServer>(std::move(router));
  Status s = http->EnableTls(config_.tls);
  if (s.ok()) s = http->Start(config_.status.listen, config_.status.port);
  if (!s.ok()) return s.WithContext(config_.config_path + ": [status]");
  status_http_ = std::move(http);
  FEDGE_LOG(Info, kLog) << "status page on https://" << config_.status.listen << ":"
                        << status_http_->port() << "/ (admin certificate"
                        << (config_.status.token.empty() ? "" : " or read-only token") << ")";
  return Status::Ok();
}

net::awaitable<void> Server::AcceptLoop() {
  shared::AcceptBackoff backoff(co_await net::asio::this_coro::executor);
  uint64_t refused_logged = 0;
  while (!stopping_) {
    net::error_code ec;
    net::tcp::socket socket = co_await acceptor_->async_accept(
        net::asio::make_strand(io_), net::asio::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == net::asio::error::operation_aborted) break;
      co_await backoff.Failed(ec, kLog);
      continue;
    }
    backoff.Succeeded();
    socket.set_option(net::tcp::no_delay(true), ec);
    std::string address = "?";
    std::string remote = "?";
    if (auto ep = socket.remote_endpoint(ec); !ec) {
      address = ep.address().to_string();
      remote = address + ":" + std::to_string(ep.port());
    }
    if (!limiter_.TryAdmit(address)) {
      socket.close(ec);  // before any TLS work
      // One line per power of two refused, so a flood cannot fill the log.
      const uint64_t refused = limiter_.refused();
      if ((refused & (refused - 1)) == 0 && refused != refused_logged) {
        refused_logged = refused;
        FEDGE_LOG(Warn, kLog) << "refused a connection from " << address << ": over "
                              << "limits.max_connections (" << config_.limits.max_connections
                              << ") or limits.max_connections_per_address ("
                              << config_.limits.max_connections_per_address << "); " << refused
                              << " refused so far";
      }
      continue;
    }
    auto conn = std::make_shared<shared::Connection>(net::TlsStream(std::move(socket), *tls_),
                                                     config_.max_frame_bytes);
    conn->set_traffic_counters(traffic_);
    conn->set_max_queued_bytes(config_.limits.send_queue_bytes);
    auto session = std::make_shared<Session>(conn, engine_.get(), store_.get(), admin_.get(),
                                             session_options_, remote);
    if (rollouts_->enabled()) session->set_rollouts(rollouts_.get());
    session->set_limits(&limiter_, config_.limits.max_refusals_per_minute);
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
      sessions_.push_back(session);
    }
    // The slot is freed when the session ends. A session whose coroutine throws is closed (its
    // peer reconnects), never left open unread.
    net::asio::co_spawn(
        conn->executor(), [session] { return session->Run(); },
        [this, session, address](std::exception_ptr e) {
          limiter_.Release(address);
          if (!e) return;
          shared::LogOnError{kLog}(e);
          session->Close();
        });
  }
}

net::awaitable<void> Server::RunRounds(bool exit_when_done) {
  co_await engine_->Run(exit_when_done);
  if (exit_when_done) Stop();
}

net::awaitable<void> Server::TickRollouts() {
  net::asio::steady_timer timer(co_await net::asio::this_coro::executor);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(1));
    net::error_code ec;
    co_await timer.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
    if (stopping_) break;
    try {
      rollouts_->Tick();
    } catch (const std::exception& e) {
      // The next tick tries again: a failed save must not stop every later rollout decision.
      FEDGE_LOG(Error, kLog) << "rollout tick failed: " << e.what();
    }
  }
}

void Server::CloseClient(const std::string& client_id) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  for (auto& w : sessions_) {
    if (auto s = w.lock()) s->CloseIfPeer(client_id);
  }
}

void Server::Run(bool exit_when_done) {
  net::asio::co_spawn(
      io_, [this] { return AcceptLoop(); }, shared::LogOnError{kLog});
  // The engine's coroutine runs on the engine's strand.
  net::asio::co_spawn(
      engine_->executor(), [this, exit_when_done] { return RunRounds(exit_when_done); },
      shared::LogOnError{kLog});
  if (rollouts_->enabled()) {
    net::asio::co_spawn(
        io_, [this] { return TickRollouts(); }, shared::LogOnError{kLog});
  }
  std::vector<std::thread> threads;
  for (int i = 1; i < config_.threads; ++i) threads.emplace_back([this] { RunIo(); });
  RunIo();
  for (auto& t : threads) t.join();
}

// Runs the I/O context until it stops. A handler that throws is a bug, but it must not take the
// process (and every site's round) down: it is logged and the thread goes on serving.
void Server::RunIo() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      FEDGE_LOG(Error, kLog) << "a handler threw (" << e.what() << "); serving on";
    } catch (...) {
      FEDGE_LOG(Error, kLog) << "a handler threw a non-standard exception; serving on";
    }
  }
}

void Server::Stop() {
  if (stopping_.exchange(true)) return;
  net::asio::post(io_, [this] {
    net::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) s->Close();
    }
  });
  if (engine_) engine_->Stop();
  // Let in-flight handlers drain, then end Run().
  auto timer = std::make_shared<net::asio::steady_timer>(io_, std::chrono::milliseconds(200));
  timer->async_wait([this, timer](const net::error_code&) { io_.stop(); });
}

}  // namespace fedge::coordinator
