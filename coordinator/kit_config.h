#pragma once
// The coordinator.toml and admin.toml of the startup kits, owned here beside the code that
// reads them (coordinator/config.h, coordinator/admin_client.h), and the project's full set of
// kit templates for shared::Provision (with the client's, client/kit_config.h).

#include <string>

#include "client/config.h"
#include "coordinator/config.h"
#include "shared/base/status.h"
#include "shared/crypto/pki.h"

namespace fedge::coordinator {

// What a new project's kits start with beyond its certificates. Defaults are those of the
// structs the programs read (one set: RoundSettings, ml::TrainingSettings, client::DataSettings).
struct KitSettings {
  // The coordinator's [rounds]; min_clients is the number of sites and min_fit 80% of it
  // (rounded up), whatever these say.
  RoundSettings rounds;
  // Each site's [data]; num_partitions and index are set per site (its Fashion-MNIST share).
  client::DataSettings data;
  std::string model_arch = CoordinatorConfig().model_arch;
  uint64_t model_seed = 0;
};

// OK if every setting is one the programs would accept; InvalidArgument naming the first that
// is not and why.
shared::Status CheckKitSettings(const KitSettings& settings);

// coordinator.toml for a project of `clients` sites.
std::string CoordinatorKitToml(const KitSettings& settings, const shared::ProvisionOptions& options,
                               int clients);
// admin.toml for admin `name`.
std::string AdminKitToml(const shared::ProvisionOptions& options, const std::string& name);
// The templates every program that provisions a project passes in ProvisionOptions, writing
// `settings` (checked first: CheckKitSettings' error).
shared::Result<shared::KitTemplates> ProjectKitTemplates(const KitSettings& settings = {});

}  // namespace fedge::coordinator
