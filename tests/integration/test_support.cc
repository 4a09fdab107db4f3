#include "tests/integration/test_support.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "shared/wire.h"

namespace fedge::testing {

using shared::Result;
using shared::Status;

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = (std::filesystem::temp_directory_path() /
           ("fedge-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
              .string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

shared::ProvisionResult ProvisionOrDie(const std::string& dir, int clients) {
  shared::ProvisionOptions o;
  o.out_dir = dir;
  o.clients = clients;
  o.coordinator_hosts = {"127.0.0.1", "localhost"};
  o.force = true;
  auto r = shared::Provision(o);
  if (!r.ok()) {
    std::fprintf(stderr, "provision failed: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  return *r;
}

coordinator::CoordinatorConfig TestCoordinatorConfig(const shared::ProvisionResult& kits,
                                                     const std::string& data_dir) {
  auto c = coordinator::LoadCoordinatorConfig(kits.coordinator_kit + "/coordinator.toml");
  if (!c.ok()) {
    std::fprintf(stderr, "config: %s\n", c.status().ToString().c_str());
    std::abort();
  }
  c->listen = "127.0.0.1";
  c->port = 0;
  c->data_dir = data_dir;
  c->threads = 1;
  c->max_frame_bytes = 1 << 20;
  c->heartbeat_ms = 300;  // sessions drop after 6 silent heartbeats (1.8 s)
  return *c;
}

RunningServer::RunningServer(coordinator::CoordinatorConfig config, bool exit_when_done)
    : server_(std::make_unique<coordinator::Server>(std::move(config))) {
  Status s = server_->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "server start: %s\n", s.ToString().c_str());
    std::abort();
  }
  thread_ = std::thread([this, exit_when_done] {
    server_->Run(exit_when_done);
    done_ = true;
  });
}

RunningServer::~RunningServer() {
  server_->Stop();
  thread_.join();
}

bool RunningServer::WaitFinished(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done_;
}

RawClient::RawClient(const std::string& ca, const std::string& cert, const std::string& key)
    : ctx_(net::ssl::context::tls_client) {
  SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_3_VERSION);
  ctx_.load_verify_file(ca);
  ctx_.set_verify_mode(net::ssl::verify_peer);
  if (!cert.empty()) {
    ctx_.use_certificate_chain_file(cert);
    ctx_.use_private_key_file(key, net::ssl::context::pem);
  }
}

Status RawClient::Connect(uint16_t port) {
  stream_ = std::make_unique<net::TlsStream>(io_, ctx_);
  net::error_code ec;
  stream_->lowest_layer().connect({net::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return Status::Unavailable("connect: " + ec.message());
  timeval tv{10, 0};
  ::setsockopt(stream_->lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  stream_->handshake(net::ssl::stream_base::client, ec);
  if (ec) return Status::PermissionDenied("handshake: " + ec.message());
  return Status::Ok();
}

Status RawClient::WriteBytes(std::span<const uint8_t> bytes) {
  net::error_code ec;
  net::asio::write(*stream_, net::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return Status::Unavailable("write: " + ec.message());
  return Status::Ok();
}

Status RawClient::WriteFrame(std::span<const uint8_t> payload) {
  return WriteBytes(shared::EncodeFrame(payload));
}

Result<std::vector<uint8_t>> RawClient::ReadFrame() {
  std::array<uint8_t, 4> header{};
  net::error_code ec;
  net::asio::read(*stream_, net::asio::buffer(header), ec);
  if (ec) return Status::Unavailable("read: " + ec.message());
  FEDGE_ASSIGN_OR_RETURN(uint32_t n, shared::DecodeFrameHeader(header, 64u << 20));
  std::vector<uint8_t> payload(n);
  net::asio::read(*stream_, net::asio::buffer(payload), ec);
  if (ec) return Status::Unavailable("read: " + ec.message());
  return payload;
}

Result<std::vector<uint8_t>> RawClient::ReadNonHeartbeat() {
  for (;;) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadFrame());
    FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
    if (env->message_type() != wire::Message::Heartbeat) return frame;
  }
}

Status RawClient::SendHello() {
  flatbuffers::FlatBufferBuilder fbb(128);
  auto sw = fbb.CreateString("raw-test-client");
  return WriteFrame(shared::FinishEnvelope(
      fbb, wire::CreateHello(fbb, shared::kProtocolVersion, shared::kProtocolVersion, sw, 10, 0)));
}

Result<nlohmann::json> RawClient::AdminCall(const std::string& command,
                                            const std::vector<std::string>& args) {
  static uint64_t next_id = 1;
  const uint64_t id = next_id++;
  flatbuffers::FlatBufferBuilder fbb(256);
  auto name = fbb.CreateString(command);
  auto a = fbb.CreateVectorOfStrings(args);
  FEDGE_RETURN_IF_ERROR(
      WriteFrame(shared::FinishEnvelope(fbb, wire::CreateAdminRequest(fbb, id, name, a))));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadNonHeartbeat());
  FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
  if (const wire::Error* e = env->message_as_Error()) {
    return Status(shared::FromWireCode(e->code()), e->message()->str());
  }
  const wire::AdminResponse* r = env->message_as_AdminResponse();
  if (r == nullptr || r->request_id() != id) {
    return Status::InvalidArgument("expected the AdminResponse to request " + std::to_string(id));
  }
  return nlohmann::json::parse(r->json()->str());
}

}  // namespace fedge::testing
