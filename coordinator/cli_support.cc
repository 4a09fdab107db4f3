#include "coordinator/cli_support.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace fedge::coordinator {

using nlohmann::json;
using shared::Status;

int Fail(const Status& status) {
  std::cerr << "fedgectl: " << status.message() << "\n";
  return status.code() == shared::Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

int Done(const Status& status) { return status.ok() ? 0 : Fail(status); }

Status WithAdmin(const AdminConnectOptions& connect,
                 const std::function<Status(AdminClient&)>& fn) {
  if (connect.kit_dir.empty()) {
    return Status::InvalidArgument(
        "this command talks to the coordinator: pass --kit ADMIN_KIT_DIR (an admin startup kit "
        "from `fedgectl provision`, e.g. kits/admins/admin)");
  }
  FEDGE_ASSIGN_OR_RETURN(auto client, AdminClient::Connect(connect));
  return fn(*client);
}

std::string Time(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Num(const json& j, int precision) {
  if (j.is_null()) return "-";
  if (j.is_number_float()) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(precision) << j.get<double>();
    return o.str();
  }
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

shared::Progress::Options TransferBar(const char* label) {
  shared::Progress::Options bar;
  bar.label = label;
  bar.bytes = true;
  bar.plain_every = 0.25;
  return bar;
}

}  // namespace fedge::coordinator
