// The edge client with its private sample store, against a real coordinator over mutual TLS:
// nothing stored leaves the site (checked on the decrypted bytes the client sent), the audit
// log records exactly what was sent, and the persistent outbox delivers an update after a
// restart and drops one whose round is closed.
#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string_view>
#include <unordered_map>

#include "client/camera_data.h"
#include "client/client.h"
#include "client/label_import.h"
#include "shared/crypto/crypto.h"
#include "shared/net/tls.h"
#include "shared/net/wire.h"
#include "shared/vision/image_codec.h"
#include "shared/vision/render.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using shared::Status;
using Clock = std::chrono::steady_clock;

// Waits up to `timeout` for `done` (polled every 20 ms); the result of the last poll.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A TLS-terminating relay between one client and the coordinator, so a test can read the
// plaintext the client sends without any hook in the product. It presents the coordinator's
// certificate to the client (which verifies it against the project CA and host 127.0.0.1) and
// the client's own certificate to the coordinator (which then sees the same identity).
// Records the client-to-coordinator bytes of each connection. One thread, callbacks only.
class PlaintextTap {
 public:
  PlaintextTap(const shared::TlsFiles& server_side, const shared::TlsFiles& client_side,
               uint16_t upstream_port)
      : acceptor_(io_, {net::asio::ip::make_address("127.0.0.1"), 0}),
        upstream_({net::asio::ip::make_address("127.0.0.1"), upstream_port}) {
    auto server = shared::MakeServerTlsContext(server_side);
    auto client = shared::MakeClientTlsContext(client_side);
    EXPECT_TRUE(server.ok() && client.ok());
    server_ctx_ = std::move(*server);
    client_ctx_ = std::move(*client);
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~PlaintextTap() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // True once `n` connections were accepted and all of them have ended.
  bool AllClosed(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.size() >= n && open_ == 0;
  }
  std::vector<std::vector<uint8_t>> Streams() {
    std::lock_guard<std::mutex> lock(mu_);
    return {streams_.begin(), streams_.end()};
  }

 private:
  struct Relay : std::enable_shared_from_this<Relay> {
    Relay(PlaintextTap* t, net::tcp::socket s, size_t i)
        : tap(t), down(std::move(s), *t->server_ctx_), up(t->io_, *t->client_ctx_), index(i) {}
    void Start() {
      auto self = shared_from_this();
      down.async_handshake(net::ssl::stream_base::server, [self](const net::error_code& ec) {
        if (ec) return self->Finish();
        self->up.lowest_layer().async_connect(self->tap->upstream_,
                                              [self](const net::error_code& ec) {
                                                if (ec) return self->Finish();
                                                self->HandshakeUp();
                                              });
      });
    }
    void HandshakeUp() {
      auto self = shared_from_this();
      EXPECT_TRUE(shared::ConfigureClientStream(up, "127.0.0.1").ok());
      up.async_handshake(net::ssl::stream_base::client, [self](const net::error_code& ec) {
        if (ec) return self->Finish();
        self->Pump(true);
        self->Pump(false);
      });
    }
    // Copies one direction: client -> coordinator (recorded) or back.
    void Pump(bool from_client) {
      auto self = shared_from_this();
      net::TlsStream& in = from_client ? down : up;
      std::array<uint8_t, 16384>& buf = from_client ? to_up : to_down;
      in.async_read_some(
          net::asio::buffer(buf), [self, from_client](const net::error_code& ec, size_t n) {
            if (ec) return self->Finish();
            std::array<uint8_t, 16384>& buf = from_client ? self->to_up : self->to_down;
            if (from_client) self->tap->Record(self->index, std::span(buf.data(), n));
            net::TlsStream& out = from_client ? self->up : self->down;
            net::asio::async_write(out, net::asio::buffer(buf.data(), n),
                                   [self, from_client](const net::error_code& ec, size_t) {
                                     if (ec) return self->Finish();
                                     self->Pump(from_client);
                                   });
          });
    }
    void Finish() {
      if (finished) return;
      finished = true;
      net::error_code ignored;
      down.lowest_layer().close(ignored);
      up.lowest_layer().close(ignored);
      std::lock_guard<std::mutex> lock(tap->mu_);
      --tap->open_;
    }
    PlaintextTap* tap;
    net::TlsStream down, up;
    size_t index;
    std::array<uint8_t, 16384> to_up{}, to_down{};
    bool finished = false;
  };

  void Accept() {
    acceptor_.async_accept([this](const net::error_code& ec, net::tcp::socket socket) {
      if (ec) return;
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mu_);
        index = streams_.size();
        streams_.emplace_back();
        ++open_;
      }
      std::make_shared<Relay>(this, std::move(socket), index)->Start();
      Accept();
    });
  }
  void Record(size_t index, std::span<const uint8_t> bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_[index].insert(streams_[index].end(), bytes.begin(), bytes.end());
  }

  net::asio::io_context io_;
  net::tcp::acceptor acceptor_;
  net::tcp::endpoint upstream_;
  std::unique_ptr<net::ssl::context> server_ctx_, client_ctx_;
  std::mutex mu_;
  std::deque<std::vector<uint8_t>> streams_;  // guarded by mu_
  int open_ = 0;                              // guarded by mu_
  std::thread thread_;
};

