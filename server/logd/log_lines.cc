#include "server/logd/log_lines.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "admin/http/json.h"

namespace nib {
namespace {

template <typename T>
std::optional<T> number(std::string_view text) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// "ip:port" or "[v6]:port" into its parts.
std::optional<std::pair<std::string, uint16_t>> split_host_port(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = number<uint16_t>(text.substr(colon + 1));
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!port || host.empty() || !IpKey::parse(host).ok()) return std::nullopt;
  return std::make_pair(std::string(host), *port);
}

// 2026-12-04T05:46:19.123Z (the json format's time) in unix milliseconds.
std::optional<int64_t> parse_iso_ms(std::string_view t) {
  if (t.size() != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != '.' ||
      t[23] != 'Z') {
    return std::nullopt;
  }
  auto year = number<int>(t.substr(0, 4)), month = number<int>(t.substr(5, 2)), day = number<int>(t.substr(8, 2));
  auto hour = number<int>(t.substr(11, 2)), minute = number<int>(t.substr(14, 2));
  auto second = number<int>(t.substr(17, 2)), ms = number<int>(t.substr(20, 3));
  if (!year || !month || !day || !hour || !minute || !second || !ms) return std::nullopt;
  tm when{};
  when.tm_year = *year - 1900;
  when.tm_mon = *month - 1;
  when.tm_mday = *day;
  when.tm_hour = *hour;
  when.tm_min = *minute;
  when.tm_sec = *second;
  return static_cast<int64_t>(timegm(&when)) * 1000 + *ms;
}

// Common Log Format's time, "10/Oct/2000:13:55:36 -0700", in unix milliseconds.
std::optional<int64_t> parse_clf_ms(std::string_view t) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t.size() != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[14] != ':' || t[17] != ':' || t[20] != ' ' ||
      (t[21] != '+' && t[21] != '-')) {
    return std::nullopt;
  }
  auto month = std::find(kMonths.begin(), kMonths.end(), t.substr(3, 3));
  auto day = number<int>(t.substr(0, 2)), year = number<int>(t.substr(7, 4)), hour = number<int>(t.substr(12, 2));
  auto minute = number<int>(t.substr(15, 2)), second = number<int>(t.substr(18, 2));
  auto zh = number<int>(t.substr(22, 2)), zm = number<int>(t.substr(24, 2));
  if (month == kMonths.end() || !day || !year || !hour || !minute || !second || !zh || !zm) return std::nullopt;
  tm when{};
  when.tm_year = *year - 1900;
  when.tm_mon = static_cast<int>(month - kMonths.begin());
  when.tm_mday = *day;
  when.tm_hour = *hour;
  when.tm_min = *minute;
  when.tm_sec = *second;
  const int64_t offset = (*zh * 3600 + *zm * 60) * (t[21] == '-' ? -1 : 1);
  return (static_cast<int64_t>(timegm(&when)) - offset) * 1000;
}

Result<std::optional<NibConnection>> parse_json_line(std::string_view line) {
  auto parsed = json::parse(line);
  if (!parsed.ok()) return parsed.status();
  const json::Value& v = *parsed;
  auto text = [&](std::string_view key) -> const std::string* {
    const json::Value* f = v.is_object() ? v.find(key) : nullptr;
    return f != nullptr && f->is_string() ? &f->as_string() : nullptr;
  };
  const json::Value* backend = v.is_object() ? v.find("backend") : nullptr;
  if (backend != nullptr && backend->is_null()) return std::optional<NibConnection>();
  const std::string *client = text("client"), *time = text("time"), *request = text("request");
  const json::Value* duration = v.is_object() ? v.find("duration_ms") : nullptr;
  if (!client || !time || !backend || !backend->is_string() || !duration || !duration->is_number()) {
    return Status::invalid("not a nib json access log line (client, time, backend and duration_ms expected)");
  }
  NibConnection c;
  auto client_at = split_host_port(*client);
  auto backend_at = SocketAddress::parse(backend->as_string());
  auto end = parse_iso_ms(*time);
  if (!client_at || !backend_at.ok() || !end) return Status::invalid("bad client, backend or time");
  c.client_ip = client_at->first;
  c.client_port = client_at->second;
  c.backend = *backend_at;
  if (const json::Value* port = v.find("backend_source_port"); port != nullptr && !port->is_null()) {
    if (!port->is_integer() || !port->fits_int64() || port->as_int64() < 1 || port->as_int64() > 65535) {
      return Status::invalid("backend_source_port: expected a port 1-65535 or null");
    }
    c.source_port = static_cast<uint16_t>(port->as_int64());
  }
  // A connection nib held for over a year is not a line nib wrote.
  constexpr double kMaxDurationMs = 366.0 * 24 * 3600 * 1000;
  const double duration_ms = duration->as_double();
  if (!(duration_ms >= 0 && duration_ms <= kMaxDurationMs)) {
    return Status::invalid("duration_ms: expected 0 to a year of milliseconds");
  }
  c.end_ms = *end;
  c.start_ms = *end - static_cast<int64_t>(duration_ms);
  if (request) c.request = *request;
  return std::optional<NibConnection>(std::move(c));
}

