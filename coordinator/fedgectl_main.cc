// fedgectl: the central team's admin tool. Each subcommand registers its flags and an action;
// main parses, runs the chosen action and maps errors to exit codes (1 failure, 2 usage).

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "shared/pki.h"
#include "shared/status.h"

namespace {

using fedge::shared::Code;
using fedge::shared::ProvisionOptions;
using fedge::shared::ProvisionResult;
using fedge::shared::Status;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app;             // owned by the top-level CLI::App
  std::function<int()> run;  // called if this subcommand was chosen
};

int Fail(const Status& status) {
  std::cerr << "fedgectl: " << status.message() << "\n";
  return status.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

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

Command AddProvisionCommand(CLI::App& app) {
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
  cmd->add_option("--rounds", o.rounds, "Training rounds")->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "Dataset directory on the clients")
      ->capture_default_str();
  cmd->add_option("--partition", o.partition, "iid | dirichlet | shards")->capture_default_str();
  cmd->add_option("--alpha", o.alpha, "Dirichlet concentration")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed for model init and partitioning")->capture_default_str();
  cmd->add_flag("--force", o.force, "Replace the kits in a non-empty --out");
  return {cmd, [options] {
            if (options->clients == 0 && options->client_names.empty()) {
              return Fail(Status::InvalidArgument("provision needs --clients N or --names a,b,c"));
            }
            auto result = fedge::shared::Provision(*options);
            if (!result.ok()) return Fail(result.status());
            PrintProvisioned(*options, *result);
            return 0;
          }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Admin tool for a fedge federated-learning project", "fedgectl"};
  app.require_subcommand(1);
  std::vector<Command> commands = {AddProvisionCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "fedgectl: " << e.what() << " (see fedgectl --help)\n";
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}
