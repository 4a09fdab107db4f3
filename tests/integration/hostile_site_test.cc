// Issue 16: a site with a valid client certificate tries to crash, starve or steer a real
// coordinator (real mutual TLS, real RocksDB) while an honest site takes part in the round.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "shared/net/wire.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

// This process's resident set in bytes (the coordinator runs in it).
uint64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

class HostileSiteTest : public ::testing::Test {
 protected:
  HostileSiteTest() : dir_("hostile"), kits_(ProvisionOrDie(dir_.path() + "/project", 2)) {}

  RawClient Site(int i) const {
    const std::string& kit = kits_.client_kits[i];
    return RawClient(kit + "/ca.crt", kit + "/client.crt", kit + "/client.key");
  }

  // One training round, no evaluation, `sites` clients; it must not need its deadline.
  coordinator::CoordinatorConfig OneRound(const std::string& data, int sites) const {
    auto config = TestCoordinatorConfig(kits_, dir_.path() + "/" + data);
    config.rounds.count = 1;
    config.rounds.min_clients = sites;
    config.rounds.min_fit = 1;
    config.rounds.fraction_fit = 1.0;
    config.rounds.evaluate = false;
    config.rounds.timeout_seconds = 250;  // past ctest's limit: a round that waits for it fails
    return config;
  }

  // Connects a site and says Hello (Welcome expected).
  void Connect(RawClient& c, uint16_t port) {
    ASSERT_TRUE(c.Connect(port).ok());
    ASSERT_TRUE(c.SendHello().ok());
    ASSERT_FALSE(Expect(c, wire::Message::Welcome).empty());
  }

  // Connects a site and returns its training offer (empty on failure).
  std::vector<uint8_t> Join(RawClient& c, uint16_t port) {
    Connect(c, port);
    return Expect(c, wire::Message::TaskOffer);
  }

  // The honest site's whole answer: the base model itself as its update (a well-formed delta
  // of the right layout), uploaded in one chunk, acknowledged.
  void AnswerHonestly(RawClient& c, const std::vector<uint8_t>& offer_frame,
                      coordinator::Server& server, const std::string& idem,
                      uint64_t examples = 40) {
    const wire::TaskOffer* offer = Verified(offer_frame)->message_as_TaskOffer();
    auto digest = shared::DigestField(offer->model_digest(), "digest");
    ASSERT_TRUE(digest.ok());
    auto model = server.store().GetBlob(*digest);
    ASSERT_TRUE(model.ok());
    const std::vector<uint8_t> blob = *model;
    ASSERT_TRUE(c.WriteFrame(Submit(offer->task_id(), offer->round(), idem, blob, examples)).ok());
    ASSERT_FALSE(Expect(c, wire::Message::BlobRequest).empty());
    ASSERT_TRUE(c.WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update, shared::Sha256(blob),
                                                   blob.size(), 0, blob))
                    .ok());
    ASSERT_FALSE(Expect(c, wire::Message::Ack).empty());
  }

  // The next Error frame (heartbeats skipped), or null after a test failure.
  const wire::Error* NextError(RawClient& c, std::vector<uint8_t>* frame) {
    auto f = c.ReadNonHeartbeat();
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return nullptr;
    *frame = std::move(*f);
    const wire::Envelope* env = Verified(*frame);
    if (env == nullptr) return nullptr;
    EXPECT_EQ(env->message_type(), wire::Message::Error);
    return env->message_as_Error();
  }

  // The model version 2's digest after a round with only the honest site.
  std::string HonestOnlyDigest() {
    RunningServer server(OneRound("honest-only", 1), /*exit_when_done=*/true);
    RawClient honest = Site(0);
    std::vector<uint8_t> offer = Join(honest, server.port());
    EXPECT_FALSE(offer.empty());
    AnswerHonestly(honest, offer, server.server(), "honest/1");
    EXPECT_TRUE(server.WaitFinished(std::chrono::seconds(60)));
    auto v2 = server.server().store().GetModel(2);
    EXPECT_TRUE(v2.ok()) << v2.status().ToString();
    return v2.ok() ? v2->digest_hex : "";
  }

  TempDir dir_;
  shared::ProvisionResult kits_;
};

