#include "shared/base/config.h"

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

TEST(ConfigTest, TablesReadsEachElementWithErrorsNamingIt) {
  auto c = ConfigFile::Parse(
      "[drift]\nname = \"x\"\n"
      "[[drift.events]]\nkind = \"fog\"\nat = 3\n"
      "[[drift.events]]\nkind = 7\nratio = 0.5\non = true\nclients = [1, 2]\n",
      "/s/scenario.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto events = c->Tables("drift.events");
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 2u);
  const ConfigFile& first = (*events)[0];
  const ConfigFile& second = (*events)[1];
  EXPECT_EQ(first.path(), "/s/scenario.toml");
  EXPECT_EQ(*first.String("kind"), "fog");
  EXPECT_EQ(*first.Int("at", std::nullopt, 0, 10), 3);
  EXPECT_EQ(*first.Int("absent", 4, 0, 10), 4);
  EXPECT_EQ(*first.Path("kind"), "/s/fog");
  EXPECT_DOUBLE_EQ(*second.Double("ratio", std::nullopt, 0, 1), 0.5);
  EXPECT_TRUE(*second.Bool("on"));
  EXPECT_EQ(*second.IntList("clients", std::nullopt, 0, 5), (std::vector<int64_t>{1, 2}));

  Status s = second.String("kind").status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "/s/scenario.toml: key 'drift.events[1].kind': expected a string in quotes");
  s = first.Int("at", std::nullopt, 5, 10).status();
  EXPECT_NE(s.message().find("'drift.events[0].at'"), std::string::npos) << s.message();
  s = second.CheckKnownKeys({"kind", "ratio", "on"});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'drift.events[1].clients': unknown key"), std::string::npos)
      << s.message();
  EXPECT_TRUE(first.CheckKnownKeys({"kind", "at"}).ok());
}

TEST(ConfigTest, TablesIsEmptyWhenMissingAndRejectsOtherValues) {
  auto c = ConfigFile::Parse("[drift]\nevents = [1, 2]\nnone = []\nword = \"w\"\n", "f.toml");
  ASSERT_TRUE(c.ok());
  auto missing = c->Tables("drift.other");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());
  auto empty = c->Tables("drift.none");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  for (const char* key : {"drift.events", "drift.word"}) {
    Status s = c->Tables(key).status();
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << key;
    EXPECT_NE(s.message().find(std::string("f.toml: key '") + key + "'"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("array of tables"), std::string::npos) << s.message();
  }
}

TEST(ConfigTest, IntListChecksEveryElement) {
  auto c = ConfigFile::Parse(
      "[a]\nok = [0, 3, 9]\nempty = []\nmixed = [1, \"2\"]\nbig = [1, 2, 12]\nscalar = 3\n",
      "l.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->IntList("a.ok", std::nullopt, 0, 9), (std::vector<int64_t>{0, 3, 9}));
  EXPECT_TRUE(c->IntList("a.empty", std::nullopt, 0, 9)->empty());
  EXPECT_EQ(*c->IntList("a.absent", std::vector<int64_t>{5}, 0, 9), (std::vector<int64_t>{5}));
  Status s = c->IntList("a.absent", std::nullopt, 0, 9).status();
  EXPECT_NE(s.message().find("'a.absent': is required but missing"), std::string::npos);
  s = c->IntList("a.mixed", std::nullopt, 0, 9).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'a.mixed': element 1 is not an integer"), std::string::npos)
      << s.message();
  s = c->IntList("a.big", std::nullopt, 0, 9).status();
  EXPECT_NE(s.message().find("'a.big': element 2 must be between 0 and 9, got 12"),
            std::string::npos)
      << s.message();
  s = c->IntList("a.scalar", std::nullopt, 0, 9).status();
  EXPECT_NE(s.message().find("'a.scalar': expected an array of integers"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace fedge::shared
