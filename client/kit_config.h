#pragma once
// The client.toml of a site's startup kit. Owned here, beside the code that reads it
// (client/config.h), so a new client setting and its template change together; `fedgectl
// provision` writes it through shared::KitTemplates. Library fedge_client_kit: no dependency
// but fedge_shared, so the coordinator's tools can link it without the client.

#include <string>

#include "client/config.h"
#include "shared/crypto/pki.h"

namespace fedge::client {

// client.toml for client `id`, the `index`-th of `clients` (its Fashion-MNIST partition), with
// `data`'s dir, partition, alpha, seed and holdout_fraction.
std::string ClientKitToml(const DataSettings& data, const shared::ProvisionOptions& options,
                          const std::string& id, int index, int clients);

}  // namespace fedge::client
