#include "coordinator/admin_commands.h"

#include <array>

namespace fedge::coordinator {

namespace {

using Id = AdminCommandId;

constexpr std::array<AdminCommandSpec, 18> kCommands = {{
    {Id::kStatus, "status", "", 0, 0, "Coordinator, open round, connected clients", false},
    {Id::kClients, "clients", "", 0, 0, "Registered clients", false},
    {Id::kRounds, "rounds", "", 0, 0, "Completed rounds and the open one", false},
    {Id::kDrift, "drift", "", 0, 0, "Drift per client and retraining campaigns", false},
    {Id::kModels, "models", "", 0, 0, "Model versions in the registry (* = head)", false},
    {Id::kModelShow, "model show", "VERSION", 1, 1, "Everything recorded about a version", false},
    {Id::kModelLineage, "model lineage", "VERSION", 1, 1, "Ancestry of a version to the first one",
     false},
    {Id::kModelCompare, "model compare", "VERSION_A VERSION_B", 2, 2,
     "Metrics of two versions side by side", false},
    {Id::kModelExport, "model export", "VERSION", 1, 1,
     "Write a version (record and weights) to a file", false},
    {Id::kModelImport, "model import", "", 0, 0,
     "Add a model exported by `model export` as a new version (not the head)", false},
    {Id::kModelPrune, "model prune", "VERSION FRACTION [hidden|no-hidden]", 2, 3,
     "Prune a version's channels (L1) into a new head version; `round start` then fine-tunes "
     "it in federation",
     false},
    {Id::kRoundStart, "round start", "[ROUNDS]", 0, 1, "Run more rounds after the current one",
     false},
    {Id::kRevoke, "revoke", "CLIENT_ID [REASON]", 1, 2,
     "Revoke a client's certificate: refused from now on, open session closed", false},
    {Id::kUnquarantine, "unquarantine", "CLIENT_ID", 1, 1,
     "Lift the defence's quarantine of a site: it is offered tasks again", false},
    {Id::kReleaseDeploy, "release deploy", "TARGET [CANARY_PERCENT]", 1, 2,
     "Roll a published, signed release out to a canary cohort, then to every client", true},
    {Id::kReleasePromote, "release promote", "[REASON]", 0, 1,
     "Promote the release in canary to every client", true},
    {Id::kReleaseRollback, "release rollback", "[REASON]", 0, 1,
     "Roll back the release in canary (or the fleet's release): its clients return to the "
     "release before it",
     true},
    {Id::kRollouts, "rollouts", "", 0, 0, "Rollouts of releases: state, steps, reports", true},
}};

}  // namespace

std::span<const AdminCommandSpec> AdminCommands() { return kCommands; }

const AdminCommandSpec& AdminCommandInfo(AdminCommandId id) {
  for (const AdminCommandSpec& c : kCommands) {
    if (c.id == id) return c;
  }
  return kCommands.front();  // unreachable: the table has every id (admin_commands_test)
}

const AdminCommandSpec* FindAdminCommand(std::string_view name) {
  for (const AdminCommandSpec& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string_view AdminSubcommandName(const AdminCommandSpec& spec) {
  size_t space = spec.name.rfind(' ');
  return space == std::string_view::npos ? spec.name : spec.name.substr(space + 1);
}

shared::Status CheckAdminArgs(const AdminCommandSpec& spec, size_t count) {
  if (count >= spec.min_args && count <= spec.max_args) return shared::Status::Ok();
  std::string usage = "usage: " + std::string(spec.name);
  if (!spec.args.empty()) usage += " " + std::string(spec.args);
  return shared::Status::InvalidArgument(usage);
}

shared::Status UnknownAdminCommand(std::string_view name) {
  std::string known;
  for (const AdminCommandSpec& c : kCommands) {
    known += (known.empty() ? "" : ", ") + std::string(c.name);
  }
  return shared::Status::InvalidArgument("unknown admin command '" + std::string(name) +
                                         "'; known: " + known);
}

}  // namespace fedge::coordinator
