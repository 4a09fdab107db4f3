#include "shared/net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/net/accept_backoff.h"

namespace fedge::shared {
namespace {

// A blocking loopback TCP client with a 10 s receive timeout (a broken server cannot hang us).
class RawHttp {
 public:
  // From `source` (another loopback address, e.g. "127.0.0.2"), or the default one.
  explicit RawHttp(uint16_t port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (source != nullptr) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawHttp() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Write(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close early (e.g. after 431): reading tells
      off += static_cast<size_t>(n);
    }
  }
  // Everything until the server closes (or the receive timeout).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string Exchange(uint16_t port, const std::string& request) {
  RawHttp c(port);
  EXPECT_TRUE(c.connected());
  c.Write(request);
  return c.ReadAll();
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string BodyOf(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto router = std::make_shared<HttpRouter>();
    router->Get("/metrics", [this](const HttpRequest& r) {
      ++calls_;
      HttpResponse out;
      out.content_type = "text/plain; version=0.0.4";
      out.body = "up 1\n";
      if (!r.query.empty()) out.body += "query " + r.query + "\n";
      return out;
    });
    HttpLimits limits;
    limits.read_timeout = std::chrono::milliseconds(300);
    limits.max_head_bytes = 4096;
    limits.max_body_bytes = 1024;
    limits.max_connections = 4;
    server_ = std::make_unique<HttpServer>(router, limits);
    ASSERT_TRUE(server_->Start("127.0.0.1", 0).ok());
    ASSERT_NE(server_->port(), 0);
  }
  const std::string kGet = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::atomic<int> calls_{0};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesGetWithHeadersAndClosesTheConnection) {
  std::string r = Exchange(server_->port(), kGet);
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("\r\nContent-Type: text/plain; version=0.0.4\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nContent-Length: 5\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  EXPECT_EQ(BodyOf(r), "up 1\n");
  EXPECT_EQ(
      BodyOf(Exchange(server_->port(), "GET /metrics?name=x HTTP/1.0\r\nUser-Agent: t\r\n\r\n")),
      "up 1\nquery name=x\n");
  EXPECT_EQ(calls_.load(), 2);
}

TEST_F(HttpServerTest, HeadHasHeadersButNoBody) {
  std::string r = Exchange(server_->port(), "HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos) << r;
  EXPECT_EQ(BodyOf(r), "");
}

TEST_F(HttpServerTest, AnswersBadRequestsWith4xxAndKeepsServing) {
  const uint16_t port = server_->port();
  struct Case {
    std::string name, request;
    int status;
  };
  const std::string big_header = "X-Big: " + std::string(5000, 'a') + "\r\n";
  const std::vector<Case> cases = {
      {"unknown path", "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", 404},
      {"post", "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", 405},
      {"delete", "DELETE /metrics HTTP/1.1\r\nHost: h\r\n\r\n", 405},
      {"garbage line", "GARBAGE\r\n\r\n", 400},
      {"binary (a TLS hello)", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
       400},
      {"bare LF", "GET /metrics HTTP/1.1\nHost: h\n\n", 400},
      {"no host", "GET /metrics HTTP/1.1\r\n\r\n", 400},
      {"absolute target", "GET http://x/metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad header", "GET /metrics HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n", 400},
      {"folded header", "GET /metrics HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
      {"chunked", "GET /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"bad length", "GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"huge body", "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n", 413},
      {"oversize head", "GET /metrics HTTP/1.1\r\nHost: h\r\n" + big_header + "\r\n", 431},
      {"oversize line", "GET /" + std::string(8000, 'm') + " HTTP/1.1\r\n", 431},
      {"http/2", "GET /metrics HTTP/2.0\r\nHost: h\r\n\r\n", 505},
  };
  for (const Case& c : cases) {
    std::string r = Exchange(port, c.request);
    EXPECT_EQ(StatusOf(r), c.status) << c.name << ":\n" << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << c.name;
    if (c.status == 405) {
      EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << r;
    }
    EXPECT_EQ(StatusOf(Exchange(port, kGet)), 200) << "after " << c.name;
  }
  EXPECT_EQ(calls_.load(), static_cast<int>(cases.size()));  // handlers ran only for good GETs
}

TEST_F(HttpServerTest, SlowHeadGets408AfterTheReadDeadline) {
  RawHttp slow(server_->port());
  ASSERT_TRUE(slow.connected());
  slow.Write("GET /metrics HTTP/1.1\r\nHo");  // and nothing more
  std::string r = slow.ReadAll();             // the server answers once its 300 ms deadline passes
  EXPECT_EQ(StatusOf(r), 408) << r;
  EXPECT_EQ(StatusOf(Exchange(server_->port(), kGet)), 200);
}

TEST_F(HttpServerTest, SilentConnectionIsClosedWithoutAnswer) {
  RawHttp silent(server_->port());
  ASSERT_TRUE(silent.connected());
  EXPECT_EQ(silent.ReadAll(), "");  // closed at the deadline, nothing to answer
}

TEST(HttpServerCapTest, ConnectionsOverTheCapAreClosedAndServingResumes) {
  auto router = std::make_shared<HttpRouter>();
  router->Get("/metrics", [](const HttpRequest&) { return HttpResponse{}; });
  HttpLimits limits;
  limits.read_timeout = std::chrono::seconds(3);
  limits.max_connections = 2;
  HttpServer server(router, limits);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const std::string get = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
  RawHttp idle1(server.port()), idle2(server.port());
  idle1.Write("GET");
  idle2.Write("GET");
  // Accepted in connection order: both idle ones are open when the third is accepted, which is
  // closed without an answer.
  EXPECT_EQ(Exchange(server.port(), get), "");
  EXPECT_EQ(StatusOf(idle1.ReadAll()), 408);  // the idle ones time out ...
  EXPECT_EQ(StatusOf(idle2.ReadAll()), 408);
  EXPECT_EQ(StatusOf(Exchange(server.port(), get)), 200);  // ... and serving resumes
}

// Issue 16 item 6: one address cannot take every slot; another address is still served.
TEST(HttpServerCapTest, OneAddressCannotTakeEverySlot) {
  auto router = std::make_shared<HttpRouter>();
  router->Get("/metrics", [](const HttpRequest&) { return HttpResponse{}; });
  HttpLimits limits;
  limits.read_timeout = std::chrono::seconds(3);
  limits.max_connections = 32;
  limits.max_connections_per_address = 2;
  HttpServer server(router, limits);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const std::string get = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
  RawHttp idle1(server.port(), "127.0.0.3"), idle2(server.port(), "127.0.0.3");
  idle1.Write("GET");
  idle2.Write("GET");
  RawHttp third(server.port(), "127.0.0.3");  // over its address's share: closed unanswered
  third.Write(get);
  EXPECT_EQ(third.ReadAll(), "");
  RawHttp other(server.port(), "127.0.0.4");
  other.Write(get);
  EXPECT_EQ(StatusOf(other.ReadAll()), 200);
  EXPECT_EQ(StatusOf(idle1.ReadAll()), 408);
  EXPECT_EQ(StatusOf(idle2.ReadAll()), 408);
}

// Issue 16 item 6: a handler that throws used to leak its connection slot; after
// max_connections such requests the endpoint served no one.
TEST(HttpServerCapTest, AThrowingHandlerAnswers500AndKeepsItsSlot) {
  auto router = std::make_shared<HttpRouter>();
  router->Get("/boom",
              [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("handler bug"); });
  router->Get("/ok", [](const HttpRequest&) { return HttpResponse{}; });
  HttpLimits limits;
  limits.max_connections = 2;
  HttpServer server(router, limits);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(StatusOf(Exchange(server.port(), "GET /boom HTTP/1.1\r\nHost: h\r\n\r\n")), 500);
  }
  EXPECT_EQ(StatusOf(Exchange(server.port(), "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n")), 200);
}

// Issue 16 item 6: out of descriptors, accept loops spun at 100% CPU logging every retry.
TEST(AcceptBackoffTest, WaitsLongerAfterEachFailureUntilASuccess) {
  net::asio::io_context io;
  std::vector<int64_t> delays;
  net::asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        AcceptBackoff backoff(co_await net::asio::this_coro::executor);
        const net::error_code emfile = net::asio::error::no_descriptors;  // EMFILE
        for (int i = 0; i < 4; ++i) {
          co_await backoff.Failed(emfile, "test");
          delays.push_back(backoff.delay().count());
        }
        backoff.Succeeded();
        delays.push_back(backoff.delay().count());
        co_await backoff.Failed(emfile, "test");
        delays.push_back(backoff.delay().count());
      },
      net::asio::detached);
  io.run();
  EXPECT_EQ(delays, (std::vector<int64_t>{10, 20, 40, 80, 0, 10}));
}

TEST(HttpParseTest, IncompleteUntilTheHeadEnds) {
  HttpLimits limits;
  const std::string full = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  v  \r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(ParseHttpRequest(full.substr(0, n), limits).kind, HttpParse::Kind::kIncomplete)
        << "prefix of " << n << " bytes";
  }
  HttpParse p = ParseHttpRequest(full, limits);
  ASSERT_EQ(p.kind, HttpParse::Kind::kComplete);
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.path, "/a");
  EXPECT_EQ(p.request.query, "b=c");
  EXPECT_EQ(p.request.Header("x-y"), "v");
  EXPECT_EQ(p.request.Header("host"), "x");
}

TEST(HttpParseTest, RouterAnswers404And405) {
  HttpRouter router;
  router.Get("/metrics", [](const HttpRequest&) { return HttpResponse{}; });
  HttpRequest r;
  r.method = "GET";
  r.path = "/other";
  EXPECT_EQ(router.Handle(r).status, 404);
  r.path = "/metrics";
  EXPECT_EQ(router.Handle(r).status, 200);
  r.method = "PUT";
  EXPECT_EQ(router.Handle(r).status, 405);
}

TEST(HttpServerStartTest, RefusesBadAddressAndBusyPort) {
  auto router = std::make_shared<HttpRouter>();
  HttpServer a(router);
  EXPECT_EQ(a.Start("not-an-ip", 0).code(), Code::kInvalidArgument);
  HttpServer b(router);
  ASSERT_TRUE(b.Start("127.0.0.1", 0).ok());
  HttpServer c(router);
  Status s = c.Start("127.0.0.1", b.port());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
}

}  // namespace
}  // namespace fedge::shared