// Splits a recorded stream into frame payloads; *tail gets the bytes of an incomplete frame.
std::vector<std::vector<uint8_t>> SplitFrames(const std::vector<uint8_t>& stream, size_t* tail) {
  std::vector<std::vector<uint8_t>> out;
  size_t pos = 0;
  while (stream.size() - pos >= shared::kFrameHeaderBytes) {
    const uint32_t n = (uint32_t{stream[pos]} << 24) | (uint32_t{stream[pos + 1]} << 16) |
                       (uint32_t{stream[pos + 2]} << 8) | stream[pos + 3];
    if (stream.size() - pos - shared::kFrameHeaderBytes < n) break;
    const auto begin = stream.begin() + static_cast<std::ptrdiff_t>(pos + 4);
    out.emplace_back(begin, begin + n);
    pos += shared::kFrameHeaderBytes + n;
  }
  *tail = stream.size() - pos;
  return out;
}

// Byte strings that must never appear in anything the client sends. All have kNeedle bytes;
// low-variety strings (a flat background) are left out, as they could match by chance.
class Needles {
 public:
  static constexpr size_t kNeedle = 32;
  void AddChunks(std::span<const uint8_t> bytes, const std::string& what) {
    for (size_t off = 0; off + kNeedle <= bytes.size(); off += kNeedle) {
      std::string s(reinterpret_cast<const char*>(bytes.data() + off), kNeedle);
      if (std::set<char>(s.begin(), s.end()).size() < 12) continue;
      if (index_.count(s)) continue;
      storage_.push_back(s);
      index_.emplace(storage_.back(), what + " at byte " + std::to_string(off));
    }
  }
  size_t size() const { return index_.size(); }
  // The first needle found in `haystack`, or "".
  std::string FindIn(std::span<const uint8_t> haystack) const {
    for (size_t pos = 0; pos + kNeedle <= haystack.size(); ++pos) {
      std::string_view window(reinterpret_cast<const char*>(haystack.data() + pos), kNeedle);
      if (auto it = index_.find(window); it != index_.end()) return it->second;
    }
    return "";
  }
  const std::string& any() const { return storage_.front(); }

 private:
  std::deque<std::string> storage_;  // stable addresses for the views in index_
  std::unordered_map<std::string_view, std::string> index_;
};

// 28x28 grey items: a bright bar whose position depends on the class.
std::vector<uint8_t> Items(const std::vector<int64_t>& labels) {
  std::vector<uint8_t> items(labels.size() * 784, 0);
  std::mt19937_64 rng(23);
  std::uniform_int_distribution<int> noise(0, 40);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int c = static_cast<int>(labels[i]);
    for (int p = 0; p < 784; ++p) {
      const int x = p % 28, y = p / 28;
      const bool on = x >= 2 + 2 * c && x < 6 + 2 * c && y >= 3 && y < 25;
      items[i * 784 + p] = static_cast<uint8_t>(on ? 215 + noise(rng) : noise(rng));
    }
  }
  return items;
}

constexpr char kSite[] = "gatecam";  // the video's stem: frame ids are "gatecam#<i>"
constexpr int kFrames = 30;

// Everything a run of one site through one training round (and its evaluation) produced.
struct SiteRun {
  std::vector<std::vector<uint8_t>> streams;  // decrypted client -> coordinator bytes
  std::vector<client::AuditEntry> audit;
  Needles needles;
  std::vector<uint64_t> class_counts;  // of the store's labelled frames
  uint64_t train_examples = 0;         // labelled frames not held out
  uint64_t sessions = 0, trained = 0, evaluated = 0;
  bool round_done = false, tap_closed = false;
};

