// Prometheus endpoints end to end: a real coordinator and real clients over mutual TLS run a
// round; /metrics of the coordinator and of a client is scraped over a real socket and parsed
// as the text exposition format (TYPE lines, counters monotonic between scrapes, cumulative
// histogram buckets, values matching what happened). Malformed requests get clean 4xx answers
// while the endpoint keeps serving.
#include "client/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "client/client.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

// One request over a fresh loopback connection; the whole answer (the server closes).
std::string HttpExchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
  }
  ::close(fd);
  return out;
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A parsed exposition: TYPE per family and every sample. Format errors fail the test.
struct Exposition {
  std::map<std::string, std::string> types;
  std::vector<Sample> samples;

  // The one sample named `name` with `labels` (a subset match), or NaN after a failure.
  double Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) match = match && s.labels.count(k) && s.labels.at(k) == v;
      if (match) return s.value;
    }
    ADD_FAILURE() << "no sample " << name;
    return std::nan("");
  }
};

// The family a sample belongs to (histogram series carry suffixes).
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      if (types.count(base) && types.at(base) == "histogram") return base;
    }
  }
  return name;
}

Exposition Parse(const std::string& text) {
  Exposition e;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    EXPECT_NE(eol, std::string::npos) << "the last line must end in a newline";
    if (eol == std::string::npos) break;
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream in(line.substr(7));
      std::string name, type;
      in >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_EQ(e.types.count(name), 0u) << "TYPE given twice: " << line;
      e.types[name] = type;
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    EXPECT_FALSE(line.empty() || line[0] == '#') << "unexpected line: " << line;
    Sample s;
    size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) {
      ADD_FAILURE() << line;
      return e;
    }
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        size_t eq = line.find("=\"", i);
        if (eq == std::string::npos) {
          ADD_FAILURE() << line;
          return e;
        }
        std::string key = line.substr(i, eq - i), value;
        for (i = eq + 2; line[i] != '"'; ++i) {
          if (i >= line.size()) {
            ADD_FAILURE() << line;
            return e;
          }
          if (line[i] == '\\') {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        s.labels[key] = value;
        ++i;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    EXPECT_EQ(line[i], ' ') << line;
    const std::string v = line.substr(i + 1);
    s.value = v == "+Inf" ? INFINITY : v == "-Inf" ? -INFINITY : std::stod(v);
    const std::string family = FamilyOf(s.name, e.types);
    EXPECT_TRUE(e.types.count(family)) << "sample before its TYPE line: " << line;
    e.samples.push_back(std::move(s));
  }
  return e;
}

