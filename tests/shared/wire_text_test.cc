#include "shared/net/wire_text.h"

#include <gtest/gtest.h>

#include <limits>

namespace fedge::shared {
namespace {

// A finished KeyValue buffer whose key() is `text` (a flatbuffers::String to read back).
struct WireKey {
  explicit WireKey(std::string_view text, double value = 0) {
    auto key = fbb.CreateString(text.data(), text.size());
    fbb.Finish(wire::CreateKeyValue(fbb, key, value));
  }
  const wire::KeyValue* kv() const {
    return flatbuffers::GetRoot<wire::KeyValue>(fbb.GetBufferPointer());
  }
  const flatbuffers::String* str() const { return kv()->key(); }
  flatbuffers::FlatBufferBuilder fbb;
};

TEST(WireTextTest, Utf8ValidityFollowsTheStandard) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xB7"));  // é € 📷
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("ok\x80"));            // stray continuation byte
}

TEST(WireTextTest, SafeTextReplacesAndCutsOnACharacterBoundary) {
  EXPECT_EQ(SafeText("fine", 10), "fine");
  EXPECT_EQ(SafeText("a\xFF"
                     "b",
                     10),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SafeText("red\x1B[31m\nline", 20), "red?[31m?line");  // ANSI escape, line break
  EXPECT_EQ(SafeText("\xC2\x9B"
                     "x",
                     10),
            "?x");  // C1 control (CSI)
  EXPECT_EQ(SafeText("exactly10!", 10), "exactly10!");
  EXPECT_EQ(SafeText("eleven byte", 10), "eleven ...");
  // "ab€€" (8 bytes) cut to 7: the first euro sign would leave no room for "...", and a cut
  // never splits it.
  EXPECT_EQ(SafeText("ab\xE2\x82\xAC\xE2\x82\xAC", 7), "ab...");
  EXPECT_TRUE(IsValidUtf8(SafeText(std::string(100, '\xE2'), 50)));
  EXPECT_LE(SafeText(std::string(100, '\xE2'), 50).size(), 50u);
}

TEST(WireTextTest, WireStringRefusesWhatCannotBeStoredOrCompared) {
  EXPECT_EQ(*WireString(WireKey("task-7/attempt-1").str(), 64, "id"), "task-7/attempt-1");
  EXPECT_EQ(*WireString(nullptr, 64, "id"), "");

  Result<std::string> missing = WireString(nullptr, 64, "UpdateSubmit.idempotency_id", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("UpdateSubmit.idempotency_id is missing"),
            std::string::npos);
  EXPECT_FALSE(WireString(WireKey("").str(), 64, "id", true).ok());

  Result<std::string> bad = WireString(WireKey("\xFF").str(), 64, "UpdateSubmit.idempotency_id");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not valid UTF-8"), std::string::npos);

  Result<std::string> long_id = WireString(WireKey(std::string(65, 'a')).str(), 64, "id");
  ASSERT_FALSE(long_id.ok());
  EXPECT_NE(long_id.status().message().find("65 bytes long; at most 64"), std::string::npos);

  EXPECT_FALSE(WireString(WireKey("a\nb").str(), 64, "id").ok());
  EXPECT_FALSE(WireString(WireKey("a\x1B[2J").str(), 64, "id").ok());
}

TEST(WireTextTest, FreeTextIsMadeSafeNotRefused) {
  EXPECT_EQ(WireFreeText(nullptr, 10), "");
  EXPECT_EQ(WireFreeText(WireKey("disk \xFF full\n").str(), 100), "disk \xEF\xBF\xBD full?");
  // 16 MiB of text from a peer keeps only what fits.
  const std::string huge(16u << 20, 'x');
  const std::string kept = WireFreeText(WireKey(huge).str(), 2000);
  EXPECT_EQ(kept.size(), 2000u);
  EXPECT_EQ(kept.substr(1997), "...");
}

TEST(WireTextTest, KeyValuesAreBoundedUniqueAndFinite) {
  auto build = [](flatbuffers::FlatBufferBuilder& fbb,
                  const std::vector<std::pair<std::string, double>>& entries) {
    std::vector<flatbuffers::Offset<wire::KeyValue>> kvs;
    for (const auto& [k, v] : entries) kvs.push_back(wire::CreateKeyValueDirect(fbb, k.c_str(), v));
    fbb.Finish(fbb.CreateVector(kvs));
    return flatbuffers::GetRoot<flatbuffers::Vector<flatbuffers::Offset<wire::KeyValue>>>(
        fbb.GetBufferPointer());
  };
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto kvs = WireKeyValues(build(fbb, {{"loss", 0.5}, {"accuracy", 0.9}}), 4, 16, "metrics");
    ASSERT_TRUE(kvs.ok()) << kvs.status().ToString();
    ASSERT_EQ(kvs->size(), 2u);
    EXPECT_EQ((*kvs)[1].first, "accuracy");
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto kvs = WireKeyValues(build(fbb, {{"a", 1}, {"b", 2}, {"c", 3}}), 2, 16, "metrics");
    ASSERT_FALSE(kvs.ok());
    EXPECT_NE(kvs.status().message().find("3 entries; at most 2"), std::string::npos);
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto kvs = WireKeyValues(build(fbb, {{"loss", 1}, {"loss", 2}}), 8, 16, "metrics");
    ASSERT_FALSE(kvs.ok());
    EXPECT_NE(kvs.status().message().find("'loss' appears twice"), std::string::npos);
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto kvs = WireKeyValues(build(fbb, {{"loss", std::numeric_limits<double>::infinity()}}), 8, 16,
                             "metrics");
    ASSERT_FALSE(kvs.ok());
    EXPECT_NE(kvs.status().message().find("not finite"), std::string::npos);
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto kvs = WireKeyValues(build(fbb, {{std::string(17, 'k'), 1}}), 8, 16, "metrics");
    EXPECT_FALSE(kvs.ok());
  }
}

}  // namespace
}  // namespace fedge::shared
