// The status page end to end over real sockets: a coordinator and two clients run two rounds
// over mutual TLS, then the page and /status.json are requested over HTTPS with an admin
// certificate, the read-only token (header, query, cookie), a client's certificate, a revoked
// admin's, another project's, wrong and no credentials; garbage and silent connections are
// dropped while the server keeps answering.
#include <gtest/gtest.h>

#include "client/client.h"
#include "coordinator/kit_config.h"
#include "tests/integration/https_get.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using nlohmann::json;

const std::string kToken = "f00dbabe0123456789abcdef0123456789abcdef";

using Answer = HttpsAnswer;

class StatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared::ProvisionOptions o;
    o.templates = *coordinator::ProjectKitTemplates();
    o.out_dir = dir_.path() + "/project";
    o.clients = 2;
    o.admins = {"admin", "ex-admin"};
    o.coordinator_hosts = {"127.0.0.1"};
    o.force = true;
    auto kits = shared::Provision(o);
    ASSERT_TRUE(kits.ok()) << kits.status().ToString();
    kits_ = *kits;
    ca_ = kits_.coordinator_kit + "/ca.crt";
    o.out_dir = dir_.path() + "/other";  // another project, another CA
    auto other = shared::Provision(o);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
  }

  std::string Admin(const std::string& name, const std::string& file) const {
    return dir_.path() + "/project/admins/" + name + "/" + file;
  }

  TempDir dir_{"status-page"};
  shared::ProvisionResult kits_;
  std::string ca_;
};