// One round (count 1, evaluate) with one client whose data is its sample store, holding the
// frames of a rendered video with imported labels; the client talks through a PlaintextTap.
std::unique_ptr<SiteRun> RunSite(const std::string& dir, const std::string& codec) {
  auto run = std::make_unique<SiteRun>();
  auto kits = ProvisionOrDie(dir + "/project", 1);
  std::vector<int64_t> labels(kFrames);
  for (int i = 0; i < kFrames; ++i) labels[i] = (i * 7 + 2) % 10;
  const std::string video = dir + "/" + kSite + ".avi", csv = dir + "/" + kSite + ".csv";
  Status written = vision::WriteSiteVideo(video, csv, Items(labels), labels,
                                          vision::SiteConditionsForIndex(4, 1), 10, 48);
  EXPECT_TRUE(written.ok()) << written.ToString();

  auto config = TestCoordinatorConfig(kits, dir + "/data");
  config.model_arch = "cnn_color";
  config.rounds.training.codec = codec;
  config.rounds.count = 1;
  config.rounds.min_clients = 1;
  config.rounds.min_fit = 1;
  config.rounds.evaluate = true;
  config.rounds.timeout_seconds = 60;
  config.rounds.eval_timeout_seconds = 60;
  RunningServer server(config);

  auto cfg = client::LoadClientConfig(kits.client_kits[0] + "/client.toml");
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  PlaintextTap tap(config.tls, cfg->tls, server.port());
  cfg->host = "127.0.0.1";
  cfg->port = tap.port();
  cfg->state_dir = dir + "/state";
  cfg->threads = 1;
  cfg->data.source = "store";
  net::asio::io_context io(1);
  net::asio::thread_pool compute(1);
  client::Client c(*cfg, client::LocalData{}, io, &compute);
  Status init = c.Init();
  EXPECT_TRUE(init.ok()) << init.ToString();
  if (!init.ok()) return run;

  // The site's private data: every frame of the video, labelled.
  client::SampleStore& store = *c.store();
  client::SourceOptions so;
  so.uri = video;
  auto source = client::OpenFrameSource(so);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  if (!source.ok()) return run;
  auto ingest = client::IngestFrames(**source, store, {});
  EXPECT_TRUE(ingest.ok() && ingest->stored == kFrames);
  auto imported = client::ImportLabels(store, csv);
  EXPECT_TRUE(imported.ok() && imported->labels_set == kFrames);
  run->class_counts = store.ClassCounts();

  // What must not leave: the encoded frames, their decoded pixel rows, and the model inputs
  // made from them (the float tensors training uses).
  auto frames = store.LabelledFrames();
  EXPECT_TRUE(frames.ok());
  if (!frames.ok()) return run;
  for (const client::LabelledFrame& f : *frames) {
    run->needles.AddChunks(f.bytes, f.id + " encoded");
    auto image = vision::DecodeImage(f.bytes);
    EXPECT_TRUE(image.ok());
    if (!image.ok()) continue;
    const size_t row = static_cast<size_t>(image->width) * image->channels;
    for (int y = 0; y < image->height; ++y) {
      std::span<const uint8_t> r(image->pixels.data() + y * row, row);
      run->needles.AddChunks(r, f.id + " pixel row " + std::to_string(y));
      run->needles.AddChunks(r.last(Needles::kNeedle), f.id + " pixel row end");
    }
  }
  auto inputs = client::LoadStoreData(store, client::InputSpecFor(3, 32, 32), 10,
                                      cfg->data.holdout_fraction, cfg->data.seed);
  EXPECT_TRUE(inputs.ok()) << inputs.status().ToString();
  if (!inputs.ok()) return run;
  run->train_examples = inputs->train.size();
  const std::vector<float>& floats = inputs->dataset->images;
  run->needles.AddChunks(
      std::span(reinterpret_cast<const uint8_t*>(floats.data()), floats.size() * sizeof(float)),
      "model input");

  c.Start();
  std::thread io_thread([&io] {
    auto guard = net::asio::make_work_guard(io);
    io.run();
  });
  // Done when version 2 exists and carries the client's federated evaluation.
  run->round_done = WaitFor(
      [&] {
        auto latest = server.server().store().LatestModel();
        return latest.ok() && latest->has_value() && (*latest)->version == 2 &&
               (*latest)->metrics.contains("federated_eval");
      },
      std::chrono::seconds(60));
  c.Stop();
  // The tap has relayed (and recorded) everything once the client's connection is gone.
  run->tap_closed = WaitFor([&] { return tap.AllClosed(1); }, std::chrono::seconds(10));
  io.stop();
  io_thread.join();
  compute.join();
  run->streams = tap.Streams();
  auto audit = c.store()->Audit();
  EXPECT_TRUE(audit.ok());
  run->audit = std::move(*audit);
  run->sessions = c.stats().sessions.load();
  run->trained = c.stats().tasks_trained.load();
  run->evaluated = c.stats().tasks_evaluated.load();
  return run;
}