// Item 1 (and item 9's "Error for its own task"): one byte that is not UTF-8 in an idempotency
// id used to abort the coordinator on an ingest thread, and again on every restart. Now it is
// refused with a clear error, the attacker's task fails at once, and the round completes
// without waiting for its deadline, with the model an honest-only round makes.
TEST_F(HostileSiteTest, AnIdThatIsNotUtf8IsRefusedAndTheRoundCompletes) {
  const std::string honest_only = HonestOnlyDigest();
  ASSERT_FALSE(honest_only.empty());

  RunningServer server(OneRound("attacked", 2), /*exit_when_done=*/true);
  RawClient honest = Site(0), attacker = Site(1);
  Connect(honest, server.port());
  Connect(attacker, server.port());  // the round starts with both
  std::vector<uint8_t> honest_offer = Expect(honest, wire::Message::TaskOffer);
  std::vector<uint8_t> attacker_offer = Expect(attacker, wire::Message::TaskOffer);
  ASSERT_FALSE(honest_offer.empty());
  ASSERT_FALSE(attacker_offer.empty());
  const wire::TaskOffer* offer = Verified(attacker_offer)->message_as_TaskOffer();
  ASSERT_TRUE(
      attacker.WriteFrame(Submit(offer->task_id(), offer->round(), "\xff", {1, 2, 3}, 40)).ok());
  std::vector<uint8_t> frame;
  const wire::Error* e = NextError(attacker, &frame);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subject(), wire::ErrorSubject::Update);
  EXPECT_EQ(e->code(), wire::ErrorCode::InvalidArgument);
  EXPECT_NE(e->message()->str().find("idempotency_id is not valid UTF-8"), std::string::npos)
      << e->message()->str();

  AnswerHonestly(honest, honest_offer, server.server(), "honest/1");
  ASSERT_TRUE(server.WaitFinished(std::chrono::seconds(120)))
      << "the round waited for its deadline";
  auto v2 = server.server().store().GetModel(2);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_EQ(v2->contributors.size(), 1u);
  EXPECT_EQ(v2->contributors[0].client_id, kits_.client_ids[0]);
  EXPECT_EQ(v2->digest_hex, honest_only) << "the attacker changed the model";
}

// Item 4: a site that registered 1,000 training examples claims 42,949,672 (the count limit). It is
// counted as its registration x the round's epochs, so beside an honest site of the same size it
// weighs half of the round, not 99.99998%.
TEST_F(HostileSiteTest, AClaimAboveTheRegistrationCountsAsTheRegistration) {
  coordinator::CoordinatorConfig config = OneRound("inflated", 2);
  ASSERT_EQ(config.rounds.training.local_epochs, 1);
  RunningServer server(config, /*exit_when_done=*/true);
  RawClient honest = Site(0), attacker = Site(1);
  Connect(honest, server.port());
  Connect(attacker, server.port());
  std::vector<uint8_t> honest_offer = Expect(honest, wire::Message::TaskOffer);
  std::vector<uint8_t> attacker_offer = Expect(attacker, wire::Message::TaskOffer);
  ASSERT_FALSE(honest_offer.empty());
  ASSERT_FALSE(attacker_offer.empty());
  AnswerHonestly(attacker, attacker_offer, server.server(), "attacker/1", 42'949'672);
  AnswerHonestly(honest, honest_offer, server.server(), "honest/1", kRawClientExamples);
  ASSERT_TRUE(server.WaitFinished(std::chrono::seconds(120)));
  auto v2 = server.server().store().GetModel(2);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_EQ(v2->contributors.size(), 2u);
  for (const coordinator::Contribution& c : v2->contributors) {
    EXPECT_EQ(c.examples, kRawClientExamples) << c.client_id;
  }
  EXPECT_EQ(v2->total_examples, 2 * kRawClientExamples);
}

