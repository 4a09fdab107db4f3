// The client's session message handling with a FAKE connection: wire messages as a coordinator
// sends them go through DispatchMessage (client/session_dispatch.h) into handlers whose update
// side is the real UpdateDelivery over a real Outbox and SampleStore; a recording MessageSink
// stands in for the connection. No TLS, no LibTorch (the Client's task, model-download and
// release handlers need a model and are covered by the integration tests).
#include "client/session_dispatch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/update_delivery.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;
using shared::Status;

// The fake connection: records what the session sends.
class RecordingSink : public MessageSink {
 public:
  void Send(std::vector<uint8_t> payload) override { sent.push_back(std::move(payload)); }
  uint32_t max_frame_bytes() const override { return max_frame; }

  const wire::Envelope& Envelope(size_t i) const {
    auto env = shared::VerifyEnvelope(sent.at(i));
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return **env;
  }

  std::vector<std::vector<uint8_t>> sent;
  uint32_t max_frame = 64 << 10;
};

// The Client's handlers in miniature: updates go to the real UpdateDelivery, the kinds that
// need a model or a release are recorded by name.
class TestHandlers : public MessageHandlers {
 public:
  TestHandlers(UpdateDelivery& delivery, MessageSink& sink) : delivery_(delivery), sink_(sink) {}

  Status OnTaskOffer(const wire::TaskOffer& m) override {
    calls.push_back("offer " + std::to_string(m.task_id()));
    return Status::Ok();
  }
  Status OnModelChunk(const wire::BlobChunk& m) override {
    calls.push_back("model chunk " + std::to_string(m.offset()));
    return Status::Ok();
  }
  Status OnReleaseChunk(const wire::BlobChunk& m) override {
    calls.push_back("release chunk " + std::to_string(m.offset()));
    return Status::Ok();
  }
  Status OnBlobRequest(const wire::BlobRequest& m) override {
    return delivery_.OnBlobRequest(m, sink_);
  }
  Status OnAck(const wire::Ack& m) override { return delivery_.OnAck(m, sink_); }
  Status OnError(const wire::Error& m) override { return delivery_.OnError(m); }
  Status OnReferenceProfile(const wire::ReferenceProfile&) override {
    calls.push_back("reference profile");
    return Status::Ok();
  }
  Status OnReleaseOffer(const wire::ReleaseOffer& m) override {
    calls.push_back("release offer " + m.target()->str());
    return Status::Ok();
  }
  Status OnReleaseRevert(const wire::ReleaseRevert& m) override {
    calls.push_back("release revert " + m.target()->str());
    return Status::Ok();
  }

  std::vector<std::string> calls;

 private:
  UpdateDelivery& delivery_;
  MessageSink& sink_;
};

std::vector<uint8_t> TaskOffer(uint64_t task_id) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<uint8_t> digest(32, 7);
  auto d = fbb.CreateVector(digest);
  auto arch = fbb.CreateString("cnn");
  return shared::FinishEnvelope(fbb, wire::CreateTaskOffer(fbb, task_id, /*round=*/3,
                                                           wire::TaskKind::Train, 1, d, 100, arch));
}

std::vector<uint8_t> ReleaseOffer(const std::string& target) {
  flatbuffers::FlatBufferBuilder fbb;
  auto t = fbb.CreateString(target);
  auto files = fbb.CreateVector(std::vector<flatbuffers::Offset<wire::ReleaseFile>>{});
  auto d = fbb.CreateVector(std::vector<uint8_t>(32, 1));
  return shared::FinishEnvelope(fbb, wire::CreateReleaseOffer(fbb, 9, t, 2, files, d, 10, false));
}

std::vector<uint8_t> ReleaseRevert(const std::string& target) {
  flatbuffers::FlatBufferBuilder fbb;
  auto t = fbb.CreateString(target);
  return shared::FinishEnvelope(fbb, wire::CreateReleaseRevert(fbb, 9, t, 2));
}

std::vector<uint8_t> Welcome() {
  flatbuffers::FlatBufferBuilder fbb;
  return shared::FinishEnvelope(fbb, wire::CreateWelcome(fbb, 1, fbb.CreateString("site-1"), 100));
}

Outbox::Entry Update(uint64_t round, size_t size, uint8_t fill) {
  Outbox::Entry e;
  e.round = round;
  e.blob.assign(size, fill);
  e.digest = shared::Sha256(e.blob);
  e.submit = {0x51, fill};
  return e;
}

class SessionDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SampleStore::Open(dir_.path() + "/store", {});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    outbox_ = std::make_unique<Outbox>(*store_);
    delivery_ = std::make_unique<UpdateDelivery>(*outbox_, stats_, faults_,
                                                 [] { return std::string("site-1"); });
    handlers_ = std::make_unique<TestHandlers>(*delivery_, sink_);
  }

  // Feeds one wire message to the session's message handling, as its read loop does.
  Status Feed(const std::vector<uint8_t>& payload) {
    auto env = shared::VerifyEnvelope(payload);
    if (!env.ok()) return env.status();
    return DispatchMessage(**env, *handlers_);
  }

  // Stored outbox records (what survives a restart).
  size_t StoredUpdates() { return store_->outbox().List()->size(); }

  TempDir dir_{"session-dispatch"};
  std::unique_ptr<SampleStore> store_;
  std::unique_ptr<Outbox> outbox_;
  ClientStats stats_;
  ClientFaults faults_;
  RecordingSink sink_;
  std::unique_ptr<UpdateDelivery> delivery_;
  std::unique_ptr<TestHandlers> handlers_;
};

TEST_F(SessionDispatchTest, EachMessageKindReachesItsOwnHandler) {
  const shared::Digest digest = shared::Sha256(std::vector<uint8_t>{1});
  const std::vector<uint8_t> data = {1, 2};
  ASSERT_TRUE(Feed(TaskOffer(41)).ok());
  ASSERT_TRUE(Feed(shared::MakeBlobChunk(wire::BlobKind::Model, digest, 10, 4, data)).ok());
  ASSERT_TRUE(Feed(shared::MakeBlobChunk(wire::BlobKind::Release, digest, 10, 6, data)).ok());
  ASSERT_TRUE(Feed(ReleaseOffer("site-model-v2")).ok());
  ASSERT_TRUE(Feed(ReleaseRevert("site-model-v2")).ok());
  ASSERT_TRUE(Feed(shared::MakeHeartbeat()).ok());
  EXPECT_EQ(handlers_->calls, (std::vector<std::string>{
                                  "offer 41", "model chunk 4", "release chunk 6",
                                  "release offer site-model-v2", "release revert site-model-v2"}));
  EXPECT_TRUE(sink_.sent.empty());  // none of these is answered by the dispatch itself
}

TEST_F(SessionDispatchTest, RefusesMessagesACoordinatorNeverSendsAClient) {
  Status s = Feed(Welcome());  // only valid before the session starts
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "unexpected message Welcome");
  const shared::Digest digest = shared::Sha256(std::vector<uint8_t>{1});
  s = Feed(shared::MakeBlobChunk(wire::BlobKind::Update, digest, 1, 0, std::vector<uint8_t>{1}));
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "coordinator sent a non-model blob");
  EXPECT_TRUE(handlers_->calls.empty());
}

TEST_F(SessionDispatchTest, DuplicateAckForgetsTheUpdateAndIsCounted) {
  ASSERT_TRUE(outbox_->Add(5, Update(2, 10, 0xa5)).ok());
  ASSERT_TRUE(outbox_->Add(6, Update(2, 10, 0xa6)).ok());
  ASSERT_TRUE(Feed(shared::MakeAck(5, "accepted before", /*duplicate=*/true)).ok());
  ASSERT_TRUE(Feed(shared::MakeAck(6, "accepted")).ok());
  ASSERT_TRUE(Feed(shared::MakeAck(99, "not ours")).ok());  // unknown task: counted, no change
  EXPECT_EQ(stats_.updates_acked.load(), 3u);
  EXPECT_EQ(stats_.duplicates_acked.load(), 1u);
  EXPECT_EQ(outbox_->Find(5), nullptr);
  EXPECT_EQ(outbox_->Find(6), nullptr);
  EXPECT_EQ(StoredUpdates(), 0u);  // gone from the store too: not resent after a restart
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(SessionDispatchTest, ResendFaultSubmitsAnAcknowledgedUpdateOnceMore) {
  faults_.resend_updates = true;
  Outbox::Entry update = Update(2, 10, 0xb1);
  const std::vector<uint8_t> submit = update.submit;
  ASSERT_TRUE(outbox_->Add(5, std::move(update)).ok());
  ASSERT_TRUE(Feed(shared::MakeAck(5, "accepted")).ok());
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0], submit);
  EXPECT_NE(outbox_->Find(5), nullptr);
  EXPECT_EQ(stats_.updates_resent.load(), 1u);
  ASSERT_TRUE(Feed(shared::MakeAck(5, "duplicate", true)).ok());  // the resend's answer
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(outbox_->Find(5), nullptr);
}

