#include "server/config/config_values.h"

#include <netdb.h>
#include <netinet/in.h>

#include <charconv>
#include <cmath>

namespace nib {
namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Shortest exact decimal, never scientific: "3600", "0.5", "1000000000".
std::string format_number(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(value);
}

Status port_error(std::string_view shape, std::string_view text, ServiceNames names) {
  return Status::invalid("expected " + std::string(shape) + " with a port 1-65535" +
                         (names ? " or a service name from /etc/services" : "") + ", got " + quoted(text));
}

// getservbyname_r: the reentrant lookup (the parser may run on any thread).
std::optional<uint16_t> service_port(std::string_view name, Protocol protocol) {
  if (name.empty() || name.find_first_of("0123456789") == 0) return std::nullopt;
  const std::string n(name);
  servent entry{};
  servent* found = nullptr;
  char buf[1024];
  if (::getservbyname_r(n.c_str(), to_string(protocol), &entry, buf, sizeof buf, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(ntohs(static_cast<uint16_t>(found->s_port)));
}

}  // namespace

Result<int64_t> parse_int(std::string_view text, IntRange range) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < range.min ||
      value > range.max) {
    return Status::invalid("expected " + describe(range) + ", got " + quoted(text));
  }
  return value;
}

Result<double> parse_seconds(std::string_view text, SecondsRange range) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool parsed = !text.empty() && ec == std::errc() && end == text.data() + text.size() &&
                std::isfinite(value);  // from_chars takes "inf" and "nan"
  bool too_low = value < range.min || (range.min_exclusive && value == range.min);
  if (!parsed || too_low || value > range.max) {
    std::string message = "expected " + describe(range) + ", got " + quoted(text);
    // The hidden ceiling of open-ended ranges would otherwise be a surprise.
    if (parsed && !too_low && range.max >= kMaxSeconds) message += " (at most " + format_number(range.max) + ")";
    return Status::invalid(message);
  }
  return value;
}

bool is_valid_service_name(std::string_view name) { return check_service_name("name", name).ok(); }

Result<uint16_t> parse_port(std::string_view text, ServiceNames names) {
  auto port = parse_int(text, limits::kPort);
  if (port.ok()) return static_cast<uint16_t>(*port);
  if (names) {
    if (auto named = service_port(text, *names); named && *named != 0) return *named;
    return Status::invalid("expected a port 1-65535 or a " + std::string(to_string(*names)) +
                           " service name from /etc/services, got " + quoted(text));
  }
  return port.status();
}

Result<Endpoint> resolve_endpoint(std::string_view host, uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return Status::invalid("expected a host name or IP address, got nothing");
  if (Status st = check_host("host", host); !st.ok()) return st;  // before any DNS lookup
  auto address = SocketAddress::resolve(host, port);
  if (!address.ok()) return address.status();
  return Endpoint{std::string(host), *address};
}

Result<Endpoint> parse_listen_address(std::string_view text, ServiceNames names) {
  constexpr std::string_view kShape = "[host:]port (IPv6 as [::1]:8080)";
  if (!text.empty() && text.front() == '/') {
    // The loaders take a service's path before asking here.
    return Status::invalid("a Unix socket path is a service's listen value only; expected " + std::string(kShape) +
                           ", got " + quoted(text));
  }
  HostPort hp;
  if (!split_host_port(text, &hp)) return Status::invalid("expected " + std::string(kShape) + ", got " + quoted(text));
  auto port = parse_port(hp.port, names);
  if (!port.ok()) return port_error("[host:]port", text, names);
  if (hp.host.empty()) return Endpoint{"", SocketAddress::any(*port)};
  return resolve_endpoint(hp.host, *port);
}

Result<Endpoint> parse_host_port(std::string_view text, ServiceNames names) {
  constexpr std::string_view kShape = "host:port (IPv6 as [::1]:8080)";
  HostPort hp;
  if (!split_host_port(text, &hp) || hp.host.empty()) {
    return Status::invalid("expected " + std::string(kShape) + ", got " + quoted(text));
  }
  auto port = parse_port(hp.port, names);
  if (!port.ok()) return port_error("host:port", text, names);
  return resolve_endpoint(hp.host, *port);
}

}  // namespace nib
