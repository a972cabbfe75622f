#include "dataplane/base/log.h"

#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
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

const char* to_string(LogFormat format) { return format == LogFormat::kJson ? "json" : "text"; }

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

namespace {

// The length of the valid UTF-8 sequence at p (n bytes left), 0 if none:
// no overlong forms, no surrogates, nothing past U+10FFFF.
size_t utf8_sequence(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (len == 0 || c > 0xf4 || len > n) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
      (c == 0xf4 && p[1] >= 0x90)) {
    return 0;
  }
  return len;
}

void append_json_string(std::string& out, std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  out.push_back('"');
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else if (c >= 0x80) {
      const size_t len = utf8_sequence(p + i, text.size() - i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(text.data() + i, len);
      i += len;
      continue;
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace

std::string Log::format_line(LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[48];
  size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  n += static_cast<size_t>(std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms)));
  std::string line;
  line.reserve(message.size() + 64);
  if (format_.load(std::memory_order_relaxed) == LogFormat::kJson) {
    line += "{\"time\":\"";
    line.append(stamp, n);
    line += "\",\"level\":\"";
    line += to_string(level);
    line += "\",\"msg\":";
    append_json_string(line, message);
    line += "}\n";
    return line;
  }
  line.append(stamp, n);
  line += ' ';
  line += kNames[static_cast<int>(level)];
  line += ' ';
  line += message;
  line += '\n';
  return line;
}

void Log::write(LogLevel level, std::string_view message) {
  if (syslog_.load(std::memory_order_acquire)) {
    static constexpr int kPriorities[] = {LOG_DEBUG, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    ::syslog(kPriorities[static_cast<int>(level)], "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  const std::string line = format_line(level, message);
  // One write() per line keeps lines from different threads whole.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace nib