const std::set<wire::Message> kClientMessages = {
    wire::Message::Hello,     wire::Message::Heartbeat,    wire::Message::BlobRequest,
    wire::Message::BlobChunk, wire::Message::UpdateSubmit, wire::Message::EvalReport,
    wire::Message::Error};

void ExpectNothingStoredLeft(const SiteRun& run) {
  ASSERT_TRUE(run.round_done) << "the round and its evaluation did not complete";
  ASSERT_TRUE(run.tap_closed);
  EXPECT_EQ(run.trained, 1u);
  EXPECT_EQ(run.evaluated, 1u);
  ASSERT_EQ(run.streams.size(), 1u) << "one session expected";
  ASSERT_GT(run.needles.size(), 1000u);
  const std::vector<uint8_t>& stream = run.streams[0];
  size_t tail = 0;
  std::vector<std::vector<uint8_t>> payloads = SplitFrames(stream, &tail);
  ASSERT_FALSE(payloads.empty());

  // No 32-byte piece of a stored frame, of its pixels or of a model input, anywhere.
  EXPECT_EQ(run.needles.FindIn(stream), "") << "stored data left the client";
  // No frame id, nor even the site's camera name.
  const std::string_view text(reinterpret_cast<const char*>(stream.data()), stream.size());
  EXPECT_EQ(text.find(kSite), std::string_view::npos);
  // The search is not vacuous: a needle planted in a copy of the stream is found.
  std::vector<uint8_t> planted = stream;
  ASSERT_GT(planted.size(), 5000u);
  std::copy(run.needles.any().begin(), run.needles.any().end(), planted.begin() + 4321);
  EXPECT_NE(run.needles.FindIn(planted), "");

  // Only protocol messages; model bytes only as update chunks of the announced update.
  uint64_t chunk_bytes = 0, announced = 0;
  std::vector<uint8_t> update;
  for (const std::vector<uint8_t>& p : payloads) {
    auto env = shared::VerifyEnvelope(p);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    EXPECT_TRUE(kClientMessages.count((*env)->message_type()))
        << wire::EnumNameMessage((*env)->message_type());
    if (const auto* c = (*env)->message_as_BlobChunk()) {
      EXPECT_EQ(c->kind(), wire::BlobKind::Update);
      if (c->offset() == update.size()) {
        update.insert(update.end(), c->data()->begin(), c->data()->end());
      }
      chunk_bytes += c->data()->size();
    }
    if (const auto* u = (*env)->message_as_UpdateSubmit()) {
      announced = u->blob_size();
      auto digest = shared::DigestField(u->blob_digest(), "digest");
      ASSERT_TRUE(digest.ok());
      EXPECT_EQ(u->example_count(), run.train_examples);
      EXPECT_EQ(u->idempotency_id()->str().find(kSite), std::string::npos);
    }
  }
  EXPECT_GT(announced, 0u);
  EXPECT_EQ(update.size(), announced) << "the chunks are exactly the announced update";
  EXPECT_EQ(chunk_bytes, announced);

  // The Hello carries counts and the software name, nothing else.
  const wire::Hello* hello = (*shared::VerifyEnvelope(payloads[0]))->message_as_Hello();
  ASSERT_NE(hello, nullptr) << "the first message is the Hello";
  std::vector<uint64_t> counts(hello->class_counts()->begin(), hello->class_counts()->end());
  EXPECT_EQ(counts, run.class_counts);
  EXPECT_EQ(hello->train_examples(), static_cast<uint64_t>(kFrames));
  EXPECT_EQ(hello->eval_examples(), 0u);
  EXPECT_EQ(hello->software()->str().rfind("fedge-client", 0), 0u) << hello->software()->str();
}