TEST_F(StatusPageTest, AdminsAndTokenHoldersSeeClientsRoundsAndVersionsOthersDoNot) {
  auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
  config.rounds.count = 2;
  config.rounds.min_clients = 2;
  config.rounds.min_fit = 2;
  config.rounds.timeout_seconds = 30;
  config.rounds.eval_timeout_seconds = 10;
  config.status.port = 0;
  config.status.token = kToken;
  RunningServer server(config);
  ASSERT_TRUE(server.server().StartStatus().ok());
  const uint16_t port = server.server().status_port();
  ASSERT_NE(port, 0);
  const std::string admin_crt = Admin("admin", "admin.crt"),
                    admin_key = Admin("admin", "admin.key");

  auto data = SyntheticData(200, 5);
  net::asio::io_context io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < 2; ++i) {
    auto cfg = client::LoadClientConfig(kits_.client_kits[i] + "/client.toml");
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    cfg->host = "127.0.0.1";
    cfg->port = server.port();
    cfg->state_dir = dir_.path() + "/state-" + std::to_string(i);
    cfg->threads = 1;
    cfg->camera.keep_frames = false;
    client::LocalData local;
    local.dataset = data;
    for (int k = i * 100; k < i * 100 + 80; ++k) local.train.push_back(k);
    for (int k = i * 100 + 80; k < i * 100 + 100; ++k) local.eval.push_back(k);
    local.class_counts.assign(10, 8);
    clients.push_back(std::make_unique<client::Client>(*cfg, local, io, &compute));
    ASSERT_TRUE(clients.back()->Init().ok());
  }
  for (auto& c : clients) c->Start();
  std::thread io_thread([&io] {
    auto guard = net::asio::make_work_guard(io);
    io.run();
  });
  struct Cleanup {  // also when an ASSERT returns early
    ~Cleanup() {
      for (auto& c : *clients) c->Stop();
      io->stop();
      thread->join();
      compute->join();
    }
    std::vector<std::unique_ptr<client::Client>>* clients;
    net::asio::io_context* io;
    std::thread* thread;
    net::asio::thread_pool* compute;
  } cleanup{&clients, &io, &io_thread, &compute};

  // Poll /status.json as an admin until both rounds are in (what a script would do).
  json status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    Answer a = HttpsGet(port, ca_, "/status.json", "", admin_crt, admin_key);
    ASSERT_EQ(a.status, 200) << a.head << a.body;
    status = json::parse(a.body);
    if (status["rounds"].size() >= 2 && status["models"].size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(status["rounds"].size(), 2u) << status.dump(2);
  EXPECT_EQ(status["rounds"][0]["round"], 2);  // newest first
  EXPECT_EQ(status["coordinator"]["model_version"], 3);
  EXPECT_EQ(status["coordinator"]["registered_clients"], 2);
  ASSERT_EQ(status["clients"].size(), 2u);
  for (const json& c : status["clients"]) EXPECT_GT(c["last_seen_ms"].get<uint64_t>(), 0u);
  size_t with_accuracy = 0;
  for (const json& m : status["models"]) with_accuracy += m["accuracy"].is_number();
  EXPECT_GE(with_accuracy, 2u);  // versions 2 and 3 were evaluated

  // The page itself, as an admin and with the token.
  Answer page = HttpsGet(port, ca_, "/", "", admin_crt, admin_key);
  ASSERT_EQ(page.status, 200) << page.head;
  EXPECT_EQ(page.Header("Content-Security-Policy"),
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  for (const std::string& id : kits_.client_ids) {
    EXPECT_NE(page.body.find("data-client=\"" + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(page.body.find("<td id=\"model-version\">3</td>"), std::string::npos);
  EXPECT_NE(page.body.find("id=\"chart-model-accuracy\" class=\"chart\" data-points=\"" +
                           std::to_string(with_accuracy) + "\""),
            std::string::npos);
  EXPECT_NE(page.body.find("id=\"no-releases\""), std::string::npos);
  Answer by_token = HttpsGet(port, ca_, "/", "Authorization: Bearer " + kToken + "\r\n");
  EXPECT_EQ(by_token.status, 200);
  EXPECT_NE(by_token.body.find("<td id=\"model-version\">3</td>"), std::string::npos);

  // ?token= once: a redirect that sets the cookie; the cookie then suffices.
  Answer redirect = HttpsGet(port, ca_, "/?token=" + kToken);
  EXPECT_EQ(redirect.status, 303);
  EXPECT_EQ(redirect.Header("Location"), "/");
  const std::string cookie = redirect.Header("Set-Cookie");
  EXPECT_EQ(cookie.find("fedge_status=" + kToken + ";"), 0u) << cookie;
  EXPECT_NE(cookie.find("Secure; HttpOnly; SameSite=Strict"), std::string::npos);
  EXPECT_EQ(HttpsGet(port, ca_, "/", "Cookie: fedge_status=" + kToken + "\r\n").status, 200);

  // Refusals: 401 with how to get in, and none of the data.
  ASSERT_TRUE(
      server.server().store().PutRevocation({"ex-admin", "", "left the team", "admin", 1}).ok());
  const std::vector<std::pair<std::string, Answer>> refused = {
      {"no credentials", HttpsGet(port, ca_, "/")},
      {"wrong token", HttpsGet(port, ca_, "/", "Authorization: Bearer " + kToken + "x\r\n")},
      {"wrong query token", HttpsGet(port, ca_, "/?token=nope")},
      {"wrong cookie", HttpsGet(port, ca_, "/status.json", "Cookie: fedge_status=nope\r\n")},
      {"client certificate", HttpsGet(port, ca_, "/", "", kits_.client_kits[0] + "/client.crt",
                                      kits_.client_kits[0] + "/client.key")},
      {"client certificate with the token",
       HttpsGet(port, ca_, "/status.json", "Authorization: Bearer " + kToken + "\r\n",
                kits_.client_kits[0] + "/client.crt", kits_.client_kits[0] + "/client.key")},
      {"revoked admin", HttpsGet(port, ca_, "/", "", Admin("ex-admin", "admin.crt"),
                                 Admin("ex-admin", "admin.key"))},
  };
  for (const auto& [what, a] : refused) {
    EXPECT_EQ(a.status, 401) << what << ": " << a.head;
    EXPECT_NE(a.Header("WWW-Authenticate").find("Bearer"), std::string::npos) << what;
    for (const std::string& id : kits_.client_ids) {
      EXPECT_EQ(a.body.find(id), std::string::npos) << what << " leaked " << id;
    }
    EXPECT_EQ(a.body.find("model-version"), std::string::npos) << what;
  }
  EXPECT_NE(refused[0].second.body.find("Authorization: Bearer"), std::string::npos);
  EXPECT_NE(refused[4].second.body.find("role &#39;client&#39;"), std::string::npos);
  EXPECT_NE(refused[6].second.body.find("revoked"), std::string::npos);

  // Another project's admin certificate: refused in the TLS handshake (under TLS 1.3 the
  // client sees it on its first read), so no HTTP answer at all.
  const std::string other = dir_.path() + "/other/admins/admin/";
  Answer foreign = HttpsGet(port, ca_, "/", "", other + "admin.crt", other + "admin.key");
  EXPECT_EQ(foreign.status, 0) << foreign.head;

  // Plain HTTP and garbage on the HTTPS port: dropped; the server keeps serving.
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string(5000, '\x16')}) {
    const int fd = ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    char buf[256];
    std::string reply;
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, n);
    ::close(fd);
    EXPECT_EQ(reply.find("HTTP/1.1 200"), std::string::npos);
  }
  EXPECT_EQ(HttpsGet(port, ca_, "/status.json", "", admin_crt, admin_key).status, 200);
}

// The HTTPS server alone with short deadlines: a client that connects and says nothing, or
// stops in the middle of the handshake, is disconnected at the deadline.
TEST_F(StatusPageTest, SilentConnectionsAreClosedAtTheHandshakeDeadline) {
  auto router = std::make_shared<shared::HttpRouter>();
  router->Get("/", [](const shared::HttpRequest& r) {
    shared::HttpResponse a;
    a.body = r.tls ? "tls " + (r.peer ? r.peer->role + " " + r.peer->common_name : "anonymous")
                   : "plain";
    return a;
  });
  shared::HttpLimits limits;
  limits.read_timeout = std::chrono::milliseconds(300);
  shared::HttpServer http(router, limits);
  ASSERT_TRUE(http.EnableTls({ca_, kits_.coordinator_kit + "/coordinator.crt",
                              kits_.coordinator_kit + "/coordinator.key"})
                  .ok());
  ASSERT_TRUE(http.Start("127.0.0.1", 0).ok());
  for (const std::string& partial : {std::string(), std::string("\x16\x03\x01\x02\x00", 5)}) {
    const int fd = ConnectLoopback(http.port());
    ASSERT_GE(fd, 0);
    if (!partial.empty()) ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    const auto start = std::chrono::steady_clock::now();
    char buf[64];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);  // 10 s receive timeout
    const auto waited = std::chrono::steady_clock::now() - start;
    ::close(fd);
    EXPECT_LE(n, 0);
    EXPECT_LT(waited, std::chrono::seconds(5)) << "not closed at the deadline";
  }
  // The identity reaches the handler; no certificate is fine at the TLS level.
  EXPECT_EQ(HttpsGet(http.port(), ca_, "/").body, "tls anonymous");
  EXPECT_EQ(
      HttpsGet(http.port(), ca_, "/", "", Admin("admin", "admin.crt"), Admin("admin", "admin.key"))
          .body,
      "tls admin admin");
  // A wrong key file is an error naming it.
  shared::HttpServer bad(router, limits);
  shared::Status s = bad.EnableTls({ca_, kits_.coordinator_kit + "/coordinator.crt", ca_});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(ca_), std::string::npos) << s.message();
}

}  // namespace
}  // namespace fedge::testing
