#pragma once
// Certificate issuance for provisioning (shared/crypto/pki.cc): EC P-256 keys, X.509 v3
// certificates signed with SHA-256 by the project CA (or self-signed for the CA itself), and
// their PEM encodings. Only OpenSSL's library APIs are used. Internal to shared/crypto: the
// public entry point is Provision() in pki.h.
//
// Every function reports OpenSSL failures as Status::Internal with OpenSSL's error queue text.
// Stateless and thread-safe apart from OpenSSL's per-thread error queue.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::shared::x509 {

// unique_ptr deleters for OpenSSL objects.
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

// Status::Internal("<what>: <OpenSSL's error queue>").
Status OpenSslFailure(const std::string& what);

// What one certificate says about its holder.
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

// A fresh EC P-256 key.
Result<PkeyPtr> GenerateKey();

// Issues a certificate for `key`, signed by `ca` (self-signed when ca.cert is null): random
// 128-bit serial, subject O=<project> OU=<role> CN=<common name>, valid from 5 minutes before
// ca.now for ca.validity_days; a CA gets CA:TRUE,pathlen:0 and keyCertSign, a leaf CA:FALSE,
// digitalSignature, its extended key usage and its subject alternative names.
Result<X509Ptr> IssueCertificate(const CertSpec& spec, EVP_PKEY* key, const Authority& ca);

// The certificate as PEM text.
Result<std::string> CertificatePem(X509* cert);

// Writes `key` as unencrypted PKCS#8 PEM to a new file created with mode 0600. The PEM text
// lives only in a secure-heap BIO that is wiped when freed.
Status WritePrivateKey(const std::filesystem::path& path, EVP_PKEY* key);

}  // namespace fedge::shared::x509
