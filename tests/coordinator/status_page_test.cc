// The status page without a coordinator: rendering from hand-made status documents, access
// decisions, the routes' answers and the [status] settings.
#include "coordinator/status_page.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "coordinator/config.h"
#include "shared/base/config.h"
#include "tests/temp_dir.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// The element starting at `<tag id="id"` up to its closing tag.
std::string Element(const std::string& page, const std::string& tag, const std::string& id) {
  const size_t start = page.find("<" + tag + " id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  const size_t end = page.find("</" + tag + ">", start);
  return page.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

json HandMadeStatus() {
  json s;
  s["generated_ms"] = 1'700'000'100'000ull;
  s["coordinator"] = {
      {"model_version", 4},
      {"model_round", 3},
      {"model_arch", "cnn_small"},
      {"target_round", 5},
      {"finished", false},
      {"connected_clients", 1},
      {"registered_clients", 2},
      {"open_round", {{"round", 4}, {"phase", "train"}, {"sampled", 2}, {"accepted", 1}}}};
  s["clients"] = json::array(
      {{{"id", "site-<b>1</b>"},
        {"connected", true},
        {"revoked", false},
        {"last_seen_ms", 1'700'000'095'000ull},
        {"updates_accepted", 3},
        {"drift",
         {{"score", 0.4321}, {"drifted", true}, {"streak", 4}, {"top_feature", "brightness"}}}},
       {{"id", "site-2"},
        {"connected", false},
        {"revoked", true},
        {"last_seen_ms", 1'699'990'000'000ull},
        {"updates_accepted", 1},
        {"drift", nullptr}},
       {{"id", "site-3"},
        {"connected", true},
        {"revoked", false},
        {"quarantined", true},
        {"last_seen_ms", 1'700'000'090'000ull},
        {"updates_accepted", 2},
        {"drift", nullptr}}});
  s["rounds"] = json::array();
  for (int r = 3; r >= 1; --r) {
    s["rounds"].push_back({{"round", r},
                           {"model_version", r + 1},
                           {"accuracy", 0.5 + 0.1 * r},
                           {"loss", 1.0 / r},
                           {"train_loss", 1.2 / r},
                           {"updates", 2},
                           {"sampled", 2},
                           {"seconds", 1.25},
                           {"ended_ms", 1'700'000'000'000ull + r}});
  }
  s["models"] = json::array({{{"version", 1}, {"round", 0}, {"accuracy", nullptr}},
                             {{"version", 2}, {"round", 1}, {"accuracy", 0.6}},
                             {{"version", 3}, {"round", 2}, {"accuracy", 0.7}},
                             {{"version", 4}, {"round", 3}, {"accuracy", 0.8}, {"head", true}}});
  s["campaigns"] = json::array({{{"id", 1},
                                 {"state", "running"},
                                 {"first_round", 3},
                                 {"last_round", 5},
                                 {"clients", json::array({{{"client", "site-<b>1</b>"}}})},
                                 {"outcome", {{"accuracy_before", 0.7}}}}});
  s["releases"] = json::array();
  return s;
}

TEST(StatusPageTest, ShowsEverySectionFromTheStatus) {
  const std::string page = RenderStatusPage(HandMadeStatus());
  EXPECT_NE(page.find("<td id=\"model-version\">4</td>"), std::string::npos);
  EXPECT_NE(page.find("<td id=\"connected-clients\">1</td>"), std::string::npos);
  EXPECT_NE(page.find("<td id=\"registered-clients\">2</td>"), std::string::npos);
  EXPECT_NE(page.find("round 4 (train, 1 of 2 sampled answered)"), std::string::npos);
  const std::string clients = Element(page, "table", "clients");
  EXPECT_EQ(Count(clients, "<tr class=\"client"), 3u);
  EXPECT_NE(clients.find("<tr class=\"client drifted\" data-client=\"site-&lt;b&gt;1&lt;/b&gt;\">"),
            std::string::npos);
  EXPECT_NE(clients.find("<td class=\"num\">0.432</td><td>yes</td><td class=\"num\">4</td>"
                         "<td>brightness</td>"),
            std::string::npos);
  EXPECT_NE(clients.find("2023-11-14 22:14:55 UTC (5 s ago)"), std::string::npos);
  EXPECT_NE(clients.find("<tr class=\"client revoked\" data-client=\"site-2\"><td>site-2</td>"
                         "<td>revoked</td>"),
            std::string::npos);
  // Quarantined by the defence ([defence]): connected, but shown as quarantined.
  EXPECT_NE(clients.find("<tr class=\"client quarantined\" data-client=\"site-3\"><td>site-3</td>"
                         "<td>quarantined</td>"),
            std::string::npos);
  EXPECT_EQ(Count(Element(page, "table", "rounds"), "<tr class=\"round\">"), 3u);
  EXPECT_NE(page.find("<td class=\"num\">0.8000</td>"), std::string::npos);  // round 3
  EXPECT_EQ(Count(Element(page, "table", "campaigns"), "<tr class=\"campaign\">"), 1u);
  EXPECT_NE(page.find("id=\"no-releases\""), std::string::npos);
  EXPECT_EQ(page.find("id=\"no-clients\""), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
}

TEST(StatusPageTest, ChartHasOnePointPerVersionWithAnAccuracy) {
  const std::string page = RenderStatusPage(HandMadeStatus());
  const std::string svg = Element(page, "svg", "chart-model-accuracy");
  ASSERT_FALSE(svg.empty());
  EXPECT_NE(svg.find("data-points=\"3\""), std::string::npos);  // version 1 has no accuracy
  EXPECT_EQ(Count(svg, "<circle class=\"point"), 3u);
  EXPECT_EQ(Count(svg, "<circle class=\"point flagged"), 1u);  // the head
  EXPECT_NE(svg.find("version 4 (round 3): 0.8000"), std::string::npos);
  EXPECT_EQ(svg.find("version 1 "), std::string::npos);
}

TEST(StatusPageTest, EscapesEveryString) {
  json s = HandMadeStatus();
  const std::string evil = "<script>alert(\"x\")</script>&'";
  s["coordinator"]["model_arch"] = evil;
  s["clients"][0]["drift"]["top_feature"] = evil;
  s["campaigns"][0]["state"] = evil;
  s["releases"] = json::array({{{"version", evil}, {"stage", evil}, {"state", evil}}});
  s["models"][2]["round"] = evil;  // in the chart's tooltip
  const std::string page = RenderStatusPage(s);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("alert(\"x\")"), std::string::npos);
  EXPECT_GE(Count(page, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"), 6u);
}

TEST(StatusPageTest, ReleasesAreListedWhenTheSourceHasThem) {
  json s = HandMadeStatus();
  s["releases"] = json::array({{{"version", "2024.1"},
                                {"model_version", 4},
                                {"stage", "canary"},
                                {"state", "rolling out"},
                                {"cohort", "5%"},
                                {"installed", 3},
                                {"failed", 0}},
                               {{"version", "2023.9"}, {"state", "done"}}});
  const std::string page = RenderStatusPage(s);
  EXPECT_EQ(page.find("id=\"no-releases\""), std::string::npos);
  const std::string table = Element(page, "table", "releases");
  EXPECT_EQ(Count(table, "<tr class=\"release\""), 2u);
  EXPECT_NE(table.find("data-release=\"2024.1\"><td>2024.1</td><td class=\"num\">4</td><td>"
                       "canary</td><td>rolling out</td><td>5%</td>"),
            std::string::npos);
}

TEST(StatusPageTest, MissingOrMistypedFieldsShowAsAbsent) {
  for (const json& s :
       {json(), json::object(),
        json{{"clients", "oops"}, {"rounds", 3}, {"models", {{{"version", "x"}}}}}}) {
    const std::string page = RenderStatusPage(s);
    for (const char* id : {"no-clients", "no-rounds", "no-campaigns", "no-releases"}) {
      EXPECT_NE(page.find(std::string("id=\"") + id + "\""), std::string::npos) << id << s;
    }
    EXPECT_NE(page.find("<td id=\"model-version\">-</td>"), std::string::npos);
    EXPECT_NE(Element(page, "svg", "chart-model-accuracy").find("data-points=\"0\""),
              std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------

const std::string kToken = "0123456789abcdef0123456789abcdef";

std::shared_ptr<StatusAuth> Auth(std::string token = kToken) {
  return std::make_shared<StatusAuth>(std::move(token),
                                      [](const std::string& cn) -> shared::Result<bool> {
                                        if (cn == "broken") return shared::Status::IOError("disk");
                                        return cn == "revoked-admin";
                                      });
}

shared::HttpRequest Request(const std::string& path = "/") {
  shared::HttpRequest r;
  r.method = "GET";
  r.path = path;
  r.target = path;
  r.version = "HTTP/1.1";
  r.tls = true;
  return r;
}

shared::PeerIdentity Peer(const std::string& cn, std::string_view role) {
  return {cn, std::string(role), std::string(64, 'a')};
}

TEST(StatusAuthTest, AdminCertificateOrTokenOnly) {
  auto auth = Auth();
  shared::HttpRequest r = Request();
  EXPECT_FALSE(auth->Check(r).allowed);
  EXPECT_EQ(auth->Check(r).reason, "no credentials");

  r.peer = Peer("alice", shared::kRoleAdmin);
  EXPECT_TRUE(auth->Check(r).allowed);
  EXPECT_EQ(auth->Check(r).who, "admin alice");
  r.peer = Peer("revoked-admin", shared::kRoleAdmin);
  EXPECT_FALSE(auth->Check(r).allowed);
  EXPECT_NE(auth->Check(r).reason.find("revoked"), std::string::npos);
  r.peer = Peer("broken", shared::kRoleAdmin);
  EXPECT_FALSE(auth->Check(r).allowed);
  // A client's certificate is refused, even together with the right token.
  r.peer = Peer("site-001", shared::kRoleClient);
  r.headers.emplace_back("authorization", "Bearer " + kToken);
  EXPECT_FALSE(auth->Check(r).allowed);
  EXPECT_NE(auth->Check(r).reason.find("role 'client'"), std::string::npos);
  r.peer.reset();
  EXPECT_TRUE(auth->Check(r).allowed);
  r.peer_error = "no OU";
  EXPECT_FALSE(auth->Check(r).allowed);
}

TEST(StatusAuthTest, TokenByHeaderCookieOrQuery) {
  auto auth = Auth();
  auto with = [](const std::string& name, const std::string& value) {
    shared::HttpRequest r = Request();
    r.headers.emplace_back(name, value);
    return r;
  };
  EXPECT_TRUE(auth->Check(with("authorization", "Bearer " + kToken)).allowed);
  EXPECT_FALSE(auth->Check(with("authorization", "Bearer " + kToken + "0")).allowed);
  EXPECT_FALSE(auth->Check(with("authorization", "Bearer " + kToken.substr(1))).allowed);
  EXPECT_FALSE(auth->Check(with("authorization", "Basic " + kToken)).allowed);
  EXPECT_FALSE(auth->Check(with("authorization", "Bearer ")).allowed);
  EXPECT_TRUE(auth->Check(with("cookie", "a=1; fedge_status=" + kToken + "; b=2")).allowed);
  EXPECT_FALSE(auth->Check(with("cookie", "fedge_statusx=" + kToken)).allowed);
  EXPECT_FALSE(auth->Check(with("cookie", "fedge_status=nope")).allowed);
  shared::HttpRequest q = Request();
  q.query = "x=1&token=" + kToken;
  StatusAuth::Decision d = auth->Check(q);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.token_in_query);
  q.query = "token=" + kToken + "x";
  EXPECT_FALSE(auth->Check(q).allowed);
  // Without a configured token no token is accepted, not even an empty one.
  auto certs_only = Auth("");
  EXPECT_FALSE(certs_only->Check(with("authorization", "Bearer ")).allowed);
  EXPECT_FALSE(certs_only->Check(with("cookie", "fedge_status=")).allowed);
  q.query = "token=";
  EXPECT_FALSE(certs_only->Check(q).allowed);
}

std::string HeaderOf(const shared::HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

TEST(StatusRouterTest, AnswersWithoutCredentialsSayHowAndShowNoData) {
  int gathered = 0;
  auto router = MakeStatusRouter(Auth(), [&gathered]() -> shared::Result<json> {
    ++gathered;
    return HandMadeStatus();
  });
  for (const std::string path : {"/", "/status.json"}) {
    shared::HttpRequest r = Request(path);
    r.headers.emplace_back("authorization", "Bearer wrong");
    const shared::HttpResponse a = router->Handle(r);
    EXPECT_EQ(a.status, 401);
    EXPECT_EQ(HeaderOf(a, "WWW-Authenticate"), "Bearer realm=\"fedge status\"");
    EXPECT_EQ(a.body.find("site-2"), std::string::npos);
    EXPECT_NE(a.body.find("Bearer"), std::string::npos);
  }
  EXPECT_EQ(gathered, 0);

  shared::HttpRequest ok = Request("/");
  ok.headers.emplace_back("authorization", "Bearer " + kToken);
  const shared::HttpResponse page = router->Handle(ok);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(page, "Content-Security-Policy"),
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  EXPECT_NE(page.body.find("site-2"), std::string::npos);
  ok.path = "/status.json";
  const shared::HttpResponse data = router->Handle(ok);
  EXPECT_EQ(data.status, 200);
  EXPECT_EQ(json::parse(data.body), HandMadeStatus());
  EXPECT_EQ(gathered, 2);
}

TEST(StatusRouterTest, TokenInTheQueryBecomesACookie) {
  auto router = MakeStatusRouter(Auth(), [] { return shared::Result<json>(HandMadeStatus()); });
  shared::HttpRequest r = Request("/");
  r.query = "token=" + kToken;
  const shared::HttpResponse a = router->Handle(r);
  EXPECT_EQ(a.status, 303);
  EXPECT_EQ(HeaderOf(a, "Location"), "/");
  EXPECT_EQ(HeaderOf(a, "Set-Cookie"),
            "fedge_status=" + kToken + "; Path=/; Secure; HttpOnly; SameSite=Strict");
  EXPECT_EQ(a.body.find("site-2"), std::string::npos);
}

TEST(StatusRouterTest, GatherErrorIs500WithoutDetails) {
  auto router = MakeStatusRouter(
      Auth(), [] { return shared::Result<json>(shared::Status::IOError("secret path")); });
  shared::HttpRequest r = Request("/");
  r.peer = Peer("alice", shared::kRoleAdmin);
  const shared::HttpResponse a = router->Handle(r);
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(a.body.find("secret path"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------

class StatusConfigTest : public ::testing::Test {
 protected:
  // A coordinator.toml with `extra` appended; its path.
  std::string Write(const std::string& extra) {
    const std::string path = dir_.path() + "/coordinator.toml";
    std::ofstream(path) << "[tls]\nca = \"ca.crt\"\ncert = \"c.crt\"\nkey = \"c.key\"\n" << extra;
    return path;
  }
  std::string WriteToken(const std::string& text, mode_t mode) {
    const std::string path = dir_.path() + "/status.token";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir dir_{"status-config"};
};

TEST_F(StatusConfigTest, OffByDefaultOnLoopback) {
  auto c = LoadCoordinatorConfig(Write(""));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->status.enabled);
  EXPECT_EQ(c->status.listen, "127.0.0.1");
  EXPECT_EQ(c->status.port, 8443);
  EXPECT_TRUE(c->status.token.empty());
}

TEST_F(StatusConfigTest, ReadsTheTokenFileRelativeToTheConfig) {
  WriteToken(kToken + "\n", 0600);
  auto c = LoadCoordinatorConfig(
      Write("[status]\nenabled = true\nport = 9443\ntoken_file = \"status.token\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->status.enabled);
  EXPECT_EQ(c->status.port, 9443);
  EXPECT_EQ(c->status.token, kToken);
  EXPECT_EQ(c->status.token_file, dir_.path() + "/status.token");
}

TEST_F(StatusConfigTest, ErrorsNameTheFileAndTheKey) {
  const std::vector<std::tuple<std::string, std::string, mode_t, std::string>> cases = {
      {"listen = \"status.local\"", kToken, 0600,
       "key 'status.listen': 'status.local' is not an IP address"},
      {"port = 70000", kToken, 0600, "key 'status.port'"},
      {"tokenfile = \"x\"", kToken, 0600, "status.tokenfile"},
      {"token_file = \"missing\"", kToken, 0600, "does not exist"},
      {"token_file = \"status.token\"", kToken, 0644,
       "may be read by others (mode 0644); chmod 600 it"},
      {"token_file = \"status.token\"", "short", 0600, "32 to 256 characters"},
      {"token_file = \"status.token\"", kToken + " " + kToken, 0600, "32 to 256 characters"},
      {"enabled = true\nport = 9464", kToken, 0600, "key 'status.port': 9464 is also metrics.port"},
  };
  for (const auto& [line, token, mode, what] : cases) {
    WriteToken(token, mode);
    const std::string path = Write("[status]\n" + line + "\n");
    auto c = LoadCoordinatorConfig(path);
    ASSERT_FALSE(c.ok()) << line;
    EXPECT_NE(c.status().message().find(path + ": key 'status."), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find(what), std::string::npos) << c.status().message();
    EXPECT_EQ(c.status().message().find(kToken), std::string::npos) << "the token leaked";
  }
}

}  // namespace
}  // namespace fedge::coordinator
