#pragma once
// Helpers for integration tests: a provisioned project in a temp dir, a coordinator running
// on 127.0.0.1 with port 0, and a raw synchronous TLS client to send arbitrary bytes.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "coordinator/config.h"
#include "coordinator/server.h"
#include "shared/asio.h"
#include "shared/frame.h"
#include "shared/pki.h"
#include "shared/tls.h"

namespace fedge::testing {

// A unique empty directory removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

}  // namespace fedge::testing
