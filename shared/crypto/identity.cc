#include "shared/crypto/identity.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "shared/crypto/crypto.h"
#include "shared/crypto/x509_issue.h"

namespace fedge::shared {
namespace {

constexpr size_t kMaxPemBytes = 1 << 20;

using x509::BioPtr;
using x509::OpenSslFailure;
using x509::X509Ptr;

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
