#include "shared/crypto/pki.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "coordinator/kit_config.h"
#include "shared/crypto/crypto.h"
#include "shared/net/tls.h"

namespace fedge::shared {
namespace {

namespace fs = std::filesystem;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr LoadCert(const fs::path& path) {
  auto pem = ReadFile(path.string(), 1 << 20);
  EXPECT_TRUE(pem.ok()) << pem.status().ToString();
  if (!pem.ok()) return nullptr;
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  EXPECT_NE(cert, nullptr) << path;
  return cert;
}

// X509_verify_cert of `leaf` against the single trusted `ca_path`, strict RFC 5280 checks, for
// `purpose` (X509_PURPOSE_SSL_CLIENT / _SERVER). Returns the X509_V_* result.
int Verify(const fs::path& ca_path, X509* leaf, int purpose) {
  X509Ptr ca = LoadCert(ca_path);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return result;
}

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

toml::table ParseToml(const fs::path& path) {
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    ADD_FAILURE() << path << ": " << e.description();
    return {};
  }
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "fedge_pki_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    tmp_ = pattern;
  }
  void TearDown() override { fs::remove_all(tmp_); }

  ProvisionOptions Options(const std::string& name, int clients = 3) {
    ProvisionOptions options;
    options.out_dir = (tmp_ / name).string();
    options.clients = clients;
    options.templates = *coordinator::ProjectKitTemplates();
    return options;
  }
  ProvisionResult MustProvision(const ProvisionOptions& options) {
    auto result = Provision(options);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : ProvisionResult{};
  }

  fs::path tmp_;
};

TEST_F(PkiTest, CreatesTheLayout) {
  ProvisionOptions options = Options("kits");
  std::vector<std::pair<size_t, size_t>> progress;
  options.on_kit = [&](size_t done, size_t total) { progress.emplace_back(done, total); };
  ProvisionResult result = MustProvision(options);
  // Coordinator, 3 clients and 1 admin, reported one by one.
  EXPECT_EQ(progress,
            (std::vector<std::pair<size_t, size_t>>{{1, 5}, {2, 5}, {3, 5}, {4, 5}, {5, 5}}));
  const fs::path out = options.out_dir;
  EXPECT_EQ(result.client_ids, (std::vector<std::string>{"site-001", "site-002", "site-003"}));
  EXPECT_EQ(result.ca_dir, (out / "ca").string());
  EXPECT_EQ(result.coordinator_kit, (out / "coordinator").string());
  EXPECT_EQ(result.client_kits.at(2), (out / "clients" / "site-003").string());
  EXPECT_EQ(result.admin_kits, (std::vector<std::string>{(out / "admins" / "admin").string()}));

  std::set<std::string> expected = {"ca/ca.crt",
                                    "ca/ca.key",
                                    "coordinator/ca.crt",
                                    "coordinator/coordinator.crt",
                                    "coordinator/coordinator.key",
                                    "coordinator/coordinator.toml",
                                    "admins/admin/ca.crt",
                                    "admins/admin/admin.crt",
                                    "admins/admin/admin.key",
                                    "admins/admin/admin.toml"};
  for (const std::string& id : result.client_ids) {
    for (const char* file : {"ca.crt", "client.crt", "client.key", "client.toml"}) {
      expected.insert("clients/" + id + "/" + file);
    }
  }
  std::set<std::string> actual;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    if (entry.is_regular_file()) actual.insert(fs::relative(entry.path(), out).string());
  }
  EXPECT_EQ(actual, expected);  // also: no staging or temporary files left behind
  // Every kit carries the project CA certificate, byte for byte.
  const std::string ca_pem = Slurp(out / "ca" / "ca.crt");
  EXPECT_EQ(Slurp(out / "clients" / "site-002" / "ca.crt"), ca_pem);
  EXPECT_EQ(Slurp(out / "coordinator" / "ca.crt"), ca_pem);
}