// Item 2: an update naming one 13 MiB metric key 99,990 times (the verifier allows 100,000 tables)
// passes the FlatBuffers verifier (it counts entries, not bytes); copying the keys would take ~1.3
// TiB. It is refused before anything is copied, and the coordinator's memory barely moves.
TEST_F(HostileSiteTest, OneHugeKeyNamedManyTimesIsRefusedBeforeItIsCopied) {
  auto config = OneRound("amplify", 2);
  config.max_frame_bytes = 16u << 20;  // the default of server.max_frame_bytes
  RunningServer server(config);
  RawClient attacker = Site(1);
  Connect(attacker, server.port());

  flatbuffers::FlatBufferBuilder fbb(16 << 20);
  auto key = fbb.CreateString(std::string(13 << 20, 'k'));
  std::vector<flatbuffers::Offset<wire::KeyValue>> kvs;
  for (int i = 0; i < 99990; ++i) kvs.push_back(wire::CreateKeyValue(fbb, key, 1.0));
  auto metrics = fbb.CreateVector(kvs);
  auto id = fbb.CreateString("attack/1");
  const std::vector<uint8_t> digest(32, 1);
  auto d = fbb.CreateVector(digest);
  std::vector<uint8_t> payload = shared::FinishEnvelope(
      fbb, wire::CreateUpdateSubmit(fbb, 1, 1, id, 10, metrics, wire::Codec::Fp32, d, 10));
  ASSERT_LT(payload.size(), config.max_frame_bytes);

  const uint64_t rss_before = RssBytes();
  ASSERT_TRUE(attacker.WriteFrame(payload).ok());
  std::vector<uint8_t> frame;
  const wire::Error* e = NextError(attacker, &frame);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subject(), wire::ErrorSubject::Update);
  EXPECT_NE(e->message()->str().find("99990 entries; at most 64"), std::string::npos)
      << e->message()->str();
  // The frame itself (~15 MiB) is read into memory once; nothing is multiplied.
  EXPECT_LT(RssBytes(), rss_before + (256ull << 20));
  // The session goes on: its next request is answered.
  ASSERT_TRUE(
      attacker.WriteFrame(shared::MakeBlobRequest(wire::BlobKind::Model, shared::Digest{}, 0))
          .ok());
  e = NextError(attacker, &frame);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subject(), wire::ErrorSubject::Blob);
}

// Item 3: every ~100-byte BlobRequest used to queue a full copy of the model for a peer that
// never reads. The queue is capped: the coordinator closes that connection instead.
TEST_F(HostileSiteTest, APeerThatRequestsWithoutReadingIsClosed) {
  RunningServer server(OneRound("queue", 1));
  RawClient attacker = Site(1);
  std::vector<uint8_t> offer_frame = Join(attacker, server.port());
  ASSERT_FALSE(offer_frame.empty());
  const wire::TaskOffer* offer = Verified(offer_frame)->message_as_TaskOffer();
  auto digest = shared::DigestField(offer->model_digest(), "digest");
  ASSERT_TRUE(digest.ok());
  auto model = server.server().store().GetBlob(*digest);
  ASSERT_TRUE(model.ok());
  const uint64_t model_bytes = model->size();
  const int requests = static_cast<int>((1ull << 30) / model_bytes) + 1;  // 1 GiB worth

  const uint64_t rss_before = RssBytes();
  const std::vector<uint8_t> request =
      shared::MakeBlobRequest(wire::BlobKind::Model, *digest, /*offset=*/0);
  for (int i = 0; i < requests; ++i) {
    if (!attacker.WriteFrame(request).ok()) break;  // closed by the coordinator
  }
  uint64_t received = 0;
  for (;;) {
    auto f = attacker.ReadFrame();
    if (!f.ok()) break;
    received += f->size();
  }
  EXPECT_LT(received, static_cast<uint64_t>(requests) * model_bytes / 4)
      << "the coordinator kept serving a peer that does not read";
  EXPECT_LT(RssBytes(), rss_before + (512ull << 20));
}

// The cap bounds what waits for a peer that does not read, not the size of one transfer: a
// model larger than limits.send_queue_bytes still reaches a site that reads it.
TEST_F(HostileSiteTest, ATransferLargerThanTheQueueCapReachesAPeerThatReads) {
  auto config = OneRound("big", 1);
  config.limits.send_queue_bytes = 256 << 10;
  RunningServer server(config);
  RawClient site = Site(0);
  std::vector<uint8_t> offer_frame = Join(site, server.port());
  ASSERT_FALSE(offer_frame.empty());
  auto digest =
      shared::DigestField(Verified(offer_frame)->message_as_TaskOffer()->model_digest(), "digest");
  ASSERT_TRUE(digest.ok());
  auto model = server.server().store().GetBlob(*digest);
  ASSERT_TRUE(model.ok());
  ASSERT_GT(model->size(), config.limits.send_queue_bytes);
  ASSERT_TRUE(site.WriteFrame(shared::MakeBlobRequest(wire::BlobKind::Model, *digest, 0)).ok());
  uint64_t received = 0;
  while (received < model->size()) {
    std::vector<uint8_t> frame = Expect(site, wire::Message::BlobChunk);
    ASSERT_FALSE(frame.empty()) << "the transfer stopped after " << received << " bytes";
    received += Verified(frame)->message_as_BlobChunk()->data()->size();
  }
  EXPECT_EQ(received, model->size());
}

