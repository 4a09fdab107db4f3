#include "shared/config.h"

#include <gtest/gtest.h>

namespace fedge::shared {
namespace {

TEST(ConfigTest, ReadsTypedValuesWithDefaults) {
  auto c = ConfigFile::Parse("[a]\nx = 3\ny = 0.5\nname = \"n\"\nflag = true\n", "/etc/f.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c->Int("a.x", std::nullopt, 0, 10), 3);
  EXPECT_EQ(*c->Double("a.y", std::nullopt, 0, 1), 0.5);
  EXPECT_EQ(*c->Double("a.x", std::nullopt, 0, 10), 3.0);  // integers are numbers too
  EXPECT_EQ(*c->String("a.name"), "n");
  EXPECT_TRUE(*c->Bool("a.flag"));
  EXPECT_EQ(*c->Int("a.missing", 7, 0, 10), 7);
  EXPECT_EQ(*c->Path("a.name"), "/etc/n");
}

TEST(ConfigTest, ErrorsNameFileKeyAndProblem) {
  auto c = ConfigFile::Parse("[rounds]\nmin_fit = \"lots\"\ncount = 99\n", "coord.toml");
  ASSERT_TRUE(c.ok());
  Status s = c->Int("rounds.min_fit", 1, 1, 10).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("coord.toml"), std::string::npos);
  EXPECT_NE(s.message().find("rounds.min_fit"), std::string::npos);
  EXPECT_NE(s.message().find("integer"), std::string::npos);
  s = c->Int("rounds.count", 1, 1, 10).status();
  EXPECT_NE(s.message().find("between 1 and 10"), std::string::npos);
  s = c->String("rounds.absent").status();
  EXPECT_NE(s.message().find("missing"), std::string::npos);
}

TEST(ConfigTest, UnknownKeysAreReported) {
  auto c = ConfigFile::Parse("[server]\nprot = 1\n", "x.toml");
  ASSERT_TRUE(c.ok());
  Status s = c->CheckKnownKeys({"server.port"});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("server.prot"), std::string::npos);
}

TEST(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  auto c = ConfigFile::Parse("[server]\nport = = 3\n", "bad.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("bad.toml:2:"), std::string::npos);
  EXPECT_EQ(ConfigFile::Load("/nonexistent/x.toml").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace fedge::shared
