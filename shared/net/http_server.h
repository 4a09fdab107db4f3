#pragma once
// A minimal HTTP/1.1 server for read-only endpoints (Prometheus /metrics, status pages): GET
// (and HEAD) routes whose handlers return a status, a content type and a body. One request per
// connection (`Connection: close`), a deadline on reading the request head and on writing the
// response, caps on the head and on declared bodies, and a cap on open connections. Bad input
// gets a 4xx answer and the server keeps serving:
//   400 malformed request line or headers, missing Host in HTTP/1.1, chunked bodies;
//   404 unknown path; 405 a method other than GET/HEAD on a known path (with Allow);
//   408 head not complete within the read deadline; 413 declared body over the cap;
//   431 head over the cap; 505 an HTTP version other than 1.0/1.1.
//
// Routing and parsing (HttpRouter, ParseHttpRequest, SerializeHttpResponse) know nothing of
// the transport. HttpServer serves plain TCP, or HTTPS after EnableTls(): TLS 1.3 with the
// server's certificate; a client certificate is optional and, when presented, must chain to
// the configured CA (the handshake fails otherwise) and its identity reaches the handlers in
// HttpRequest::peer. Handlers decide who may see what.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/pki.h"

namespace fedge::shared {

struct TlsFiles;  // shared/net/tls.h

struct HttpRequest {
  std::string method;                                        // as sent, e.g. "GET"
  std::string target;                                        // as sent, e.g. "/metrics?x=1"
  std::string path;                                          // target up to '?'
  std::string query;                                         // after '?', or empty
  std::string version;                                       // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  // The first header named `lower_name`, or empty.
  std::string Header(std::string_view lower_name) const;

  // Set by the server, not parsed. Over HTTPS, `tls` is true; if the client presented a
  // certificate (it verified against the CA, or the handshake would have failed), `peer` holds
  // its identity, or `peer_error` says why its identity could not be read.
  bool tls = false;
  std::optional<PeerIdentity> peer;
  std::string peer_error;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
};

// A plain-text response with `status` and a one-line `message` body.
HttpResponse HttpError(int status, const std::string& message);
// "OK", "Not Found", ... ("Unknown" for codes this server does not use).
const char* HttpReason(int status);

// Handlers run on the server's thread, one request at a time per server; they must not block
// for long and must be thread-safe with respect to the code whose state they read.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Maps exact paths to handlers. Not thread-safe to modify; immutable once handed to a server.
class HttpRouter {
 public:
  // Serves GET (and HEAD: same status and headers, no body) on `path` (e.g. "/metrics").
  void Get(const std::string& path, HttpHandler handler);
  // The handler's response, 404 for an unknown path, 405 (Allow: GET, HEAD) for another method.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  std::map<std::string, HttpHandler> routes_;
};

struct HttpLimits {
  size_t max_head_bytes = 8192;                    // request line and headers, with their CRLFs
  size_t max_headers = 64;                         // header lines
  uint64_t max_body_bytes = 65536;                 // a larger declared Content-Length gets 413
  std::chrono::milliseconds read_timeout{5000};    // to receive the whole head
  std::chrono::milliseconds write_timeout{10000};  // to send the whole response
  int max_connections = 32;                        // further connections are closed at once
  int max_connections_per_address = 8;             // from one IP address (the rest for others)
};

struct HttpParse {
  enum class Kind { kIncomplete, kComplete, kError };
  Kind kind = Kind::kIncomplete;
  HttpRequest request;  // kComplete
  HttpResponse error;   // kError: the 4xx/5xx answer
};
// Parses the request head at the start of `data` (the bytes received so far). kIncomplete while
// the head may still become valid; kError as soon as it cannot (garbage in the request line is
// refused before the head ends). Bodies are not read: they are checked against the cap only.
HttpParse ParseHttpRequest(std::string_view data, const HttpLimits& limits);

// Status line, Content-Type, Content-Length, Connection: close, extra headers, then the body
// unless `head_only`.
std::string SerializeHttpResponse(const HttpResponse& response, bool head_only);

// An HTTP (or, after EnableTls, HTTPS) server on its own thread and io_context.
class HttpServer {
 public:
  explicit HttpServer(std::shared_ptr<const HttpRouter> router, HttpLimits limits = {});
  // Stop()s.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves HTTPS: TLS 1.3 only, `files.cert` and `files.key` as the server's certificate; the
  // server asks for a client certificate, verifies one that is presented against `files.ca`
  // (a certificate that does not verify fails the handshake), but does not require one. The
  // handshake must complete within limits.read_timeout. Errors of loading the files (naming
  // them). REQUIRES: before Start().
  Status EnableTls(const TlsFiles& files);

  // Binds `address`:`port` (port 0 picks a free port) and starts serving. InvalidArgument for
  // an address that is not an IP address, Unavailable if it cannot listen. REQUIRES: called
  // once.
  Status Start(const std::string& address, uint16_t port);
  // The bound port. REQUIRES: Start() succeeded.
  uint16_t port() const { return port_; }
  // Stops accepting, drops open connections and joins the thread. Idempotent; not to be called
  // from a handler.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace fedge::shared
