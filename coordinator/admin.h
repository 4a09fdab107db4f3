#pragma once
// Admin commands the coordinator runs for `fedgectl` over mutual TLS (admin certificates
// only; the session checks the role). Each command answers with one JSON document or an
// error that says what was wrong. Which commands exist, and their arguments, is the table in
// coordinator/admin_commands.h; this class dispatches on it.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/admin_commands.h"
#include "coordinator/config.h"
#include "coordinator/round_engine.h"
#include "coordinator/store.h"
#include "shared/base/status.h"

namespace fedge::coordinator {

class RolloutManager;

struct AdminCommand {
  std::string admin;  // certificate CN of the admin
  std::string name;   // e.g. "status", "model show"
  std::vector<std::string> args;
  std::vector<uint8_t> upload;  // "model import": the export file
};

class AdminService {
 public:
  // `close_client` closes every open session of a client id (thread-safe).
  AdminService(Store* store, RoundEngine* engine, const CoordinatorConfig& config,
               std::function<void(const std::string&)> close_client);

  // Where the release commands go (null or disabled: they answer that releases are off).
  // REQUIRES: before the first Handle().
  void set_rollouts(RolloutManager* rollouts) { rollouts_ = rollouts; }

  // Thread-safe. `respond` is called exactly once, possibly on another thread.
  void Handle(AdminCommand command, std::function<void(shared::Result<nlohmann::json>)> respond);

 private:
  // The commands answered at once (all but model import, model prune and round start).
  shared::Result<nlohmann::json> Run(AdminCommandId id, const AdminCommand& command) const;
  // "REASON (by ADMIN)". REQUIRES: command has an argument.
  static std::string Reason(const AdminCommand& command);
  shared::Result<nlohmann::json> ShowModel(const AdminCommand& command, bool for_export) const;
  shared::Result<nlohmann::json> ModelLineage(const AdminCommand& command) const;
  shared::Result<nlohmann::json> Deploy(const AdminCommand& command) const;
  // Answered on the engine's strand (after the admin's request returns).
  void ImportModel(AdminCommand command,
                   std::function<void(shared::Result<nlohmann::json>)> respond);
  void PruneModel(AdminCommand command,
                  std::function<void(shared::Result<nlohmann::json>)> respond);
  void StartRounds(const AdminCommand& command,
                   std::function<void(shared::Result<nlohmann::json>)> respond);
  shared::Result<nlohmann::json> Status() const;
  shared::Result<nlohmann::json> Clients() const;
  shared::Result<nlohmann::json> Rounds() const;
  shared::Result<nlohmann::json> Models() const;
  shared::Result<nlohmann::json> Revoke(const AdminCommand& command) const;

  Store* store_;
  RoundEngine* engine_;
  RolloutManager* rollouts_ = nullptr;
  const CoordinatorConfig& config_;
  std::function<void(const std::string&)> close_client_;
  uint64_t started_ms_;
};

}  // namespace fedge::coordinator
