// Process-wide logging to stderr: one line per message with UTC time, level, thread and
// source location. Thread-safe: each message is written with a single write call.
#pragma once

#include <sstream>
#include <string_view>

namespace eddy {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Sets the least severe level that is printed (default kInfo).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
/// Parses "debug", "info", "warn" or "error"; returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
/// Sets a short name printed on every line, e.g. "jobmanager".
void SetLogComponent(std::string_view component);

namespace internal {
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace eddy

#define EDDY_LOG_LEVEL_DEBUG ::eddy::LogLevel::kDebug
#define EDDY_LOG_LEVEL_INFO ::eddy::LogLevel::kInfo
#define EDDY_LOG_LEVEL_WARN ::eddy::LogLevel::kWarn
#define EDDY_LOG_LEVEL_ERROR ::eddy::LogLevel::kError

/// EDDY_LOG(INFO) << "message";
#define EDDY_LOG(level)                                              \
  if (EDDY_LOG_LEVEL_##level < ::eddy::GetLogLevel()) {              \
  } else                                                             \
    ::eddy::internal::LogMessage(EDDY_LOG_LEVEL_##level, __FILE__, __LINE__).stream()
