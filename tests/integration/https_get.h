#pragma once
// A one-request HTTPS client for tests: OpenSSL on a blocking loopback socket with a 10 s
// receive timeout (so a broken server cannot hang a test), TLS 1.3, the server verified against
// a CA file as 127.0.0.1, an optional client certificate.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace fedge::testing {

struct HttpsAnswer {
  bool handshake = false;  // the TLS handshake completed (TLS 1.3: the server may refuse later)
  int status = 0;          // 0: no HTTP answer
  std::string head;        // status line and headers, each ending in CRLF
  std::string body;
  // The value of the first header `name` (as the server spells it), or empty.
  std::string Header(const std::string& name) const {
    const size_t at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    const size_t start = at + name.size() + 4;
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

// A TCP connection to 127.0.0.1:`port` with a 10 s receive timeout, or -1.
inline int ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// GET `target` with extra `headers` (each ending in CRLF); reads the answer to the end.
inline HttpsAnswer HttpsGet(uint16_t port, const std::string& ca, const std::string& target,
                            const std::string& headers = "", const std::string& cert = "",
                            const std::string& key = "") {
  HttpsAnswer a;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  bool loaded = SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1;
  if (!cert.empty()) {
    loaded = loaded && SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
  }
  const int fd = loaded ? ConnectLoopback(port) : -1;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set1_host(ssl, "127.0.0.1");
  if (fd >= 0 && SSL_connect(ssl) == 1) {
    a.handshake = true;
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    std::string data;
    char buf[8192];
    for (int n; (n = SSL_read(ssl, buf, sizeof(buf))) > 0;) data.append(buf, n);
    const size_t end = data.find("\r\n\r\n");
    if (data.rfind("HTTP/1.1 ", 0) == 0 && end != std::string::npos) {
      a.status = std::stoi(data.substr(9, 3));
      a.head = data.substr(0, end + 2);
      a.body = data.substr(end + 4);
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (fd >= 0) ::close(fd);
  return a;
}

}  // namespace fedge::testing
