// Resumable uploads and idempotent submissions against a real coordinator over mutual TLS.
#include <gtest/gtest.h>

#include <random>

#include "client/client.h"
#include "coordinator/registry.h"
#include "shared/net/wire.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using shared::Status;

class ResumeTest : public ::testing::Test {
 protected:
  ResumeTest() : dir_("resume"), kits_(ProvisionOrDie(dir_.path() + "/project", 2)) {}

  RawClient Client(int i) const {
    const std::string& kit = kits_.client_kits[i];
    return RawClient(kit + "/ca.crt", kit + "/client.crt", kit + "/client.key");
  }

  TempDir dir_;
  shared::ProvisionResult kits_;
};

TEST_F(ResumeTest, TaskOffersCarryTheCodecAndTheAugmentation) {
  auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
  config.rounds.count = 1;
  config.rounds.min_clients = 1;
  config.rounds.min_fit = 1;
  config.rounds.training.codec = "topk_int8";
  config.rounds.training.topk_fraction = 0.08;
  config.rounds.training.augment.brightness = 0.25f;
  config.rounds.training.augment.crop_pad = 3;
  RunningServer server(config);
  RawClient raw = Client(0);
  ASSERT_TRUE(raw.Connect(server.port()).ok());
  ASSERT_TRUE(raw.SendHello().ok());
  ASSERT_FALSE(Expect(raw, wire::Message::Welcome).empty());
  std::vector<uint8_t> frame = Expect(raw, wire::Message::TaskOffer);
  ASSERT_FALSE(frame.empty());
  const wire::TaskOffer* offer = Verified(frame)->message_as_TaskOffer();
  EXPECT_EQ(offer->codec(), wire::Codec::TopKInt8);
  EXPECT_FLOAT_EQ(offer->topk_fraction(), 0.08f);
  ASSERT_NE(offer->train(), nullptr);
  const wire::Augment* augment = offer->train()->augment();
  ASSERT_NE(augment, nullptr);
  EXPECT_FLOAT_EQ(augment->brightness(), 0.25f);
  EXPECT_EQ(augment->crop_pad(), 3u);
  EXPECT_FALSE(augment->hflip());
}

