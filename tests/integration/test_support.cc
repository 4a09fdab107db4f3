#include "tests/integration/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "coordinator/admin_client.h"
#include "coordinator/kit_config.h"
#include "coordinator/ml_backend.h"
#include "shared/net/wire.h"

extern char** environ;

namespace fedge::testing {

using shared::Result;
using shared::Status;

const wire::Envelope* Verified(const std::vector<uint8_t>& frame) {
  auto env = shared::VerifyEnvelope(frame);
  EXPECT_TRUE(env.ok()) << env.status().ToString();
  return env.ok() ? *env : nullptr;
}

std::vector<uint8_t> Expect(RawClient& c, wire::Message type) {
  for (;;) {
    auto frame = c.ReadNonHeartbeat();
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    if (!frame.ok()) return {};
    const wire::Envelope* env = Verified(*frame);
    if (env == nullptr) return {};
    if (env->message_type() == type) return *frame;
    if (const wire::Error* e = env->message_as_Error()) {
      ADD_FAILURE() << "Error instead of " << wire::EnumNameMessage(type) << ": "
                    << e->message()->str();
      return {};
    }
  }
}

std::vector<uint8_t> Submit(uint64_t task, uint64_t round, const std::string& idem,
                            const std::vector<uint8_t>& blob, uint64_t examples) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto id = fbb.CreateString(idem);
  shared::Digest digest = shared::Sha256(blob);
  auto d = fbb.CreateVector(digest.data(), digest.size());
  return shared::FinishEnvelope(fbb, wire::CreateUpdateSubmit(fbb, task, round, id, examples, 0,
                                                              wire::Codec::Fp32, d, blob.size()));
}

std::shared_ptr<const ml::Dataset> SyntheticData(int n, uint32_t seed) {
  ml::Dataset d;
  d.size = n;
  d.channels = 1;
  d.height = 28;
  d.width = 28;
  d.images.resize(static_cast<size_t>(n) * 784);
  d.labels.resize(n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 1);
  for (int i = 0; i < n; ++i) {
    d.labels[i] = i % 10;
    for (int p = 0; p < 784; ++p) d.images[i * 784 + p] = noise(rng) + (p % 10 == i % 10 ? 2 : 0);
  }
  return std::make_shared<const ml::Dataset>(std::move(d));
}

shared::ProvisionResult ProvisionOrDie(const std::string& dir, int clients) {
  shared::ProvisionOptions o;
  o.templates = *coordinator::ProjectKitTemplates();
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
    : server_(std::make_unique<coordinator::Server>(std::move(config),
                                                    coordinator::TorchInitialModel)) {
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
      fbb, wire::CreateHello(fbb, shared::kProtocolVersion, shared::kProtocolVersion, sw,
                             kRawClientExamples, 0)));
}

Result<nlohmann::json> RawClient::AdminCall(const std::string& command,
                                            const std::vector<std::string>& args) {
  static uint64_t next_id = 1;
  const uint64_t id = next_id++;
  FEDGE_RETURN_IF_ERROR(WriteFrame(coordinator::MakeAdminRequest(id, command, args)));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadNonHeartbeat());
  return coordinator::ParseAdminAnswer(frame, id);
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

Process::Process(std::vector<std::string> argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) pid_ = -1;
}

Process::~Process() { Kill(); }

void Process::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Process::Signal(int signal_number) {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

bool Process::Exited(int* code) {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return true;
}

bool Process::WaitExit(std::chrono::milliseconds timeout, int* code) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exited(code)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool WaitForLog(const std::string& path, std::streamoff from,
                const std::vector<std::string>& needles, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    in.seekg(from);
    std::string line;
    while (std::getline(in, line)) {
      for (const std::string& n : needles) {
        if (line.find(n) != std::string::npos) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::streamoff FileSize(const std::string& path) {
  std::ifstream in(path, std::ios::ate);
  return in ? static_cast<std::streamoff>(in.tellg()) : 0;
}

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  char path[] = "/tmp/fedge-cmd-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  int code = -1;
  {
    Process p(argv, path);
    if (!p.WaitExit(std::chrono::seconds(120), &code)) code = -1;
  }
  std::ifstream in(path);
  output->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ::unlink(path);
  return code;
}

namespace {
void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
}  // namespace

ProcessProject::ProcessProject(const std::string& dir, int clients, int rounds, int min_clients)
    : dir_(dir), rounds_(rounds), min_clients_(min_clients), port_(FreePort()) {
  shared::ProvisionOptions o;
  o.templates = *coordinator::ProjectKitTemplates();
  o.out_dir = dir + "/kits";
  o.clients = clients;
  o.coordinator_hosts = {"127.0.0.1"};
  o.port = port_;
  o.force = true;
  auto r = shared::Provision(o);
  if (!r.ok()) {
    std::fprintf(stderr, "provision failed: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  kits_ = *r;
}

std::string ProcessProject::CoordinatorConfig(const std::string& run) const {
  const std::string kit = kits_.coordinator_kit;
  const std::string path = dir_ + "/coordinator-" + run + ".toml";
  const std::string min = std::to_string(min_clients_);
  WriteText(path, "[server]\nlisten = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                      "\ndata_dir = \"" + DataDir(run) + "\"\nthreads = 2\nheartbeat_ms = 500\n" +
                      "[tls]\nca = \"" + kit + "/ca.crt\"\ncert = \"" + kit +
                      "/coordinator.crt\"\nkey = \"" + kit + "/coordinator.key\"\n" +
                      "[rounds]\ncount = " + std::to_string(rounds_) + "\nmin_clients = " + min +
                      "\nmin_fit = " + min + "\nfraction_fit = 1.0\n" +
                      "timeout_seconds = 300\neval_timeout_seconds = 60\nevaluate = true\n" +
                      "local_epochs = 1\nbatch_size = 32\nlearning_rate = 0.05\n" +
                      "momentum = 0.9\nseed = 7\n[model]\narch = \"cnn_small\"\nseed = 3\n" +
                      // A free port: tests run side by side (the default is 9464).
                      "[metrics]\nport = 0\n");
  return path;
}

std::string ProcessProject::ClientConfig(int i, const std::string& run) const {
  const std::string kit = kits_.client_kits[i];
  const std::string path = dir_ + "/client-" + std::to_string(i) + "-" + run + ".toml";
  WriteText(path,
            "[coordinator]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                "\nreconnect_initial_ms = 50\nreconnect_max_ms = 400\n" + "[tls]\nca = \"" + kit +
                "/ca.crt\"\ncert = \"" + kit + "/client.crt\"\nkey = \"" + kit + "/client.key\"\n" +
                "[data]\npartition = \"iid\"\nnum_partitions = 60\nindex = " + std::to_string(i) +
                "\nseed = 5\n[training]\nthreads = 1\n" + "[storage]\ndir = \"" + dir_ + "/state-" +
                std::to_string(i) + "-" + run + "\"\n");
  return path;
}

std::unique_ptr<Process> ProcessProject::StartCoordinator(const std::string& run,
                                                          std::vector<std::string> extra) const {
  std::vector<std::string> argv = {FEDGE_COORDINATOR_BIN, "--config", CoordinatorConfig(run)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(std::move(argv), Log("coordinator-" + run));
}

std::unique_ptr<Process> ProcessProject::StartClient(int i, const std::string& run) const {
  return std::make_unique<Process>(
      std::vector<std::string>{FEDGE_CLIENT_BIN, "run", "--config", ClientConfig(i, run)},
      Log("client-" + std::to_string(i) + "-" + run));
}

}  // namespace fedge::testing
