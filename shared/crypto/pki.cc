#include "shared/crypto/pki.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>

#include "shared/crypto/crypto.h"
#include "shared/crypto/x509_issue.h"

namespace fedge::shared {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxClients = 100000;
constexpr size_t kMaxProjectLength = 61;  // "<project> CA" must fit a 64-character CN
constexpr const char* kKitParts[] = {"ca", "coordinator", "clients", "admins"};

using x509::Authority;
using x509::CertificatePem;
using x509::CertSpec;
using x509::GenerateKey;
using x509::IssueCertificate;
using x509::PkeyPtr;
using x509::WritePrivateKey;
using x509::X509Ptr;

// ---- Option validation ----

// `s` with anything but printable ASCII replaced, safe to quote in a message.
std::string Printable(std::string_view s) {
  std::string out(s.substr(0, 80));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

Status ValidateId(std::string_view id, const std::string& kind) {
  std::string quoted = kind + " \"" + Printable(id) + "\"";
  if (id.empty()) return Status::InvalidArgument(kind + " is empty");
  if (id.size() > kMaxIdLength) {
    return Status::InvalidArgument(quoted + " is " + std::to_string(id.size()) +
                                   " characters long; the limit is " +
                                   std::to_string(kMaxIdLength));
  }
  if (!std::isalnum(static_cast<unsigned char>(id[0]))) {
    return Status::InvalidArgument(quoted + " must start with a letter or digit");
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IsIdChar(id[i])) {
      return Status::InvalidArgument(quoted + " has a character not allowed at position " +
                                     std::to_string(i) +
                                     "; use only letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

// Every id valid and unique, also ignoring case (kit directories may land on a
// case-insensitive file system).
Status ValidateIds(const std::vector<std::string>& ids, const std::string& kind) {
  std::unordered_map<std::string, const std::string*> seen;
  for (const std::string& id : ids) {
    FEDGE_RETURN_IF_ERROR(ValidateId(id, kind));
    std::string folded = id;
    std::transform(folded.begin(), folded.end(), folded.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto [it, inserted] = seen.emplace(folded, &id);
    if (!inserted && *it->second == id) {
      return Status::InvalidArgument(kind + " \"" + id + "\" is not unique");
    }
    if (!inserted) {
      return Status::InvalidArgument(kind + "s \"" + *it->second + "\" and \"" + id +
                                     "\" differ only in case; kit directories would clash");
    }
  }
  return Status::Ok();
}

bool IsIpAddress(const std::string& host) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
  const bool is_ip = ip != nullptr;
  ASN1_OCTET_STRING_free(ip);
  ERR_clear_error();
  return is_ip;
}

Status ValidateHost(const std::string& host) {
  std::string quoted = "coordinator host \"" + Printable(host) + "\"";
  if (host.empty()) return Status::InvalidArgument("coordinator host is empty");
  if (IsIpAddress(host)) return Status::Ok();
  bool label_start = true;
  for (char c : host) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || (c == '.' && !label_start);
    if (!ok) {
      return Status::InvalidArgument(
          quoted +
          " is neither an IP address (no brackets) nor a DNS name (letters, digits, "
          "'-' and non-empty labels separated by '.')");
    }
    label_start = c == '.';
  }
  if (host.size() > 253) return Status::InvalidArgument(quoted + " is longer than 253 characters");
  return Status::Ok();
}

Status ValidateIdentityOptions(const ProvisionOptions& o) {
  if (o.out_dir.empty()) return Status::InvalidArgument("the output directory is empty");
  if (o.project.empty() || o.project.size() > kMaxProjectLength ||
      !std::all_of(o.project.begin(), o.project.end(),
                   [](char c) { return IsIdChar(c) || c == ' '; })) {
    return Status::InvalidArgument("project name \"" + Printable(o.project) +
                                   "\" must be 1-61 letters, digits, spaces, '.', '_' or '-'");
  }
  if (o.coordinator_hosts.empty()) {
    return Status::InvalidArgument("at least one coordinator host is needed");
  }
  for (const std::string& host : o.coordinator_hosts) FEDGE_RETURN_IF_ERROR(ValidateHost(host));
  if (o.listen_address.empty()) return Status::InvalidArgument("listen address is empty");
  if (o.port == 0) return Status::InvalidArgument("port must be between 1 and 65535");
  if (o.validity_days < 1 || o.validity_days > 36500) {
    return Status::InvalidArgument("validity must be between 1 and 36500 days, got " +
                                   std::to_string(o.validity_days));
  }
  return ValidateIds(o.admins, "admin name");
}

Result<std::vector<std::string>> ResolveClientIds(const ProvisionOptions& o) {
  std::vector<std::string> ids = o.client_names;
  if (ids.empty()) {
    if (o.clients < 1 || o.clients > kMaxClients) {
      return Status::InvalidArgument("the number of clients must be between 1 and " +
                                     std::to_string(kMaxClients) + ", got " +
                                     std::to_string(o.clients));
    }
    const size_t width = std::max<size_t>(3, std::to_string(o.clients).size());
    for (int i = 1; i <= o.clients; ++i) {
      std::string number = std::to_string(i);
      ids.push_back(o.client_prefix + std::string(width - number.size(), '0') + number);
    }
  } else if (o.clients != 0 && static_cast<size_t>(o.clients) != ids.size()) {
    return Status::InvalidArgument(std::to_string(ids.size()) + " client names were given for " +
                                   std::to_string(o.clients) + " clients");
  }
  FEDGE_RETURN_IF_ERROR(ValidateIds(ids, "client id"));
  // Revocation, sessions and the registry know a participant by its certificate's name: a
  // client named like an admin would share the admin's revocation.
  for (const std::string& id : ids) {
    if (std::find(o.admins.begin(), o.admins.end(), id) != o.admins.end()) {
      return Status::InvalidArgument("client id \"" + id +
                                     "\" is also an admin name; give the client another name");
    }
  }
  return ids;
}

// ---- Files ----

// Kit files are new files in a fresh staging directory: WriteNewFile, then one syncfs before the
// kits are renamed into place (an fsync per file would make 200 kits take many seconds).
Status WriteText(const fs::path& path, std::string_view text) {
  return WriteNewFile(path.string(), AsBytes(text), 0644);
}

Status MakeDirectory(const fs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) {
    std::error_code ec(errno, std::generic_category());
    return Status::IOError("cannot create directory " + path.string() + ": " + ec.message());
  }
  return Status::Ok();
}

// ---- Kits ----

// One participant's kit: fresh key, certificate from `ca`, the CA certificate and its config.
Status WriteKit(const fs::path& dir, std::string_view stem, const CertSpec& spec,
                const std::string& toml, const Authority& ca) {
  FEDGE_RETURN_IF_ERROR(MakeDirectory(dir, 0700));
  FEDGE_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey());
  FEDGE_ASSIGN_OR_RETURN(X509Ptr cert, IssueCertificate(spec, key.get(), ca));
  FEDGE_ASSIGN_OR_RETURN(std::string cert_pem, CertificatePem(cert.get()));
  const std::string s(stem);
  FEDGE_RETURN_IF_ERROR(WriteText(dir / "ca.crt", ca.cert_pem));
  FEDGE_RETURN_IF_ERROR(WriteText(dir / (s + ".crt"), cert_pem));
  FEDGE_RETURN_IF_ERROR(WritePrivateKey(dir / (s + ".key"), key.get()));
  return WriteText(dir / (s + ".toml"), toml);
}

Status WriteAllKits(const ProvisionOptions& o, const std::vector<std::string>& ids,
                    const fs::path& root) {
  Authority ca;
  ca.project = o.project;
  ca.now = std::time(nullptr);  // one clock reading: every certificate gets the same validity
  ca.validity_days = o.validity_days;
  const CertSpec ca_spec{o.project + " CA", {}, nullptr, {}};
  FEDGE_ASSIGN_OR_RETURN(PkeyPtr ca_key, GenerateKey());
  FEDGE_ASSIGN_OR_RETURN(X509Ptr ca_cert, IssueCertificate(ca_spec, ca_key.get(), ca));
  ca.cert = ca_cert.get();
  ca.key = ca_key.get();
  FEDGE_ASSIGN_OR_RETURN(ca.cert_pem, CertificatePem(ca.cert));
  FEDGE_RETURN_IF_ERROR(MakeDirectory(root / "ca", 0700));
  FEDGE_RETURN_IF_ERROR(WriteText(root / "ca" / "ca.crt", ca.cert_pem));
  FEDGE_RETURN_IF_ERROR(WritePrivateKey(root / "ca" / "ca.key", ca.key));

  const int n = static_cast<int>(ids.size());
  const size_t kits = 1 + ids.size() + o.admins.size();
  size_t done = 0;
  auto kit_done = [&] {
    if (o.on_kit) o.on_kit(++done, kits);
  };
  CertSpec coordinator{"coordinator", kRoleCoordinator, "serverAuth", o.coordinator_hosts};
  FEDGE_RETURN_IF_ERROR(WriteKit(root / "coordinator", "coordinator", coordinator,
                                 o.templates.coordinator(o, n), ca));
  kit_done();
  FEDGE_RETURN_IF_ERROR(MakeDirectory(root / "clients", 0755));
  for (int i = 0; i < n; ++i) {
    CertSpec client{ids[i], kRoleClient, "clientAuth", {}};
    FEDGE_RETURN_IF_ERROR(WriteKit(root / "clients" / ids[i], "client", client,
                                   o.templates.client(o, ids[i], i, n), ca));
    kit_done();
  }
  if (o.admins.empty()) return Status::Ok();
  FEDGE_RETURN_IF_ERROR(MakeDirectory(root / "admins", 0755));
  for (const std::string& name : o.admins) {
    CertSpec admin{name, kRoleAdmin, "clientAuth", {}};
    FEDGE_RETURN_IF_ERROR(
        WriteKit(root / "admins" / name, "admin", admin, o.templates.admin(o, name), ca));
    kit_done();
  }
  return Status::Ok();
}

Status PrepareOutDir(const fs::path& out, bool force) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) {
    return Status::InvalidArgument(out.string() + " exists and is not a directory");
  }
  fs::create_directories(out, ec);
  if (ec) return Status::IOError("cannot create " + out.string() + ": " + ec.message());
  fs::directory_iterator it(out, ec);
  if (ec) return Status::IOError("cannot list " + out.string() + ": " + ec.message());
  if (it != fs::directory_iterator() && !force) {
    return Status::AlreadyExists(out.string() +
                                 " is not empty; use --force to replace the kits in it");
  }
  return Status::Ok();
}