class EdgeClientTest : public ::testing::Test {
 protected:
  // The fp32 run is shared by the privacy and the audit test (one round costs seconds).
  static const SiteRun& Fp32Run() {
    static std::unique_ptr<SiteRun> run = [] {
      TempDir dir("edge-fp32");
      return RunSite(dir.path(), "fp32");
    }();
    return *run;
  }
};

TEST_F(EdgeClientTest, NothingInTheStoreLeavesTheClient) { ExpectNothingStoredLeft(Fp32Run()); }

TEST_F(EdgeClientTest, NothingInTheStoreLeavesTheClientWithTopKUpdates) {
  TempDir dir("edge-topk");
  ExpectNothingStoredLeft(*RunSite(dir.path(), "topk_int8"));
}

// `fedge-client infer` as a data owner runs it: the model installed by the round, no
// coordinator, a video file to the end; and a clear error before any model was installed.
TEST_F(EdgeClientTest, InferCommandRunsTheInstalledModelWithoutACoordinator) {
  TempDir dir("edge-infer");
  ASSERT_TRUE(RunSite(dir.path(), "fp32")->round_done);
  auto kits = ProvisionOrDie(dir.path() + "/kit", 1);  // only its TLS files are referenced
  const std::string kit = kits.client_kits[0];
  auto write_config = [&](const std::string& path, const std::string& state) {
    std::ofstream(path) << "[coordinator]\nhost = \"127.0.0.1\"\nport = 9\n[tls]\nca = \"" << kit
                        << "/ca.crt\"\ncert = \"" << kit << "/client.crt\"\nkey = \"" << kit
                        << "/client.key\"\n[storage]\ndir = \"" << state << "\"\n";
  };
  write_config(dir.path() + "/client.toml", dir.path() + "/state");
  const std::string sink = dir.path() + "/predictions.jsonl";
  std::string out;
  int code =
      RunCommand({FEDGE_CLIENT_BIN, "infer", "--config", dir.path() + "/client.toml", "--source",
                  dir.path() + "/" + kSite + ".avi", "--sink", sink, "--no-store"},
                 &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("installed model version 2 (cnn_color)"), std::string::npos) << out;
  EXPECT_NE(out.find("frames " + std::to_string(kFrames) + " "), std::string::npos) << out;
  EXPECT_NE(out.find("frames/s"), std::string::npos) << out;
  EXPECT_NE(out.find("p99"), std::string::npos) << out;
  std::ifstream in(sink);
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_NE(line.find("\"frame_id\":\"gatecam#"), std::string::npos) << line;
  }
  EXPECT_EQ(lines, kFrames);

  write_config(dir.path() + "/fresh.toml", dir.path() + "/fresh-state");
  code = RunCommand({FEDGE_CLIENT_BIN, "infer", "--config", dir.path() + "/fresh.toml", "--source",
                     dir.path() + "/" + kSite + ".avi", "--no-store"},
                    &out);
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("no installed model"), std::string::npos) << out;
}

