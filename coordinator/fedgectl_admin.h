#pragma once
// fedgectl's admin subcommands (status, clients, rounds, drift, models, model ..., round start,
// revoke): one per entry of the admin command table (coordinator/admin_commands.h), whose name
// and help line they take; each sends its request over the admin connection and prints the
// answer as text, or as the coordinator's JSON with --json.

#include <CLI/CLI.hpp>
#include <memory>
#include <vector>

#include "coordinator/admin_client.h"
#include "coordinator/cli_support.h"

namespace fedge::coordinator {

// The options every admin subcommand reads: where the coordinator is, and --json.
struct AdminCliOptions {
  AdminConnectOptions connect;
  bool json = false;
};

// Registers the subcommands on `app` and appends their actions to `commands`. `options` (the
// global --kit/--host/--port/--timeout flags) must outlive the actions.
void AddAdminCommands(CLI::App& app, std::vector<CliCommand>& commands,
                      const std::shared_ptr<AdminCliOptions>& options);

}  // namespace fedge::coordinator
