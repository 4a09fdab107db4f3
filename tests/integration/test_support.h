#pragma once
// Helpers for integration tests: a provisioned project in a temp dir, a coordinator running
// on 127.0.0.1 with port 0, and a raw synchronous TLS client to send arbitrary bytes.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <ios>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/server.h"
#include "shared/crypto/pki.h"
#include "shared/ml/data/dataset.h"
#include "shared/net/asio.h"
#include "shared/net/frame.h"
#include "shared/net/tls.h"
#include "tests/temp_dir.h"

namespace fedge::testing {

// n 28x28 one-channel images with labels i % 10, each class a noisy stripe pattern.
std::shared_ptr<const ml::Dataset> SyntheticData(int n, uint32_t seed);

// The envelope in `frame`, or null after recording a test failure.
const wire::Envelope* Verified(const std::vector<uint8_t>& frame);

class RawClient;
// Reads frames until one of `type` arrives (skipping heartbeats); fails on an Error frame and
// returns an empty frame then.
std::vector<uint8_t> Expect(RawClient& c, wire::Message type);

// An UpdateSubmit for `blob` as the client builds it (`examples` examples, fp32).
std::vector<uint8_t> Submit(uint64_t task, uint64_t round, const std::string& idem,
                            const std::vector<uint8_t>& blob, uint64_t examples = 25);

shared::ProvisionResult ProvisionOrDie(const std::string& dir, int clients);

// Coordinator config from the provisioned kit, on 127.0.0.1:0 with a temp data dir.
coordinator::CoordinatorConfig TestCoordinatorConfig(const shared::ProvisionResult& kits,
                                                     const std::string& data_dir);

// Runs a coordinator::Server on a background thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(coordinator::CoordinatorConfig config, bool exit_when_done = false);
  ~RunningServer();
  coordinator::Server& server() { return *server_; }
  uint16_t port() const { return server_->port(); }
  // Waits for Run() to return (e.g. after the rounds are done); false on timeout.
  bool WaitFinished(std::chrono::seconds timeout);

 private:
  std::unique_ptr<coordinator::Server> server_;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

// The training examples RawClient::SendHello registers (an update counts at most this times
// the round's epochs).
inline constexpr uint64_t kRawClientExamples = 1000;

// Blocking TLS client with a 10 s receive timeout so a broken server cannot hang a test.
class RawClient {
 public:
  // Empty cert/key: no client certificate.
  RawClient(const std::string& ca, const std::string& cert, const std::string& key);
  shared::Status Connect(uint16_t port);
  // Closes the socket without a TLS goodbye, like a killed process.
  void Drop() { stream_.reset(); }
  shared::Status WriteBytes(std::span<const uint8_t> bytes);
  shared::Status WriteFrame(std::span<const uint8_t> payload);
  // Reads one frame (no size cap beyond 64 MiB).
  shared::Result<std::vector<uint8_t>> ReadFrame();
  // Reads frames, skipping heartbeats, until one of another type arrives.
  shared::Result<std::vector<uint8_t>> ReadNonHeartbeat();
  shared::Status SendHello();
  // Sends an AdminRequest and waits for its AdminResponse (an Error becomes the status).
  shared::Result<nlohmann::json> AdminCall(const std::string& command,
                                           const std::vector<std::string>& args = {});

 private:
  net::asio::io_context io_;
  net::ssl::context ctx_;
  std::unique_ptr<net::TlsStream> stream_;
};

// A port on 127.0.0.1 that was free a moment ago.
uint16_t FreePort();

// A child process (posix_spawn) with stdout and stderr appended to `log`; killed with SIGKILL
// when destroyed.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Kill();
  // Sends `signal_number` (e.g. SIGTERM, SIGSTOP) to the process if it is running.
  void Signal(int signal_number);
  // True (and the exit code, or 128 + signal, in *code) once it has exited.
  bool Exited(int* code);
  // Waits up to `timeout` for the exit.
  bool WaitExit(std::chrono::milliseconds timeout, int* code);

 private:
  pid_t pid_ = -1;
};

// A provisioned project run as real processes (fedge-coordinator, fedge-client) on
// 127.0.0.1: one coordinator config per run name (each with its own data directory) and
// per-run client configs (each with its own state directory), all with small, fast settings.
class ProcessProject {
 public:
  ProcessProject(const std::string& dir, int clients, int rounds, int min_clients);
  std::string CoordinatorConfig(const std::string& run) const;
  std::string ClientConfig(int i, const std::string& run) const;
  std::string DataDir(const std::string& run) const { return dir_ + "/data-" + run; }
  std::string Log(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  std::unique_ptr<Process> StartCoordinator(const std::string& run,
                                            std::vector<std::string> extra_args = {}) const;
  std::unique_ptr<Process> StartClient(int i, const std::string& run) const;
  const shared::ProvisionResult& kits() const { return kits_; }
  uint16_t port() const { return port_; }

 private:
  std::string dir_;
  int rounds_;
  int min_clients_;
  uint16_t port_;
  shared::ProvisionResult kits_;
};

// Waits until `path` has, past byte `from`, a line containing one of `needles`.
bool WaitForLog(const std::string& path, std::streamoff from,
                const std::vector<std::string>& needles, std::chrono::seconds timeout);
// Size of the file at `path` (0 if missing): where new log lines will start.
std::streamoff FileSize(const std::string& path);

// Runs a command to completion; its stdout and stderr go to *output. Returns the exit code.
int RunCommand(const std::vector<std::string>& argv, std::string* output);

}  // namespace fedge::testing
