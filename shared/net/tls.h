#pragma once
// TLS 1.3 contexts for mutual TLS with the project CA, and the verified peer's identity.

#include <memory>
#include <string>

#include "shared/base/status.h"
#include "shared/crypto/pki.h"
#include "shared/net/asio.h"

namespace fedge::shared {

struct TlsFiles {
  std::string ca;    // project CA certificate (PEM)
  std::string cert;  // own certificate (PEM)
  std::string key;   // own private key (PEM, mode 0600)
};

// Coordinator side: TLS 1.3 only, peer certificate required and verified against the CA.
Result<std::unique_ptr<net::ssl::context>> MakeServerTlsContext(const TlsFiles& files);
// Client side: TLS 1.3 only, verifies the coordinator against the CA; the host name is
// checked per connection (see ConfigureClientStream).
Result<std::unique_ptr<net::ssl::context>> MakeClientTlsContext(const TlsFiles& files);
// Sets SNI and RFC 2818 host name verification for one connection.
Status ConfigureClientStream(net::TlsStream& stream, const std::string& host);

// Identity of the verified peer of a completed handshake (PermissionDenied if none).
Result<PeerIdentity> PeerIdentityOf(net::TlsStream& stream);

}  // namespace fedge::shared
