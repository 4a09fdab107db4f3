// Drift reports over real mutual TLS against a real coordinator: garbage is refused with a clear
// Error and changes nothing, and persistent drift on enough clients starts a retraining
// campaign by itself whose training offers favour the drifted clients' recent frames.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>

#include "shared/codec/bundle_codec.h"
#include "shared/drift/drift_wire.h"
#include "shared/net/wire.h"
#include "shared/vision/render.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using drift::Feature;

// A consistent window of `frames` frames (every image feature in one bin).
drift::Summary Window(uint64_t frames) {
  drift::Summary s;
  drift::FrameObservation f;
  f.brightness = 0.2;
  f.contrast = 0.1;
  f.sharpness = 1.5;
  f.saturation = 0.3;
  f.clipped = 0;
  for (uint64_t i = 0; i < frames; ++i) s.Add(f, 10);
  return s;
}

struct Report {
  uint64_t version = 1;
  uint64_t window = 0;
  double score = 0.1;
  std::string top = "brightness";
  bool drifted = false;
  bool alarm = false;
  double detector = 0.1;
  std::vector<std::pair<std::string, double>> distances = {{"brightness", 0.1}};
  drift::Summary summary = Window(100);
  uint64_t onset_ms = 0;
  uint64_t captured_ms = 1'700'000'000'000;
  // Raw histograms instead of `summary`, to send what Summary would never produce.
  std::vector<std::pair<std::string, std::vector<uint64_t>>> raw_histograms;
};

std::vector<uint8_t> Encode(const Report& r) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<wire::KeyValue>> kvs;
  for (const auto& [k, v] : r.distances) {
    kvs.push_back(wire::CreateKeyValue(fbb, fbb.CreateString(k), v));
  }
  auto dv = fbb.CreateVector(kvs);
  auto top = fbb.CreateString(r.top);
  flatbuffers::Offset<wire::DriftSummary> summary;
  if (r.raw_histograms.empty()) {
    summary = drift::ToWire(fbb, r.summary);
  } else {
    std::vector<flatbuffers::Offset<wire::FeatureHistogram>> hs;
    for (const auto& [name, counts] : r.raw_histograms) {
      hs.push_back(
          wire::CreateFeatureHistogram(fbb, fbb.CreateString(name), fbb.CreateVector(counts)));
    }
    summary = wire::CreateDriftSummary(fbb, r.summary.frames, 0, fbb.CreateVector(hs));
  }
  return shared::FinishEnvelope(
      fbb, wire::CreateDriftReport(fbb, r.version, r.window, r.score, top, r.score > 0.25, r.alarm,
                                   r.drifted, r.detector, dv, summary, r.onset_ms, r.captured_ms));
}

class DriftTest : public ::testing::Test {
 protected:
  explicit DriftTest(int min_clients = 100)
      : dir_("drift"), kits_(ProvisionOrDie(dir_.path() + "/project", 3)) {
    config_ = TestCoordinatorConfig(kits_, dir_.path() + "/data");
    config_.rounds.min_clients = min_clients;
    config_.rounds.count = 0;  // no rounds unless the drift policy asks for them
    config_.rounds.min_fit = 1;
    config_.rounds.evaluate = false;
    config_.drift.persistence = 2;
    config_.drift.min_clients = 2;
    config_.drift.campaign_rounds = 2;
    config_.drift.focus_fraction = 0.4;
    config_.drift.update_weight = 2;
    config_.drift.campaign_lr_scale = 0.5;
    server_ = std::make_unique<RunningServer>(config_);
  }

  std::unique_ptr<RawClient> Connected(int i) {
    const std::string kit = kits_.client_kits[i];
    auto c = std::make_unique<RawClient>(kit + "/ca.crt", kit + "/client.crt", kit + "/client.key");
    EXPECT_TRUE(c->Connect(server_->port()).ok());
    EXPECT_TRUE(c->SendHello().ok());
    EXPECT_TRUE(Expect(*c, wire::Message::Welcome).size() > 0);
    return c;
  }