TEST_F(SessionDispatchTest, ErrorWithDriftSubjectIsCountedAsARefusedDriftReport) {
  ASSERT_TRUE(outbox_->Add(5, Update(2, 10, 0xc1)).ok());
  ASSERT_TRUE(Feed(shared::MakeErrorMessage(Status::InvalidArgument("window too short"), 0,
                                            wire::ErrorSubject::DriftReport))
                  .ok());
  EXPECT_EQ(stats_.errors_received.load(), 1u);
  EXPECT_EQ(stats_.drift_reports_refused.load(), 1u);
  EXPECT_NE(outbox_->Find(5), nullptr);  // not about the update
  ASSERT_TRUE(Feed(shared::MakeErrorMessage(Status::InvalidArgument("round closed"), 5,
                                            wire::ErrorSubject::Update))
                  .ok());
  EXPECT_EQ(stats_.errors_received.load(), 2u);
  EXPECT_EQ(stats_.drift_reports_refused.load(), 1u);
  EXPECT_EQ(outbox_->Find(5), nullptr);  // refused for good: dropped
  EXPECT_EQ(StoredUpdates(), 0u);
}

TEST_F(SessionDispatchTest, TransientErrorKeepsTheUpdateForTheNextSession) {
  ASSERT_TRUE(outbox_->Add(5, Update(2, 10, 0xd1)).ok());
  ASSERT_TRUE(
      Feed(shared::MakeErrorMessage(Status::Unavailable("busy"), 5, wire::ErrorSubject::Update))
          .ok());
  ASSERT_TRUE(
      Feed(shared::MakeErrorMessage(Status::IOError("disk"), 5, wire::ErrorSubject::Update)).ok());
  EXPECT_EQ(stats_.errors_received.load(), 2u);
  EXPECT_NE(outbox_->Find(5), nullptr);
  EXPECT_EQ(StoredUpdates(), 1u);
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(SessionDispatchTest, BlobRequestIsAnsweredWithTheUpdateBytesFromTheOffset) {
  sink_.max_frame = 64;  // chunks of at most 32 bytes
  Outbox::Entry update = Update(2, 100, 0);
  for (size_t i = 0; i < update.blob.size(); ++i) update.blob[i] = static_cast<uint8_t>(i);
  update.digest = shared::Sha256(update.blob);
  const Outbox::Entry copy = update;
  ASSERT_TRUE(outbox_->Add(5, std::move(update)).ok());
  ASSERT_TRUE(Feed(shared::MakeBlobRequest(wire::BlobKind::Update, copy.digest, 30)).ok());
  std::vector<uint8_t> received;
  uint64_t next = 30;
  for (size_t i = 0; i < sink_.sent.size(); ++i) {
    const wire::BlobChunk* c = sink_.Envelope(i).message_as_BlobChunk();
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->kind(), wire::BlobKind::Update);
    EXPECT_EQ(c->total_size(), 100u);
    EXPECT_EQ(c->offset(), next);
    EXPECT_LE(c->data()->size(), 32u);
    next += c->data()->size();
    received.insert(received.end(), c->data()->begin(), c->data()->end());
  }
  EXPECT_EQ(received, std::vector<uint8_t>(copy.blob.begin() + 30, copy.blob.end()));
  EXPECT_GE(sink_.sent.size(), 3u);
}

TEST_F(SessionDispatchTest, BlobRequestOutOfBoundsOrForAnotherKindIsRefused) {
  Outbox::Entry update = Update(2, 10, 0xe1);
  const shared::Digest digest = update.digest;
  ASSERT_TRUE(outbox_->Add(5, std::move(update)).ok());
  Status s = Feed(shared::MakeBlobRequest(wire::BlobKind::Update, digest, 11));
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "coordinator asked for update bytes from offset 11 of a 10-byte blob");
  s = Feed(shared::MakeBlobRequest(wire::BlobKind::Model, digest, 0));
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  // An update this client no longer has: ignored, the session goes on.
  EXPECT_TRUE(Feed(shared::MakeBlobRequest(wire::BlobKind::Update,
                                           shared::Sha256(std::vector<uint8_t>{9}), 0))
                  .ok());
  EXPECT_TRUE(sink_.sent.empty());
}

}  // namespace
}  // namespace fedge::client
