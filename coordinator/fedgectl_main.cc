// fedgectl: the central team's admin tool. Each subcommand registers its flags and an action;
// main parses, runs the chosen action and maps errors to exit codes (1 failure, 2 usage).
// `provision` works offline; every other command talks to the coordinator over mutual TLS
// with an admin startup kit (--kit).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/cli_support.h"
#include "coordinator/fedgectl_admin.h"
#include "coordinator/kit_config.h"
#include "coordinator/registry.h"
#include "coordinator/release_cli.h"
#include "shared/base/progress.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"
#include "shared/crypto/pki.h"

namespace {

using fedge::shared::Code;
using fedge::shared::ProvisionOptions;
using fedge::shared::ProvisionResult;
using fedge::shared::Status;

using fedge::coordinator::AdminCliOptions;
using fedge::coordinator::CliCommand;
using fedge::coordinator::Fail;
using fedge::coordinator::kExitUsage;

void PrintProvisioned(const ProvisionOptions& options, const ProvisionResult& r) {
  std::cout << "Provisioned project \"" << options.project << "\" in " << options.out_dir << ":\n"
            << "  CA certificate and key   " << r.ca_dir << "  (ca.key is in no kit)\n"
            << "  coordinator kit          " << r.coordinator_kit << "\n"
            << "  client kits              " << options.out_dir << "/clients/<id>  ("
            << r.client_ids.size() << ": " << r.client_ids.front() << " ... " << r.client_ids.back()
            << ")\n";
  for (const std::string& kit : r.admin_kits)
    std::cout << "  admin kit                " << kit << "\n";
  std::cout << "Next steps:\n"
            << "  1. Copy " << r.coordinator_kit << " to the coordinator host and start\n"
            << "     fedge-coordinator there with its coordinator.toml (clients will connect to "
            << options.coordinator_hosts.front() << ":" << options.port << ").\n"
            << "  2. Send each site its own clients/<id> folder over a secure channel and start\n"
            << "     fedge-client there with its client.toml. Never send a kit to anyone else.\n"
            << "  3. Keep " << r.ca_dir << "/ca.key offline and backed up: it signs new clients.\n"
            << "     Never commit generated keys (see certs/README.md).\n";
}

CliCommand AddProvisionCommand(CLI::App& app) {
  auto options = std::make_shared<ProvisionOptions>();
  ProvisionOptions& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "provision", "Create the project CA and the coordinator, client and admin startup kits");
  cmd->add_option("--clients", o.clients, "Number of client kits: <prefix>001, <prefix>002, ...");
  cmd->add_option("--out", o.out_dir, "Output directory (must be empty unless --force)")
      ->required();
  cmd->add_option("--project", o.project, "Project name (CA subject)")->capture_default_str();
  cmd->add_option("--host", o.coordinator_hosts,
                  "Coordinator DNS name or IP in its certificate; repeatable; clients connect to "
                  "the first")
      ->capture_default_str();
  cmd->add_option("--listen", o.listen_address, "Coordinator listen address")
      ->capture_default_str();
  cmd->add_option("--port", o.port, "Coordinator port")->capture_default_str();
  cmd->add_option("--validity-days", o.validity_days, "Certificate lifetime")
      ->capture_default_str();
  cmd->add_option("--client-prefix", o.client_prefix, "Prefix of generated client ids")
      ->capture_default_str();
  cmd->add_option("--names", o.client_names, "Explicit client ids, comma-separated")
      ->delimiter(',');
  cmd->add_option("--admin", o.admins, "Admin kit name; repeatable")->capture_default_str();
  auto kit = std::make_shared<fedge::coordinator::KitSettings>();
  cmd->add_option("--rounds", kit->rounds.count, "Training rounds")->capture_default_str();
  cmd->add_option("--data-dir", kit->data.dir, "Dataset directory on the clients")
      ->capture_default_str();
  cmd->add_option("--partition", kit->data.partition, "iid | dirichlet | shards")
      ->capture_default_str();
  cmd->add_option("--alpha", kit->data.alpha, "Dirichlet concentration")->capture_default_str();
  cmd->add_option("--seed", kit->model_seed, "Seed for model init and partitioning")
      ->capture_default_str();
  cmd->add_flag("--force", o.force, "Replace the kits in a non-empty --out");
  return {cmd, [options, kit] {
            if (options->clients == 0 && options->client_names.empty()) {
              return Fail(Status::InvalidArgument("provision needs --clients N or --names a,b,c"));
            }
            // Many kits take a while (a key pair and a certificate each): show progress.
            fedge::shared::Progress::Options bar;
            bar.label = "kits";
            bar.total = 1 +
                        static_cast<uint64_t>(options->client_names.empty()
                                                  ? options->clients
                                                  : options->client_names.size()) +
                        options->admins.size();
            bar.plain_every = bar.total < 20 ? 1.0 : 0.25;  // plain: few lines for few kits
            fedge::shared::Progress progress(bar);
            kit->data.seed = kit->model_seed;  // one --seed for both, as documented
            auto templates = fedge::coordinator::ProjectKitTemplates(*kit);
            if (!templates.ok()) return Fail(templates.status());
            fedge::shared::ProvisionOptions o = *options;
            o.templates = *std::move(templates);
            o.on_kit = [&progress](size_t done, size_t) { progress.Set(done); };
            auto result = fedge::shared::Provision(o);
            progress.Finish();
            if (!result.ok()) return Fail(result.status());
            PrintProvisioned(*options, *result);
            return 0;
          }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Admin tool for a fedge federated-learning project", "fedgectl"};
  app.require_subcommand(1);
  auto global = std::make_shared<AdminCliOptions>();
  app.add_option("--kit", global->connect.kit_dir,
                 "Admin startup kit directory (admin.toml, ca.crt, admin.crt, admin.key)");
  app.add_option("--host", global->connect.host, "Coordinator host (default: from admin.toml)");
  app.add_option("--port", global->connect.port, "Coordinator port (default: from admin.toml)");
  app.add_option("--timeout", global->connect.timeout_seconds, "Seconds to wait for an answer")
      ->capture_default_str();
  std::vector<CliCommand> commands = {AddProvisionCommand(app)};
  fedge::coordinator::AddAdminCommands(app, commands, global);
  fedge::coordinator::AddReleaseCommands(
      app, commands,
      std::shared_ptr<const fedge::coordinator::AdminConnectOptions>(global, &global->connect));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "fedgectl: " << e.what() << " (see fedgectl --help)\n";
    return kExitUsage;
  }
  for (const CliCommand& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}