TEST_F(ResumeTest, InterruptedUploadResumesFromItsOffsetAndAResentUpdateIsIgnored) {
  auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
  config.rounds.count = 2;
  config.rounds.min_clients = 1;
  config.rounds.min_fit = 1;
  config.rounds.evaluate = false;
  config.rounds.timeout_seconds = 60;
  RunningServer server(config);

  RawClient first = Client(0);
  ASSERT_TRUE(first.Connect(server.port()).ok());
  ASSERT_TRUE(first.SendHello().ok());
  ASSERT_FALSE(Expect(first, wire::Message::Welcome).empty());
  std::vector<uint8_t> offer_frame = Expect(first, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_frame.empty());
  const wire::TaskOffer* offer = Verified(offer_frame)->message_as_TaskOffer();
  const uint64_t task = offer->task_id(), round = offer->round();
  auto model_digest = shared::DigestField(offer->model_digest(), "digest");
  ASSERT_TRUE(model_digest.ok());

  // The model itself is a well-formed update of the right layout.
  auto model = server.server().store().GetBlob(*model_digest);
  ASSERT_TRUE(model.ok());
  const std::vector<uint8_t> blob = *model;
  const shared::Digest digest = shared::Sha256(blob);
  const uint64_t chunk = 128 << 10;
  ASSERT_GT(blob.size(), 4 * chunk);

  ASSERT_TRUE(first.WriteFrame(Submit(task, round, "site-001/upload", blob)).ok());
  std::vector<uint8_t> request = Expect(first, wire::Message::BlobRequest);
  ASSERT_FALSE(request.empty());
  EXPECT_EQ(Verified(request)->message_as_BlobRequest()->offset(), 0u);
  // Half the chunks, then the connection dies.
  const uint64_t sent = 3 * chunk;
  for (uint64_t off = 0; off < sent; off += chunk) {
    ASSERT_TRUE(first
                    .WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update, digest, blob.size(),
                                                      off, std::span(blob.data() + off, chunk)))
                    .ok());
  }
  first.Drop();  // the connection dies without a goodbye

  // The coordinator notices the disconnect; the client comes back.
  for (int i = 0; i < 200 && !server.server().engine().Snapshot()["connected"].empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  RawClient second = Client(0);
  ASSERT_TRUE(second.Connect(server.port()).ok());
  ASSERT_TRUE(second.SendHello().ok());
  ASSERT_FALSE(Expect(second, wire::Message::Welcome).empty());
  // Its open task is offered again, with the same id.
  offer_frame = Expect(second, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_frame.empty());
  EXPECT_EQ(Verified(offer_frame)->message_as_TaskOffer()->task_id(), task);
  ASSERT_TRUE(second.WriteFrame(Submit(task, round, "site-001/upload", blob)).ok());
  request = Expect(second, wire::Message::BlobRequest);
  ASSERT_FALSE(request.empty());
  const uint64_t offset = Verified(request)->message_as_BlobRequest()->offset();
  EXPECT_EQ(offset, sent) << "the upload must resume where it stopped";
  for (const shared::ChunkRange& r : shared::ChunkRanges(blob.size(), offset, chunk)) {
    ASSERT_TRUE(
        second
            .WriteFrame(shared::MakeBlobChunk(wire::BlobKind::Update, digest, blob.size(), r.offset,
                                              std::span(blob.data() + r.offset, r.size)))
            .ok());
  }
  std::vector<uint8_t> ack = Expect(second, wire::Message::Ack);
  ASSERT_FALSE(ack.empty());
  EXPECT_NE(Verified(ack)->message_as_Ack()->message()->str().find("accepted"), std::string::npos);

  // Round 1 closes with that update; round 2 offers a new task.
  offer_frame = Expect(second, wire::Message::TaskOffer);
  ASSERT_FALSE(offer_frame.empty());
  EXPECT_EQ(Verified(offer_frame)->message_as_TaskOffer()->round(), round + 1);
  auto v2 = server.server().store().GetModel(2);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_EQ(v2->contributors.size(), 1u);
  EXPECT_EQ(v2->total_examples, 25u);

  // The same update sent again (same idempotency id) is recognised and not folded again:
  // acknowledged as a duplicate without asking for its bytes.
  ASSERT_TRUE(second.WriteFrame(Submit(task, round, "site-001/upload", blob)).ok());
  ack = Expect(second, wire::Message::Ack);
  ASSERT_FALSE(ack.empty());
  EXPECT_NE(Verified(ack)->message_as_Ack()->message()->str().find("duplicate"), std::string::npos);
  EXPECT_EQ(server.server().engine().Snapshot()["duplicates_ignored"], 1);
}

// Runs two rounds with two real clients; returns the final model's digest.
std::string RunTwoRounds(const shared::ProvisionResult& kits, const std::string& dir, bool resend,
                         uint64_t* duplicates_ignored, uint64_t* duplicates_acked,
                         uint64_t keep_last = 0, const std::string& codec = "fp32",
                         uint64_t* bytes_in = nullptr) {
  auto config = TestCoordinatorConfig(kits, dir + "/data");
  config.keep_last = keep_last;
  config.rounds.training.codec = codec;
  config.rounds.count = 2;
  config.rounds.min_clients = 2;
  config.rounds.min_fit = 2;
  config.rounds.evaluate = false;
  config.rounds.timeout_seconds = 60;
  RunningServer server(config, /*exit_when_done=*/true);
  auto data = SyntheticData(200, 11);
  net::asio::io_context io(1);
  net::asio::thread_pool compute(1);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < 2; ++i) {
    auto cfg = client::LoadClientConfig(kits.client_kits[i] + "/client.toml");
    EXPECT_TRUE(cfg.ok());
    cfg->host = "127.0.0.1";
    cfg->port = server.port();
    cfg->state_dir = dir + "/state-" + std::to_string(i);
    cfg->threads = 1;
    client::LocalData local;
    local.dataset = data;
    for (int k = i * 100; k < i * 100 + 100; ++k) local.train.push_back(k);
    local.class_counts.assign(10, 10);
    clients.push_back(std::make_unique<client::Client>(*cfg, local, io, &compute));
    EXPECT_TRUE(clients.back()->Init().ok());
    clients.back()->set_faults({.resend_updates = resend});
    clients.back()->Start();
  }
  std::thread io_thread([&io] {
    auto guard = net::asio::make_work_guard(io);
    io.run();
  });
  bool finished = server.WaitFinished(std::chrono::seconds(60));
  // Let the last duplicate acknowledgements arrive before stopping.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  *duplicates_ignored = server.server().engine().Snapshot()["duplicates_ignored"];
  if (bytes_in != nullptr) *bytes_in = server.server().traffic()->bytes_in.load();
  *duplicates_acked = 0;
  for (auto& c : clients) {
    *duplicates_acked += c->stats().duplicates_acked.load();
    c->Stop();
  }
  io.stop();
  io_thread.join();
  compute.join();
  EXPECT_TRUE(finished);
  auto head = server.server().store().Head();
  auto record = server.server().store().GetModel(**head);
  EXPECT_EQ(record->round, 2u);
  return record->digest_hex;
}

