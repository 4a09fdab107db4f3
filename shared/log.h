#pragma once
// Minimal structured logging: "2026-11-26T08:00:00.123Z INFO  component: message key=value".
// Thread-safe; one line per call. Set the level with SetLogLevel or FEDGE_LOG_LEVEL.

#include <exception>
#include <sstream>
#include <string>

namespace fedge::shared {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug|info|warn|error|off"; returns false on anything else.
bool ParseLogLevel(const std::string& text, LogLevel* level);
void LogLine(LogLevel level, const std::string& component, const std::string& message);

// Collects one line and emits it on destruction.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* component) : level_(level), component_(component) {}
  ~LogMessage() { LogLine(level_, component_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* component_;
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
    ::fedge::shared::LogMessage(::fedge::shared::LogLevel::k##level, component).stream()
