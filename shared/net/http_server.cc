#include "shared/net/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <thread>

#include "shared/base/log.h"
#include "shared/net/accept_backoff.h"
#include "shared/net/asio.h"
#include "shared/net/tls.h"

namespace fedge::shared {
namespace {

constexpr const char* kLog = "http";

bool IsTchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar); }

// Printable ASCII or space: what a request line may hold.
bool IsLineChar(char c) { return c == ' ' || (c > 0x20 && c < 0x7f); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpParse Fail(int status, const std::string& message) {
  HttpParse p;
  p.kind = HttpParse::Kind::kError;
  p.error = HttpError(status, message);
  return p;
}

// Method, target and version of `line`; an error answer otherwise.
std::optional<HttpParse> ParseRequestLine(std::string_view line, HttpRequest* r) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "malformed request line");
  }
  r->method = std::string(line.substr(0, sp1));
  r->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  r->version = std::string(line.substr(sp2 + 1));
  if (!IsToken(r->method)) return Fail(400, "malformed method");
  if (r->target.empty() || r->target[0] != '/') return Fail(400, "the target must be a path");
  if (r->version.rfind("HTTP/", 0) != 0 || r->version.size() != 8 || r->version[6] != '.') {
    return Fail(400, "malformed HTTP version");
  }
  if (r->version != "HTTP/1.1" && r->version != "HTTP/1.0") {
    return Fail(505, r->version + " is not supported; use HTTP/1.1");
  }
  const size_t q = r->target.find('?');
  r->path = r->target.substr(0, q);
  if (q != std::string::npos) r->query = r->target.substr(q + 1);
  return std::nullopt;
}

// Header lines of `block` (CRLF-separated, no final empty line) into r->headers.
std::optional<HttpParse> ParseHeaders(std::string_view block, const HttpLimits& limits,
                                      HttpRequest* r) {
  while (!block.empty()) {
    const size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (r->headers.size() >= limits.max_headers) return Fail(431, "too many header fields");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Fail(400, "malformed header field");  // also obsolete line folding
    }
    std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value) {
      if ((c >= 0 && c < 0x20 && c != '\t') || c == 0x7f) {
        return Fail(400, "control character in a header value");
      }
    }
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r->headers.emplace_back(std::move(name), std::string(value));
  }
  return std::nullopt;
}

// Checks Host and the declared body against the limits.
std::optional<HttpParse> CheckHead(const HttpRequest& r, const HttpLimits& limits) {
  int hosts = 0;
  std::optional<std::string> length;
  for (const auto& [name, value] : r.headers) {
    if (name == "host") ++hosts;
    if (name == "transfer-encoding") return Fail(400, "request bodies are not accepted");
    if (name == "content-length") {
      if (length && *length != value) return Fail(400, "conflicting Content-Length");
      length = value;
    }
  }
  if (r.version == "HTTP/1.1" && hosts != 1) return Fail(400, "HTTP/1.1 needs one Host header");
  if (length) {
    if (length->empty() || length->size() > 19 ||
        !std::all_of(length->begin(), length->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Fail(400, "malformed Content-Length");
    }
    if (std::stoull(*length) > limits.max_body_bytes) {
      return Fail(413, "request body over " + std::to_string(limits.max_body_bytes) + " bytes");
    }
  }
  return std::nullopt;
}

}  // namespace

std::string HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

const char* HttpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 303:
      return "See Other";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Unknown";
}

HttpResponse HttpError(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = message + "\n";
  return r;
}

void HttpRouter::Get(const std::string& path, HttpHandler handler) {
  routes_[path] = std::move(handler);
}

HttpResponse HttpRouter::Handle(const HttpRequest& request) const {
  auto it = routes_.find(request.path);
  if (it == routes_.end()) return HttpError(404, "no such path: " + request.path);
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = HttpError(405, request.method + " is not allowed; use GET");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  try {
    return it->second(request);
  } catch (const std::exception& e) {
    // A handler's bug answers 500; the connection's slot and the server go on.
    FEDGE_LOG(Error, kLog) << "handler of " << request.path << " threw: " << e.what();
    return HttpError(500, "internal error");
  }
}

