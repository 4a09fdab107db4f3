#include "shared/net/frame.h"

#include <gtest/gtest.h>

#include "shared/net/wire.h"

namespace fedge::shared {
namespace {

TEST(FrameTest, HeaderRoundTripsBigEndian) {
  auto h = EncodeFrameHeader(0x01020304);
  EXPECT_EQ(h[0], 1);
  EXPECT_EQ(h[3], 4);
  Result<uint32_t> n = DecodeFrameHeader(h, 1u << 30);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0x01020304u);
}

TEST(FrameTest, HeaderOverCapIsRefusedBeforeAllocation) {
  auto h = EncodeFrameHeader(1001);
  Result<uint32_t> n = DecodeFrameHeader(h, 1000);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Code::kResourceExhausted);
  EXPECT_NE(n.status().message().find("1001"), std::string::npos);
  EXPECT_EQ(DecodeFrameHeader(EncodeFrameHeader(0), 1000).status().code(), Code::kInvalidArgument);
}

TEST(FrameTest, DecoderReassemblesFramesSplitAnywhere) {
  std::vector<uint8_t> a = MakeHeartbeat(), b = MakeAck(7, "ok");
  std::vector<uint8_t> stream = EncodeFrame(a);
  std::vector<uint8_t> fb = EncodeFrame(b);
  stream.insert(stream.end(), fb.begin(), fb.end());
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder d(1 << 20);
    ASSERT_TRUE(d.Feed(std::span(stream.data(), split)).ok());
    ASSERT_TRUE(d.Feed(std::span(stream.data() + split, stream.size() - split)).ok());
    auto frames = d.TakeFrames();
    ASSERT_EQ(frames.size(), 2u) << split;
    EXPECT_EQ(frames[0], a);
    EXPECT_EQ(frames[1], b);
    EXPECT_EQ(d.pending_bytes(), 0u);
  }
}

TEST(FrameTest, DecoderKeepsATruncatedFramePendingAndFailsOnOversize) {
  std::vector<uint8_t> f = EncodeFrame(MakeHeartbeat());
  FrameDecoder d(1 << 20);
  ASSERT_TRUE(d.Feed(std::span(f.data(), f.size() - 1)).ok());
  EXPECT_TRUE(d.TakeFrames().empty());
  EXPECT_EQ(d.pending_bytes(), f.size() - 1);

  FrameDecoder small(8);
  Status s = small.Feed(f);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(small.Feed(f).code(), Code::kResourceExhausted);  // stays failed
}

TEST(FrameTest, VerifyAcceptsValidEnvelopes) {
  std::vector<uint8_t> p = MakeErrorMessage(Status::NotFound("gone"), 9);
  Result<const wire::Envelope*> env = VerifyEnvelope(p);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  const wire::Error* e = (*env)->message_as_Error();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code(), wire::ErrorCode::NotFound);
  EXPECT_EQ(e->task_id(), 9u);
  EXPECT_EQ(FromWireCode(e->code()), Code::kNotFound);
}

// Issue 16 item 8: a failed task's text (it may name a frame or an image file) stays on the
// site; only its code and task id leave.
TEST(FrameTest, ATaskFailureCarriesItsCodeNotItsText) {
  std::vector<uint8_t> p = MakeTaskFailure(Code::kNotFound, 42);
  auto env = VerifyEnvelope(p);
  ASSERT_TRUE(env.ok());
  const wire::Error* e = (*env)->message_as_Error();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code(), wire::ErrorCode::NotFound);
  EXPECT_EQ(e->task_id(), 42u);
  EXPECT_EQ(e->subject(), wire::ErrorSubject::Task);
  EXPECT_NE(e->message()->str().find("site's log"), std::string::npos);
}

TEST(FrameTest, VerifyRejectsGarbageWrongIdentifierAndTruncation) {
  std::vector<uint8_t> garbage(64, 0xAB);
  EXPECT_EQ(VerifyEnvelope(garbage).status().code(), Code::kCorruption);
  std::vector<uint8_t> tiny = {1, 2, 3};
  EXPECT_EQ(VerifyEnvelope(tiny).status().code(), Code::kCorruption);

  std::vector<uint8_t> good = MakeAck(1, "a fairly long acknowledgement message");
  std::vector<uint8_t> truncated(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
  EXPECT_EQ(VerifyEnvelope(truncated).status().code(), Code::kCorruption);

  std::vector<uint8_t> wrong_id = good;
  wrong_id[4] = 'X';  // file identifier lives at bytes 4..7
  EXPECT_EQ(VerifyEnvelope(wrong_id).status().code(), Code::kCorruption);

  // A corrupted offset inside an otherwise well-identified buffer fails verification.
  std::vector<uint8_t> bad_offset = good;
  bad_offset[0] = 0xFF;
  bad_offset[1] = 0xFF;
  EXPECT_FALSE(VerifyEnvelope(bad_offset).ok());
}

}  // namespace
}  // namespace fedge::shared
