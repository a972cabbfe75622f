#include "server/logd/log_merger.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

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

// Pen's file line: CLIENT_IP UNIX_TIME BACKEND_IP REQUEST (whole seconds).
Result<std::optional<NibConnection>> parse_pen_line(std::string_view line) {
  auto field = [&line]() {
    size_t space = line.find(' ');
    std::string_view f = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    return f;
  };
  std::string_view client = field(), unix = field(), backend = field();
  auto seconds = number<int64_t>(unix);
  // Seconds since 1970, before the year 5000 (milliseconds must fit).
  if (!IpKey::parse(client).ok() || !seconds || *seconds < 0 || *seconds > 100'000'000'000 || backend.empty()) {
    return Status::invalid("neither a json line nor Pen's 'CLIENT_IP UNIX_TIME BACKEND_IP REQUEST'");
  }
  if (backend == "-") return std::optional<NibConnection>();
  auto backend_at = SocketAddress::from_ip(backend, 0);
  if (!backend_at.ok()) return Status::invalid("bad backend address '" + std::string(backend) + "'");
  NibConnection c;
  c.client_ip = std::string(client);
  c.backend = *backend_at;
  c.start_ms = *seconds * 1000;
  c.end_ms = c.start_ms + 999;
  if (line != "-") c.request = std::string(line);
  return std::optional<NibConnection>(std::move(c));
}

bool same_backend(const SocketAddress& a, const SocketAddress& b) {
  return a.ip_string() == b.ip_string() && (a.port() == 0 || b.port() == 0 || a.port() == b.port());
}

// How far a line logged in whole second `t` (the event lies in [t, t+999])
// falls outside the connection's [start, end]; 0 when they overlap.
int64_t distance(const NibConnection& c, int64_t t) {
  return t + 999 < c.start_ms ? c.start_ms - (t + 999) : (t > c.end_ms ? t - c.end_ms : 0);
}

}  // namespace

Result<std::optional<NibConnection>> parse_nib_line(std::string_view line) {
  return !line.empty() && line.front() == '{' ? parse_json_line(line) : parse_pen_line(line);
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

Status LogMerger::add_nib_log(std::istream& in, const std::string& name) {
  std::string line;
  for (uint64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto c = parse_nib_line(line);
    if (!c.ok()) return Status::invalid(name + ":" + std::to_string(n) + ": " + c.status().message());
    if (c->has_value()) connections_.push_back(std::move(**c));
  }
  if (in.bad()) return Status::invalid(name + ": read failed");
  return Status();
}

Status LogMerger::add_server_log(const SocketAddress& backend, std::istream& in, const std::string& name) {
  std::string line;
  int64_t last_ms = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Pending p;
    p.order = lines_.size();
    p.backend = backend;
    p.parsed = parse_server_line(line);
    if (p.parsed && p.parsed->unix_ms) last_ms = *p.parsed->unix_ms;
    p.unix_ms = last_ms;
    p.text = std::move(line);
    lines_.push_back(std::move(p));
  }
  if (in.bad()) return Status::invalid(name + ": read failed");
  return Status();
}

const NibConnection* LogMerger::by_port(const Pending& p) const {
  const NibConnection* best = nullptr;
  int64_t best_distance = window_ms_ + 1;
  auto from = from_port_.find(*p.parsed->remote_port);
  if (from == from_port_.end()) return nullptr;
  for (uint32_t i : from->second) {
    const NibConnection& c = connections_[i];
    if (!same_backend(c.backend, p.backend)) continue;
    int64_t d = distance(c, p.unix_ms);
    if (d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  return best;
}

const NibConnection* LogMerger::by_request(const Pending& p) {
  auto candidates = with_request_.find(p.parsed->request);
  if (candidates == with_request_.end()) return nullptr;
  for (uint32_t i : candidates->second) {
    const NibConnection& c = connections_[i];
    if (c.start_ms - window_ms_ > p.unix_ms + 999) break;  // oldest first: none later fits
    if (used_[i] || !same_backend(c.backend, p.backend)) continue;
    if (distance(c, p.unix_ms) > window_ms_) continue;
    used_[i] = true;
    return &c;
  }
  return nullptr;
}

std::string LogMerger::with_client(const Pending& p, const NibConnection& c) {
  std::string out;
  const bool v6 = c.client_ip.find(':') != std::string::npos;
  // The line's shape, IP or IP:PORT, unless nib's line had no port (Pen's format).
  if (p.parsed->remote_port && c.client_port != 0) {
    out = (v6 ? "[" + c.client_ip + "]" : c.client_ip) + ":" + std::to_string(c.client_port);
  } else {
    out = c.client_ip;
  }
  size_t space = p.text.find(' ');
  if (space != std::string::npos) out += p.text.substr(space);
  return out;
}

MergeReport LogMerger::merge(std::ostream& out) {
  // Connections oldest first, so by_request() takes the oldest that fits.
  std::stable_sort(connections_.begin(), connections_.end(),
                   [](const NibConnection& a, const NibConnection& b) { return a.start_ms < b.start_ms; });
  used_.assign(connections_.size(), false);
  from_port_.clear();
  with_request_.clear();
  for (uint32_t i = 0; i < connections_.size(); ++i) {
    const NibConnection& c = connections_[i];
    if (c.source_port != 0) from_port_[c.source_port].push_back(i);
    if (!c.request.empty()) with_request_[c.request].push_back(i);
  }
  std::stable_sort(lines_.begin(), lines_.end(), [](const Pending& a, const Pending& b) {
    return a.unix_ms != b.unix_ms ? a.unix_ms < b.unix_ms : a.order < b.order;
  });
  MergeReport report;
  for (const Pending& p : lines_) {
    ++report.lines;
    const NibConnection* c = nullptr;
    if (p.parsed && p.parsed->unix_ms) {
      if (p.parsed->remote_port) c = by_port(p);
      if (c) {
        ++report.by_port;
      } else if ((c = by_request(p)) != nullptr) {
        ++report.by_request;
      }
    }
    if (c) {
      out << with_client(p, *c) << '\n';
    } else {
      ++report.unmatched;
      out << p.text << '\n';
    }
  }
  return report;
}

}  // namespace nib
