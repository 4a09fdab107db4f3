#pragma once
// The admin protocol's commands, in one table: the coordinator's dispatch (AdminService) and
// fedgectl's subcommands, help lines and requests are all driven by it, so a command is added,
// renamed or given another argument in exactly one place. Plain data: no I/O, no LibTorch.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "shared/base/status.h"

namespace fedge::coordinator {

enum class AdminCommandId : uint8_t {
  kStatus,
  kClients,
  kRounds,
  kDrift,
  kModels,
  kModelShow,
  kModelLineage,
  kModelCompare,
  kModelExport,
  kModelImport,
  kModelPrune,
  kRoundStart,
  kRevoke,
  kUnquarantine,
  kReleaseDeploy,
  kReleasePromote,
  kReleaseRollback,
  kRollouts,
};

struct AdminCommandSpec {
  AdminCommandId id;
  std::string_view name;  // AdminRequest.command; fedgectl's subcommand path ("model show")
  std::string_view args;  // the request's arguments, for usage errors ("" when none)
  uint8_t min_args;
  uint8_t max_args;
  std::string_view help;  // one line, shown by `fedgectl --help`
  bool needs_releases;    // answered only when the coordinator serves releases ([release] repo)
};

// Every command, in the order `fedgectl --help` lists them.
std::span<const AdminCommandSpec> AdminCommands();
// The entry of `id` (every id has one).
const AdminCommandSpec& AdminCommandInfo(AdminCommandId id);
// The entry named `name`, or null.
const AdminCommandSpec* FindAdminCommand(std::string_view name);
// The last word of the name: fedgectl's subcommand under its group ("show" for "model show").
std::string_view AdminSubcommandName(const AdminCommandSpec& spec);
// InvalidArgument "usage: NAME ARGS" unless `count` arguments are allowed.
shared::Status CheckAdminArgs(const AdminCommandSpec& spec, size_t count);
// InvalidArgument naming the unknown command and listing the known ones.
shared::Status UnknownAdminCommand(std::string_view name);

}  // namespace fedge::coordinator
