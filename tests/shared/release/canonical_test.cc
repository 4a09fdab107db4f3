#include "shared/release/canonical.h"

#include <gtest/gtest.h>

#include <string>

namespace fedge::shared::release {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(CanonicalTest, SameInputSameBytesWhateverTheKeyOrder) {
  Json a = Json::parse(R"({"b":1,"a":{"y":[1,2],"x":"s"},"c":true})");
  Json b = Json::parse(R"({"c":true,"a":{"x":"s","y":[1,2]},"b":1})");
  Result<std::string> ca = CanonicalJson(a);
  Result<std::string> cb = CanonicalJson(b);
  ASSERT_TRUE(ca.ok() && cb.ok());
  EXPECT_EQ(*ca, R"({"a":{"x":"s","y":[1,2]},"b":1,"c":true})");
  EXPECT_EQ(*ca, *cb);
  EXPECT_EQ(*CanonicalJson(a), *ca);  // deterministic
}

TEST(CanonicalTest, RejectsFloatsNullsAndBadUtf8) {
  EXPECT_FALSE(CanonicalJson(Json::parse(R"({"a":1.5})")).ok());
  EXPECT_FALSE(CanonicalJson(Json::parse(R"({"a":null})")).ok());
  Json bad = Json{{"a", std::string("\xff\xfe")}};
  Result<std::string> r = CanonicalJson(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(CanonicalTest, ParseCanonicalObjectAcceptsOnlyTheCanonicalSpelling) {
  EXPECT_TRUE(ParseCanonicalObject(Bytes(R"({"a":1,"b":"x"})"), 1024, "doc").ok());
  for (const char* text : {R"({"b":"x","a":1})", R"({"a": 1,"b":"x"})", R"({"a":1,"a":2})",
                           R"({"a":1.0})", R"({"a":-0})", R"([1,2])"}) {
    Result<Json> r = ParseCanonicalObject(Bytes(text), 1024, "doc");
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << text;
  }
}

TEST(CanonicalTest, ParseJsonBoundsSizeAndDepth) {
  Result<Json> big = ParseJson(Bytes(R"({"a":"0123456789"})"), 10, "doc");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("over the limit"), std::string::npos);
  std::string deep(10000, '[');
  Result<Json> nested = ParseJson(Bytes(deep), 1 << 20, "doc");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("nested deeper"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson(Bytes(R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[["})"), 1024, "doc").ok());
  Result<Json> truncated = ParseJson(Bytes(R"({"a":[1,2)"), 1024, "doc");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("not valid JSON"), std::string::npos);
}

TEST(CanonicalTest, Base64RoundTripsAndIsStrict) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::string encoded = Base64Encode(AsBytes(s));
    Result<std::vector<uint8_t>> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << s;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), s);
  }
  EXPECT_EQ(Base64Encode(AsBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(AsBytes("fo")), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm8").ok());       // length
  EXPECT_FALSE(Base64Decode("Zm9=").ok());      // non-zero padding bits
  EXPECT_FALSE(Base64Decode("Zm8*").ok());      // character
  EXPECT_FALSE(Base64Decode("Z=8=").ok());      // padding in the middle
  EXPECT_FALSE(Base64Decode("Zg==Zg==").ok());  // padding before the end
}

TEST(CanonicalTest, FieldReadersCheckTypesAndRanges) {
  Json j = Json::parse(R"({"n":-1,"u":5,"s":"abc","o":{},"a":[1,2,3]})");
  EXPECT_EQ(GetUint(j, "u", "doc").value(), 5u);
  EXPECT_FALSE(GetUint(j, "n", "doc").ok());
  EXPECT_EQ(GetInt(j, "n", "doc").value(), -1);
  EXPECT_FALSE(GetUint(j, "s", "doc").ok());
  EXPECT_FALSE(GetString(j, "s", 2, "doc").ok());
  EXPECT_FALSE(GetArray(j, "a", 2, "doc").ok());
  EXPECT_FALSE(GetObject(j, "a", "doc").ok());
  Result<uint64_t> missing = GetUint(j, "version", "doc");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "doc: field \"version\" is missing");
}

}  // namespace
}  // namespace fedge::shared::release