TEST_F(EdgeClientTest, AuditLogRecordsExactlyWhatWasSent) {
  const SiteRun& run = Fp32Run();
  ASSERT_TRUE(run.round_done && run.tap_closed);
  ASSERT_EQ(run.streams.size(), 1u);
  size_t tail = 0;
  std::vector<std::vector<uint8_t>> payloads = SplitFrames(run.streams[0], &tail);
  // One entry per payload, in order, with its type and size. A payload cut off by the close
  // at Stop() may be audited without having been relayed in full.
  ASSERT_GE(run.audit.size(), payloads.size());
  EXPECT_LE(run.audit.size(), payloads.size() + 1);
  if (run.audit.size() == payloads.size()) {
    EXPECT_EQ(tail, 0u);
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    const wire::Envelope* env = *shared::VerifyEnvelope(payloads[i]);
    EXPECT_EQ(run.audit[i].type, wire::EnumNameMessage(env->message_type())) << i;
    EXPECT_EQ(run.audit[i].bytes, payloads[i].size()) << i;
    // The full content, as the coordinator received it; a chunk's bytes only as their hash.
    nlohmann::json content = nlohmann::json::parse(run.audit[i].content, nullptr, false);
    ASSERT_TRUE(content.is_object()) << i << ": " << run.audit[i].content;
    EXPECT_EQ(content["type"], run.audit[i].type) << i;
    if (const wire::BlobChunk* c = env->message_as_BlobChunk()) {
      EXPECT_EQ(content["message"]["data"]["sha256"],
                shared::ToHex(shared::Sha256(std::span(c->data()->data(), c->data()->size()))));
      EXPECT_EQ(content["message"]["offset"], c->offset());
      EXPECT_LT(run.audit[i].content.size(), 1000u);
    } else if (const wire::UpdateSubmit* u = env->message_as_UpdateSubmit()) {
      EXPECT_EQ(content["message"]["example_count"], u->example_count());
      EXPECT_EQ(content["message"]["idempotency_id"], u->idempotency_id()->str());
      EXPECT_EQ(content["message"]["metrics"].size(), u->metrics() ? u->metrics()->size() : 0u);
    }
    if (i > 0) {
      EXPECT_GT(run.audit[i].seq, run.audit[i - 1].seq);
    }
  }
  ASSERT_FALSE(run.audit.empty());
  EXPECT_EQ(run.audit[0].type, "Hello");
  uint64_t update_size = 0, chunk_bytes = 0;
  int submits = 0, reports = 0;
  for (const client::AuditEntry& e : run.audit) {
    if (e.type == "UpdateSubmit") {
      ++submits;
      EXPECT_EQ(e.round, 1u);
      EXPECT_GT(e.bytes, 0u);
      const size_t at = e.detail.find("-byte update");
      ASSERT_NE(at, std::string::npos) << e.detail;
      update_size = std::stoull(e.detail.substr(e.detail.rfind(' ', at) + 1));
    }
    if (e.type == "BlobChunk") chunk_bytes += e.bytes;
    if (e.type == "EvalReport") {
      ++reports;
      EXPECT_EQ(e.round, 1u);
    }
  }
  EXPECT_EQ(submits, 1);
  EXPECT_EQ(reports, 1);
  EXPECT_GT(update_size, 100000u);  // cnn_color in fp32
  EXPECT_GE(chunk_bytes, update_size);
}

// --- The persistent outbox ---------------------------------------------------------------

// A client on `cfg` with a little local data, running on its own io thread until destroyed.
class RunningClient {
 public:
  explicit RunningClient(const client::ClientConfig& cfg) : compute_(1) {
    client::LocalData local;
    local.dataset = SyntheticData(40, 2);
    for (int k = 0; k < 40; ++k) local.train.push_back(k);
    local.class_counts.assign(10, 4);
    client_ = std::make_unique<client::Client>(cfg, local, io_, &compute_);
    init_ = client_->Init();
  }
  void Start() {
    client_->Start();
    thread_ = std::thread([this] {
      auto guard = net::asio::make_work_guard(io_);
      io_.run();
    });
  }
  ~RunningClient() {
    client_->Stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    compute_.join();
  }
  client::Client& operator*() { return *client_; }
  client::Client* operator->() { return client_.get(); }
  const Status& init() const { return init_; }

 private:
  net::asio::io_context io_{1};
  net::asio::thread_pool compute_;
  std::unique_ptr<client::Client> client_;
  Status init_;
  std::thread thread_;
};

size_t OutboxSize(client::SampleStore& store) {
  auto out = store.Outgoing();
  EXPECT_TRUE(out.ok());
  return out.ok() ? out->size() : 999;
}

