#pragma once
// One line per event to stderr: "2026-11-25T17:40:01.123Z INFO message".
// Never called on the per-packet path. Any thread; a line is one write().
#include <atomic>
#include <string>
#include <string_view>

namespace nib {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class Log {
 public:
  static void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  static LogLevel level() { return level_.load(std::memory_order_relaxed); }
  static bool enabled(LogLevel level) { return level >= Log::level(); }
  static void write(LogLevel level, std::string_view message);

 private:
  static inline std::atomic<LogLevel> level_{LogLevel::kInfo};
};

inline void log_debug(std::string_view m) { if (Log::enabled(LogLevel::kDebug)) Log::write(LogLevel::kDebug, m); }
inline void log_info(std::string_view m) { if (Log::enabled(LogLevel::kInfo)) Log::write(LogLevel::kInfo, m); }
inline void log_warn(std::string_view m) { if (Log::enabled(LogLevel::kWarn)) Log::write(LogLevel::kWarn, m); }
inline void log_error(std::string_view m) { Log::write(LogLevel::kError, m); }

}  // namespace nib
