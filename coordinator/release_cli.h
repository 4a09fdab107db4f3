#pragma once
// fedgectl's release subcommands (offline, on files; see coordinator/release_tools.h):
//   keys init | keys rotate | keys sign-root
//   release create | release publish | release sign | release timestamp
//   releases
//   release deploy | release promote | release rollback | rollouts   (over the admin connection)
// `release create --from VERSION` fetches the model over the admin connection (like `model
// export`); deploy, promote, rollback and rollouts are commands of the coordinator's staged
// rollout (coordinator/rollout.h); everything else works on a key directory and a repository
// directory.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "coordinator/admin_client.h"
#include "coordinator/cli_support.h"

namespace fedge::coordinator {

// Registers the subcommands on `app` and appends their actions to `commands`. `connect` (the
// global --kit/--host/--port options) must outlive the actions.
void AddReleaseCommands(CLI::App& app, std::vector<CliCommand>& commands,
                        std::shared_ptr<const AdminConnectOptions> connect);

}  // namespace fedge::coordinator
