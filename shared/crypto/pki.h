#pragma once
// Project PKI: provisioning of the CA and the startup kits (`fedgectl provision`). The
// certificates are issued by shared/crypto/x509_issue.h; a certificate's identity (CN, role,
// fingerprint) for the TLS layer is in shared/crypto/identity.h.
//
// Everything is done with OpenSSL's library APIs (EC P-256 keys, SHA-256 signatures); the
// `openssl` command is never run. Layout written under ProvisionOptions::out_dir:
//   ca/ca.crt, ca/ca.key                       the CA key stays here, in no kit
//   coordinator/{ca.crt, coordinator.crt, coordinator.key, coordinator.toml}
//   clients/<id>/{ca.crt, client.crt, client.key, client.toml}
//   admins/<name>/{ca.crt, admin.crt, admin.key, admin.toml}
// Private keys are unencrypted PKCS#8 PEM files created with mode 0600; certificates and
// configs are 0644. See certs/README.md.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/identity.h"

namespace fedge::shared {

// Roles, carried in the subject's organizational unit (OU).
inline constexpr std::string_view kRoleCoordinator = "coordinator";
inline constexpr std::string_view kRoleClient = "client";
inline constexpr std::string_view kRoleAdmin = "admin";

// Longest client or admin id (a certificate CN holds at most 64 characters).
inline constexpr size_t kMaxIdLength = 64;

struct ProvisionOptions;

// The config file of each kind of kit, written by the program that reads it
// (coordinator/kit_config.h has the project's set: ProjectKitTemplates(), which also holds the
// rounds and data settings the kits start with; ProvisionOptions has the PKI facts only). Each
// returns the whole TOML text.
struct KitTemplates {
  // coordinator.toml for a project of `clients` sites.
  std::function<std::string(const ProvisionOptions&, int clients)> coordinator;
  // client.toml for client `id`, the `index`-th of `clients`.
  std::function<std::string(const ProvisionOptions&, const std::string& id, int index, int clients)>
      client;
  // admin.toml for admin `name`.
  std::function<std::string(const ProvisionOptions&, const std::string& name)> admin;
};

struct ProvisionOptions {
  std::string out_dir;
  std::string project = "fedge";
  int clients = 0;                        // number of client kits
  std::vector<std::string> client_names;  // optional explicit ids; else "<prefix>NNN" (1-based,
                                          // zero-padded to max(3, digits(N)))
  std::string client_prefix = "site-";
  // Subject alternative names (IP addresses or DNS names); hosts[0] is what clients connect to.
  std::vector<std::string> coordinator_hosts = {"localhost", "127.0.0.1"};
  std::string listen_address = "0.0.0.0";
  uint16_t port = 7443;
  int validity_days = 365;
  std::vector<std::string> admins = {"admin"};
  bool force = false;  // refuse a non-empty out_dir unless force
  // Called after each kit is written (coordinator, clients, admins), e.g. for a progress bar:
  // (kits done, kits in all).
  std::function<void(size_t, size_t)> on_kit;
  // The kits' config files (required: every template set).
  KitTemplates templates;
};

// Paths of what Provision() wrote, each under out_dir.
struct ProvisionResult {
  std::string ca_dir;
  std::string coordinator_kit;
  std::vector<std::string> client_ids;  // in provisioning order (their data partition index)
  std::vector<std::string> client_kits;
  std::vector<std::string> admin_kits;
};

// Creates a new project CA and every kit. The kits are built in a staging directory inside
// out_dir and moved into place only when all of them are complete, so a failure leaves out_dir
// as it was. Errors: InvalidArgument for bad options (which one and why), AlreadyExists if
// out_dir is not empty and !force (with force, the previous ca/, coordinator/, clients/ and
// admins/ are replaced; other files are left alone), IOError/PermissionDenied from the disk.
Result<ProvisionResult> Provision(const ProvisionOptions& options);

// OK if `id` may name a client or admin: 1 to kMaxIdLength characters from [A-Za-z0-9._-],
// starting with a letter or digit (it becomes a directory name). InvalidArgument saying why not.
Status ValidateClientId(std::string_view id);

}  // namespace fedge::shared