TEST_F(PkiTest, CaKeyIsInNoKit) {
  ProvisionOptions options = Options("kits");
  MustProvision(options);
  const fs::path out = options.out_dir;
  const std::string ca_key = Slurp(out / "ca" / "ca.key");
  ASSERT_NE(ca_key.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  for (const char* kit : {"coordinator", "clients", "admins"}) {
    for (const auto& entry : fs::recursive_directory_iterator(out / kit)) {
      if (!entry.is_regular_file()) continue;
      EXPECT_NE(entry.path().filename(), "ca.key") << entry.path();
      EXPECT_NE(Slurp(entry.path()), ca_key) << entry.path();
    }
  }
}

TEST_F(PkiTest, EveryLeafVerifiesAgainstTheCaForItsPurposeOnly) {
  ProvisionOptions options = Options("kits");
  options.admins = {"alice", "bob"};
  MustProvision(options);
  const fs::path out = options.out_dir;
  const fs::path ca = out / "ca" / "ca.crt";
  X509Ptr coordinator = LoadCert(out / "coordinator" / "coordinator.crt");
  EXPECT_EQ(Verify(ca, coordinator.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(Verify(ca, coordinator.get(), X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
  std::vector<fs::path> client_certs = {out / "admins" / "alice" / "admin.crt",
                                        out / "admins" / "bob" / "admin.crt"};
  for (const char* id : {"site-001", "site-002", "site-003"}) {
    client_certs.push_back(out / "clients" / id / "client.crt");
  }
  for (const fs::path& path : client_certs) {
    X509Ptr cert = LoadCert(path);
    EXPECT_EQ(Verify(ca, cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK) << path;
    EXPECT_EQ(Verify(ca, cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE) << path;
    EXPECT_EQ(X509_check_ca(cert.get()), 0) << path;
  }
}

TEST_F(PkiTest, CaAndLeafFieldsFollowTheProfile) {
  ProvisionOptions options = Options("kits");
  options.project = "acme";
  options.validity_days = 30;
  MustProvision(options);
  const fs::path out = options.out_dir;
  X509Ptr ca = LoadCert(out / "ca" / "ca.crt");
  X509Ptr leaf = LoadCert(out / "clients" / "site-001" / "client.crt");
  char text[256];
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, text, sizeof(text));
  EXPECT_STREQ(text, "acme CA");
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf.get()), NID_organizationName, text,
                            sizeof(text));
  EXPECT_STREQ(text, "acme");
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()), X509_get_subject_name(ca.get())), 0);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(leaf.get())), 256);
  // Validity: notBefore = now - 5 min, notAfter = now + 30 days.
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(leaf.get()),
                           X509_get0_notAfter(leaf.get())),
            1);
  EXPECT_EQ(days, 30);
  EXPECT_EQ(seconds, 300);
  std::time_t now = std::time(nullptr);
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(leaf.get()), &now), 0);
  // Random positive 128-bit serials, all different.
  std::set<std::string> serials;
  for (const char* id : {"site-001", "site-002", "site-003"}) {
    X509Ptr cert = LoadCert(out / "clients" / id / "client.crt");
    BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
    EXPECT_EQ(BN_num_bits(serial), 128);
    EXPECT_FALSE(BN_is_negative(serial));
    char* hex = BN_bn2hex(serial);
    serials.insert(hex);
    OPENSSL_free(hex);
    BN_free(serial);
  }
  EXPECT_EQ(serials.size(), 3u);
}

TEST_F(PkiTest, PrivateKeysAreMode0600Pkcs8AndMatchTheirCertificates) {
  ProvisionOptions options = Options("kits");
  MustProvision(options);
  const fs::path out = options.out_dir;
  const std::vector<std::pair<fs::path, fs::path>> pairs = {
      {out / "ca" / "ca.crt", out / "ca" / "ca.key"},
      {out / "coordinator" / "coordinator.crt", out / "coordinator" / "coordinator.key"},
      {out / "clients" / "site-003" / "client.crt", out / "clients" / "site-003" / "client.key"},
      {out / "admins" / "admin" / "admin.crt", out / "admins" / "admin" / "admin.key"}};
  for (const auto& [cert_path, key_path] : pairs) {
    EXPECT_EQ(ModeOf(key_path), 0600u) << key_path;
    EXPECT_EQ(ModeOf(cert_path), 0644u) << cert_path;
    const std::string pem = Slurp(key_path);
    EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u) << key_path;
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(key, nullptr) << key_path;
    X509Ptr cert = LoadCert(cert_path);
    EXPECT_EQ(X509_check_private_key(cert.get(), key), 1) << key_path;
    EVP_PKEY_free(key);
  }
  EXPECT_EQ(ModeOf(out / "ca"), 0700u);
}