HttpParse ParseHttpRequest(std::string_view data, const HttpLimits& limits) {
  // Refuse garbage before the head ends: the request line is printable ASCII.
  const size_t first_eol = data.find("\r\n");
  std::string_view first = data.substr(0, std::min(first_eol, data.size()));
  if (first_eol == std::string_view::npos && !first.empty() && first.back() == '\r') {
    first.remove_suffix(1);  // the CRLF may be split across reads
  }
  for (char c : first) {
    if (!IsLineChar(c)) return Fail(400, "malformed request line");
  }
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > limits.max_head_bytes) {
    if (data.size() >= limits.max_head_bytes) {
      return Fail(431, "request head over " + std::to_string(limits.max_head_bytes) + " bytes");
    }
    return {};
  }
  HttpParse p;
  if (auto e = ParseRequestLine(data.substr(0, first_eol), &p.request)) return *e;
  if (first_eol < end) {
    if (auto e = ParseHeaders(data.substr(first_eol + 2, end - first_eol - 2), limits, &p.request))
      return *e;
  }
  if (auto e = CheckHead(p.request, limits)) return *e;
  p.kind = HttpParse::Kind::kComplete;
  return p;
}

std::string SerializeHttpResponse(const HttpResponse& r, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + HttpReason(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Connection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Transport. Serve() is written against a generic stream (Socket() gives the TCP socket under a
// tcp::socket or a net::TlsStream alike); the TLS path runs the handshake under the read
// deadline first, and ends with a TLS close_notify instead of draining the TCP socket.

namespace {
struct ServerState {
  ServerState(std::shared_ptr<const HttpRouter> r, HttpLimits l)
      : router(std::move(r)), limits(l) {}
  net::asio::io_context io{1};
  net::tcp::acceptor acceptor{io};
  std::shared_ptr<const HttpRouter> router;
  HttpLimits limits;
  std::unique_ptr<net::ssl::context> tls;  // set by EnableTls before Start
  std::thread thread;
  int open = 0;                           // connections being served; io thread only
  std::map<std::string, int> by_address;  // open connections per remote address; io thread only
  std::once_flag stopped;
};

// The TCP socket under a stream (a TLS stream's next layer).
net::tcp::socket& Socket(net::tcp::socket& s) { return s; }
net::tcp::socket& Socket(net::TlsStream& s) { return s.next_layer(); }

// A stream and its deadline timer; the timer's handler holds it weakly.
template <typename Stream>
struct Conn : std::enable_shared_from_this<Conn<Stream>> {
  explicit Conn(Stream s) : stream(std::move(s)), timer(stream.get_executor()) {}
  Stream stream;
  net::asio::steady_timer timer;
  bool timed_out = false;

  // On expiry: stop receiving (a pending read ends; an answer can still be written) or close.
  void Arm(std::chrono::milliseconds timeout, bool close) {
    timed_out = false;
    timer.expires_after(timeout);
    std::weak_ptr<Conn> weak = this->weak_from_this();
    timer.async_wait([weak, close](const net::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timed_out = true;
      net::error_code ignored;
      if (close) {
        Socket(self->stream).close(ignored);
      } else {
        Socket(self->stream).shutdown(net::tcp::socket::shutdown_receive, ignored);
      }
    });
  }
};

// What the transport knows about the client, copied into each request.
struct PeerInfo {
  bool tls = false;
  std::optional<PeerIdentity> peer;
  std::string peer_error;
};

// Reads the request head; the answer to give (a parse error or the router's response) and
// whether the request was HEAD.
template <typename Stream>
net::awaitable<std::optional<std::pair<HttpResponse, bool>>> ReadAndRoute(
    std::shared_ptr<Conn<Stream>> c, const HttpRouter* router, HttpLimits limits, PeerInfo info) {
  std::string data;
  std::array<char, 2048> chunk;
  c->Arm(limits.read_timeout, /*close=*/false);
  for (;;) {
    HttpParse p = ParseHttpRequest(data, limits);
    if (p.kind == HttpParse::Kind::kError) co_return std::make_pair(p.error, false);
    if (p.kind == HttpParse::Kind::kComplete) {
      c->timer.cancel();
      p.request.tls = info.tls;
      p.request.peer = std::move(info.peer);
      p.request.peer_error = std::move(info.peer_error);
      co_return std::make_pair(router->Handle(p.request), p.request.method == "HEAD");
    }
    net::error_code ec;
    const size_t want = std::min(chunk.size(), limits.max_head_bytes - data.size());
    size_t n = co_await c->stream.async_read_some(
        net::asio::buffer(chunk.data(), want), net::asio::redirect_error(net::use_awaitable, ec));
    if (ec) {
      c->timer.cancel();
      if (c->timed_out && !data.empty()) {
        co_return std::make_pair(HttpError(408, "request head not received in time"), false);
      }
      co_return std::nullopt;  // closed by the peer, or silent: nothing to answer
    }
    data.append(chunk.data(), n);
  }
}

// After the answer over plain TCP: stops sending, then drains what the peer still sends (a
// body we did not read) for up to a second so that closing does not reset the connection under
// the answer.
net::awaitable<void> EndAfterAnswer(std::shared_ptr<Conn<net::tcp::socket>> c, HttpLimits limits) {
  net::error_code ec;
  c->stream.shutdown(net::tcp::socket::shutdown_send, ec);
  c->Arm(std::chrono::milliseconds(1000), /*close=*/true);
  std::array<char, 4096> sink;
  uint64_t drained = 0;
  while (!ec && drained <= limits.max_body_bytes + limits.max_head_bytes) {
    drained += co_await c->stream.async_read_some(
        net::asio::buffer(sink), net::asio::redirect_error(net::use_awaitable, ec));
  }
  c->timer.cancel();
}

// After the answer over TLS: sends close_notify and waits (up to a second) for the peer's, so
// that the client sees a clean end of the stream rather than a truncation.
net::awaitable<void> EndAfterAnswer(std::shared_ptr<Conn<net::TlsStream>> c, HttpLimits) {
  net::error_code ec;
  c->Arm(std::chrono::milliseconds(1000), /*close=*/true);
  co_await c->stream.async_shutdown(net::asio::redirect_error(net::use_awaitable, ec));
  c->timer.cancel();
}

// Writes `bytes`, ends the stream, closes.
template <typename Stream>
net::awaitable<void> WriteAndClose(std::shared_ptr<Conn<Stream>> c, std::string bytes,
                                   HttpLimits limits) {
  net::error_code ec;
  c->Arm(limits.write_timeout, /*close=*/true);
  co_await net::asio::async_write(c->stream, net::asio::buffer(bytes),
                                  net::asio::redirect_error(net::use_awaitable, ec));
  c->timer.cancel();
  if (!ec) co_await EndAfterAnswer(c, limits);
  Socket(c->stream).close(ec);
}

template <typename Stream>
net::awaitable<void> Serve(ServerState* impl, std::shared_ptr<Conn<Stream>> c, PeerInfo info) {
  std::optional<std::pair<HttpResponse, bool>> answer =
      co_await ReadAndRoute(c, impl->router.get(), impl->limits, std::move(info));
  if (answer) {
    if (answer->first.status >= 400) {
      FEDGE_LOG(Debug, kLog) << "answered " << answer->first.status << ": " << answer->first.body;
    }
    co_await WriteAndClose(c, SerializeHttpResponse(answer->first, answer->second), impl->limits);
  }
}

net::awaitable<void> ServeConnection(ServerState* impl, net::tcp::socket socket) {
  auto c = std::make_shared<Conn<net::tcp::socket>>(std::move(socket));
  PeerInfo plain;  // a named local: g++ 12 mishandles temporaries inside co_await expressions
  co_await Serve(impl, c, std::move(plain));
}

// The TLS handshake under the read deadline, then the request. A failed handshake (plain
// HTTP, garbage, a certificate from another CA, a silent client) closes the connection.
net::awaitable<void> ServeTlsConnection(ServerState* impl, net::tcp::socket socket) {
  auto c = std::make_shared<Conn<net::TlsStream>>(net::TlsStream(std::move(socket), *impl->tls));
  net::error_code ec;
  c->Arm(impl->limits.read_timeout, /*close=*/true);
  co_await c->stream.async_handshake(net::ssl::stream_base::server,
                                     net::asio::redirect_error(net::use_awaitable, ec));
  c->timer.cancel();
  if (ec) {
    FEDGE_LOG(Debug, kLog) << "TLS handshake failed: "
                           << (c->timed_out ? "timed out" : ec.message());
    Socket(c->stream).close(ec);
  } else {
    PeerInfo info;
    info.tls = true;
    if (SSL_get0_peer_certificate(c->stream.native_handle()) != nullptr) {
      Result<PeerIdentity> id = PeerIdentityOf(c->stream);
      if (id.ok()) {
        info.peer = *id;
      } else {
        info.peer_error = id.status().message();
      }
    }
    co_await Serve(impl, c, std::move(info));
  }
}

net::awaitable<void> AcceptLoop(ServerState* impl) {
  AcceptBackoff backoff(impl->io.get_executor());
  for (;;) {
    net::error_code ec;
    net::tcp::socket socket =
        co_await impl->acceptor.async_accept(net::asio::redirect_error(net::use_awaitable, ec));
    if (ec == net::asio::error::operation_aborted || !impl->acceptor.is_open()) co_return;
    if (ec) {
      co_await backoff.Failed(ec, kLog);
      continue;
    }
    backoff.Succeeded();
    std::string address = "?";
    if (auto ep = socket.remote_endpoint(ec); !ec) address = ep.address().to_string();
    int& mine = impl->by_address[address];
    if (impl->open >= impl->limits.max_connections ||
        mine >= impl->limits.max_connections_per_address) {
      if (mine == 0) impl->by_address.erase(address);
      socket.close(ec);  // over a cap: refuse at once rather than queue
      continue;
    }
    ++impl->open;
    ++mine;
    // The slot is freed however the connection ends, a throwing coroutine included.
    auto done = [impl, address](std::exception_ptr e) {
      --impl->open;
      if (auto it = impl->by_address.find(address);
          it != impl->by_address.end() && --it->second == 0) {
        impl->by_address.erase(it);
      }
      if (e) LogOnError{kLog}(e);
    };
    if (impl->tls) {
      net::asio::co_spawn(impl->io, ServeTlsConnection(impl, std::move(socket)), done);
    } else {
      net::asio::co_spawn(impl->io, ServeConnection(impl, std::move(socket)), done);
    }
  }
}

}  // namespace

struct HttpServer::Impl : ServerState {
  using ServerState::ServerState;
};

HttpServer::HttpServer(std::shared_ptr<const HttpRouter> router, HttpLimits limits)
    : impl_(std::make_unique<Impl>(std::move(router), limits)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::EnableTls(const TlsFiles& files) {
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<net::ssl::context> ctx, MakeServerTlsContext(files));
  // Ask for a certificate and verify one that is presented, but do not require it: bearer
  // token users have none. Handlers see who presented what (HttpRequest::peer).
  ctx->set_verify_mode(net::ssl::verify_peer);
  impl_->tls = std::move(ctx);
  return Status::Ok();
}

Status HttpServer::Start(const std::string& address, uint16_t port) {
  net::error_code ec;
  auto ip = net::asio::ip::make_address(address, ec);
  if (ec) return Status::InvalidArgument("'" + address + "' is not an IP address");
  net::tcp::endpoint endpoint(ip, port);
  net::tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen for HTTP on " + address + ":" + std::to_string(port) +
                               ": " + ec.message());
  }
  port_ = a.local_endpoint().port();
  Impl* impl = impl_.get();
  net::asio::co_spawn(impl->io, AcceptLoop(impl), LogOnError{kLog});
  impl->thread = std::thread([impl] { impl->io.run(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  std::call_once(impl_->stopped, [this] {
    impl_->io.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

}  // namespace fedge::shared
