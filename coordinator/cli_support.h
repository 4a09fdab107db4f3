#pragma once
// What every fedgectl subcommand shares: exit codes from a Status, connecting with the admin
// kit, and the plain-text formatting of times, numbers, tables and transfer progress.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/admin_client.h"
#include "shared/base/progress.h"
#include "shared/base/status.h"

namespace fedge::coordinator {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct CliCommand {
  CLI::App* app;             // owned by the top-level CLI::App
  std::function<int()> run;  // called if this subcommand was chosen; returns the exit code
};

// Prints "fedgectl: MESSAGE" on stderr; kExitUsage for InvalidArgument, else kExitFailure.
int Fail(const shared::Status& status);
// 0 for OK, else Fail(status).
int Done(const shared::Status& status);
// Connects with the admin kit in `connect` and runs `fn` on the connection. InvalidArgument
// when no kit was given; the connection's errors otherwise.
shared::Status WithAdmin(const AdminConnectOptions& connect,
                         const std::function<shared::Status(AdminClient&)>& fn);

// "YYYY-MM-DD HH:MM:SS" (UTC) of a Unix time in milliseconds; "-" for 0.
std::string Time(uint64_t unix_ms);
// A JSON number or string as text (floats with `precision` decimals); "-" for null.
std::string Num(const nlohmann::json& j, int precision = 4);
// A left-aligned text table on stdout.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// A progress bar for a long transfer, on stderr: redrawn on a terminal, a line each quarter
// elsewhere.
shared::Progress::Options TransferBar(const char* label);

}  // namespace fedge::coordinator
