#pragma once
// A site's drift references: per model version, its own profile ("local", computed when it
// evaluates the version) and the coordinator's merged one ("global", shipped back), kept in
// the sample store under one key scheme; and the choice of which one the live monitor
// compares the camera's frames with.

#include <cstdint>
#include <functional>
#include <string>

#include "client/config.h"
#include "client/live_monitor.h"
#include "client/sample_store.h"
#include "shared/base/status.h"
#include "shared/drift/drift_stats.h"

namespace fedge::client {

// Thread-safe (the store and the monitor are).
class DriftReferences {
 public:
  // `store` and `monitor` (not owned) must outlive this object. `client_id` names the client
  // in log lines.
  DriftReferences(const DriftMonitorSettings& settings, SampleStore& store, LiveMonitor& monitor,
                  std::function<std::string()> client_id);

  // Keeps a profile of `version`: this site's own ("local") or the coordinator's ("global").
  // Errors: the store's.
  shared::Status Save(const std::string& source, uint64_t version, const drift::Summary& profile);
  // Makes the monitor compare with the stored reference of `version` the settings prefer
  // (settings.reference first, the other source second), unless it already does; nothing
  // changes when neither is stored (or readable). `num_classes`: of the model serving `version`.
  void Use(uint64_t version, int num_classes);

 private:
  const DriftMonitorSettings& settings_;
  SampleStore& store_;
  LiveMonitor& monitor_;
  std::function<std::string()> client_id_;
};

}  // namespace fedge::client