  nlohmann::json DriftState() {
    const std::string admin = kits_.admin_kits[0];
    RawClient a(admin + "/ca.crt", admin + "/admin.crt", admin + "/admin.key");
    EXPECT_TRUE(a.Connect(server_->port()).ok());
    EXPECT_TRUE(a.SendHello().ok());
    EXPECT_TRUE(a.ReadNonHeartbeat().ok());  // Welcome
    auto r = a.AdminCall("drift");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : nlohmann::json();
  }

  // Sends `r` and expects an Error whose message contains `what`.
  void ExpectRefused(RawClient& c, const Report& r, const std::string& what) {
    ASSERT_TRUE(c.WriteFrame(Encode(r)).ok());
    auto frame = c.ReadNonHeartbeat();
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    const wire::Envelope* env = Verified(*frame);
    ASSERT_NE(env, nullptr);
    const wire::Error* e = env->message_as_Error();
    ASSERT_NE(e, nullptr) << "expected an Error for: " << what;
    EXPECT_EQ(e->code(), wire::ErrorCode::InvalidArgument);
    EXPECT_NE(e->message()->str().find("drift report rejected"), std::string::npos)
        << e->message()->str();
    EXPECT_NE(e->message()->str().find(what), std::string::npos) << e->message()->str();
  }

  TempDir dir_;
  shared::ProvisionResult kits_;
  coordinator::CoordinatorConfig config_;
  std::unique_ptr<RunningServer> server_;
};

