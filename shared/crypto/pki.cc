#include "shared/crypto/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>

#include "shared/crypto/crypto.h"

namespace fedge::shared {
namespace {

namespace fs = std::filesystem;

constexpr long kClockSkewSeconds = 5 * 60;  // notBefore = now - 5 min
constexpr int kMaxClients = 100000;
constexpr size_t kMaxPemBytes = 1 << 20;
constexpr size_t kMaxProjectLength = 61;  // "<project> CA" must fit a 64-character CN
constexpr const char* kKitParts[] = {"ca", "coordinator", "clients", "admins"};

template <auto kFree>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<&EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree<&X509_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree<&BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OpenSslFree<&BN_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslFree<&X509_EXTENSION_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslFree<&GENERAL_NAMES_free>>;

Status OpenSslFailure(const std::string& what) {
  return Status::Internal(what + ": " + OpenSslErrors());
}

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

Status ValidateTrainingOptions(const ProvisionOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (o.rounds < 1) return bad("rounds must be at least 1");
  if (!(o.fraction_fit > 0 && o.fraction_fit <= 1)) return bad("fraction_fit must be in (0, 1]");
  if (o.local_epochs < 1) return bad("local_epochs must be at least 1");
  if (o.batch_size < 1) return bad("batch_size must be at least 1");
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return bad("learning_rate must be a positive number");
  }
  if (!(o.momentum >= 0 && o.momentum < 1)) return bad("momentum must be in [0, 1)");
  if (o.timeout_seconds < 1) return bad("timeout_seconds must be at least 1");
  if (o.data_dir.empty()) return bad("data_dir is empty");
  if (o.partition != "iid" && o.partition != "dirichlet" && o.partition != "shards") {
    return bad("partition \"" + Printable(o.partition) + "\" is not iid, dirichlet or shards");
  }
  if (!(o.alpha > 0) || !std::isfinite(o.alpha)) return bad("alpha must be a positive number");
  if (o.seed > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return bad("seed must fit a signed 64-bit integer");
  }
  return Status::Ok();
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
  return ids;
}

// ---- Certificates ----

struct CertSpec {
  std::string common_name;
  std::string_view role;                     // subject OU; empty for the CA
  const char* extended_key_usage = nullptr;  // nullptr for the CA
  std::vector<std::string> alt_names;        // IP addresses or DNS names
};

// The issuing CA plus what every certificate of one provisioning run shares.
struct Authority {
  std::string project;
  std::time_t now = 0;
  int validity_days = 0;
  X509* cert = nullptr;  // borrowed; null while the CA itself is being issued
  EVP_PKEY* key = nullptr;
  std::string cert_pem;
};

Result<PkeyPtr> GenerateKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslFailure("cannot generate an EC P-256 key");
  return key;
}

// A random 128-bit serial (top bit set, so it is always exactly 128 bits and positive).
Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslFailure("RAND_bytes");
  bytes[0] |= 0x80;
  BnPtr serial(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslFailure("cannot set a certificate serial number");
  }
  return Status::Ok();
}

Status SetSubject(X509* cert, const std::string& project, const CertSpec& spec) {
  X509_NAME* name = X509_get_subject_name(cert);
  auto add = [name](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add("O", project) || (!spec.role.empty() && !add("OU", spec.role)) ||
      !add("CN", spec.common_name)) {
    return OpenSslFailure("cannot set the subject of " + spec.common_name);
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslFailure(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

// Built from GENERAL_NAMEs rather than a config string so that no host can inject other names.
Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& hosts) {
  NamesPtr names(GENERAL_NAMES_new());
  if (names == nullptr) return OpenSslFailure("GENERAL_NAMES_new");
  for (const std::string& host : hosts) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) return OpenSslFailure("GENERAL_NAME_new");
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str())) {
      GENERAL_NAME_set0_value(name, GEN_IPADD, ip);
    } else {
      ERR_clear_error();
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns == nullptr || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        GENERAL_NAME_free(name);
        return OpenSslFailure("cannot encode host " + host);
      }
      GENERAL_NAME_set0_value(name, GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names.get(), name) <= 0) {
      GENERAL_NAME_free(name);
      return OpenSslFailure("sk_GENERAL_NAME_push");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslFailure("cannot add subjectAltName");
  }
  return Status::Ok();
}