Exposition Scrape(uint16_t port) {
  std::string r = HttpExchange(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.substr(0, 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  size_t body = r.find("\r\n\r\n");
  return Parse(body == std::string::npos ? "" : r.substr(body + 4));
}

// Counters end in _total and are >= 0; each histogram series has ascending `le` bounds ending
// at +Inf, non-decreasing cumulative counts, and _count equal to the +Inf bucket.
void CheckSemantics(const Exposition& e) {
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // series -> (le, n)
  std::map<std::string, double> counts;
  auto series_key = [](const Sample& s) {
    std::string key = s.name.substr(0, s.name.rfind('_'));
    for (const auto& [k, v] : s.labels) {
      if (k != "le") key += "|" + k + "=" + v;
    }
    return key;
  };
  for (const Sample& s : e.samples) {
    const std::string family = FamilyOf(s.name, e.types);
    const std::string& type = e.types.at(family);
    if (type == "counter") {
      EXPECT_EQ(s.name.substr(s.name.size() - 6), "_total") << s.name;
      EXPECT_GE(s.value, 0) << s.name;
    }
    if (type != "histogram") continue;
    if (s.name == family + "_bucket") {
      ASSERT_TRUE(s.labels.count("le")) << s.name;
      const std::string& le = s.labels.at("le");
      buckets[series_key(s)].emplace_back(le == "+Inf" ? INFINITY : std::stod(le), s.value);
    } else if (s.name == family + "_count") {
      counts[series_key(s)] = s.value;
    }
  }
  EXPECT_FALSE(buckets.empty());
  for (const auto& [key, list] : buckets) {
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_LT(list[i - 1].first, list[i].first) << key;
      EXPECT_LE(list[i - 1].second, list[i].second) << key << ": buckets must be cumulative";
    }
    EXPECT_TRUE(std::isinf(list.back().first)) << key << ": the last bucket must be +Inf";
    ASSERT_TRUE(counts.count(key)) << key;
    EXPECT_EQ(counts.at(key), list.back().second) << key << ": _count != +Inf bucket";
  }
}

// Every counter series of `before` is present in `after` with a value at least as large.
void CheckMonotonic(const Exposition& before, const Exposition& after) {
  int compared = 0;
  for (const Sample& a : before.samples) {
    const std::string family = FamilyOf(a.name, before.types);
    const std::string& type = before.types.at(family);
    const bool cumulative = type == "counter" || (type == "histogram" && a.name != family + "_sum");
    if (!cumulative) continue;
    bool found = false;
    for (const Sample& b : after.samples) {
      if (b.name == a.name && b.labels == a.labels) {
        EXPECT_GE(b.value, a.value) << a.name << " went down between scrapes";
        found = true;
      }
    }
    EXPECT_TRUE(found) << a.name << " disappeared between scrapes";
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

TEST(MetricsEndpointTest, CoordinatorAndClientExposeWhatARoundDid) {
  TempDir dir("metrics");
  auto kits = ProvisionOrDie(dir.path() + "/project", 2);
  auto config = TestCoordinatorConfig(kits, dir.path() + "/data");
  config.rounds.count = 1;
  config.rounds.min_clients = 2;
  config.rounds.min_fit = 2;
  config.rounds.timeout_seconds = 30;
  config.rounds.eval_timeout_seconds = 10;
  config.metrics.port = 0;
  RunningServer server(config);
  ASSERT_TRUE(server.server().StartMetrics().ok());
  const uint16_t coord_port = server.server().metrics_port();
  ASSERT_NE(coord_port, 0);
  Exposition idle = Scrape(coord_port);
  EXPECT_EQ(idle.Value("fedge_coordinator_rounds_completed_total"), 0);
  EXPECT_EQ(idle.Value("fedge_coordinator_model_version"), 1);

  auto data = SyntheticData(200, 5);
  net::asio::io_context io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<client::Client>> clients;
  auto client_metrics =
      std::make_shared<client::ClientMetrics>(std::make_shared<shared::MetricsRegistry>());
  for (int i = 0; i < 2; ++i) {
    auto cfg = client::LoadClientConfig(kits.client_kits[i] + "/client.toml");
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    EXPECT_FALSE(cfg->metrics.enabled);  // off by default on clients
    cfg->host = "127.0.0.1";
    cfg->port = server.port();
    cfg->state_dir = dir.path() + "/state-" + std::to_string(i);
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
  clients[0]->set_metrics(client_metrics);
  client::AddClientCallbacks(*client_metrics, *clients[0]);
  shared::MetricsSettings settings;
  settings.port = 0;
  auto client_endpoint = client::ServeMetrics(client_metrics, settings, "client.toml");
  ASSERT_TRUE(client_endpoint.ok()) << client_endpoint.status().ToString();
  const uint16_t client_port = (*client_endpoint)->port();
  for (auto& c : clients) c->Start();
  std::thread io_thread([&io] {
    auto guard = net::asio::make_work_guard(io);
    io.run();
  });

  // Scrape until the round is complete (polling the endpoint is what Prometheus does).
  Exposition done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    done = Scrape(coord_port);
    if (done.Value("fedge_coordinator_rounds_completed_total") >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GE(done.Value("fedge_coordinator_rounds_completed_total"), 1);
  CheckSemantics(done);
  CheckMonotonic(idle, done);
  EXPECT_EQ(done.types.at("fedge_coordinator_rounds_started_total"), "counter");
  EXPECT_EQ(done.types.at("fedge_coordinator_round_duration_seconds"), "histogram");
  EXPECT_EQ(done.types.at("fedge_coordinator_connected_clients"), "gauge");
  EXPECT_GE(done.Value("fedge_coordinator_rounds_started_total"), 1);
  EXPECT_EQ(done.Value("fedge_coordinator_rounds_failed_total"), 0);
  EXPECT_EQ(done.Value("fedge_coordinator_round_duration_seconds_count"),
            done.Value("fedge_coordinator_rounds_completed_total"));
  EXPECT_EQ(done.Value("fedge_coordinator_updates_accepted_total"), 2);
  EXPECT_EQ(done.Value("fedge_coordinator_aggregation_seconds_count", {{"step", "fold"}}), 2);
  EXPECT_EQ(done.Value("fedge_coordinator_aggregation_seconds_count", {{"step", "finalize"}}), 1);
  EXPECT_EQ(done.Value("fedge_coordinator_model_version"), 2);
  const double accuracy = done.Value("fedge_coordinator_eval_accuracy");
  EXPECT_TRUE(accuracy >= 0 && accuracy <= 1) << accuracy;
  EXPECT_GT(done.Value("fedge_coordinator_received_bytes_total"), 0);
  EXPECT_GT(done.Value("fedge_coordinator_sent_bytes_total"), 0);
  // The gauge matches the engine's own list, and the per-client series.
  const size_t connected = server.server().engine().Snapshot()["connected"].size();
  EXPECT_EQ(connected, 2u);
  EXPECT_EQ(done.Value("fedge_coordinator_connected_clients"), static_cast<double>(connected));
  for (const std::string& id : kits.client_ids) {
    EXPECT_EQ(done.Value("fedge_coordinator_client_connected", {{"client", id}}), 1) << id;
  }

  // The client: it trained, sent bytes and now serves version 2; frames it classifies show in
  // the latency histogram.
  Exposition c1 = Scrape(client_port);
  CheckSemantics(c1);
  EXPECT_GE(c1.Value("fedge_client_training_tasks_total"), 1);
  EXPECT_GT(c1.Value("fedge_client_sent_bytes_total"), 0);
  EXPECT_GT(c1.Value("fedge_client_received_bytes_total"), 0);
  EXPECT_EQ(c1.Value("fedge_client_model_version"),
            static_cast<double>(clients[0]->serving_version()));
  EXPECT_GE(clients[0]->serving_version(), 1u);
  std::vector<client::Frame> frames(5);
  for (size_t i = 0; i < frames.size(); ++i) {
    frames[i].id = "cam#" + std::to_string(i);
    frames[i].captured_unix_ms = 1000 + static_cast<int64_t>(i);
    frames[i].image.width = 28;
    frames[i].image.height = 28;
    frames[i].image.channels = 1;
    frames[i].image.pixels.assign(28 * 28, static_cast<uint8_t>(40 * i));
  }
  auto observed = clients[0]->ObserveFrames(frames);
  ASSERT_TRUE(observed.ok()) << observed.status().ToString();
  Exposition c2 = Scrape(client_port);
  CheckSemantics(c2);
  CheckMonotonic(c1, c2);
  EXPECT_EQ(c2.Value("fedge_client_frames_total") - c1.Value("fedge_client_frames_total"), 5);
  EXPECT_EQ(c2.Value("fedge_client_inference_latency_seconds_count") -
                c1.Value("fedge_client_inference_latency_seconds_count"),
            5);
  EXPECT_GT(c2.Value("fedge_client_inference_latency_seconds_sum"), 0);

  // Bad requests to the coordinator's endpoint: clean 4xx, and it keeps serving.
  EXPECT_EQ(HttpExchange(coord_port, "GARBAGE\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(HttpExchange(coord_port,
                         "POST /metrics HTTP/1.1\r\nHost: h\r\n"
                         "Content-Length: 4\r\n\r\nbody")
                .substr(0, 12),
            "HTTP/1.1 405");
  EXPECT_EQ(HttpExchange(coord_port, "GET /" + std::string(20000, 'x') + " HTTP/1.1\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 431");
  EXPECT_EQ(HttpExchange(coord_port, "GET /status HTTP/1.1\r\nHost: h\r\n\r\n").substr(0, 12),
            "HTTP/1.1 404");
  Exposition after = Scrape(coord_port);
  CheckMonotonic(done, after);

  client_endpoint->reset();  // before the clients it reads
  for (auto& c : clients) c->Stop();
  io.stop();
  io_thread.join();
  compute.join();
}

TEST(MetricsConfigTest, CoordinatorOnByDefaultClientOffAndErrorsNameTheKey) {
  TempDir dir("metrics-config");
  auto kits = ProvisionOrDie(dir.path() + "/project", 1);
  auto c = coordinator::LoadCoordinatorConfig(kits.coordinator_kit + "/coordinator.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->metrics.enabled);
  EXPECT_EQ(c->metrics.listen, "127.0.0.1");
  EXPECT_EQ(c->metrics.port, 9464);
  auto k = client::LoadClientConfig(kits.client_kits[0] + "/client.toml");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_FALSE(k->metrics.enabled);
  EXPECT_EQ(k->metrics.port, 9465);
  const std::string base = kits.coordinator_kit + "/coordinator.toml";
  std::string text;
  {
    std::ifstream in(base);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"listen = \"metrics.local\"", "key 'metrics.listen': 'metrics.local' is not an IP address"},
      {"port = 65536", "key 'metrics.port'"},
      {"prot = 1", "metrics.prot"}};
  for (const auto& [line, what] : bad) {
    const std::string path = dir.path() + "/bad.toml";
    std::ofstream(path) << text << "\n[metrics]\n" << line << "\n";
    auto b = coordinator::LoadCoordinatorConfig(path);
    ASSERT_FALSE(b.ok()) << line;
    EXPECT_NE(b.status().message().find(path), std::string::npos) << b.status().message();
    EXPECT_NE(b.status().message().find(what), std::string::npos) << b.status().message();
  }
}

}  // namespace
}  // namespace fedge::testing