TEST_F(ResumeTest, ClientsThatResendEveryUpdateGetTheSameModel) {
  uint64_t ignored = 0, acked = 0;
  std::string clean = RunTwoRounds(kits_, dir_.path() + "/clean", false, &ignored, &acked);
  EXPECT_EQ(ignored, 0u);
  std::string resent = RunTwoRounds(kits_, dir_.path() + "/resent", true, &ignored, &acked);
  EXPECT_EQ(resent, clean) << "a resent update changed the aggregate";
  EXPECT_GE(ignored, 3u) << "the coordinator did not see the resent updates";
  EXPECT_GE(acked, 3u);
}

TEST_F(ResumeTest, CoordinatorChoosesTheUpdateCodec) {
  uint64_t ignored = 0, acked = 0, fp32_in = 0, fp16_in = 0, int8_in = 0, topk_in = 0;
  std::string fp32 =
      RunTwoRounds(kits_, dir_.path() + "/fp32", false, &ignored, &acked, 0, "fp32", &fp32_in);
  std::string fp16 =
      RunTwoRounds(kits_, dir_.path() + "/fp16", false, &ignored, &acked, 0, "fp16", &fp16_in);
  std::string int8 =
      RunTwoRounds(kits_, dir_.path() + "/int8", false, &ignored, &acked, 0, "int8", &int8_in);
  std::string topk =
      RunTwoRounds(kits_, dir_.path() + "/topk", false, &ignored, &acked, 0, "topk_int8", &topk_in);
  // Four updates of ~0.9 MB (fp32) went up in each run; the rest is small control traffic.
  EXPECT_LT(static_cast<double>(fp16_in) / fp32_in, 0.55) << fp16_in << " vs " << fp32_in;
  EXPECT_LT(static_cast<double>(int8_in) / fp32_in, 0.30) << int8_in << " vs " << fp32_in;
  // 5% of the differences: ~0.025 of fp32 plus the control traffic.
  EXPECT_LT(static_cast<double>(topk_in) / fp32_in, 0.05) << topk_in << " vs " << fp32_in;
  EXPECT_NE(fp16, fp32);  // lossy: a different (still valid) model
  EXPECT_NE(topk, fp32);
  EXPECT_NE(int8, fp32);
}

TEST_F(ResumeTest, RetentionRemovesOldWeightsButKeepsTheRecords) {
  uint64_t ignored = 0, acked = 0;
  RunTwoRounds(kits_, dir_.path() + "/kept", false, &ignored, &acked, /*keep_last=*/1);
  auto store = coordinator::Store::Open(dir_.path() + "/kept/data");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto v2 = (*store)->GetModel(2);
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(v2->blob_deleted) << "version 2 is neither the head, the first nor the newest";
  EXPECT_FALSE((*store)->HasBlob(*shared::DigestFromHex(v2->digest_hex)));
  for (uint64_t kept : {1u, 3u}) {
    auto m = (*store)->GetModel(kept);
    ASSERT_TRUE(m.ok());
    EXPECT_FALSE(m->blob_deleted) << kept;
    EXPECT_TRUE((*store)->HasBlob(*shared::DigestFromHex(m->digest_hex))) << kept;
  }
  auto lineage = coordinator::Lineage(**store, 3);
  ASSERT_TRUE(lineage.ok()) << lineage.status().ToString();
  EXPECT_EQ(lineage->size(), 3u);
}

}  // namespace
}  // namespace fedge::testing