Status AddExtensions(X509* cert, X509* issuer, const CertSpec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  if (issuer == cert) {
    FEDGE_RETURN_IF_ERROR(
        AddExtension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
    return AddExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  }
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_key_usage, "critical,digitalSignature"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_ext_key_usage, spec.extended_key_usage));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_subject_key_identifier, "hash"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (spec.alt_names.empty()) return Status::Ok();
  return AddSubjectAltNames(cert, spec.alt_names);
}

// Issues a certificate for `key`, signed by `ca` (self-signed when ca.cert is null).
Result<X509Ptr> IssueCertificate(const CertSpec& spec, EVP_PKEY* key, const Authority& ca) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslFailure("X509_new");
  }
  FEDGE_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  FEDGE_RETURN_IF_ERROR(SetSubject(cert.get(), ca.project, spec));
  X509* issuer = ca.cert != nullptr ? ca.cert : cert.get();
  std::time_t now = ca.now;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -kClockSkewSeconds, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), ca.validity_days, 0, &now) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslFailure("cannot fill the certificate of " + spec.common_name);
  }
  FEDGE_RETURN_IF_ERROR(AddExtensions(cert.get(), issuer, spec));
  EVP_PKEY* signing_key = ca.cert != nullptr ? ca.key : key;
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the certificate of " + spec.common_name);
  }
  return cert;
}

// ---- Files ----

std::span<const uint8_t> BioBytes(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return {reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(std::max(length, 0L))};
}

Result<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslFailure("cannot encode a certificate as PEM");
  }
  std::span<const uint8_t> bytes = BioBytes(bio.get());
  return std::string(bytes.begin(), bytes.end());
}

// Kit files are new files in a fresh staging directory: WriteNewFile, then one syncfs before the
// kits are renamed into place (an fsync per file would make 200 kits take many seconds).
Status WriteText(const fs::path& path, std::string_view text) {
  return WriteNewFile(path.string(), AsBytes(text), 0644);
}

// PKCS#8 PEM, unencrypted, mode 0600 from creation. The PEM text lives only in a secure-heap
// BIO that is wiped when freed.
Status WritePrivateKey(const fs::path& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslFailure("cannot encode a private key as PEM");
  }
  return WriteNewFile(path.string(), BioBytes(bio.get()), 0600);
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

// Extracts the single entry `nid` of a subject as UTF-8 text.
Result<std::string> SingleSubjectEntry(const X509_NAME* name, int nid, const std::string& label) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return Status::InvalidArgument("certificate subject has no " + label);
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0) {
    return Status::InvalidArgument("certificate subject has more than one " + label);
  }
  unsigned char* utf8 = nullptr;
  int length =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (length < 0) {
    return Status::InvalidArgument("certificate " + label + " is not text: " + OpenSslErrors());
  }
  std::string value(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (value.empty() || value.find('\0') != std::string::npos) {
    return Status::InvalidArgument("certificate " + label + " is empty or holds a NUL byte");
  }
  return value;
}

}  // namespace

Status ValidateClientId(std::string_view id) { return ValidateId(id, "client id"); }

Result<ProvisionResult> Provision(const ProvisionOptions& options) {
  ERR_clear_error();
  FEDGE_RETURN_IF_ERROR(ValidateIdentityOptions(options));
  FEDGE_RETURN_IF_ERROR(ValidateTrainingOptions(options));
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

Result<PeerIdentity> IdentityFromCertificate(const X509* cert) {
  if (cert == nullptr) return Status::InvalidArgument("no certificate");
  const X509_NAME* subject = X509_get_subject_name(cert);
  PeerIdentity identity;
  FEDGE_ASSIGN_OR_RETURN(identity.common_name,
                         SingleSubjectEntry(subject, NID_commonName, "common name (CN)"));
  FEDGE_ASSIGN_OR_RETURN(identity.role,
                         SingleSubjectEntry(subject, NID_organizationalUnitName, "role (OU)"));
  unsigned char* der = nullptr;
  int length = i2d_X509(cert, &der);
  if (length <= 0) return OpenSslFailure("cannot DER-encode the certificate");
  identity.fingerprint_hex = ToHex(Sha256({der, static_cast<size_t>(length)}));
  OPENSSL_free(der);
  return identity;
}

Result<PeerIdentity> IdentityFromPemFile(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> pem, ReadFile(path, kMaxPemBytes));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslFailure("BIO_new_mem_buf");
  ERR_clear_error();
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Status::InvalidArgument(path + " holds no PEM certificate: " + OpenSslErrors());
  }
  Result<PeerIdentity> identity = IdentityFromCertificate(cert.get());
  if (!identity.ok()) return identity.status().WithContext(path);
  return identity;
}

}  // namespace fedge::shared
