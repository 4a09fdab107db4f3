#include "shared/base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace fedge::shared {
namespace {

LogLevel InitialLevel() {
  LogLevel level = LogLevel::kInfo;
  if (const char* env = std::getenv("FEDGE_LOG_LEVEL")) ParseLogLevel(env, &level);
  return level;
}

std::atomic<LogLevel>& Level() {
  static std::atomic<LogLevel> level{InitialLevel()};
  return level;
}

LogFormat InitialFormat() {
  LogFormat format = LogFormat::kText;
  if (const char* env = std::getenv("FEDGE_LOG_FORMAT")) ParseLogFormat(env, &format);
  return format;
}

std::atomic<LogFormat>& Format() {
  static std::atomic<LogFormat> format{InitialFormat()};
  return format;
}

std::atomic<std::FILE*>& Output() {
  static std::atomic<std::FILE*> out{nullptr};
  return out;
}

const char* JsonLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "?";
}

// `text` as a JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD, so every
// line parses whatever a message holds.
std::string JsonString(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarn:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kOff:
      return "OFF  ";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { Level().store(level); }
LogLevel GetLogLevel() { return Level().load(std::memory_order_relaxed); }
void SetLogFormat(LogFormat format) { Format().store(format); }
LogFormat GetLogFormat() { return Format().load(std::memory_order_relaxed); }
void SetLogOutput(std::FILE* out) { Output().store(out); }

bool ParseLogFormat(const std::string& text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
  } else if (text == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

bool ParseLogLevel(const std::string& text, LogLevel* level) {
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warn")
    *level = LogLevel::kWarn;
  else if (text == "error")
    *level = LogLevel::kError;
  else if (text == "off")
    *level = LogLevel::kOff;
  else
    return false;
  return true;
}

bool ConfigureLogging(const char* program, const std::string& level, const std::string& format) {
  LogLevel l;
  if (!ParseLogLevel(level, &l)) {
    std::fprintf(stderr, "%s: --log-level must be debug, info, warn or error, got '%s'\n", program,
                 level.c_str());
    return false;
  }
  LogFormat f = GetLogFormat();
  if (!format.empty() && !ParseLogFormat(format, &f)) {
    std::fprintf(stderr, "%s: --log-format must be text or json, got '%s'\n", program,
                 format.c_str());
    return false;
  }
  SetLogLevel(l);
  SetLogFormat(f);
  return true;
}

void LogLine(LogLevel level, const std::string& component, const std::string& message,
             const LogFields& fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  int millis = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  const size_t n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ", millis);
  std::string line;
  if (GetLogFormat() == LogFormat::kJson) {
    line = std::string("{\"time\":\"") + stamp + "\",\"level\":\"" + JsonLevelName(level) +
           "\",\"component\":" + JsonString(component);
    if (!fields.client.empty()) line += ",\"client\":" + JsonString(fields.client);
    if (fields.round) line += ",\"round\":" + std::to_string(*fields.round);
    line += ",\"msg\":" + JsonString(message) + "}\n";
  } else {
    line = std::string(stamp) + " " + LevelName(level) + " " + component + ": " + message;
    if (!fields.client.empty()) line += " client=" + fields.client;
    if (fields.round) line += " round=" + std::to_string(*fields.round);
    line += "\n";
  }
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::FILE* out = Output().load();
  if (out == nullptr) out = stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

void LogOnError::operator()(std::exception_ptr e) const {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    LogLine(LogLevel::kError, component, std::string("task failed: ") + ex.what());
  } catch (...) {
    LogLine(LogLevel::kError, component, "task failed with an unknown exception");
  }
}

}  // namespace fedge::shared