// Item 9: the chunks of an update the coordinator did not ask for (here: for a task that does
// not exist) used to be buffered and hashed up to the update size cap; they are refused as they
// arrive, and the round is not disturbed.
TEST_F(HostileSiteTest, ChunksOfAnUpdateNobodyAskedForAreRefused) {
  RunningServer server(OneRound("unasked", 2));
  RawClient attacker = Site(1);
  Connect(attacker, server.port());
  const std::vector<uint8_t> blob(200000, 7);
  ASSERT_TRUE(attacker.WriteFrame(Submit(999, 1, "attack/1", blob, 40)).ok());
  ASSERT_TRUE(attacker
                  .WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update, shared::Sha256(blob),
                                                    blob.size(), 0, blob))
                  .ok());
  std::vector<std::string> errors;
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> frame;
    const wire::Error* e = NextError(attacker, &frame);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->subject(), wire::ErrorSubject::Update);
    errors.push_back(e->message()->str());
  }
  EXPECT_TRUE(errors[0].find("before the coordinator asked for it") != std::string::npos ||
              errors[1].find("before the coordinator asked for it") != std::string::npos)
      << errors[0] << " | " << errors[1];
}

// Item 6: one certificate used for many sessions at once (a stolen key, from many places) is
// capped after the handshake; another site is not affected.
TEST_F(HostileSiteTest, ACertificateUsedForManySessionsIsCapped) {
  auto config = OneRound("identity", 2);
  config.limits.max_connections_per_identity = 2;
  RunningServer server(config);
  RawClient first = Site(1), second = Site(1), third = Site(1);
  ASSERT_TRUE(first.Connect(server.port()).ok());
  ASSERT_TRUE(second.Connect(server.port()).ok());
  // The server counts a session just after its side of the handshake; give it that moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(third.Connect(server.port()).ok());  // TLS completes; the session is refused
  std::vector<uint8_t> frame;
  const wire::Error* e = NextError(third, &frame);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subject(), wire::ErrorSubject::Session);
  EXPECT_NE(e->message()->str().find("too many connections with this certificate"),
            std::string::npos)
      << e->message()->str();
  RawClient honest = Site(0);
  Connect(honest, server.port());
}

// Item 6: a site that loops on a refused request is closed once it has used its refusal budget,
// instead of costing an answer (and a log line) per request forever.
TEST_F(HostileSiteTest, ASiteThatKeepsSendingRefusedRequestsIsClosed) {
  auto config = OneRound("refusals", 2);
  config.limits.max_refusals_per_minute = 5;
  RunningServer server(config);
  RawClient attacker = Site(1);
  Connect(attacker, server.port());
  const std::vector<uint8_t> request =
      shared::MakeBlobRequest(wire::BlobKind::Model, shared::Digest{}, 0);
  int blob_errors = 0;
  std::string closing;
  for (int i = 0; i < 50 && closing.empty(); ++i) {
    if (!attacker.WriteFrame(request).ok()) break;
    std::vector<uint8_t> frame;
    const wire::Error* e = NextError(attacker, &frame);
    if (e == nullptr) break;
    if (e->subject() == wire::ErrorSubject::Blob) ++blob_errors;
    if (e->subject() == wire::ErrorSubject::Session) closing = e->message()->str();
  }
  EXPECT_EQ(blob_errors, 5);
  EXPECT_NE(closing.find("more than 5 refused messages in a minute"), std::string::npos) << closing;
  EXPECT_FALSE(attacker.ReadFrame().ok()) << "the session stayed open";
  RawClient honest = Site(0);
  Connect(honest, server.port());
}

}  // namespace
}  // namespace fedge::testing
