#include "dataplane/base/log.h"

#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

namespace nib {

const char* to_string(LogLevel level) {
  static constexpr const char* kNames[] = {"trace", "debug", "info", "warn", "error"};
  return kNames[static_cast<int>(level)];
}

LogLevel log_level_for_verbosity(int verbosity) {
  return verbosity >= 2 ? LogLevel::kTrace : verbosity == 1 ? LogLevel::kDebug : LogLevel::kInfo;
}

int verbosity_of(LogLevel level) {
  return level == LogLevel::kTrace ? 2 : level == LogLevel::kDebug ? 1 : 0;
}

void Log::connect_syslog() { ::openlog("nib", LOG_PID | LOG_NDELAY, LOG_USER); }

void Log::use_syslog() {
  // An open connection (connect_syslog()) is kept: openlog() only connects
  // when there is none.
  ::openlog("nib", LOG_PID | LOG_NDELAY, LOG_USER);
  syslog_.store(true, std::memory_order_release);
}

void Log::write(LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
  if (syslog_.load(std::memory_order_acquire)) {
    static constexpr int kPriorities[] = {LOG_DEBUG, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    ::syslog(kPriorities[static_cast<int>(level)], "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(message.size() + 48);
  line.append(stamp, n);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ ", static_cast<int>(ms));
  line += frac;
  line += kNames[static_cast<int>(level)];
  line += ' ';
  line += message;
  line += '\n';
  // One write() per line keeps lines from different threads whole.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace nib