// A key other users can read is refused with the command that fixes it; group read is allowed.
TEST_F(PkiTest, TlsRefusesAPrivateKeyOtherUsersCanRead) {
  ProvisionOptions options = Options("kits");
  MustProvision(options);
  const fs::path kit = fs::path(options.out_dir) / "clients" / "site-003";
  TlsFiles files{(kit / "ca.crt").string(), (kit / "client.crt").string(),
                 (kit / "client.key").string()};
  ASSERT_TRUE(MakeClientTlsContext(files).ok());
  fs::permissions(files.key, fs::perms(0644));
  auto refused = MakeClientTlsContext(files);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("has mode 0644"), std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("chmod 600 " + files.key), std::string::npos);
  fs::permissions(files.key, fs::perms(0640));
  EXPECT_TRUE(MakeClientTlsContext(files).ok());
}

TEST_F(PkiTest, ClientSubjectHasIdAndRole) {
  ProvisionOptions options = Options("kits", 0);
  options.client_names = {"hospital-a", "Clinic_B.2"};
  ProvisionResult result = MustProvision(options);
  ASSERT_EQ(result.client_ids, options.client_names);
  for (const std::string& id : options.client_names) {
    auto identity =
        IdentityFromPemFile((fs::path(options.out_dir) / "clients" / id / "client.crt"));
    ASSERT_TRUE(identity.ok()) << identity.status().ToString();
    EXPECT_EQ(identity->common_name, id);
    EXPECT_EQ(identity->role, "client");
  }
  auto admin = IdentityFromPemFile(fs::path(options.out_dir) / "admins" / "admin" / "admin.crt");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->common_name, "admin");
  EXPECT_EQ(admin->role, "admin");
  auto coordinator =
      IdentityFromPemFile(fs::path(options.out_dir) / "coordinator" / "coordinator.crt");
  ASSERT_TRUE(coordinator.ok());
  EXPECT_EQ(coordinator->common_name, "coordinator");
  EXPECT_EQ(coordinator->role, "coordinator");
}