TEST_F(DriftTest, GarbageReportsAreRefusedCleanlyAndChangeNothing) {
  std::unique_ptr<RawClient> client = Connected(0);
  RawClient& c = *client;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Report r;
  r.score = nan;
  ExpectRefused(c, r, "score");
  r = Report();
  r.score = -3;
  ExpectRefused(c, r, "score");
  r = Report();
  r.detector = std::numeric_limits<double>::infinity();
  ExpectRefused(c, r, "detector");
  r = Report();
  r.version = 99;
  ExpectRefused(c, r, "model_version 99");
  r = Report();
  r.distances = {{"brightness", nan}};
  ExpectRefused(c, r, "distances 'brightness' is not finite");
  r = Report();
  r.distances = {{"loudness", 0.3}};
  ExpectRefused(c, r, "unknown feature 'loudness'");
  r = Report();
  r.top = "loudness";
  ExpectRefused(c, r, "top_feature");
  r = Report();
  r.raw_histograms = {{"brightness", {1, 2, 3}}};
  ExpectRefused(c, r, "3 bins");
  r = Report();
  r.raw_histograms = {{"colour", std::vector<uint64_t>(drift::kBins, 10)}};
  ExpectRefused(c, r, "unknown feature 'colour'");
  r = Report();  // counts that do not add up to the window's frames
  r.raw_histograms = {{"brightness", std::vector<uint64_t>(drift::kBins, 3)}};
  ExpectRefused(c, r, "brightness");
  r = Report();
  r.summary = drift::Summary();
  ExpectRefused(c, r, "0 frames");
  r = Report();
  r.drifted = true;  // without an onset
  ExpectRefused(c, r, "onset");
  r = Report();
  r.onset_ms = r.captured_ms + 1;
  r.drifted = true;
  ExpectRefused(c, r, "onset_ms is after captured_ms");

  // Nothing was recorded, and the session goes on: a good report is taken (no answer).
  nlohmann::json state = DriftState();
  EXPECT_TRUE(state["clients"].empty()) << state.dump();
  ASSERT_TRUE(c.WriteFrame(Encode(Report())).ok());
  for (int i = 0; i < 100; ++i) {
    if (server_->server().engine().drift_reports() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  state = DriftState();
  ASSERT_EQ(state["clients"].size(), 1u) << state.dump();
  EXPECT_EQ(state["clients"][0]["client"], kits_.client_ids[0]);
  EXPECT_EQ(state["clients"][0]["reports"], 1);
  EXPECT_FALSE(state["clients"][0]["drifted"].get<bool>());
  EXPECT_TRUE(state["campaigns"].empty());
}

class DriftCampaignTest : public DriftTest {
 protected:
  DriftCampaignTest() : DriftTest(/*min_clients=*/1) {}
};

TEST_F(DriftCampaignTest, PersistentDriftOnEnoughClientsStartsAFocusedCampaign) {
  std::unique_ptr<RawClient> ca = Connected(0), cb = Connected(1), cq = Connected(2);
  RawClient& a = *ca;
  RawClient& b = *cb;
  RawClient& quiet = *cq;
  const uint64_t onset = 1'700'000'100'000;
  auto drifted = [&](uint64_t window) {
    Report r;
    r.window = window;
    r.score = 2.5;
    r.distances = {{"brightness", 2.5}};
    r.drifted = true;
    r.alarm = window == 3;
    r.detector = 1.5;
    r.onset_ms = onset;
    r.captured_ms = onset + 10'000 * window;
    return r;
  };
  // One drifted window each is not persistent enough (persistence 2); the quiet client's
  // reports are normal.
  ASSERT_TRUE(a.WriteFrame(Encode(drifted(3))).ok());
  ASSERT_TRUE(b.WriteFrame(Encode(drifted(3))).ok());
  ASSERT_TRUE(quiet.WriteFrame(Encode(Report())).ok());
  for (int i = 0; i < 200 && server_->server().engine().drift_reports() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->server().engine().target_round(), 0u);
  EXPECT_TRUE(DriftState()["campaigns"].empty());

  // A second drifted window in a row from the first client: one client is below min_clients.
  ASSERT_TRUE(a.WriteFrame(Encode(drifted(4))).ok());
  for (int i = 0; i < 200 && server_->server().engine().drift_reports() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->server().engine().target_round(), 0u);

  // The second client too: the policy fires and the campaign's first round goes out, to the
  // drifted clients with their focus, to the others without.
  ASSERT_TRUE(b.WriteFrame(Encode(drifted(4))).ok());
  std::vector<uint8_t> offer_a = Expect(a, wire::Message::TaskOffer);
  std::vector<uint8_t> offer_quiet = Expect(quiet, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_a.empty());
  ASSERT_FALSE(offer_quiet.empty());
  const wire::TaskOffer* oa = Verified(offer_a)->message_as_TaskOffer();
  EXPECT_EQ(oa->round(), 1u);
  EXPECT_EQ(oa->kind(), wire::TaskKind::Train);
  EXPECT_EQ(oa->train()->focus_since_ms(), onset);
  EXPECT_FLOAT_EQ(oa->train()->focus_fraction(), 0.4f);
  // Campaign rounds train at drift.campaign_lr_scale (0.5) times rounds.training.learning_rate.
  EXPECT_FLOAT_EQ(oa->train()->learning_rate(),
                  static_cast<float>(config_.rounds.training.learning_rate * 0.5));
  // Campaign rounds teach the drifted conditions to everyone: brightness drift, brightness and
  // gamma augmentation, for the quiet client too.
  ASSERT_NE(oa->train()->augment(), nullptr);
  EXPECT_FLOAT_EQ(oa->train()->augment()->brightness(), 0.5f);
  EXPECT_FLOAT_EQ(oa->train()->augment()->gamma(), 0.5f);
  const wire::TaskOffer* oq = Verified(offer_quiet)->message_as_TaskOffer();
  EXPECT_EQ(oq->train()->focus_since_ms(), 0u);
  EXPECT_EQ(oq->train()->focus_fraction(), 0.0f);
  EXPECT_FLOAT_EQ(oq->train()->learning_rate(), oa->train()->learning_rate());
  ASSERT_NE(oq->train()->augment(), nullptr);
  EXPECT_FLOAT_EQ(oq->train()->augment()->brightness(), 0.5f);
  EXPECT_EQ(server_->server().engine().target_round(), 2u);

  std::vector<uint8_t> offer_b = Expect(b, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_b.empty());

  // The drifted clients' updates weigh drift.update_weight (2 here) times their examples: with
  // every value 1 from the two drifted clients and 0 from the quiet one, 10 examples each, the new
  // model is (2*10*1 + 2*10*1 + 10*0) / 50 = 0.8 everywhere (not 2/3).
  auto model = server_->server().store().GetBlob(
      *shared::DigestField(oa->model_digest(), "TaskOffer.model_digest"));
  ASSERT_TRUE(model.ok());
  auto layout = shared::DecodeBundle(*model);
  ASSERT_TRUE(layout.ok());
  auto upload = [&](RawClient& c, const std::vector<uint8_t>& offer_frame, float value) {
    const wire::TaskOffer* o = Verified(offer_frame)->message_as_TaskOffer();
    shared::TensorBundle update = *layout;
    for (shared::Tensor& t : update.tensors) std::fill(t.data.begin(), t.data.end(), value);
    auto blob = shared::EncodeBundle(update);
    ASSERT_TRUE(blob.ok());
    const shared::Digest digest = shared::Sha256(*blob);
    ASSERT_TRUE(c.WriteFrame(Submit(o->task_id(), o->round(), "u/" + std::to_string(o->task_id()),
                                    *blob, 10))
                    .ok());
    ASSERT_FALSE(Expect(c, wire::Message::BlobRequest).empty());
    const size_t chunk = 128 << 10;
    for (size_t off = 0; off < blob->size(); off += chunk) {
      const size_t n = std::min(chunk, blob->size() - off);
      ASSERT_TRUE(c.WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update, digest, blob->size(),
                                                     off, std::span(blob->data() + off, n)))
                      .ok());
    }
    ASSERT_FALSE(Expect(c, wire::Message::Ack).empty());
  };
  upload(a, offer_a, 1.0f);
  upload(b, offer_b, 1.0f);
  upload(quiet, offer_quiet, 0.0f);
  for (int i = 0; i < 500 && server_->server().engine().current_version() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->server().engine().current_version(), 2u);
  auto rec = server_->server().store().GetModel(2);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->total_examples, 30u);  // examples, not weights
  auto v2 = server_->server().store().GetBlob(*shared::DigestFromHex(rec->digest_hex));
  ASSERT_TRUE(v2.ok());
  auto state2 = shared::DecodeBundle(*v2);
  ASSERT_TRUE(state2.ok());
  EXPECT_NEAR(state2->tensors.front().data.front(), 0.8, 1e-6);
  EXPECT_NEAR(state2->tensors.back().data.back(), 0.8, 1e-6);

  nlohmann::json state = DriftState();
  ASSERT_EQ(state["campaigns"].size(), 1u) << state.dump();
  const nlohmann::json& c = state["campaigns"][0];
  EXPECT_EQ(c["state"], "running");
  EXPECT_EQ(c["first_round"], 1);
  EXPECT_EQ(c["last_round"], 2);
  EXPECT_EQ(c["trigger_version"], 1);
  ASSERT_EQ(c["clients"].size(), 2u);
  EXPECT_EQ(c["clients"][0]["client"], kits_.client_ids[0]);
  EXPECT_EQ(c["clients"][1]["client"], kits_.client_ids[1]);
  EXPECT_EQ(c["clients"][0]["onset_ms"], onset);

  // The campaign is in the registry: a restarted coordinator still knows it.
  server_.reset();
  server_ = std::make_unique<RunningServer>(config_);
  state = DriftState();
  ASSERT_EQ(state["campaigns"].size(), 1u) << state.dump();
  EXPECT_EQ(state["campaigns"][0]["state"], "running");
  EXPECT_EQ(state["clients"].size(), 3u);
  EXPECT_EQ(server_->server().engine().target_round(), 2u);
}