TEST(EdgeClientOutboxTest, StoredUpdateIsDeliveredAfterRestartAndAStaleOneIsDropped) {
  TempDir dir("edge-outbox");
  auto kits = ProvisionOrDie(dir.path() + "/project", 1);
  auto config = TestCoordinatorConfig(kits, dir.path() + "/data");
  config.rounds.count = 1;
  config.rounds.min_clients = 1;
  config.rounds.min_fit = 1;
  config.rounds.evaluate = false;
  config.rounds.timeout_seconds = 60;
  RunningServer server(config);

  // The coordinator offers site-001 its task; the client's process then "loses power" after
  // training: the update is in its outbox, not yet delivered.
  const std::string& kit = kits.client_kits[0];
  RawClient raw(kit + "/ca.crt", kit + "/client.crt", kit + "/client.key");
  ASSERT_TRUE(raw.Connect(server.port()).ok());
  ASSERT_TRUE(raw.SendHello().ok());
  ASSERT_FALSE(Expect(raw, wire::Message::Welcome).empty());
  std::vector<uint8_t> offer_frame = Expect(raw, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_frame.empty());
  const wire::TaskOffer* offer = Verified(offer_frame)->message_as_TaskOffer();
  const uint64_t task = offer->task_id(), round = offer->round();
  auto model_digest = shared::DigestField(offer->model_digest(), "digest");
  ASSERT_TRUE(model_digest.ok());
  auto model = server.server().store().GetBlob(*model_digest);
  ASSERT_TRUE(model.ok());
  raw.Drop();
  ASSERT_TRUE(WaitFor([&] { return server.server().engine().Snapshot()["connected"].empty(); },
                      std::chrono::seconds(10)));

  auto cfg = client::LoadClientConfig(kit + "/client.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  cfg->host = "127.0.0.1";
  cfg->port = server.port();
  cfg->state_dir = dir.path() + "/state";
  cfg->threads = 1;
  const std::string client_id = kits.client_ids[0];
  client::OutgoingRecord record;
  record.task_id = std::to_string(task);
  record.round = round;
  record.submit = Submit(task, round, client_id + "/" + std::to_string(task), *model);
  record.blob = *model;
  {
    auto store = client::SampleStore::Open(client::StoreDir(*cfg), {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->PutOutgoing(record).ok());
  }

  {
    RunningClient c(*cfg);
    ASSERT_TRUE(c.init().ok()) << c.init().ToString();
    ASSERT_EQ(OutboxSize(*c->store()), 1u);
    c.Start();
    ASSERT_TRUE(WaitFor(
        [&] { return server.server().store().GetModel(2).ok() && OutboxSize(*c->store()) == 0; },
        std::chrono::seconds(30)))
        << "the stored update was not delivered";
    auto v2 = server.server().store().GetModel(2);
    ASSERT_EQ(v2->contributors.size(), 1u);
    EXPECT_EQ(v2->contributors[0].client_id, client_id);
    EXPECT_EQ(v2->total_examples, 25u) << "the stored update, not a fresh one, was folded";
    EXPECT_EQ(c->stats().tasks_trained.load(), 0u) << "the re-offered task was trained again";
    EXPECT_EQ(c->stats().models_downloaded.load(), 0u);
    EXPECT_GE(c->stats().updates_acked.load(), 1u);

    // Its audit log: the Hello, then the stored UpdateSubmit and the blob's chunks.
    auto audit = c->store()->Audit();
    ASSERT_TRUE(audit.ok());
    ASSERT_GE(audit->size(), 3u);
    EXPECT_EQ((*audit)[0].type, "Hello");
    uint64_t chunk_bytes = 0;
    bool submitted = false;
    for (const client::AuditEntry& e : *audit) {
      if (e.type == "UpdateSubmit") {
        submitted = true;
        EXPECT_EQ(e.round, round);
        EXPECT_EQ(e.bytes, record.submit.size());
      }
      if (e.type == "BlobChunk") chunk_bytes += e.bytes;
    }
    EXPECT_TRUE(submitted);
    EXPECT_GE(chunk_bytes, record.blob.size());
  }

  // A second restart finds an update for round 1, which has closed: the coordinator refuses
  // it and the client drops it from its outbox.
  auto v2 = server.server().store().GetModel(2);
  ASSERT_TRUE(v2.ok());
  auto v2_blob = server.server().store().GetBlob(*shared::DigestFromHex(v2->digest_hex));
  ASSERT_TRUE(v2_blob.ok());
  client::OutgoingRecord stale;
  stale.task_id = std::to_string(task + 100);
  stale.round = round;
  stale.submit = Submit(task + 100, round, client_id + "/stale", *v2_blob);
  stale.blob = *v2_blob;
  {
    auto store = client::SampleStore::Open(client::StoreDir(*cfg), {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_EQ(OutboxSize(**store), 0u);
    ASSERT_TRUE((*store)->PutOutgoing(stale).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return server.server().engine().Snapshot()["connected"].empty(); },
                      std::chrono::seconds(10)));
  RunningClient c(*cfg);
  ASSERT_TRUE(c.init().ok()) << c.init().ToString();
  c.Start();
  EXPECT_TRUE(WaitFor(
      [&] { return c->stats().errors_received.load() >= 1 && OutboxSize(*c->store()) == 0; },
      std::chrono::seconds(30)))
      << "the stale update is still in the outbox";
  EXPECT_EQ(c->stats().updates_acked.load(), 0u);
  EXPECT_TRUE(c->fatal().ok());
  auto head = server.server().store().LatestModel();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->version, 2u) << "a stale update changed the model";
}

}  // namespace
}  // namespace fedge::testing
