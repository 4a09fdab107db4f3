#pragma once
// The coordinator.toml and admin.toml of the startup kits, owned here beside the code that
// reads them (coordinator/config.h, coordinator/admin_client.h), and the project's full set of
// kit templates for shared::Provision (with the client's, client/kit_config.h).

#include <string>

#include "shared/crypto/pki.h"

namespace fedge::coordinator {

// coordinator.toml for a project of `clients` sites.
std::string CoordinatorKitToml(const shared::ProvisionOptions& options, int clients);
// admin.toml for admin `name`.
std::string AdminKitToml(const shared::ProvisionOptions& options, const std::string& name);
// The templates every program that provisions a project passes in ProvisionOptions.
shared::KitTemplates ProjectKitTemplates();

}  // namespace fedge::coordinator
