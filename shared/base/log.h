#pragma once
// Structured logging, one line per call, thread-safe. Text (default):
//   "2026-11-26T08:00:00.123Z INFO  round: round 3 complete client=site-001 round=3"
// or JSON lines (SetLogFormat, FEDGE_LOG_FORMAT=json, or the programs' --log-format json):
//   {"time":"2026-11-26T08:00:00.123Z","level":"info","component":"round","client":"site-001",
//    "round":3,"msg":"round 3 complete"}
// `client` and `round` are set per line where the code knows them:
//   FEDGE_LOG(Info, kLog).Client(id).Round(r) << "...";
// Set the level with SetLogLevel or FEDGE_LOG_LEVEL.

#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>

namespace fedge::shared {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class LogFormat { kText, kJson };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug|info|warn|error|off"; returns false on anything else.
bool ParseLogLevel(const std::string& text, LogLevel* level);

void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// Parses "text|json"; returns false on anything else.
bool ParseLogFormat(const std::string& text, LogFormat* format);

// Applies a program's --log-level and --log-format values (an empty format keeps
// FEDGE_LOG_FORMAT or text). On a bad value prints "PROGRAM: --log-level must be ..." to stderr
// and returns false (the caller exits with status 2).
bool ConfigureLogging(const char* program, const std::string& level, const std::string& format);

// Where lines go: stderr by default (nullptr restores it). The stream is not owned; for tests.
void SetLogOutput(std::FILE* out);

// The structured fields of a line besides time, level, component and message.
struct LogFields {
  std::string client;             // a client id, if the line is about one
  std::optional<uint64_t> round;  // a round number, if the line is about one
};

void LogLine(LogLevel level, const std::string& component, const std::string& message,
             const LogFields& fields = {});

// Collects one line and emits it on destruction.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* component) : level_(level), component_(component) {}
  ~LogMessage() { LogLine(level_, component_, stream_.str(), fields_); }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  LogMessage& Client(std::string_view id) {
    fields_.client = id;
    return *this;
  }
  LogMessage& Round(uint64_t round) {
    fields_.round = round;
    return *this;
  }
  template <typename T>
  LogMessage& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }
  LogMessage& operator<<(std::ostream& (*manip)(std::ostream&)) {
    manip(stream_);
    return *this;
  }
  LogMessage& operator<<(std::ios_base& (*manip)(std::ios_base&)) {
    manip(stream_);
    return *this;
  }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* component_;
  LogFields fields_;
  std::ostringstream stream_;
};

// Completion handler for co_spawn: logs an escaped exception instead of terminating or
// silently dropping it (never use `detached` for code that can throw).
struct LogOnError {
  const char* component;
  void operator()(std::exception_ptr e) const;
};

}  // namespace fedge::shared

#define FEDGE_LOG(level, component)                                         \
  if (::fedge::shared::LogLevel::k##level < ::fedge::shared::GetLogLevel()) \
    ;                                                                       \
  else                                                                      \
    ::fedge::shared::LogMessage(::fedge::shared::LogLevel::k##level, component)