// fsync (or syncfs) on a directory opened read-only.
Status SyncDirectory(const fs::path& dir, bool whole_file_system) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && (whole_file_system ? ::syncfs(fd) : ::fsync(fd)) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (synced) return Status::Ok();
  return Status::IOError("cannot sync " + dir.string() + ": " +
                         std::error_code(err, std::generic_category()).message());
}

// Makes the finished kits in `staging` durable, then moves them into `out`, replacing earlier
// ones.
Status PublishKits(const fs::path& staging, const fs::path& out) {
  FEDGE_RETURN_IF_ERROR(SyncDirectory(staging, /*whole_file_system=*/true));
  std::error_code ec;
  for (const char* part : kKitParts) {
    fs::remove_all(out / part, ec);
    if (!ec && fs::exists(staging / part, ec)) fs::rename(staging / part, out / part, ec);
    if (ec) {
      return Status::IOError("cannot move kits into " + (out / part).string() + ": " +
                             ec.message());
    }
  }
  fs::remove(staging, ec);
  return SyncDirectory(out, /*whole_file_system=*/false);  // makes the renames durable
}

}  // namespace

Status ValidateClientId(std::string_view id) { return ValidateId(id, "client id"); }

Result<ProvisionResult> Provision(const ProvisionOptions& options) {
  ERR_clear_error();
  FEDGE_RETURN_IF_ERROR(ValidateIdentityOptions(options));
  const KitTemplates& t = options.templates;
  if (!t.coordinator || !t.client || !t.admin) {
    return Status::InvalidArgument(
        "provisioning needs the kits' config templates (ProvisionOptions::templates, e.g. "
        "coordinator::ProjectKitTemplates())");
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::string> ids, ResolveClientIds(options));
  const fs::path out(options.out_dir);
  FEDGE_RETURN_IF_ERROR(PrepareOutDir(out, options.force));
  const fs::path staging = out / (".fedgectl-staging-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(staging, ec);
  Status status = MakeDirectory(staging, 0700);
  if (status.ok()) status = WriteAllKits(options, ids, staging);
  if (status.ok()) status = PublishKits(staging, out);
  if (!status.ok()) {
    fs::remove_all(staging, ec);
    return status;
  }
  ProvisionResult result;
  result.ca_dir = (out / "ca").string();
  result.coordinator_kit = (out / "coordinator").string();
  for (const std::string& id : ids) result.client_kits.push_back((out / "clients" / id).string());
  for (const std::string& name : options.admins) {
    result.admin_kits.push_back((out / "admins" / name).string());
  }
  result.client_ids = std::move(ids);
  return result;
}

}  // namespace fedge::shared