// `fedge-client run` with [camera] source: it classifies the camera's frames beside its rounds
// with the installed model, writes predictions, and its drift monitor's windows reach the
// coordinator (fedgectl drift lists them).
TEST(ClientCameraProcessTest, RunClassifiesTheCameraAndReportsDrift) {
  TempDir dir("drift-camera");
  ProcessProject project(dir.path(), 1, /*rounds=*/3, /*min_clients=*/1);
  // A 600-frame camera video, read at 60 frames/s (10 s), so that most frames arrive after the
  // first round has installed a model and its evaluation set the drift reference.
  const int frames = 600;
  std::vector<int64_t> labels(frames);
  std::vector<uint8_t> items(frames * 784);
  std::mt19937_64 rng(5);
  for (int i = 0; i < frames; ++i) {
    labels[i] = i % 10;
    for (int p = 0; p < 784; ++p) {
      const bool on = p % 28 >= 2 + 2 * labels[i] && p % 28 < 6 + 2 * labels[i];
      items[i * 784 + p] = static_cast<uint8_t>(on ? 200 + rng() % 50 : rng() % 40);
    }
  }
  const std::string video = dir.path() + "/gate.avi";
  ASSERT_TRUE(vision::WriteSiteVideo(video, dir.path() + "/gate.csv", items, labels,
                                     vision::SiteConditionsForIndex(2, 0), 30, 48)
                  .ok());
  const std::string config = project.ClientConfig(0, "cam");
  const std::string sink = dir.path() + "/predictions.jsonl";
  std::ofstream(config, std::ios::app)
      << "[camera]\nsource = \"" << video << "\"\nname = \"gate\"\nfps = 60\n"
      << "[inference]\npredictions = \"" << sink << "\"\n[drift]\nwindow = 20\n";
  auto coordinator = project.StartCoordinator("cam", {"--serve"});
  auto client = std::make_unique<Process>(
      std::vector<std::string>{FEDGE_CLIENT_BIN, "run", "--config", config},
      project.Log("client-cam"));
  // Wait until the video has been read to its end (predictions stop growing).
  size_t lines = 0;
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(sink);
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    if (n > 0 && n == lines && i > 150) break;
    lines = n;
  }
  std::ifstream in(sink);
  size_t classified = 0, with_model = 0, trained = 0, with_drift = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    ++classified;
    EXPECT_EQ(j["frame_id"].get<std::string>().rfind("gate#", 0), 0u) << line;
    if (j["model_version"].get<uint64_t>() >= 1) ++with_model;
    if (j["model_version"].get<uint64_t>() >= 2) ++trained;
    if (j.contains("drift")) ++with_drift;
  }
  EXPECT_GT(classified, 300u) << "see " << project.Log("client-cam");
  EXPECT_EQ(with_model, classified);  // frames before the first model are skipped, not guessed
  EXPECT_GT(trained, 200u);           // the newest installed version classifies
  EXPECT_GT(with_drift, 5u);
  std::string out;
  const std::string admin = project.kits().admin_kits[0];
  ASSERT_EQ(RunCommand({FEDGE_FEDGECTL_BIN, "--kit", admin, "drift", "--json"}, &out), 0) << out;
  auto state = nlohmann::json::parse(out.substr(out.find('{')));
  ASSERT_EQ(state["clients"].size(), 1u) << out;
  EXPECT_EQ(state["clients"][0]["client"], project.kits().client_ids[0]);
  EXPECT_GT(state["clients"][0]["reports"].get<uint64_t>(), 5u) << out;
  ASSERT_EQ(RunCommand({FEDGE_FEDGECTL_BIN, "--kit", admin, "drift"}, &out), 0) << out;
  EXPECT_NE(out.find(project.kits().client_ids[0]), std::string::npos) << out;
  EXPECT_NE(out.find("CAMPAIGN"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedge::testing
