#include "client/drift_references.h"

#include <cstdio>

#include "shared/base/log.h"
#include "shared/drift/drift_wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "drift";

// The store key of a profile: "drift/<local|global>/<version, 20 digits>".
std::string ProfileKey(const std::string& source, uint64_t version) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "drift/%s/%020llu", source.c_str(),
                static_cast<unsigned long long>(version));
  return buf;
}
}  // namespace

DriftReferences::DriftReferences(const DriftMonitorSettings& settings, SampleStore& store,
                                 LiveMonitor& monitor, std::function<std::string()> client_id)
    : settings_(settings), store_(store), monitor_(monitor), client_id_(std::move(client_id)) {}

Status DriftReferences::Save(const std::string& source, uint64_t version,
                             const drift::Summary& profile) {
  return store_.PutState(ProfileKey(source, version), drift::EncodeSummary(profile));
}

void DriftReferences::Use(uint64_t version, int num_classes) {
  const bool prefer_local = settings_.reference == "local";
  const char* order[2] = {prefer_local ? "local" : "global", prefer_local ? "global" : "local"};
  for (const char* source : order) {
    if (monitor_.version() == version && monitor_.source() == source) return;  // in use already
    Result<std::optional<std::vector<uint8_t>>> bytes =
        store_.GetState(ProfileKey(source, version));
    if (!bytes.ok() || !bytes->has_value()) continue;
    Result<drift::Summary> summary = drift::DecodeSummary(**bytes);
    if (!summary.ok()) {
      FEDGE_LOG(Warn, kLog).Client(client_id_())
          << "stored " << source << " profile of version " << version
          << " unusable: " << summary.status().message();
      continue;
    }
    monitor_.SetReference(version, std::move(*summary), source, num_classes);
    FEDGE_LOG(Debug, kLog).Client(client_id_())
        << "drift reference: version " << version << " (" << source << ")";
    return;
  }
}

}  // namespace fedge::client
