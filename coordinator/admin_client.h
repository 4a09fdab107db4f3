#pragma once
// The admin side of the coordinator's admin protocol, for fedgectl: a blocking mutual-TLS
// connection made from an admin startup kit (admin.toml, ca.crt, admin.crt, admin.key).

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "coordinator/admin_commands.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"
#include "shared/net/asio.h"

namespace fedge::coordinator {

// The AdminRequest frame payload for one command.
std::vector<uint8_t> MakeAdminRequest(uint64_t request_id, const std::string& command,
                                      const std::vector<std::string>& args);
// The coordinator's answer to request `request_id`: its JSON, or the Error it sent as a status.
shared::Result<nlohmann::json> ParseAdminAnswer(std::span<const uint8_t> frame,
                                                uint64_t request_id);

struct AdminConnectOptions {
  std::string kit_dir;
  std::string host;  // empty: from admin.toml
  int port = 0;      // 0: from admin.toml
  int timeout_seconds = 30;
};

class AdminClient {
 public:
  // Connects, verifies the coordinator's certificate and name, and exchanges Hello/Welcome.
  // Errors say which file or step failed.
  static shared::Result<std::unique_ptr<AdminClient>> Connect(const AdminConnectOptions& options);
  ~AdminClient();

  // Runs one admin command (coordinator/admin_commands.h); an Error from the coordinator
  // becomes the status.
  shared::Result<nlohmann::json> Call(AdminCommandId command,
                                      const std::vector<std::string>& args = {});
  // (bytes done, bytes in all), after each chunk of a transfer; e.g. for a progress bar.
  using TransferProgress = std::function<void(uint64_t, uint64_t)>;
  // Downloads a stored model blob and checks it against `digest`.
  shared::Result<std::vector<uint8_t>> FetchBlob(const shared::Digest& digest,
                                                 const TransferProgress& progress = {});
  // Uploads a model export file for "model import".
  shared::Status UploadExport(const std::vector<uint8_t>& bytes,
                              const TransferProgress& progress = {});

 private:
  AdminClient();
  shared::Status WriteFrame(const std::vector<uint8_t>& payload);
  shared::Result<std::vector<uint8_t>> ReadMessage();  // skips heartbeats

  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t next_request_ = 1;
  std::string endpoint_;
};

}  // namespace fedge::coordinator
