#pragma once
// One line per event to stderr: "2026-11-25T17:40:01.123Z INFO message", or
// to syslog once use_syslog() was called (Pen's background mode). Any thread;
// a line is one write().
//
// Debug (-d) and trace (-d -d) lines come from the per-connection paths: build
// them only behind Log::enabled(), an inline relaxed load, so that with the
// default level those paths neither format nor allocate.
#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace nib {

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };
// kText: "2026-11-25T17:40:01.123Z INFO message". kJson (--log-format json, for
// log collectors): {"time":"2026-11-25T17:40:01.123Z","level":"info","msg":"message"},
// one object per line, the message escaped (invalid UTF-8 as U+FFFD).
// Syslog lines carry the bare message either way: syslog stamps its own.
enum class LogFormat { kText, kJson };

class Log {
 public:
  static void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  static LogLevel level() { return level_.load(std::memory_order_relaxed); }
  static bool enabled(LogLevel level) { return level >= Log::level(); }
  static void write(LogLevel level, std::string_view message);
  // Main thread, before other threads log.
  static void set_format(LogFormat format) { format_.store(format, std::memory_order_relaxed); }
  // The stderr line for `message` (its newline included), as write() prints it.
  static std::string format_line(LogLevel level, std::string_view message);
  // From now on lines go to syslog (ident "nib", facility user, as Pen's),
  // not stderr. Call once, before other threads log.
  static void use_syslog();
  // Connects to the syslog socket now, while lines still go to stderr: a
  // chroot (-j) before use_syslog() would hide /dev/log. Main thread.
  static void connect_syslog();
  // Pen's abort_on_error: a fatal error (nib about to exit with a failure)
  // calls abort() instead, leaving a core file for troubleshooting. Any thread.
  static void set_abort_on_fatal(bool on) { abort_on_fatal_.store(on, std::memory_order_relaxed); }
  static bool abort_on_fatal() { return abort_on_fatal_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<LogLevel> level_{LogLevel::kInfo};
  static inline std::atomic<bool> syslog_{false};
  static inline std::atomic<LogFormat> format_{LogFormat::kText};
  static inline std::atomic<bool> abort_on_fatal_{false};
};

// "trace", "debug", "info", "warn", "error".
const char* to_string(LogLevel level);
const char* to_string(LogFormat format);  // "text", "json"
std::optional<LogFormat> parse_log_format(std::string_view text);
// Pen's debug levels (-d counted, penctl debug N): 0 info, 1 debug, 2 and
// more trace; and back (warn and error read as 0).
LogLevel log_level_for_verbosity(int verbosity);
int verbosity_of(LogLevel level);

// The per-connection paths' guards: test one before building a debug line.
inline bool debug_on() { return Log::enabled(LogLevel::kDebug); }
inline bool trace_on() { return Log::enabled(LogLevel::kTrace); }

inline void log_trace(std::string_view m) { if (Log::enabled(LogLevel::kTrace)) Log::write(LogLevel::kTrace, m); }
inline void log_debug(std::string_view m) { if (Log::enabled(LogLevel::kDebug)) Log::write(LogLevel::kDebug, m); }
inline void log_info(std::string_view m) { if (Log::enabled(LogLevel::kInfo)) Log::write(LogLevel::kInfo, m); }
inline void log_warn(std::string_view m) { if (Log::enabled(LogLevel::kWarn)) Log::write(LogLevel::kWarn, m); }
inline void log_error(std::string_view m) { Log::write(LogLevel::kError, m); }

}  // namespace nib
