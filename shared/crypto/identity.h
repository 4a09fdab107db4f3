#pragma once
// The identity (CN, role, fingerprint) of a fedge leaf certificate, for the TLS layer and tools.

#include <string>

#include "shared/base/status.h"

typedef struct x509_st X509;  // as in <openssl/types.h>

namespace fedge::shared {

// Identity of a fedge leaf certificate. It does not verify the certificate: the TLS layer
// calls it on a peer certificate that already verified against the project CA.
struct PeerIdentity {
  std::string common_name;
  std::string role;             // subject OU: "client", "admin", "coordinator"
  std::string fingerprint_hex;  // SHA-256 of the DER certificate, lower-case hex
};

// InvalidArgument if the subject lacks exactly one CN and one OU, or they are not clean UTF-8
// text. `cert` is borrowed.
Result<PeerIdentity> IdentityFromCertificate(const X509* cert);
// Reads the first certificate of a PEM file.
Result<PeerIdentity> IdentityFromPemFile(const std::string& path);

}  // namespace fedge::shared
