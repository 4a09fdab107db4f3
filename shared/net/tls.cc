#include "shared/net/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "shared/crypto/crypto.h"

namespace fedge::shared {
namespace {

Status CheckReadable(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound(std::string(what) + " file not found: " + path);
  }
  return Status::Ok();
}

// A private key that other users may read, or that anyone but its owner and group may change,
// is refused (as ssh does): the kit writes keys 0600. Group read is allowed (a key shared with a
// service's group, as Kubernetes' fsGroup does).
Status CheckPrivateKeyMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::Ok();  // loading it reports the error
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied("private key " + path + " has mode " + mode +
                                    ": other users can read or change it; run `chmod 600 " + path +
                                    "` (keys from fedgectl provision are 0600)");
  }
  return Status::Ok();
}

Result<std::unique_ptr<net::ssl::context>> MakeContext(const TlsFiles& files, bool server) {
  FEDGE_RETURN_IF_ERROR(CheckReadable(files.ca, "CA certificate"));
  FEDGE_RETURN_IF_ERROR(CheckReadable(files.cert, "certificate"));
  FEDGE_RETURN_IF_ERROR(CheckReadable(files.key, "private key"));
  FEDGE_RETURN_IF_ERROR(CheckPrivateKeyMode(files.key));
  auto ctx = std::make_unique<net::ssl::context>(server ? net::ssl::context::tls_server
                                                        : net::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  net::error_code ec;
  ctx->load_verify_file(files.ca, ec);
  if (ec)
    return Status::InvalidArgument("cannot load CA certificate " + files.ca + ": " + ec.message());
  ctx->use_certificate_chain_file(files.cert, ec);
  if (ec)
    return Status::InvalidArgument("cannot load certificate " + files.cert + ": " + ec.message());
  ctx->use_private_key_file(files.key, net::ssl::context::pem, ec);
  if (ec)
    return Status::InvalidArgument("cannot load private key " + files.key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("private key " + files.key + " does not match certificate " +
                                   files.cert);
  }
  if (server) {
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(native, 0);
  } else {
    ctx->set_verify_mode(net::ssl::verify_peer);
  }
  return ctx;
}

}  // namespace

Result<std::unique_ptr<net::ssl::context>> MakeServerTlsContext(const TlsFiles& files) {
  return MakeContext(files, true);
}

Result<std::unique_ptr<net::ssl::context>> MakeClientTlsContext(const TlsFiles& files) {
  return MakeContext(files, false);
}

Status ConfigureClientStream(net::TlsStream& stream, const std::string& host) {
  if (SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) {
    return Status::InvalidArgument("cannot set TLS server name " + host);
  }
  stream.set_verify_callback(net::ssl::host_name_verification(host));
  return Status::Ok();
}

Result<PeerIdentity> PeerIdentityOf(net::TlsStream& stream) {
  SSL* ssl = stream.native_handle();
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return Status::PermissionDenied("peer presented no certificate");
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return Status::PermissionDenied(std::string("peer certificate did not verify: ") +
                                    X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
  }
  return IdentityFromCertificate(cert);
}

}  // namespace fedge::shared