// The next space-separated field of `line`, taken off its front.
std::string_view next_field(std::string_view& line) {
  size_t space = line.find(' ');
  std::string_view f = line.substr(0, space);
  line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  return f;
}

// The connection of one of Pen's lines, its fields checked by the caller but
// the backend ("-": nothing relayed) and the request ("-": none).
Result<std::optional<NibConnection>> pen_connection(std::string_view client, std::string_view backend,
                                                    std::string_view request, int64_t start_ms, int64_t end_ms) {
  if (backend == "-") return std::optional<NibConnection>();
  auto backend_at = SocketAddress::from_ip(backend, 0);
  if (!backend_at.ok()) return Status::invalid("bad backend address '" + std::string(backend) + "'");
  NibConnection c;
  c.client_ip = std::string(client);
  c.backend = *backend_at;
  c.start_ms = start_ms;
  c.end_ms = end_ms;
  if (!request.empty() && request != "-") c.request = std::string(request);
  return std::optional<NibConnection>(std::move(c));
}

// Pen's file line: CLIENT_IP UNIX_TIME BACKEND_IP REQUEST (whole seconds).
Result<std::optional<NibConnection>> parse_pen_line(std::string_view line) {
  std::string_view client = next_field(line), unix = next_field(line), backend = next_field(line);
  auto seconds = number<int64_t>(unix);
  // Seconds since 1970, before the year 5000 (milliseconds must fit).
  if (!IpKey::parse(client).ok() || !seconds || *seconds < 0 || *seconds > 100'000'000'000 || backend.empty()) {
    return Status::invalid("neither a json line nor Pen's 'CLIENT_IP UNIX_TIME BACKEND_IP REQUEST'");
  }
  return pen_connection(client, backend, line, *seconds * 1000, *seconds * 1000 + 999);
}

// penlogd's entry, as Pen (and nib's -l host:port in Pen's format) sends it:
// "+ CLIENT_IP BACKEND_IP REQUEST". It carries no time: the connection has
// just closed, when it began is unknown, so it spans every time and is
// matched by backend and request alone, as penlogd matches it.
Result<std::optional<NibConnection>> parse_penlogd_line(std::string_view line) {
  line.remove_prefix(2);  // "+ "
  std::string_view client = next_field(line), backend = next_field(line);
  if (!IpKey::parse(client).ok() || backend.empty()) {
    return Status::invalid("not penlogd's '+ CLIENT_IP BACKEND_IP REQUEST'");
  }
  return pen_connection(client, backend, line, 0, NibConnection::kTimeUnknown);
}

}  // namespace

bool looks_like_nib_line(std::string_view line) {
  return line.starts_with('{') || line.starts_with("+ ");
}

Result<std::optional<NibConnection>> parse_nib_line(std::string_view line) {
  if (line.starts_with('{')) return parse_json_line(line);
  if (line.starts_with("+ ")) return parse_penlogd_line(line);
  return parse_pen_line(line);
}

std::optional<ServerLine> parse_server_line(std::string_view line) {
  ServerLine s;
  std::string_view remote = line.substr(0, line.find(' '));
  if (remote.empty()) return std::nullopt;
  const bool bracketed = remote.front() == '[';
  if (bracketed || std::count(remote.begin(), remote.end(), ':') == 1) {
    auto at = split_host_port(remote);
    if (!at) return std::nullopt;
    s.remote_ip = at->first;
    s.remote_port = at->second;
  } else {
    if (!IpKey::parse(remote).ok()) return std::nullopt;
    s.remote_ip = std::string(remote);
  }
  if (size_t open = line.find('[', remote.size()); open != std::string_view::npos) {
    if (size_t close = line.find(']', open); close != std::string_view::npos) {
      s.unix_ms = parse_clf_ms(line.substr(open + 1, close - open - 1));
    }
  }
  if (size_t q = line.find('"'); q != std::string_view::npos) {
    if (size_t end = line.find('"', q + 1); end != std::string_view::npos) {
      s.request = std::string(line.substr(q + 1, end - q - 1));
    }
  }
  return s;
}

}  // namespace nib