TEST_F(PkiTest, CoordinatorSanHoldsEveryHost) {
  ProvisionOptions options = Options("kits");
  options.coordinator_hosts = {"coord.example.org", "10.1.2.3", "::1"};
  MustProvision(options);
  X509Ptr cert = LoadCert(fs::path(options.out_dir) / "coordinator" / "coordinator.crt");
  EXPECT_EQ(X509_check_host(cert.get(), "coord.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.example.org", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  // The IP went in as an IP SAN, not as a DNS name.
  EXPECT_NE(X509_check_host(cert.get(), "10.1.2.3", 0, 0, nullptr), 1);
  auto client = ParseToml(fs::path(options.out_dir) / "clients" / "site-001" / "client.toml");
  EXPECT_EQ(client["coordinator"]["host"].value<std::string>(), "coord.example.org");
}

TEST_F(PkiTest, CertificateFromAnotherProvisionDoesNotVerify) {
  ProvisionOptions first = Options("first");
  ProvisionOptions second = Options("second");
  MustProvision(first);
  MustProvision(second);  // same project name, so the same CA subject
  const fs::path first_ca = fs::path(first.out_dir) / "ca" / "ca.crt";
  X509Ptr foreign = LoadCert(fs::path(second.out_dir) / "clients" / "site-001" / "client.crt");
  EXPECT_NE(Verify(first_ca, foreign.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  X509Ptr own = LoadCert(fs::path(first.out_dir) / "clients" / "site-001" / "client.crt");
  EXPECT_EQ(Verify(first_ca, own.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(PkiTest, RejectsInvalidClientIdsSayingWhichAndWhy) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"ok-1", "bad name"}, "\"bad name\" has a character not allowed at position 3"},
      {{"a/b"}, "\"a/b\""},
      {{""}, "client id is empty"},
      {{".."}, "must start with a letter or digit"},
      {{"-rf"}, "must start with a letter or digit"},
      {{std::string(65, 'x')}, "65 characters long"},
      {{"dup", "dup"}, "\"dup\" is not unique"},
      {{"Site", "site"}, "differ only in case"},
      // Issue 16 item 10: it would share the admin's revocation.
      {{"site-1", "admin"}, "\"admin\" is also an admin name"}};
  for (const auto& [names, expected] : cases) {
    ProvisionOptions options = Options("kits", 0);
    options.client_names = names;
    auto result = Provision(options);
    ASSERT_EQ(result.status().code(), Code::kInvalidArgument) << names.at(0);
    EXPECT_NE(result.status().message().find(expected), std::string::npos)
        << result.status().message();
    EXPECT_FALSE(fs::exists(options.out_dir)) << "nothing is written for bad options";
  }
  EXPECT_TRUE(ValidateClientId(std::string(64, 'x')).ok());
  ProvisionOptions prefixed = Options("kits");
  prefixed.client_prefix = "bad prefix ";
  EXPECT_EQ(Provision(prefixed).status().code(), Code::kInvalidArgument);
}

TEST_F(PkiTest, RejectsBadOptions) {
  auto code_with = [&](auto mutate) {
    ProvisionOptions options = Options("kits");
    mutate(options);
    return Provision(options).status().code();
  };
  EXPECT_EQ(code_with([](auto& o) { o.clients = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.client_names = {"a", "b"}; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.coordinator_hosts = {"[::1]"}; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.coordinator_hosts = {"a,DNS:evil"}; }),
            Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.coordinator_hosts = {}; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.port = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.validity_days = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.admins = {"ok", "no/slash"}; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& o) { o.templates.client = nullptr; }), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(tmp_ / "kits" / "ca"));  // refused before anything was written
}

TEST_F(PkiTest, RefusesNonEmptyOutDirUnlessForced) {
  ProvisionOptions options = Options("kits", 3);
  fs::create_directories(options.out_dir);
  std::ofstream(fs::path(options.out_dir) / "notes.txt") << "keep me";
  EXPECT_EQ(Provision(options).status().code(), Code::kAlreadyExists);
  EXPECT_FALSE(fs::exists(fs::path(options.out_dir) / "ca"));

  options.force = true;
  MustProvision(options);
  const std::string first_ca = Slurp(fs::path(options.out_dir) / "ca" / "ca.crt");
  options.clients = 2;
  MustProvision(options);
  // A forced run replaces the kits, keeps unrelated files, drops kits no longer provisioned.
  EXPECT_NE(Slurp(fs::path(options.out_dir) / "ca" / "ca.crt"), first_ca);
  EXPECT_TRUE(fs::exists(fs::path(options.out_dir) / "notes.txt"));
  EXPECT_TRUE(fs::exists(fs::path(options.out_dir) / "clients" / "site-002"));
  EXPECT_FALSE(fs::exists(fs::path(options.out_dir) / "clients" / "site-003"));
}

TEST_F(PkiTest, GeneratedConfigsParseWithTheRightValues) {
  ProvisionOptions options = Options("kits", 10);
  options.port = 9443;
  options.listen_address = "::";
  coordinator::KitSettings kit;
  kit.rounds.count = 7;
  kit.data.dir = "/data/with \"quotes\" and \\ back";
  kit.model_seed = 42;
  auto templates = coordinator::ProjectKitTemplates(kit);
  ASSERT_TRUE(templates.ok()) << templates.status().ToString();
  options.templates = *templates;
  MustProvision(options);
  const fs::path out = options.out_dir;

  toml::table coordinator = ParseToml(out / "coordinator" / "coordinator.toml");
  EXPECT_EQ(coordinator["server"]["listen"].value<std::string>(), "::");
  EXPECT_EQ(coordinator["server"]["port"].value<int64_t>(), 9443);
  EXPECT_EQ(coordinator["server"]["data_dir"].value<std::string>(), "data");
  EXPECT_EQ(coordinator["server"]["max_frame_bytes"].value<int64_t>(), 16777216);
  EXPECT_EQ(coordinator["tls"]["key"].value<std::string>(), "coordinator.key");
  EXPECT_EQ(coordinator["rounds"]["count"].value<int64_t>(), 7);
  EXPECT_EQ(coordinator["rounds"]["min_clients"].value<int64_t>(), 10);
  EXPECT_EQ(coordinator["rounds"]["min_fit"].value<int64_t>(), 8);
  EXPECT_TRUE(coordinator["rounds"]["fraction_fit"].is_floating_point());
  EXPECT_EQ(coordinator["rounds"]["fraction_fit"].value<double>(), 1.0);
  EXPECT_EQ(coordinator["rounds"]["learning_rate"].value<double>(), 0.05);
  EXPECT_EQ(coordinator["rounds"]["momentum"].value<double>(), 0.9);
  EXPECT_EQ(coordinator["rounds"]["timeout_seconds"].value<int64_t>(), 300);
  EXPECT_EQ(coordinator["model"]["arch"].value<std::string>(), "cnn_small");
  EXPECT_EQ(coordinator["model"]["seed"].value<int64_t>(), 42);

  for (int index : {0, 9}) {
    const std::string id = index == 0 ? "site-001" : "site-010";
    toml::table client = ParseToml(out / "clients" / id / "client.toml");
    EXPECT_EQ(client["coordinator"]["host"].value<std::string>(), "localhost");
    EXPECT_EQ(client["coordinator"]["port"].value<int64_t>(), 9443);
    EXPECT_EQ(client["tls"]["cert"].value<std::string>(), "client.crt");
    EXPECT_EQ(client["data"]["dir"].value<std::string>(), kit.data.dir);
    EXPECT_EQ(client["data"]["partition"].value<std::string>(), "dirichlet");
    EXPECT_TRUE(client["data"]["alpha"].is_floating_point());
    EXPECT_EQ(client["data"]["alpha"].value<double>(), 0.5);
    EXPECT_EQ(client["data"]["num_partitions"].value<int64_t>(), 10);
    EXPECT_EQ(client["data"]["index"].value<int64_t>(), index) << id;
    EXPECT_EQ(client["data"]["holdout_fraction"].value<double>(), 0.1);
    EXPECT_EQ(client["storage"]["dir"].value<std::string>(), "state");
  }
  toml::table admin = ParseToml(out / "admins" / "admin" / "admin.toml");
  EXPECT_EQ(admin["coordinator"]["port"].value<int64_t>(), 9443);
  EXPECT_EQ(admin["tls"]["key"].value<std::string>(), "admin.key");
  EXPECT_EQ(admin["tls"]["ca"].value<std::string>(), "ca.crt");
}

TEST_F(PkiTest, KitSettingsAreCheckedBeforeAnyKitIsWritten) {
  auto code_with = [](auto mutate) {
    coordinator::KitSettings kit;
    mutate(kit);
    return coordinator::ProjectKitTemplates(kit).status().code();
  };
  EXPECT_EQ(code_with([](auto&) {}), Code::kOk);
  EXPECT_EQ(code_with([](auto& k) { k.data.partition = "random"; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.rounds.fraction_fit = 0.0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.rounds.count = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.rounds.training.learning_rate = -1; }),
            Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.rounds.training.momentum = 1.0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.data.alpha = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(code_with([](auto& k) { k.model_seed = ~0ull; }), Code::kInvalidArgument);
}

// One set of defaults: a default kit's coordinator.toml and client.toml load to exactly the
// settings the programs use when a key is missing.
TEST_F(PkiTest, DefaultKitsLoadToTheProgramsDefaults) {
  ProvisionOptions options = Options("kits", 2);
  MustProvision(options);
  const fs::path out = options.out_dir;
  auto c = coordinator::LoadCoordinatorConfig((out / "coordinator" / "coordinator.toml").string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const coordinator::RoundSettings defaults;
  const ml::TrainingSettings& t = c->rounds.training;
  EXPECT_EQ(c->rounds.count, defaults.count);
  EXPECT_EQ(c->rounds.fraction_fit, defaults.fraction_fit);
  EXPECT_EQ(c->rounds.timeout_seconds, defaults.timeout_seconds);
  EXPECT_EQ(t.local_epochs, defaults.training.local_epochs);
  EXPECT_EQ(t.batch_size, defaults.training.batch_size);
  EXPECT_EQ(t.learning_rate, defaults.training.learning_rate);
  EXPECT_EQ(t.momentum, defaults.training.momentum);
  EXPECT_EQ(t.codec, defaults.training.codec);
  EXPECT_EQ(c->model_arch, coordinator::CoordinatorConfig().model_arch);
  toml::table client = ParseToml(out / "clients" / "site-001" / "client.toml");
  const ::fedge::client::DataSettings data;
  EXPECT_EQ(client["data"]["dir"].value<std::string>(), data.dir);
  EXPECT_EQ(client["data"]["partition"].value<std::string>(), data.partition);
  EXPECT_EQ(client["data"]["alpha"].value<double>(), data.alpha);
  EXPECT_EQ(client["data"]["holdout_fraction"].value<double>(), data.holdout_fraction);
}

TEST_F(PkiTest, MinFitIsCeilOfEightyPercent) {
  for (auto [clients, min_fit] : {std::pair{1, 1}, {3, 3}, {5, 4}}) {
    ProvisionOptions options = Options("kits" + std::to_string(clients), clients);
    MustProvision(options);
    toml::table t = ParseToml(fs::path(options.out_dir) / "coordinator" / "coordinator.toml");
    EXPECT_EQ(t["rounds"]["min_fit"].value<int64_t>(), min_fit) << clients;
    EXPECT_EQ(t["rounds"]["min_clients"].value<int64_t>(), clients);
  }
}

TEST_F(PkiTest, IdentityFingerprintIsSha256OfDer) {
  ProvisionOptions options = Options("kits");
  MustProvision(options);
  const fs::path path = fs::path(options.out_dir) / "clients" / "site-002" / "client.crt";
  auto identity = IdentityFromPemFile(path);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->common_name, "site-002");
  EXPECT_EQ(identity->role, "client");
  X509Ptr cert = LoadCert(path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  ASSERT_EQ(X509_digest(cert.get(), EVP_sha256(), md, &length), 1);
  EXPECT_EQ(identity->fingerprint_hex, ToHex({md, length}));
  auto direct = IdentityFromCertificate(cert.get());
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->fingerprint_hex, identity->fingerprint_hex);
  // Different certificates, different fingerprints.
  auto other =
      IdentityFromPemFile(fs::path(options.out_dir) / "clients" / "site-001" / "client.crt");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->fingerprint_hex, identity->fingerprint_hex);
}

TEST_F(PkiTest, IdentityFromPemFileRejectsWhatIsNotALeafCertificate) {
  ProvisionOptions options = Options("kits");
  MustProvision(options);
  const fs::path out = options.out_dir;
  auto ca = IdentityFromPemFile(out / "ca" / "ca.crt");  // the CA has no OU (role)
  EXPECT_EQ(ca.status().code(), Code::kInvalidArgument);
  EXPECT_NE(ca.status().message().find("role (OU)"), std::string::npos) << ca.status().message();
  auto key = IdentityFromPemFile(out / "clients" / "site-001" / "client.key");
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(IdentityFromPemFile(out / "missing.crt").status().code(), Code::kNotFound);
  EXPECT_EQ(IdentityFromCertificate(nullptr).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::shared
