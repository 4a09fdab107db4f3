#include "shared/base/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fedge::shared {
namespace {

// Captures the log lines written while it lives, in a tmpfile.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) { SetLogOutput(file_); }
  ~Capture() {
    SetLogOutput(nullptr);
    SetLogFormat(LogFormat::kText);
    std::fclose(file_);
  }
  std::vector<std::string> Lines() {
    std::fflush(file_);
    std::rewind(file_);
    std::vector<std::string> lines;
    std::string line;
    for (int c; (c = std::fgetc(file_)) != EOF;) {
      if (c == '\n') {
        lines.push_back(line);
        line.clear();
      } else {
        line += static_cast<char>(c);
      }
    }
    return lines;
  }

 private:
  std::FILE* file_;
};

TEST(LogTest, TextLinesCarryComponentMessageAndFields) {
  Capture capture;
  SetLogFormat(LogFormat::kText);
  FEDGE_LOG(Warn, "round").Client("site-007").Round(12) << "update refused: " << 3 << " NaN";
  FEDGE_LOG(Info, "server") << "plain " << std::fixed << std::setprecision(2) << 0.5;
  std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  // "2026-11-26T08:00:00.123Z WARN  round: update refused: 3 NaN client=site-007 round=12"
  ASSERT_GT(lines[0].size(), 25u);
  EXPECT_EQ(lines[0][10], 'T');
  EXPECT_EQ(lines[0][23], 'Z');
  EXPECT_EQ(lines[0].substr(25), "WARN  round: update refused: 3 NaN client=site-007 round=12");
  EXPECT_EQ(lines[1].substr(25), "INFO  server: plain 0.50");
}

TEST(LogTest, JsonLinesParseAndKeepEveryField) {
  Capture capture;
  SetLogFormat(LogFormat::kJson);
  FEDGE_LOG(Error, "session").Client("site-001").Round(4) << "bad \"frame\"\n\x01 \xff end";
  FEDGE_LOG(Debug, "hidden") << "below the level";  // the default level is info
  FEDGE_LOG(Info, "round").Round(0) << "no client";
  std::vector<std::string> lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  nlohmann::json a = nlohmann::json::parse(lines[0]);  // throws (fails) on invalid JSON
  EXPECT_EQ(a["level"], "error");
  EXPECT_EQ(a["component"], "session");
  EXPECT_EQ(a["client"], "site-001");
  EXPECT_EQ(a["round"], 4);
  EXPECT_EQ(a["msg"], "bad \"frame\"\n\x01 \xef\xbf\xbd end");  // invalid UTF-8 -> U+FFFD
  EXPECT_EQ(a["time"].get<std::string>().size(), 24u);
  nlohmann::json b = nlohmann::json::parse(lines[1]);
  EXPECT_FALSE(b.contains("client"));
  EXPECT_EQ(b["round"], 0);
}

TEST(LogTest, ParsesFormatsAndLevels) {
  LogFormat f;
  EXPECT_TRUE(ParseLogFormat("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(ParseLogFormat("text", &f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml", &f));
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("warn", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
}

}  // namespace
}  // namespace fedge::shared
