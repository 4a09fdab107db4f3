#include "shared/net/wire_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shared/crypto/crypto.h"
#include "shared/net/wire.h"

namespace fedge::shared {
namespace {

using nlohmann::json;

json Render(const std::vector<uint8_t>& payload) {
  Result<std::string> text = WireMessageJson(payload);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? json::parse(*text) : json();
}

// Every field the schema has, also those this code never names (metrics, losses), is shown.
TEST(WireJsonTest, AnUpdateSubmitShowsEveryField) {
  flatbuffers::FlatBufferBuilder fbb;
  Digest digest{};
  digest[0] = 0xab;
  digest[31] = 0x01;
  auto d = fbb.CreateVector(digest.data(), digest.size());
  auto key = fbb.CreateString("train_loss");
  std::vector<flatbuffers::Offset<wire::KeyValue>> metrics{wire::CreateKeyValue(fbb, key, 0.25)};
  auto m = fbb.CreateVector(metrics);
  auto id = fbb.CreateString("site-a/7");
  wire::UpdateSubmitBuilder b(fbb);
  b.add_round(4);
  b.add_task_id(17);
  b.add_example_count(600);
  b.add_blob_digest(d);
  b.add_blob_size(12345);
  b.add_metrics(m);
  b.add_idempotency_id(id);
  json j = Render(FinishEnvelope(fbb, b.Finish()));
  EXPECT_EQ(j["type"], "UpdateSubmit");
  const json& u = j["message"];
  EXPECT_EQ(u["round"], 4);
  EXPECT_EQ(u["task_id"], 17);
  EXPECT_EQ(u["example_count"], 600);
  EXPECT_EQ(u["blob_size"], 12345);
  EXPECT_EQ(u["idempotency_id"], "site-a/7");
  EXPECT_EQ(u["blob_digest"], ToHex(digest));
  ASSERT_EQ(u["metrics"].size(), 1u);
  EXPECT_EQ(u["metrics"][0]["key"], "train_loss");
  EXPECT_EQ(u["metrics"][0]["value"], 0.25);
}

// A blob chunk's bytes are summarised by length and SHA-256, never copied into the log.
TEST(WireJsonTest, ABlobChunksDataIsHashedNotShown) {
  std::vector<uint8_t> data(5000, 0x7f);
  Digest digest = Sha256(data);
  flatbuffers::FlatBufferBuilder fbb;
  auto dv = fbb.CreateVector(digest.data(), digest.size());
  auto bytes = fbb.CreateVector(data);
  std::vector<uint8_t> payload =
      FinishEnvelope(fbb, wire::CreateBlobChunk(fbb, wire::BlobKind::Update, dv, 5000, 0, bytes));
  Result<std::string> text = WireMessageJson(payload);
  ASSERT_TRUE(text.ok());
  EXPECT_LT(text->size(), 600u) << *text;
  json j = json::parse(*text);
  EXPECT_EQ(j["type"], "BlobChunk");
  EXPECT_EQ(j["message"]["kind"], "Update");
  EXPECT_EQ(j["message"]["total_size"], 5000);
  EXPECT_EQ(j["message"]["digest"], ToHex(digest));
  EXPECT_EQ(j["message"]["data"]["bytes"], 5000);
  EXPECT_EQ(j["message"]["data"]["sha256"], ToHex(digest));
}

TEST(WireJsonTest, RefusesWhatIsNotAnEnvelope) {
  std::vector<uint8_t> junk{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_FALSE(WireMessageJson(junk).ok());
}

}  // namespace
}  // namespace fedge::shared
